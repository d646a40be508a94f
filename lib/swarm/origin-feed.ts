// The origin side of one swarm: the requests in flight to the web server, retries with
// exponential backoff, the switch to one sequential read when the server gets Range
// wrong, and the verification of what it sends (a body that fails the tree is rejected
// like a lying peer). Which chunks to ask for is the swarm's choice, not this file's.
import type { IncomingMessage } from 'node:http'
import type { HashTree } from '../hashing/hashtree.js'
import type { PutResult } from './store.js'
import type { BufferPool } from '../core/buffer-pool.js'
import { NoRangeError, OriginError, type OriginSource } from './origin.js'
import type { SwarmClock } from './clock.js'

/** tries per chunk at the origin before it is given up (with backoff between) */
export const ORIGIN_TRIES = 6
export const ORIGIN_BACKOFF_MS = 250
export const ORIGIN_MAX_BACKOFF_MS = 15_000

export interface FeedHost {
  warn: (msg: string) => void
  debug: (msg: string) => void
  tree: () => HashTree
  has: (i: number) => boolean
  /** verify a chunk and store it if it matches (resolves once done) */
  put: (i: number, data: Buffer) => Promise<PutResult>
  rejected: () => void
  received: (bytes: number) => void
  kick: () => void
  closed: () => boolean
}

interface Range { first: number, n: number, got: Set<number>, ac: AbortController }

export class OriginFeed {
  /** chunks asked of the origin and not yet in: index → when asked (on the swarm's clock) */
  readonly pending = new Map<number, number>()
  jobs = 0
  allowed = false
  since = 0
  sequential = false
  private dead = false
  private backoffMs = 0
  private pausedUntil = 0
  private failures = new Uint8Array(0)
  private warnedRange = false
  private readonly ranges = new Set<Range>()
  /** how long a request waits for its first chunk, smoothed (0 before any): how busy the origin is */
  latencyMs = 0
  constructor (readonly url: string, private readonly origin: OriginSource, private readonly clock: SwarmClock, private readonly host: FeedHost) {}

  size (count: number): void { this.failures = new Uint8Array(count) }

  /** receive chunks into these buffers (the verifier's shared ones) */
  useBuffers (pool: BufferPool): void { this.origin.useBuffers?.(pool) }

  allow (): void {
    if (this.allowed) return
    this.allowed = true
    this.since = this.clock.now()
    this.host.kick()
  }

  /** whether a new request may start now */
  ready (now: number): boolean { return this.allowed && !this.dead && now >= this.pausedUntil }
  /** requests in flight, or a backoff that will end: the swarm keeps its timer */
  get busy (): boolean { return this.jobs > 0 || this.pausedUntil > this.clock.now() }
  /** the origin will not give chunk i (gone, or it failed too often) */
  exhausted (i: number): boolean { return this.dead || this.failures[i] >= ORIGIN_TRIES }

  startRange (first: number, n: number): void {
    const tree = this.host.tree()
    const now = this.clock.now()
    for (let i = first; i < first + n; i++) this.pending.set(i, now)
    this.jobs++
    // a request counts against the limit until its body is in, not until it is verified
    let inFlight = true
    const received = (): void => { if (inFlight) { inFlight = false; this.jobs--; this.host.kick() } }
    const counter = { bytes: 0 }
    const got = new Set<number>()
    const range: Range = { first, n, got, ac: new AbortController() }
    this.ranges.add(range)
    this.origin.fetchChunks(first, n, tree.chunkSize, tree.size, async (i, data) => {
      this.count(counter)
      if (got.size === 0) {
        const ms = this.clock.now() - now
        this.latencyMs = this.latencyMs === 0 ? ms : 0.7 * this.latencyMs + 0.3 * ms
      }
      got.add(i)
      await this.deliver(i, data)
      this.pending.delete(i)
    }, counter, range.ac.signal, received).then(() => { this.backoffMs = 0 }, (e: Error) => {
      if (range.ac.signal.aborted) return // everything it would still bring came from peers
      if (e instanceof NoRangeError) {
        if (!this.warnedRange) this.host.warn(`${this.url}: ${e.message}; reading it sequentially instead`)
        this.warnedRange = true
        this.sequential = true
        if (e.response) this.startSequential(e.response)
        return
      }
      this.failed(e, first, n, got)
    }).finally(() => {
      this.ranges.delete(range)
      this.count(counter)
      for (let i = first; i < first + n; i++) this.pending.delete(i)
      received()
    })
  }

  /**
   * Chunk i is held (from a peer, say): a range request whose every chunk not yet
   * received is now held is aborted, so a busy origin does not send what nobody needs.
   * (A source that cannot stop a request early ignores the signal.)
   */
  held (i: number): void {
    for (const r of this.ranges) {
      if (i < r.first || i >= r.first + r.n || r.ac.signal.aborted) continue
      let useful = false
      for (let j = r.first; j < r.first + r.n && !useful; j++) useful = !r.got.has(j) && !this.host.has(j)
      if (!useful) r.ac.abort()
    }
  }

  startSequential (res?: IncomingMessage): void {
    const tree = this.host.tree()
    this.jobs++
    const counter = { bytes: 0 }
    const got = new Set<number>()
    this.origin.fetchSequential(tree.chunkSize, tree.size, async (i, data) => { this.count(counter); got.add(i); await this.deliver(i, data) }, counter, undefined, res)
      .then(() => { this.backoffMs = 0 }, (e: Error) => this.failed(e, 0, this.failures.length, got))
      .finally(() => {
        this.count(counter)
        this.jobs--
        this.host.kick()
      })
  }

  /** Count what arrived so far: a chunk may be stored, and its item written out, before its request ends. */
  private count (counter: { bytes: number }): void {
    this.host.received(counter.bytes)
    counter.bytes = 0
  }

  private async deliver (i: number, data: Buffer): Promise<void> {
    if (this.host.closed() || this.host.has(i)) return
    if (await this.host.put(i, data) === 'bad') {
      this.host.rejected()
      this.failures[i] = Math.min(255, this.failures[i] + 1)
      if (this.failures[i] === 1) this.host.warn(`${this.url}: chunk ${i} from the origin does not match the hash tree; rejected`)
      this.pause()
    }
  }

  private pause (): void {
    this.backoffMs = Math.min(ORIGIN_MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : ORIGIN_BACKOFF_MS)
    this.pausedUntil = this.clock.now() + this.backoffMs
  }

  private failed (e: Error, first: number, n: number, got: Set<number>): void {
    if (this.host.closed()) return
    for (let i = first; i < first + n && i < this.failures.length; i++) if (!got.has(i)) this.failures[i] = Math.min(255, this.failures[i] + 1)
    if (e instanceof OriginError && e.permanent) {
      if (!this.dead) this.host.warn(`${this.url}: ${e.message}; only peers can help now`)
      this.dead = true
      return
    }
    this.pause()
    this.host.debug(`${this.url}: origin: ${e.message}; retrying in ${this.backoffMs} ms`)
  }

  close (): void { this.origin.close() }
}
