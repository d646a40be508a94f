// A restarted pc-live continues the show it was writing (pc-live(1) --resume): the stream
// found in its directory is taken up again — same stream id, numbering from the chunk after
// the last — when the station key is the same and its newest chunk ended recently.
// Listeners then go on at the next chunk as after a source that dropped and came back;
// with a new stream they would wait for chunks of the old one that never come.
import { readFile } from 'node:fs/promises'
import { DataError } from '../core/errors.js'
import { streamIdOf } from './chunk-sign.js'
import { parseManifest, type ChunkEntry, type FormatChange, type HeaderEntry } from './manifest.js'

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
  return { nonce, nextSeq: last.seq + 1, chunks: m.chunks, headers: m.headers, changes: m.changes, endMs }
}
