// A restarted pc-live continues the show it was writing (pc-live(1) --resume): the stream
// found in its directory is taken up again — same stream id, numbering from the chunk after
// the last — when the station key is the same and its newest chunk ended recently.
// Listeners then go on at the next chunk as after a source that dropped and came back;
// with a new stream they would wait for chunks of the old one that never come.
import { readFile } from 'node:fs/promises'
import { DataError } from '../core/errors.js'
import { streamIdOf } from './chunk-sign.js'
import { readClaims } from './window.js'
import { parseManifest, MANIFEST_SUFFIX, type ChunkEntry, type FormatChange, type HeaderEntry } from './manifest.js'

export interface Resumed {
  nonce: Buffer
  /** the first chunk number of this run */
  nextSeq: number
  /** the window the last run left on disk: its files are pruned as the show moves on */
  chunks: ChunkEntry[]
  headers: HeaderEntry[]
  changes: FormatChange[]
  /** source-clock ms at which its newest chunk ended */
  endMs: number
}

/**
 * The stream to resume from the manifest at `path`, or why a new one begins: no manifest,
 * another key (or a key where there was none, or none where there was one), or a newest
 * chunk older than `withinMs`. A manifest that is not one is an error: pc-live would
 * otherwise overwrite what may be someone else's file.
 */
export async function findResumable (path: string, publicKey: Buffer | undefined, nowMs: number, withinMs: number): Promise<Resumed | { why: string }> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (e) {
    // nothing to take up; a directory that cannot be written is reported when it is written
    const code = (e as NodeJS.ErrnoException).code
    return { why: code === 'ENOENT' ? 'no earlier show in the directory' : `cannot read ${path}: ${code ?? (e as Error).message}` }
  }
  const m = parseManifest(text, path)
  const key = publicKey?.toString('hex')
  if (m.publicKey !== key) return { why: m.publicKey ? 'the earlier show was signed with another key' : 'the earlier show was not signed' }
  const nonce = Buffer.from(m.nonce, 'hex')
  if (nonce.length !== 16 || !streamIdOf(nonce, publicKey).equals(Buffer.from(m.stream, 'hex'))) throw new DataError('stream id does not match its key and nonce', path)
  const last = m.chunks[m.chunks.length - 1]
  if (last === undefined) return { why: 'the earlier show has no chunk' }
  const endMs = Date.parse(last.start) + last.duration
  if (!(nowMs - endMs < withinMs)) return { why: `the earlier show's last chunk ended ${Math.round((nowMs - endMs) / 1000)} s ago` }
  return { nonce, nextSeq: last.seq + 1, chunks: await claimsIn(path.slice(0, -MANIFEST_SUFFIX.length), m.chunks, m.publicKey !== undefined), headers: m.headers, changes: m.changes, endMs }
}

/**
 * The earlier run's chunks on disk, oldest first: the manifest names only the newest
 * (window.ts LISTED_CHUNKS), the claim files (SEQ.json) every chunk of the window, so
 * that the new run prunes them as the show moves on. A claim that cannot be read or is
 * not one is left out (its chunk file then stays); up to the newest chunk the manifest names.
 */
async function claimsIn (chunkDir: string, listed: ChunkEntry[], signed: boolean): Promise<ChunkEntry[]> {
  const bySeq = new Map<number, ChunkEntry>()
  for (const e of await readClaims(chunkDir, signed, listed[listed.length - 1].seq)) bySeq.set(e.seq, e)
  for (const e of listed) bySeq.set(e.seq, e)
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}
