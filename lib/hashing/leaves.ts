// Leaf hashes of a run of chunks, from memory or read by position from a file: the
// work of one stripe, done alike on the main thread and on workers (lib/hash-worker.ts).
import { readSync } from 'node:fs'
import { HASH_BYTES, chunkCount, leafHashInto } from './hashtree.js'

/** the id of the message a worker sends once it has started */
export const READY_ID = -1

export interface WorkerSetup { chunkSize: number, readBytes: number, fd?: number }
export interface WorkerJob { id: number, start: number, end: number, data?: Uint8Array }
export interface WorkerReply { id: number, leaves?: Uint8Array, data?: Uint8Array, error?: string, code?: string }

/** The leaf hashes of consecutive chunks of `data`, concatenated (one leaf for empty data). */
export function hashLeaves (data: Uint8Array, chunkSize: number): Uint8Array {
  const out = new Uint8Array(chunkCount(data.length, chunkSize) * HASH_BYTES)
  hashLeavesInto(out, 0, data, chunkSize)
  return out
}

/** hashLeaves written into `out` from leaf `first` on; returns the number of leaves written. */
function hashLeavesInto (out: Uint8Array, first: number, data: Uint8Array, chunkSize: number): number {
  const n = chunkCount(data.length, chunkSize)
  const view = Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  for (let i = 0; i < n; i++) {
    leafHashInto(view.subarray((first + i) * HASH_BYTES, (first + i + 1) * HASH_BYTES), data.subarray(i * chunkSize, Math.min(data.length, (i + 1) * chunkSize)))
  }
  return n
}

/**
 * The leaf hashes of [start, end) of an open file (a non-empty range of whole chunks but
 * for the file's last), read by position one `buf` at a time: `buf` is whole chunks long.
 */
export function hashRangeSync (fd: number, start: number, end: number, chunkSize: number, buf: Buffer): Uint8Array {
  const out = new Uint8Array(chunkCount(end - start, chunkSize) * HASH_BYTES)
  let leaf = 0
  for (let pos = start; pos < end; pos += buf.length) {
    leaf += hashLeavesInto(out, leaf, readRangeSync(fd, pos, Math.min(end, pos + buf.length), buf), chunkSize)
  }
  return out
}

/** Read [start, end) of an open file into `buf` (positional reads; fds are shared by all threads). */
export function readRangeSync (fd: number, start: number, end: number, buf: Buffer): Buffer {
  const want = end - start
  let got = 0
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, start + got)
    if (n === 0) throw Object.assign(new Error(`file ended at byte ${start + got}, expected ${end}: it changed while being hashed`), { code: 'ESHRUNK' })
    got += n
  }
  return buf.subarray(0, want)
}
