// Chunk verification off the main thread. Hashing a chunk costs about as much as
// receiving it, so pc-fetch on one core spends half its time in BLAKE2b while the other
// core idles. A VerifyPool keeps worker threads (lib/verify-worker.ts) that hash a chunk
// held in shared memory, compare it with its leaf and, only when it matches, write it
// into the store's file at its offset (file descriptors are shared by all threads).
// The main thread only receives bytes into the shared slots and writes stdout.
//
// The slots are one SharedArrayBuffer; a BufferPool hands them out (a receiver that
// finds none free waits). Jobs and results pass through rings of slot numbers in shared
// memory, signalled with Atomics (postMessage cost ~80 µs a chunk, as much as the copy
// it saves). Until a worker is running (~0.1 s to start), and for trees of
// another chunk size, checks run on the main thread.
import { Worker } from 'node:worker_threads'
import { writeSync } from 'node:fs'
import { BufferPool } from '../core/buffer-pool.js'
import { HASH_BYTES, leafHash } from './hashtree.js'

/**
 * chunk slots (a power of two, the size of each ring): 4 MiB at 128 KiB. With 16, a
 * 256 MiB download spent ~10% longer waiting for a free slot (transfer medians 490 -> 435 ms);
 * 64 gained nothing more.
 */
export const VERIFY_SLOTS = 32
/** items smaller than this are verified on the main thread unless workers are forced */
export const VERIFY_MIN_BYTES = 64 << 20

// each worker's control block (Int32Array): counters, then its job ring, then its done ring
export const C_HEAD = 0 // jobs posted (main writes)
export const C_TAIL = 1 // jobs taken (worker writes)
export const C_DONE = 2 // results posted (worker writes)
export const C_JOBS = 4
export const C_DONES = C_JOBS + VERIFY_SLOTS
export const C_INTS = C_DONES + VERIFY_SLOTS
// per slot, the result of its last job
export const R_OK = 1
export const R_BAD = 2
export const R_ERROR = 3

export interface VerifySetup {
  slotBytes: number
  data: SharedArrayBuffer
  /** per slot: the expected leaf (HASH_BYTES) */
  leaves: SharedArrayBuffer
  /** per slot (Float64Array): fd, byte position */
  where: SharedArrayBuffer
  /** per slot (Int32Array): length, result */
  state: SharedArrayBuffer
  control: SharedArrayBuffer
}

interface Running { worker: Worker, control: Int32Array, ready: boolean, load: number, seen: number, watching: boolean }
interface Pending { resolve: (r: number) => void, worker: Running }

/** Write all of `data` at `pos` (positional, so threads sharing the fd do not disturb each other). */
export function writeAllAt (fd: number, data: Uint8Array, pos: number): void {
  let o = 0
  while (o < data.length) o += writeSync(fd, data, o, data.length - o, pos + o)
}

export class VerifyPool {
  readonly buffers: BufferPool
  private readonly data: SharedArrayBuffer
  private readonly leaves: Buffer
  private readonly where: Float64Array
  private readonly state: Int32Array
  private readonly setup: Omit<VerifySetup, 'control'>
  private readonly running: Running[] = []
  private readonly pending = new Map<number, Pending>()
  /** chunks checked on worker threads (the rest were checked on the main thread) */
  checkedOnThreads = 0
  private started = false
  private readonly onReady: Array<() => void> = []
  private closed = false
  private failed = false

  /** `workers` threads for chunks of `slotBytes`, started when the first slot is taken */
  constructor (readonly workers: number, readonly slotBytes: number, private readonly warn: (msg: string) => void = () => {}) {
    this.data = new SharedArrayBuffer(VERIFY_SLOTS * slotBytes)
    const leaves = new SharedArrayBuffer(VERIFY_SLOTS * HASH_BYTES)
    const where = new SharedArrayBuffer(VERIFY_SLOTS * 2 * 8)
    const state = new SharedArrayBuffer(VERIFY_SLOTS * 2 * 4)
    this.leaves = Buffer.from(leaves)
    this.where = new Float64Array(where)
    this.state = new Int32Array(state)
    this.setup = { slotBytes, data: this.data, leaves, where, state }
    this.buffers = new BufferPool(VERIFY_SLOTS, slotBytes, (k) => { this.start(); return Buffer.from(this.data, k * slotBytes, slotBytes) })
  }

  /** Start the threads now (they take ~0.1 s to load), e.g. as soon as a big item is expected. */
  warm (): void { this.start() }

  /** Start the threads; resolves once one is ready for jobs, or none can be (they failed, or the pool is closed). */
  async ready (): Promise<void> {
    this.start()
    if (this.threadsReady > 0 || this.failed || this.closed || !this.running.length) return
    await new Promise<void>(resolve => this.onReady.push(resolve))
  }

  private wake (): void { for (const f of this.onReady.splice(0)) f() }

  private start (): void {
    if (this.started || this.closed) return
    this.started = true
    for (let k = 0; k < this.workers; k++) {
      const control = new Int32Array(new SharedArrayBuffer(C_INTS * 4))
      // it allocates almost nothing per chunk: small heaps keep its memory near a bare thread's
      const worker = new Worker(new URL('./verify-worker.js', import.meta.url), {
        workerData: { ...this.setup, control: control.buffer } satisfies VerifySetup,
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
      })
      const w: Running = { worker, control, ready: false, load: 0, seen: 0, watching: false }
      worker.unref()
      worker.on('message', (m: string) => { if (m === 'ready') { w.ready = true; this.wake() } })
      worker.on('error', (e) => this.lost(e))
      worker.on('exit', (code) => { if (!this.closed) this.lost(new Error(`exited with code ${code}`)) })
      this.running.push(w)
    }
  }

  /** A worker died: stop using workers; what they held is checked again here. */
  private lost (e: Error): void {
    if (this.failed || this.closed) return
    this.failed = true
    this.wake()
    this.warn(`chunk verification thread failed (${e.message}); verifying on the main thread`)
    for (const r of this.running) void r.worker.terminate()
    this.running.length = 0
    for (const [slot, p] of this.pending) { this.pending.delete(slot); p.resolve(R_ERROR) }
  }

  /** worker threads started and ready for jobs */
  get threadsReady (): number { return this.running.filter(w => w.ready).length }

  /** whether `b` is (a prefix of) one of this pool's slots */
  owns (b: Buffer): boolean { return b.buffer === this.data }

  /**
   * Whether `data` hashes to `leaf`; if it does, it is written to `fd` at `pos` before
   * this resolves. On a worker when `data` is (a prefix of) a slot of this pool and a
   * worker is ready, else here.
   */
  async check (data: Buffer, leaf: Buffer, fd: number, pos: number): Promise<boolean> {
    const w = this.owns(data) ? this.pick() : undefined
    if (!w) return this.checkHere(data, leaf, fd, pos)
    const slot = data.byteOffset / this.slotBytes
    if (this.pending.has(slot)) throw new Error(`verify slot ${slot} is in use twice`)
    leaf.copy(this.leaves, slot * HASH_BYTES)
    this.where[slot * 2] = fd
    this.where[slot * 2 + 1] = pos
    this.state[slot * 2] = data.length
    this.state[slot * 2 + 1] = 0
    const c = w.control
    const head = c[C_HEAD]
    c[C_JOBS + (head & (VERIFY_SLOTS - 1))] = slot
    Atomics.store(c, C_HEAD, head + 1)
    Atomics.notify(c, C_HEAD)
    w.load++
    this.checkedOnThreads++
    const r = await new Promise<number>(resolve => {
      this.pending.set(slot, { resolve, worker: w })
      this.watch(w)
    })
    // a failed write (or a lost worker) is done again here, so its error is the real one
    return r === R_OK ? true : r === R_BAD ? false : this.checkHere(data, leaf, fd, pos)
  }

  /** Wait (without blocking) for the worker's next results. */
  private watch (w: Running): void {
    if (w.watching) return
    w.watching = true
    const r = Atomics.waitAsync(w.control, C_DONE, w.seen)
    const then = (): void => { w.watching = false; this.collect(w) }
    if (r.async) void r.value.then(then); else queueMicrotask(then)
  }

  private collect (w: Running): void {
    const c = w.control
    const done = Atomics.load(c, C_DONE)
    while (w.seen !== done) {
      const slot = c[C_DONES + (w.seen & (VERIFY_SLOTS - 1))]
      w.seen = (w.seen + 1) | 0
      const p = this.pending.get(slot)
      if (!p) continue
      this.pending.delete(slot)
      w.load--
      p.resolve(Atomics.load(this.state, slot * 2 + 1))
    }
    if (w.load > 0) this.watch(w)
  }

  private checkHere (data: Buffer, leaf: Buffer, fd: number, pos: number): boolean {
    if (!leafHash(data).equals(leaf)) return false
    if (data.length > 0) writeAllAt(fd, data, pos)
    return true
  }

  /** the ready worker with the fewest jobs, if any */
  private pick (): Running | undefined {
    let best: Running | undefined
    for (const w of this.running) if (w.ready && (!best || w.load < best.load)) best = w
    return best
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(this.running.map(async r => await r.worker.terminate()))
    this.running.length = 0
    this.wake()
    for (const [slot, p] of this.pending) { this.pending.delete(slot); p.resolve(R_ERROR) }
  }
}
