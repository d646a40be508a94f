// Hash-tree leaves in parallel. Leaves are independent, so a big input is cut into
// stripes of whole chunks hashed on worker_threads (lib/hash-worker.ts); a small one
// stays on the main thread, where starting workers would cost more than it saves.
// Files are read by the workers themselves (positional reads on the shared fd);
// pipes are read straight into stripes, other streams (URLs) copied into them, and
// the stripes transferred to the workers.
import { Readable } from 'node:stream'
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net'
import { constants, fstatSync, openSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { HASH_BYTES, CHUNK_BYTES, MIN_CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_LEAVES, chunkCount, rootOf, rootOver, topOf, type HashTree } from './hashtree.js'
import { DataError, IOError, NoInputError } from '../core/errors.js'
import { hashLeaves, hashNextStripe, sharedStripes, stopClaims, stripeCount, stripeDoneChange, stripesDone, type WorkerReply } from './leaves.js'
import { LeafPool, JOBS_PER_WORKER } from './leaf-pool.js'

export { hashLeaves } from './leaves.js'

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

type Layout = ReturnType<typeof settings>

function splitLeaves (blocks: Uint8Array[]): Buffer[] {
  const out: Buffer[] = []
  for (const b of blocks) {
    for (let o = 0; o < b.length; o += HASH_BYTES) out.push(Buffer.from(b.buffer, b.byteOffset + o, HASH_BYTES))
  }
  return out
}

/**
 * Hash a file by path. Regular files are read by position (on workers too when big),
 * a FIFO by hashPipe, anything else (a device) as a stream. Errors name the path.
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
    if (!st.isFile()) {
      const piped = st.isFIFO() ? await hashPipe(`/dev/fd/${fh.fd}`, opts) : undefined
      return piped ?? await hashInput(fh.createReadStream({ autoClose: false, highWaterMark: 1 << 20 }), opts)
    }
    const size = st.size
    const n = chunkCount(size, chunkSize)
    if (n > MAX_LEAVES) throw new DataError(`${size} bytes is more than ${MAX_LEAVES} chunks of ${chunkSize}`, path)
    // The main thread hashes stripes of a file too, so one core is left for it.
    const workers = opts.workers ?? Math.max(0, autoWorkers(size) - 1)
    const empty = size === 0 ? splitLeaves([hashLeaves(Buffer.alloc(0), chunkSize)]) : undefined
    const { leaves, root } = empty
      ? { leaves: empty, root: rootOf(empty, 0, chunkSize) }
      : await fileStripes(fh.fd, size, workers, layout, path, opts.signal, opts.hashOnMain ?? true)
    const after = await fh.stat()
    if (after.size !== size || after.mtimeMs !== st.mtimeMs) throw new IOError('file changed while being hashed', path)
    return { size, chunkSize, leaves, root, headers: [] }
  } finally {
    await fh.close()
  }
}

/**
 * The leaves and root of a non-empty file, on `workers` threads and this one. The stripes
 * are claimed from a shared counter by whichever thread is free (SharedStripes), each
 * thread reading its stripes itself, by position, READ_BYTES at a time, and reducing each
 * stripe to its top node, so that what is left for this thread at the end is the root
 * over a few top nodes.
 */
async function fileStripes (fd: number, size: number, workers: number, layout: Layout, path: string, signal: AbortSignal | undefined, hashOnMain: boolean): Promise<{ leaves: Buffer[], root: Buffer }> {
  const { chunkSize, read } = layout
  // a power of two of chunks, for the stripes' tops to be nodes of the tree
  const stripe = 2 ** Math.floor(Math.log2(layout.stripe / chunkSize)) * chunkSize
  const stripes = sharedStripes(size, stripe, chunkSize)
  // Workers share the process's descriptor table, so they read our open fd: the same
  // file even if the path is renamed or replaced meanwhile.
  const pool = workers > 0 ? new LeafPool(workers, { chunkSize, readBytes: Math.min(read, stripe), fd, stripes }, path) : undefined
  const failed = pool?.failed
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { stopClaims(stripes); reject(signal?.reason) }
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort)
  })
  aborted.catch(() => {})
  try {
    // This thread hashes stripes too: all of them while the workers start (0.07 s of CPU
    // each), then its share. It yields between stripes so that an abort is seen.
    if (hashOnMain || !pool) {
      const buf = Buffer.allocUnsafe(Math.min(read, stripe))
      for (;;) {
        try {
          if (!hashNextStripe(stripes, fd, chunkSize, buf)) break
        } catch (e) {
          stopClaims(stripes)
          throw new IOError((e as Error).message, path)
        }
        await Promise.race([new Promise(resolve => setImmediate(resolve)), aborted, failed])
      }
    }
    for (let done = stripesDone(stripes); done < stripeCount(stripes); done = stripesDone(stripes)) {
      const change = stripeDoneChange(stripes, done)
      if (change) await Promise.race([change, aborted, failed])
    }
    const leaves = splitLeaves([new Uint8Array(stripes.leaves)])
    return { leaves, root: rootOver(topOf(stripes.tops), size, chunkSize) }
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
 * A stream's bytes gathered into stripes as they come. Below `startParallelAt` bytes a
 * stripe is hashed on this thread; past it, it goes to a worker, at most
 * JOBS_PER_WORKER each in flight, so memory stays bounded. A reader writes into
 * space() and then commit()s, or has write() copy.
 */
class StripeSink {
  private pool: LeafPool | undefined
  private readonly blocks: (Uint8Array | Promise<WorkerReply>)[] = []
  private readonly inFlight: Promise<WorkerReply>[] = []
  private batch: Uint8Array
  private fill = 0
  private size = 0
  private readonly startParallelAt: number

  constructor (private readonly layout: Layout, private readonly workers: number, explicit: boolean) {
    this.batch = new Uint8Array(layout.stripe)
    this.startParallelAt = workers === 0 ? Infinity : explicit ? 0 : PARALLEL_MIN_BYTES
  }

  /** Where the next bytes go: the rest of the current stripe. */
  space (): Uint8Array { return this.batch.subarray(this.fill) }

  /** `n` bytes were written at space(); when a promise comes back, write no more until it settles. */
  commit (n: number): Promise<void> | undefined {
    this.fill += n
    this.size += n
    const { chunkSize, stripe } = this.layout
    if (chunkCount(this.size, chunkSize) > MAX_LEAVES) throw new DataError(`more than ${MAX_LEAVES} chunks of ${chunkSize} bytes`, 'input')
    return this.fill === stripe ? this.dispatch(false) : undefined
  }

  async write (chunk: Uint8Array): Promise<void> {
    for (let off = 0; off < chunk.length;) {
      const space = this.space()
      const n = Math.min(space.length, chunk.length - off)
      space.set(chunk.subarray(off, off + n))
      off += n
      await this.commit(n)
    }
  }

  private dispatch (final: boolean): Promise<void> | undefined {
    const { chunkSize, stripe, read } = this.layout
    const data = this.batch.subarray(0, this.fill)
    const start = this.size - this.fill
    this.fill = 0
    if (start < this.startParallelAt) {
      this.blocks.push(hashLeaves(data, chunkSize))
      return undefined
    }
    this.pool ??= new LeafPool(this.workers, { chunkSize, readBytes: read }, 'input')
    const job = this.pool.submit({ start, end: this.size, data })
    job.catch(() => {}) // awaited in finish(); keep an early failure from being unhandled
    this.blocks.push(job)
    this.inFlight.push(job)
    if (final) return undefined
    this.batch = this.pool.spare.pop() ?? new Uint8Array(stripe)
    if (this.inFlight.length < this.pool.size * JOBS_PER_WORKER) return undefined
    return (this.inFlight.shift() as Promise<WorkerReply>).then(() => {})
  }

  async finish (signal?: AbortSignal): Promise<HashTree> {
    if (this.fill > 0 || this.size === 0) this.dispatch(true)
    const done: Uint8Array[] = []
    for (const b of this.blocks) done.push(b instanceof Uint8Array ? b : (await b).leaves as Uint8Array)
    signal?.throwIfAborted()
    const leaves = splitLeaves(done)
    const { chunkSize } = this.layout
    return { size: this.size, chunkSize, leaves, root: rootOf(leaves, this.size, chunkSize), headers: [] }
  }

  close (): void { this.pool?.close() }
}

/**
 * Hash a stream (stdin, a URL body) read to its end. The first PARALLEL_MIN_BYTES are
 * hashed on the main thread; past that (or at once if workers are asked for), stripes
 * go to workers.
 */
export async function hashInput (input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: HashOptions = {}): Promise<HashTree> {
  // Here the main thread reads and copies, so there is a worker for every core.
  const sink = new StripeSink(settings(opts), opts.workers ?? autoWorkers(Number.MAX_SAFE_INTEGER), opts.workers !== undefined)
  const onAbort = (): void => { sink.close() }
  opts.signal?.addEventListener('abort', onAbort)
  try {
    for await (const chunk of abortable(input, opts.signal)) await sink.write(chunk)
    return await sink.finish(opts.signal)
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    sink.close()
  }
}

/**
 * Hash what a pipe or FIFO delivers, read straight into the stripes by a socket with
 * a buffer of ours (net.Socket's `onread`): a readable stream would allocate a 64 KiB
 * buffer per read, which we would copy and the collector free, 16,384 times a GiB.
 * `path` (/dev/fd/N) opens the pipe once more, without blocking, so the socket owns the
 * descriptor it closes. Undefined when it cannot be opened so.
 */
export async function hashPipe (path: string, opts: HashOptions = {}): Promise<HashTree | undefined> {
  let fd: number
  try { fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK) } catch { return undefined }
  const sink = new StripeSink(settings(opts), opts.workers ?? autoWorkers(Number.MAX_SAFE_INTEGER), opts.workers !== undefined)
  let onAbort = (): void => {}
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown): void => { sock.destroy(); reject(e) }
      // `onread` is an option of the constructor (added in Node 12.10; Node's docs moved it
      // there from socket.connect() in 2024), not yet in @types/node 20's SocketConstructorOpts
      const options: SocketConstructorOpts & { onread: OnReadOpts } = {
        fd,
        readable: true,
        writable: false,
        onread: {
          buffer: () => sink.space(),
          callback: (n: number): boolean => {
            let wait: Promise<void> | undefined
            try { wait = sink.commit(n) } catch (e) { fail(e); return false }
            if (!wait) return true
            wait.then(() => sock.resume(), fail)
            return false
          },
        },
      }
      const sock = new Socket(options)
      sock.on('end', resolve)
      sock.on('error', (e: Error) => fail(new IOError(`cannot read: ${e.message}`, 'input')))
      onAbort = () => { sink.close(); fail(opts.signal?.reason) }
      if (opts.signal?.aborted) onAbort()
      opts.signal?.addEventListener('abort', onAbort)
    })
    return await sink.finish(opts.signal)
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    sink.close()
  }
}

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
    // A pipe is read straight into the stripes (hashPipe); anything else as a stream.
    const fd = (stdin as { fd?: unknown }).fd
    const st = typeof fd === 'number' ? fstatSync(fd) : undefined
    if (st?.isFile()) return await hashFile(`/dev/fd/${fd as number}`, opts)
    const piped = st?.isFIFO() ? await hashPipe(`/dev/fd/${fd as number}`, opts) : undefined
    return piped ?? await hashInput(stdin, opts)
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
