// Where an item's hash tree comes from, before its swarm can fetch chunks: the URL
// the record names (or URL.hashtree), a tracker's gateway, or, with neither and no
// root, the whole item read once from the origin and hashed here (unauthenticated).
// (From peers: the swarm asks them itself, see Swarm.greet.)
import { randomBytes } from 'node:crypto'
import { rename, open } from 'node:fs/promises'
import { join } from 'node:path'
import { fetchGatewayTree } from '../tracker/client.js'
import { type HashTree, parseTree, TreeBuilder, CHUNK_BYTES } from '../hashing/hashtree.js'
import type { ScheduleRecord } from '../core/records.js'
import { getBody } from './origin.js'

export const MAX_TREE_TEXT_BYTES = 128 * 1024 * 1024

export interface TreeFetchIo {
  warn: (msg: string) => void
  debug: (msg: string) => void
  signal: AbortSignal
}

/** The tree published beside the item (the record's `hashtree`, else URL.hashtree), checked against `root` when given. */
export async function treeFromUrls (rec: ScheduleRecord, io: TreeFetchIo, root?: Buffer): Promise<HashTree | undefined> {
  const urls = rec.hashtree ? [rec.hashtree] : []
  if (!rec.hashtree || rec.hashtree !== rec.url + '.hashtree') urls.push(rec.url + '.hashtree')
  for (const u of urls) {
    let text: string
    try { text = await fetchText(u, io.signal) } catch (e) {
      if (u === rec.hashtree) io.warn(`${(e as Error).message}`)
      continue
    }
    try { return parseTree(text, u, root) } catch (e) { io.warn(`${(e as Error).message}; not used`) }
  }
  return undefined
}

/** The tree from the first tracker gateway that has it. */
export async function treeFromGateway (rec: ScheduleRecord, trackers: string[], io: TreeFetchIo, root?: Buffer): Promise<HashTree | undefined> {
  for (const t of trackers) {
    try {
      const text = await fetchGatewayTree(t, rec.url, { signal: io.signal })
      return parseTree(text, `gateway ${t}`, root)
    } catch (e) { io.debug(`gateway ${t}: ${(e as Error).message}`) }
  }
  return undefined
}

/** No root, no tree anywhere: read the item once from the origin into `cacheDir` and hash it ourselves. */
export async function treeFromOrigin (rec: ScheduleRecord, cacheDir: string, io: TreeFetchIo): Promise<{ tree: HashTree, bytes: number }> {
  io.warn(`${rec.url}: no hash tree published and no root given; reading it whole from the origin (unauthenticated)`)
  const part = join(cacheDir, `partial-${randomBytes(6).toString('hex')}`)
  const b = new TreeBuilder(CHUNK_BYTES)
  const fh = await open(part, 'w')
  let bytes = 0
  try {
    for await (const d of getBody(rec.url, io.signal)) { b.update(d); await fh.write(d); bytes += d.length }
  } finally { await fh.close() }
  const tree = b.finish()
  await rename(part, join(cacheDir, tree.root.toString('hex')))
  return { tree, bytes }
}

async function fetchText (url: string, signal: AbortSignal): Promise<string> {
  const parts: Buffer[] = []
  for await (const d of getBody(url, signal, MAX_TREE_TEXT_BYTES)) parts.push(d)
  return Buffer.concat(parts).toString('utf8')
}
