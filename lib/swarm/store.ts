// Disk-backed chunk store for one item: verified chunks are written at their offset in
// one file, a bitfield in memory says which are held. Nothing is kept in memory but
// the bitfield, so an item of any size costs the same. An existing file (a --cache
// DIR reused) is re-verified chunk by chunk on open: a file we did not just write
// ourselves is not trusted. Chunks are written and read back with synchronous
// positional I/O: a 128 KiB pread/pwrite against the page cache costs less than the
// thread-pool round trip and promise of fs/promises (a 256 MiB --raw fetch: 1.5 -> 1.2 s
// of CPU). With a VerifyPool, putChecked() hashes and writes on a worker thread
// instead, and close() waits for those writes: the fd must not close (and its number
// be reused) under a worker.
//
// The store can also be the output itself (OutputFile): `pc-fetch --raw URL > file`
// writes each verified chunk straight into the file at its offset, so the item is not
// written twice (cache, then stdout) and needs no cache space. Peers are served from
// the same file, read through a second descriptor; closed incomplete, the file is cut
// back to its verified prefix, as a cut-off download would leave it.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readSync, fstatSync, openSync, closeSync, ftruncateSync, readFileSync, constants } from 'node:fs'
import { EventEmitter } from 'node:events'
import { type HashTree, verifyChunk, leafHash } from '../hashing/hashtree.js'
import { writeAllAt, type VerifyPool } from '../hashing/verify-pool.js'
import type { BufferPool } from '../core/buffer-pool.js'
import { setBit, getBit } from './wire.js'

/** what putChecked did with a chunk */
export type PutResult = 'stored' | 'bad' | 'held'

/** A regular file open for writing (stdout), to be the store: chunks go to `base` + their offset. */
export interface OutputFile { fd: number, base: number, readFd: number }

/**
 * `fd` as an OutputFile when it is a regular file, not opened for appending (positional
 * writes would land at its end), and readable through /proc (Linux), else undefined.
 */
export function outputFile (fd: number): OutputFile | undefined {
  try {
    if (!fstatSync(fd).isFile()) return undefined
    const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1')
    const pos = /^pos:\s*(\d+)/m.exec(info)
    const flags = /^flags:\s*([0-7]+)/m.exec(info)
    if (!pos || !flags) return undefined
    const f = parseInt(flags[1], 8)
    if ((f & constants.O_APPEND) !== 0 || (f & 3) === constants.O_RDONLY) return undefined
    const readFd = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY)
    return { fd, base: Number(pos[1]), readFd }
  } catch {
    return undefined
  }
}

/**
 * What a swarm needs of its store: ChunkStore (a file) or MemoryStore (memory, for a
 * simulator running thousands of swarms in one process). Emits 'have' (i) when a chunk is
 * stored and 'lost' (i) when a held chunk no longer verifies.
 */
export interface Store extends EventEmitter {
  readonly tree: HashTree
  readonly count: number
  readonly bits: Buffer
  readonly held: number
  readonly complete: boolean
  readonly isOutput: boolean
  readonly buffers: BufferPool | undefined
  has: (i: number) => boolean
  length: (i: number) => number
  putChecked: (i: number, data: Buffer) => Promise<PutResult>
  get: (i: number, into?: Buffer, verify?: boolean) => Promise<Buffer>
  close: (remove: boolean) => Promise<void>
}

export class ChunkStore extends EventEmitter implements Store {
  readonly count: number
  readonly bits: Buffer
  held = 0
  private closed = false
  /** checks running on the pool's threads */
  private readonly checking = new Set<Promise<unknown>>()
  private pool?: VerifyPool
  private constructor (readonly tree: HashTree, readonly path: string, private readonly wfd: number, private readonly rfd: number, private readonly base: number, private readonly output?: OutputFile) {
    super()
    this.count = tree.leaves.length
    this.bits = Buffer.alloc(Math.ceil(this.count / 8))
  }

  /** Open (or create) `DIR/<root hex>`; chunks already there are verified and counted. */
  static async open (dir: string, tree: HashTree, pool?: VerifyPool): Promise<ChunkStore> {
    const path = join(dir, tree.root.toString('hex'))
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644)
    const s = new ChunkStore(tree, path, fd, fd, 0)
    s.pool = usable(pool, tree)
    const size = fstatSync(fd).size
    if (size > 0) s.recheck(size)
    return s
  }

  /** A store that is the output file: nothing in it is trusted or kept from before. */
  static onOutput (out: OutputFile, tree: HashTree, pool?: VerifyPool): ChunkStore {
    const s = new ChunkStore(tree, `output file (fd ${out.fd})`, out.fd, out.readFd, out.base, out)
    s.pool = usable(pool, tree)
    return s
  }

  /** whether this store is the output: its bytes need not be written anywhere else */
  get isOutput (): boolean { return this.output !== undefined }

  private recheck (fileSize: number): void {
    const buf = Buffer.allocUnsafe(this.tree.chunkSize)
    for (let i = 0; i < this.count; i++) {
      const len = this.length(i)
      if ((i * this.tree.chunkSize) + len > fileSize) break
      const got = readSync(this.rfd, buf, 0, len, i * this.tree.chunkSize)
      if (got === len && verifyChunk(this.tree, i, buf.subarray(0, len))) { setBit(this.bits, i); this.held++ }
    }
  }

  length (i: number): number { return Math.max(0, Math.min(this.tree.chunkSize, this.tree.size - i * this.tree.chunkSize)) }
  has (i: number): boolean { return i >= 0 && i < this.count && getBit(this.bits, i) }
  get complete (): boolean { return this.held === this.count }

  /** Shared buffers to receive chunks into, so putChecked() needs no copy (with a pool). */
  get buffers (): BufferPool | undefined { return this.pool?.buffers }

  /**
   * Verify chunk i against the tree and store it if it matches: on a worker thread of
   * the pool when there is one (data not in one of its slots is copied into one first),
   * else here. 'held' when the chunk was already stored (or the store closed).
   */
  async putChecked (i: number, data: Buffer): Promise<PutResult> {
    if (this.closed || this.has(i)) return 'held'
    if (i < 0 || i >= this.count || data.length !== this.length(i)) return 'bad'
    const leaf = this.tree.leaves[i]
    const pos = this.base + i * this.tree.chunkSize
    let ok: boolean
    if (this.pool) {
      const pool = this.pool
      const slot = pool.owns(data) ? undefined : await pool.buffers.take()
      if (this.closed) { if (slot) pool.buffers.give(slot); return 'held' }
      if (slot) data.copy(slot)
      const job = pool.check(slot ? slot.subarray(0, data.length) : data, leaf, this.wfd, pos)
      this.checking.add(job)
      try { ok = await job } finally { this.checking.delete(job); if (slot) pool.buffers.give(slot) }
    } else {
      ok = leafHash(data).equals(leaf)
      if (ok && data.length > 0) writeAllAt(this.wfd, data, pos)
    }
    if (!ok) return 'bad'
    if (this.closed || this.has(i)) return 'held'
    setBit(this.bits, i)
    this.held++
    this.emit('have', i)
    return 'stored'
  }

  /**
   * Read chunk i (into `into` when given and large enough). With `verify` (the default,
   * used before a chunk is sent to a peer) it is checked against the tree once more, so
   * a cache file changed under us never leaves this process.
   */
  async get (i: number, into?: Buffer, verify = true): Promise<Buffer> {
    if (!this.has(i)) throw new Error(`chunk ${i} not held`)
    const len = this.length(i)
    const buf = into && into.length >= len ? into.subarray(0, len) : Buffer.allocUnsafe(len)
    let o = 0
    while (o < len) {
      const bytesRead = readSync(this.rfd, buf, o, len - o, this.base + i * this.tree.chunkSize + o)
      if (bytesRead === 0) throw new Error(`chunk ${i}: short read`)
      o += bytesRead
    }
    // re-verify on the way out: a cache file changed under us must not reach a peer or stdout
    if (verify && !verifyChunk(this.tree, i, buf)) {
      this.bits[i >> 3] &= ~(0x80 >> (i & 7))
      this.held--
      this.emit('lost', i)
      throw new Error(`chunk ${i} in ${this.path} no longer matches the hash tree`)
    }
    return buf
  }

  /** bytes of the verified prefix: chunks 0.. held without a hole */
  get prefixBytes (): number {
    let i = 0
    while (i < this.count && this.has(i)) i++
    return Math.min(this.tree.size, i * this.tree.chunkSize)
  }

  /** Close (removing a cache file when asked). An output file is cut to its verified prefix (all of it when complete) and left open. */
  async close (remove: boolean): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.checking])
    if (this.output) {
      try { ftruncateSync(this.wfd, this.base + this.prefixBytes) } catch { /* a device that cannot be cut: leave it */ }
      try { closeSync(this.rfd) } catch { /* gone */ }
      return
    }
    try { closeSync(this.wfd) } catch { /* gone */ }
    if (remove) await rm(this.path, { force: true })
  }
}

function usable (pool: VerifyPool | undefined, tree: HashTree): VerifyPool | undefined {
  // the pool's slots are of one chunk size; a tree of another is verified on the main thread
  return pool?.slotBytes === tree.chunkSize ? pool : undefined
}

export interface MemoryStoreOptions {
  /** whether chunk i is `data` (default: its leaf hash matches the tree) */
  check?: (i: number, data: Buffer) => boolean
  /** keep the caller's buffer instead of a copy: only when no caller reuses it (a simulator's shared chunks) */
  keepBuffers?: boolean
}

/**
 * A store in memory: the chunks held, by index. For simulations of many swarms in one
 * process, where the chunk buffers can be shared (keepBuffers) and checked against
 * known bytes rather than hashed again per listener (check).
 */
export class MemoryStore extends EventEmitter implements Store {
  readonly count: number
  readonly bits: Buffer
  held = 0
  readonly isOutput = false
  readonly buffers = undefined
  private readonly chunks: Array<Buffer | undefined>
  private closed = false
  constructor (readonly tree: HashTree, private readonly opts: MemoryStoreOptions = {}) {
    super()
    this.count = tree.leaves.length
    this.bits = Buffer.alloc(Math.ceil(this.count / 8))
    this.chunks = new Array<Buffer | undefined>(this.count)
  }

  length (i: number): number { return Math.max(0, Math.min(this.tree.chunkSize, this.tree.size - i * this.tree.chunkSize)) }
  has (i: number): boolean { return i >= 0 && i < this.count && getBit(this.bits, i) }
  get complete (): boolean { return this.held === this.count }

  async putChecked (i: number, data: Buffer): Promise<PutResult> {
    if (this.closed || this.has(i)) return 'held'
    if (i < 0 || i >= this.count || data.length !== this.length(i)) return 'bad'
    const ok = this.opts.check ? this.opts.check(i, data) : leafHash(data).equals(this.tree.leaves[i])
    if (!ok) return 'bad'
    this.chunks[i] = this.opts.keepBuffers ? data : Buffer.from(data)
    setBit(this.bits, i)
    this.held++
    this.emit('have', i)
    return 'stored'
  }

  async get (i: number, into?: Buffer): Promise<Buffer> {
    const c = this.has(i) ? this.chunks[i] : undefined
    if (!c) throw new Error(`chunk ${i} not held`)
    if (into && into.length >= c.length) { c.copy(into); return into.subarray(0, c.length) }
    return c
  }

  async close (): Promise<void> { this.closed = true; this.chunks.fill(undefined) }
}
