// Leaf hashes of a run of chunks, from memory or read by position from a file: the
// work of one stripe, done alike on the main thread and on workers (lib/hash-worker.ts).
import { readSync } from 'node:fs'
import { HASH_BYTES, chunkCount, leafHashInto, topOf } from './hashtree.js'

/** the id of the message a worker sends once it has started */
export const READY_ID = -1
/** the id of a worker's reply about shared stripes: only ever an error */
export const SHARED_ID = -2

/**
 * A worker's start: with `stripes`, it claims and hashes them from its first moment,
 * without waiting for a message that a main thread busy hashing would post late.
 */
export interface WorkerSetup { chunkSize: number, readBytes: number, fd?: number, stripes?: SharedStripes }
export interface WorkerJob { id: number, start: number, end: number, data?: Uint8Array }
export interface WorkerReply { id: number, leaves?: Uint8Array, data?: Uint8Array, error?: string, code?: string }

/**
 * The stripes of a file, claimed one at a time by whichever thread is free (a shared
 * counter), so that the threads finish within a stripe of each other whatever the
 * scheduler does, with no message per stripe. Each thread writes its stripes' leaves and
 * each stripe's top node (hashtree.ts topOf) into shared memory: stripes are 2^k leaves.
 */
export interface SharedStripes {
  size: number
  /** bytes per stripe: a power of two of chunks */
  stripe: number
  /** [next stripe to claim, stripes done] */
  control: Int32Array
  /** the leaves, concatenated */
  leaves: Uint8Array
  /** each stripe's top node, concatenated */
  tops: Uint8Array
}
const NEXT = 0
const DONE = 1

export function sharedStripes (size: number, stripe: number, chunkSize: number): SharedStripes {
  const shared = (bytes: number): Uint8Array => new Uint8Array(new SharedArrayBuffer(bytes))
  const stripes = Math.ceil(size / stripe)
  return {
    size,
    stripe,
    control: new Int32Array(new SharedArrayBuffer(8)),
    leaves: shared(chunkCount(size, chunkSize) * HASH_BYTES),
    tops: shared(stripes * HASH_BYTES),
  }
}

export const stripeCount = (s: SharedStripes): number => Math.ceil(s.size / s.stripe)
export const stripesDone = (s: SharedStripes): number => Atomics.load(s.control, DONE)
/** Settles when stripesDone(s) may have moved on from `seen`; undefined if it already has. */
export function stripeDoneChange (s: SharedStripes, seen: number): Promise<unknown> | undefined {
  const wait = Atomics.waitAsync(s.control, DONE, seen)
  return wait.async ? wait.value : undefined
}
/** Let no thread claim another stripe (an error or an abort). */
export function stopClaims (s: SharedStripes): void { Atomics.store(s.control, NEXT, stripeCount(s)) }

/**
 * Claim the next stripe of `s`, hash it from `fd` and record it; false when none was left.
 * Waiters on the done count (Atomics.waitAsync) are woken.
 */
export function hashNextStripe (s: SharedStripes, fd: number, chunkSize: number, buf: Buffer): boolean {
  const i = Atomics.add(s.control, NEXT, 1)
  const n = stripeCount(s)
  if (i >= n) return false
  const start = i * s.stripe
  const end = Math.min(s.size, start + s.stripe)
  const first = start / chunkSize * HASH_BYTES
  const leaves = s.leaves.subarray(first, first + chunkCount(end - start, chunkSize) * HASH_BYTES)
  hashRangeInto(leaves, fd, start, end, chunkSize, buf)
  s.tops.set(topOf(leaves), i * HASH_BYTES)
  Atomics.add(s.control, DONE, 1)
  Atomics.notify(s.control, DONE)
  return true
}

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
  hashRangeInto(out, fd, start, end, chunkSize, buf)
  return out
}

function hashRangeInto (out: Uint8Array, fd: number, start: number, end: number, chunkSize: number, buf: Buffer): void {
  let leaf = 0
  for (let pos = start; pos < end; pos += buf.length) {
    leaf += hashLeavesInto(out, leaf, readRangeSync(fd, pos, Math.min(end, pos + buf.length), buf), chunkSize)
  }
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
