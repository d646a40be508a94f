// Hash-tree leaves in parallel. Leaves are independent, so a big input is cut into
// stripes of whole chunks hashed on worker_threads (lib/hash-worker.ts); a small one
// stays on the main thread, where starting workers would cost more than it saves.
// Files are read by the workers themselves (positional reads on the shared fd);
// streams (stdin, URLs) are copied into stripes that are transferred to them.
import { Worker } from 'node:worker_threads'
import { Readable } from 'node:stream'
import { readSync, fstatSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { HASH_BYTES, CHUNK_BYTES, MIN_CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_LEAVES, chunkCount, leafHashInto, rootOf, type HashTree } from './hashtree.js'
import { DataError, IOError, NoInputError } from '../core/errors.js'

/** Bytes per job: big enough that a job's hashing dwarfs its message round trip. */
export const STRIPE_BYTES = 8 << 20
/**
 * Bytes per read of a file: small enough that what the kernel copies in is still in the
 * core's cache (1 MiB of L2 on the EPYC measured) when it is hashed. Reading a stripe
 * whole, 8 MiB at a time, cost ~15 % more CPU per byte (BENCHMARKS.md `## hash`).
 */
export const READ_BYTES = 512 << 10
/**
 * Inputs smaller than this stay on the main thread unless workers are asked for:
 * starting a worker costs about 0.1 s of CPU (Node's worker bootstrap and our modules),
 * as much as hashing 100 MiB, and bench/hash.ts found the break-even near 128 MiB.
 */
export const PARALLEL_MIN_BYTES = 128 << 20
export const MAX_WORKERS = 64
/** jobs queued per worker, so none idles while its next job is in the post */
const JOBS_PER_WORKER = 2

export interface HashOptions {
  chunkSize?: number
  /** worker threads; 0 hashes on the main thread; undefined picks by input size and cores */
  workers?: number
  /** bytes per job, rounded down to whole chunks (tests make it small) */
  stripeBytes?: number
  /** bytes per read of a file, rounded down to whole chunks, at most a stripe (tests make it small) */
  readBytes?: number
  /** whether the main thread hashes stripes of a file too (default; tests turn it off so workers do all) */
  hashOnMain?: boolean
  signal?: AbortSignal
}

/** the id of the message a worker sends once it has started */
export const READY_ID = -1

export interface WorkerSetup { chunkSize: number, stripeBytes: number, readBytes: number, fd?: number }
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

/** Workers used when none are asked for: all cores for big inputs, none for small ones. */
export function autoWorkers (size: number, cores = availableParallelism()): number {
  const n = Math.min(cores, MAX_WORKERS)
  return size >= PARALLEL_MIN_BYTES && n >= 2 ? n : 0
}

function settings (opts: HashOptions): { chunkSize: number, stripe: number, read: number } {
  const chunkSize = opts.chunkSize ?? CHUNK_BYTES
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) {
    throw new RangeError(`chunk size ${chunkSize} outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`)
  }
  const whole = (bytes: number): number => Math.max(1, Math.floor(bytes / chunkSize)) * chunkSize
  const stripe = whole(opts.stripeBytes ?? STRIPE_BYTES)
  return { chunkSize, stripe, read: Math.min(stripe, whole(opts.readBytes ?? READ_BYTES)) }
}

function splitLeaves (blocks: Uint8Array[]): Buffer[] {
  const out: Buffer[] = []
  for (const b of blocks) {
    for (let o = 0; o < b.length; o += HASH_BYTES) out.push(Buffer.from(b.buffer, b.byteOffset + o, HASH_BYTES))
  }
  return out
}

/** A fixed set of hash workers; jobs go to the least busy one. */
class LeafPool {
  private readonly slots: { worker: Worker, busy: number, ready: boolean }[] = []
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void, reject: (e: Error) => void, slot: number }>()
  private readonly queue: WorkerJob[] = []
  private nextId = 0
  private closing = false
  private failure: Error | undefined
  /** data buffers the workers gave back, for reuse */
  readonly spare: Uint8Array[] = []

  constructor (n: number, setup: WorkerSetup, private readonly where: string) {
    const url = new URL('./hash-worker.js', import.meta.url)
    for (let i = 0; i < n; i++) {
      const worker = new Worker(url, { workerData: setup })
      const slot = i
      worker.on('message', (r: WorkerReply) => this.reply(r, slot))
      worker.on('error', (e: Error) => this.fail(e))
      worker.on('exit', () => { if (!this.closing) this.fail(new Error('hash worker exited')) })
      this.slots.push({ worker, busy: 0, ready: false })
    }
  }

  get size (): number { return this.slots.length }

  /** Take back a job not yet posted to any worker, for the caller to do itself. */
  steal (): { job: WorkerJob, resolve: (r: WorkerReply) => void, reject: (e: Error) => void } | undefined {
    const job = this.queue.pop()
    const p = job && this.pending.get(job.id)
    if (!job || !p) return undefined
    this.pending.delete(job.id)
    return { job, resolve: p.resolve, reject: p.reject }
  }

  /**
   * Queue a job. Jobs are posted only to workers that have started, at most
   * JOBS_PER_WORKER each; the rest wait here and go to whichever worker is free first,
   * so a worker that the scheduler slows down takes fewer stripes instead of holding
   * up the end, and the caller can steal() what no worker has taken yet.
   */
  submit (job: Omit<WorkerJob, 'id'>): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot: -1 })
      this.queue.push({ ...job, id })
      this.pump()
    })
  }

  private pump (): void {
    while (this.queue.length > 0) {
      let slot = -1
      for (let i = 0; i < this.slots.length; i++) {
        if (this.slots[i].ready && (slot < 0 || this.slots[i].busy < this.slots[slot].busy)) slot = i
      }
      if (slot < 0 || this.slots[slot].busy >= JOBS_PER_WORKER) return
      const job = this.queue.shift() as WorkerJob
      const p = this.pending.get(job.id)
      if (!p) continue
      p.slot = slot
      this.slots[slot].busy++
      this.slots[slot].worker.postMessage(job, job.data ? [job.data.buffer as ArrayBuffer] : [])
    }
  }

  private reply (r: WorkerReply, slot: number): void {
    if (r.id === READY_ID) { this.slots[slot].ready = true; this.pump(); return }
    const p = this.pending.get(r.id)
    if (!p) return
    this.pending.delete(r.id)
    this.slots[p.slot].busy--
    this.pump()
    if (r.data) this.spare.push(r.data)
    if (r.error !== undefined) {
      p.reject(r.code === 'ESHRUNK' || r.code === 'EIO' ? new IOError(r.error, this.where) : new Error(`hash worker: ${r.error}`))
    } else p.resolve(r)
  }

  private fail (e: Error): void {
    this.failure ??= e
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
    this.queue.length = 0
  }

  /** Stop the workers; jobs still pending fail with an AbortError. */
  close (): void {
    this.closing = true
    const err = new DOMException('hashing aborted', 'AbortError')
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.queue.length = 0
    // Not awaited: stopping a worker can take 20 ms, and nothing waits on it. Unref'd,
    // a worker still stopping does not keep the process alive.
    for (const s of this.slots) { s.worker.unref(); void s.worker.terminate() }
  }
}

/**
 * Hash a file by path. Regular files are read by position (on workers too when big);
 * anything else (a FIFO, a device) is read as a stream. Errors name the path.
 */
export async function hashFile (path: string, opts: HashOptions = {}): Promise<HashTree> {
  const layout = settings(opts)
  const { chunkSize } = layout
  let fh: FileHandle
  try { fh = await open(path, 'r') } catch (e) {
    throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path)
  }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw new NoInputError('is a directory', path)
    if (!st.isFile()) return await hashInput(fh.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }), opts)
    const size = st.size
    const n = chunkCount(size, chunkSize)
    if (n > MAX_LEAVES) throw new DataError(`${size} bytes is more than ${MAX_LEAVES} chunks of ${chunkSize}`, path)
    // The main thread hashes stripes of a file too, so one core is left for it.
    const workers = opts.workers ?? Math.max(0, autoWorkers(size) - 1)
    const leaves = size === 0
      ? splitLeaves([hashLeaves(Buffer.alloc(0), chunkSize)])
      : await fileStripes(fh.fd, size, workers, layout, path, opts.signal, opts.hashOnMain ?? true)
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== st.mtimeMs) throw new IOError('file changed while being hashed', path)
    return { size, chunkSize, leaves, root: rootOf(leaves, size, chunkSize), headers: [] }
  } finally {
    await fh.close()
  }
}

/**
 * The leaves of a non-empty file, stripe by stripe, on `workers` threads and this one.
 * Every thread reads its stripes itself, by position, READ_BYTES at a time.
 */
async function fileStripes (fd: number, size: number, workers: number, layout: { chunkSize: number, stripe: number, read: number }, path: string, signal: AbortSignal | undefined, hashOnMain: boolean): Promise<Buffer[]> {
  const { chunkSize, stripe, read } = layout
  // Workers share the process's descriptor table, so they read our open fd: the same
  // file even if the path is renamed or replaced meanwhile.
  const pool = workers > 0 ? new LeafPool(workers, { chunkSize, stripeBytes: stripe, readBytes: read, fd }, path) : undefined
  const onAbort = (): void => { pool?.close() }
  signal?.addEventListener('abort', onAbort)
  try {
    const jobs: Promise<WorkerReply>[] = []
    const mine: { job: WorkerJob, resolve: (r: WorkerReply) => void, reject: (e: Error) => void }[] = []
    for (let pos = 0; pos < size; pos += stripe) {
      const job = { start: pos, end: Math.min(size, pos + stripe) }
      const p = pool ? pool.submit(job) : new Promise<WorkerReply>((resolve, reject) => mine.push({ job: { ...job, id: mine.length }, resolve, reject }))
      p.catch(() => {}) // awaited below; keep a failure while this thread hashes from being unhandled
      jobs.push(p)
    }
    // This thread hashes stripes too, taking them from the end of the queue: all of
    // them while the workers start (0.07 s of CPU each), then its share.
    // It yields between stripes so that workers' replies get in and they are fed, and
    // an abort is seen.
    let buf: Buffer | undefined
    while ((hashOnMain || !pool) && !signal?.aborted) {
      const s = pool ? pool.steal() : mine.shift()
      if (!s) break
      buf ??= Buffer.allocUnsafe(read)
      try {
        s.resolve({ id: s.job.id, leaves: hashRangeSync(fd, s.job.start, s.job.end, chunkSize, buf) })
      } catch (e) {
        s.reject(new IOError((e as Error).message, path))
        break
      }
      await new Promise(resolve => setImmediate(resolve))
    }
    signal?.throwIfAborted()
    const replies = await Promise.all(jobs)
    signal?.throwIfAborted()
    return splitLeaves(replies.map(r => r.leaves as Uint8Array))
  } finally {
    signal?.removeEventListener('abort', onAbort)
    pool?.close()
  }
}

/**
 * Iterate `input` until `signal` aborts, even while a read is still pending. Each
 * read gets its own abort listener: racing every read against one long-lived abort
 * promise would keep every chunk ever read reachable from that promise.
 */
async function * abortable<T> (input: AsyncIterable<T> | Iterable<T>, signal?: AbortSignal): AsyncGenerator<T> {
  if (!signal) { yield * input; return }
  const it = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]()
  let done = false
  try {
    for (;;) {
      signal.throwIfAborted()
      let onAbort = (): void => {}
      const r = await new Promise<IteratorResult<T>>((resolve, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
        Promise.resolve(it.next()).then(resolve, reject)
      }).finally(() => signal.removeEventListener('abort', onAbort))
      if (r.done) { done = true; return }
      yield r.value
    }
  } finally {
    // End the source. A stream is destroyed directly: its iterator's return() would
    // wait for the pending read, that is, for more input that may never come.
    if (!done) { if (input instanceof Readable) input.destroy(); else void it.return?.() }
  }
}

/**
 * Hash a stream (stdin, a URL body) read to its end. The first PARALLEL_MIN_BYTES are
 * hashed on the main thread; past that (or at once if workers are asked for), stripes
 * go to workers, at most JOBS_PER_WORKER each in flight, so memory stays bounded.
 */
export async function hashInput (input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: HashOptions = {}): Promise<HashTree> {
  const { chunkSize, stripe, read } = settings(opts)
  // Here the main thread reads and copies, so there is a worker for every core.
  const workers = opts.workers ?? autoWorkers(Number.MAX_SAFE_INTEGER)
  let startParallelAt = opts.workers === undefined ? PARALLEL_MIN_BYTES : 0
  if (workers === 0) startParallelAt = Infinity
  let pool: LeafPool | undefined
  const blocks: (Uint8Array | Promise<WorkerReply>)[] = []
  let inFlight: Promise<WorkerReply>[] = []
  let batch: Uint8Array = new Uint8Array(stripe)
  let fill = 0
  let size = 0

  const dispatch = async (final: boolean): Promise<void> => {
    const data = batch.subarray(0, fill)
    if (size - fill < startParallelAt) {
      blocks.push(hashLeaves(data, chunkSize))
      fill = 0
      return
    }
    pool ??= new LeafPool(workers, { chunkSize, stripeBytes: stripe, readBytes: read }, 'input')
    const job = pool.submit({ start: size - fill, end: size, data })
    job.catch(() => {}) // awaited below; keep an early failure from being unhandled
    blocks.push(job)
    inFlight.push(job)
    fill = 0
    if (final) return
    batch = pool.spare.pop() ?? new Uint8Array(stripe)
    if (inFlight.length >= pool.size * JOBS_PER_WORKER) {
      await inFlight[0]
      inFlight = inFlight.slice(1)
    }
  }

  const onAbort = (): void => { pool?.close() }
  opts.signal?.addEventListener('abort', onAbort)
  try {
    for await (const chunk of abortable(input, opts.signal)) {
      let off = 0
      while (off < chunk.length) {
        const n = Math.min(stripe - fill, chunk.length - off)
        batch.set(chunk.subarray(off, off + n), fill)
        fill += n
        off += n
        size += n
        if (fill === stripe) await dispatch(false)
      }
      if (chunkCount(size, chunkSize) > MAX_LEAVES) throw new DataError(`more than ${MAX_LEAVES} chunks of ${chunkSize} bytes`, 'input')
    }
    if (fill > 0 || size === 0) await dispatch(true)
    const done: Uint8Array[] = []
    for (const b of blocks) done.push(b instanceof Uint8Array ? b : (await b).leaves as Uint8Array)
    opts.signal?.throwIfAborted()
    const leaves = splitLeaves(done)
    return { size, chunkSize, leaves, root: rootOf(leaves, size, chunkSize), headers: [] }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    pool?.close()
  }
}

export { IDLE_TIMEOUT_MS } from '../core/http.js'

export interface SourceOptions extends HashOptions {
  /** wait for the response head; default lib/http.ts CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number
  idleTimeoutMs?: number
}

/**
 * Hash `-` (stdin), an http(s) URL or a file path. A URL's head must come within the
 * connect timeout, then its body may take as long as it needs while data keeps coming
 * (fetchUrl's own timeout would cut a long download short, so it is not used here).
 */
export async function hashSource (spec: string, stdin: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: SourceOptions = {}): Promise<HashTree> {
  if (spec === '-') {
    // A regular file on stdin (`pc-hash - < big.iso`) is hashed like a named one, by
    // position and in parallel, from its first byte: Linux reopens it via /dev/fd.
    const fd = (stdin as { fd?: unknown }).fd
    if (typeof fd === 'number' && fstatSync(fd).isFile()) return await hashFile(`/dev/fd/${fd}`, opts)
    return await hashInput(stdin, opts)
  }
  if (!/^https?:\/\//i.test(spec)) return await hashFile(spec, opts)
  const { getBody } = await import('../core/http.js')
  const body = await getBody(spec, { signal: opts.signal, connectTimeoutMs: opts.connectTimeoutMs, idleTimeoutMs: opts.idleTimeoutMs })
  try {
    return await hashInput(body.chunks, opts)
  } finally {
    body.cancel()
  }
}
