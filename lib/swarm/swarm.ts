// One item's swarm: its hash tree and chunk store, the messages of its peers, and the
// verification of every chunk received (from a peer or the origin) before it is stored.
// Its parts: members.ts (who is connected), scheduler.ts (who is asked for what, and
// when the origin is used), uploads.ts (serving what we hold). Time comes from
// `clock`, connections from `connect`, origin bytes from `origin`: by default the real
// clock, TCP and HTTP; a test or a simulator passes its own (see clock.ts, link.ts,
// origin.ts OriginSource).
import { connect as tcpConnect } from 'node:net'
import { EventEmitter } from 'node:events'
import { type HashTree, parseTree, formatTree } from '../hashing/hashtree.js'
import { ChunkStore, type PutResult, type OutputFile, type Store } from './store.js'
import type { VerifyPool } from '../hashing/verify-pool.js'
import { OriginFeed } from './origin-feed.js'
import { Origin, type OriginSource } from './origin.js'
import { Peer } from './peer.js'
import type { PeerLink } from './link.js'
import { MAX_TREE_BYTES, type Message, type PeerAddress } from './wire.js'
import { peerKey } from './picker.js'
import { RateLimiter } from './ratelimit.js'
import { realClock, sleepOn, within, type SwarmClock } from './clock.js'
import { Members } from './members.js'
import { Scheduler } from './scheduler.js'
import { Uploads, type ShareLedger } from './uploads.js'

/** how long a new swarm looks for peers before it may use the origin */
export const DISCOVERY_MS = 800

export interface SwarmStats {
  bytesFromOrigin: number
  bytesFromPeers: number
  bytesUploaded: number
  chunksRejected: number
  /** requests of peers answered REJECT because our line would not send them in time (uploads.ts) */
  requestsRefused: number
  peersSeen: Set<string>
}

export interface SwarmOptions {
  url: string
  root?: Buffer
  infoHash: Buffer
  peerId: Buffer
  port: number
  cacheDir: string
  removeCache: boolean
  window: number
  deadlineMs: number
  /** offset ÷ duration of the record, 0 for a whole item */
  playFraction: number
  /** the record's duration (ms): when each chunk plays, for the origin's timing (scheduler.ts ORIGIN_LEAD_MS); none for a whole item */
  durationMs?: number
  limiter: RateLimiter
  /** dial peers while fewer than this are connected (members.ts, default MAX_PEERS); it knows up to 4 × as many addresses */
  maxPeers?: number
  /** the line's upload against what it received, over every swarm on it (uploads.ts, pc-fetch --max-share); none: no bound */
  share?: ShareLedger
  /** threads that verify and store chunks, used for items of at least `verifyMinBytes` */
  verifier?: VerifyPool
  verifyMinBytes?: number
  /** the output file as the store, instead of a file in cacheDir */
  output?: OutputFile
  warn: (msg: string) => void
  debug: (msg: string) => void
  /** time and timers for every decision (default: the real clock) */
  clock?: SwarmClock
  /** open a link to a peer's listen address (default: TCP and the wire protocol) */
  connect?: (addr: PeerAddress) => PeerLink
  /** where origin chunks come from (default: HTTP Range requests to `url`) */
  origin?: OriginSource
  /** the chunk store (default: a file in cacheDir, or `output`) */
  store?: (tree: HashTree) => Store
}

/** A connection limit (SwarmOptions.maxPeers, FetcherOptions.maxConnections): a whole number of at least 1, or a RangeError naming it. */
export function checkLimit (name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`${name} must be a whole number of at least 1, not ${v}`)
}

export class Swarm extends EventEmitter {
  tree?: HashTree
  store?: Store
  readonly stats: SwarmStats = { bytesFromOrigin: 0, bytesFromPeers: 0, bytesUploaded: 0, chunksRejected: 0, requestsRefused: 0, peersSeen: new Set() }
  closed = false
  complete = false
  readonly clock: SwarmClock
  readonly connect: (addr: PeerAddress) => PeerLink
  readonly myKey: number
  readonly feed: OriginFeed
  readonly members: Members = new Members(this)
  /** how many listeners the tracker last said this swarm has (complete + incomplete), 0 before it answered */
  audience = 0
  readonly scheduler: Scheduler = new Scheduler(this)
  private readonly uploads = new Uploads(this)
  private treeText?: string
  private opening?: Promise<void>

  constructor (readonly opts: SwarmOptions) {
    super()
    if (opts.maxPeers !== undefined) checkLimit('maxPeers', opts.maxPeers)
    this.clock = opts.clock ?? realClock
    this.connect = opts.connect ?? ((a) => new Peer(tcpConnect({ host: a.host, port: a.port }), true, `${a.host}:${a.port}`))
    this.feed = new OriginFeed(opts.url, opts.origin ?? new Origin(opts.url), this.clock, {
      warn: opts.warn,
      debug: opts.debug,
      tree: () => this.tree!,
      has: (i) => this.store?.has(i) ?? true,
      put: async (i, data) => await this.put(i, data),
      rejected: () => { this.stats.chunksRejected++ },
      received: (n) => { this.stats.bytesFromOrigin += n },
      kick: () => this.kick(),
      closed: () => this.closed,
    })
    this.myKey = peerKey(opts.peerId)
  }

  /** whether our line can pass a chunk of `len` bytes on in time, as far as we know (Uploads.canPassOn) */
  canPassOn (len: number): boolean { return this.uploads.canPassOn(len) }
  get infoHashHex (): string { return this.opts.infoHash.toString('hex') }
  get peers (): Set<PeerLink> { return this.members.peers }
  get gaveUp (): Set<number> { return this.scheduler.gaveUp }

  /**
   * Tell our peers (but `from`) that we asked the origin for chunks first..first+n-1, or
   * that peer `from` did and we will hold them soon (ASKED, scheduler.ts CLAIM_MAX_MS): one message for all;
   * with `score`, that we or the asker will at a designated turn (ASKING, scheduler.ts
   * CLAIM_INTENT_MS), and to a peer that does not read ASKING, as ASKED.
   */
  asked (first: number, n: number, from?: PeerLink, score?: number): void {
    const m: Message = { type: 'asked', first, count: n }
    const scored: Message = score === undefined ? m : { type: 'asked', first, count: n, score }
    for (const p of this.peers) if (p !== from && p.remote && !p.goodbye) p.send(p.remote.asking === true ? scored : m)
  }

  /** The tracker's count of this swarm (Announcer). */
  counted (audience: number): void { this.audience = audience }
  /** the Announcer keeps the count fresh while it grows (announce.ts GROWING) */
  readonly freshCount = true

  /** Bytes of needed chunks not yet held (for the tracker's `left`). */
  get left (): number {
    // before the tree is known the size is not: say "much", or a tracker takes us for a seeder
    if (!this.store || !this.tree) return 2 ** 40
    return Math.max(0, this.tree.size - this.store.held * this.tree.chunkSize)
  }

  /** Adopt a verified tree: open the store and start fetching. */
  async setTree (tree: HashTree): Promise<void> {
    if (this.tree || this.closed) return
    if (!this.opening) this.opening = this.open(tree)
    await this.opening
  }

  private async open (tree: HashTree): Promise<void> {
    if (this.opts.root && !tree.root.equals(this.opts.root)) throw new Error('tree root differs from the record root')
    const pool = this.opts.verifier && tree.size >= (this.opts.verifyMinBytes ?? 0) ? this.opts.verifier : undefined
    const store = this.opts.store ? this.opts.store(tree) : this.opts.output ? ChunkStore.onOutput(this.opts.output, tree, pool) : await ChunkStore.open(this.opts.cacheDir, tree, pool)
    if (this.closed) { await store.close(this.opts.removeCache); return }
    // origin bytes are received straight into the verifier's shared buffers
    const buffers = store.buffers
    if (buffers) this.feed.useBuffers(buffers)
    this.tree = tree
    this.store = store
    this.feed.size(store.count)
    this.scheduler.start(store, this.opts.playFraction)
    store.on('have', (i: number) => {
      // one message for every peer (a link encodes or reads a message, never changes it):
      // a listener's HAVE went to ~100 peers, each a copy kept until it arrived
      const have: Message = { type: 'have', index: i }
      for (const p of this.peers) if (p.remote && !p.has(i)) p.send(have)
      this.emit('have', i)
    })
    store.on('lost', (i: number) => this.opts.warn(`cache chunk ${i} of ${this.opts.url} no longer verifies; fetching it again`))
    for (const p of this.peers) this.greet(p)
    this.emit('tree', tree)
    this.kick()
  }

  /** The index of chunk position `k` in play order (for the output). */
  get order (): Int32Array | undefined { return this.scheduler.state?.order }
  get originLimit (): number { return this.scheduler.state?.originLimit ?? 0 }

  allowOrigin (): void { this.feed.allow() }

  /** Allow the origin once the trackers have answered (`announced`) and the dials they started are done, or after DISCOVERY_MS. */
  async discover (announced: Promise<unknown>, signal?: AbortSignal): Promise<void> {
    const c = this.clock
    const t0 = c.now()
    await within(c, announced, DISCOVERY_MS, signal)
    while (this.dialling && c.now() - t0 < DISCOVERY_MS && !signal?.aborted) await sleepOn(c, 20)
    this.allowOrigin()
  }

  /** Known address (tracker, --peer, PEX); `sticky` ones are redialled while we run. */
  addAddress (addr: PeerAddress, sticky = false): void { this.members.addAddress(addr, sticky) }
  /** Whether connections to known addresses are still being attempted (for the start-up grace). */
  get dialling (): boolean { return this.members.dialling }
  /** A connection whose remote handshake arrived (either direction). */
  attach (p: PeerLink): void { this.members.attach(p) }

  kick (): void { this.scheduler.kick() }

  /** Tell a peer what we hold (or ask for the tree), and count what it holds. */
  greet (p: PeerLink): void {
    if (!p.remote) return
    const st = this.scheduler.state
    if (this.store && st) {
      p.setMaxMessage(Math.max(9 + this.tree!.chunkSize, 1 + MAX_TREE_BYTES))
      p.sizeFor(st.count)
      for (let i = 0; i < st.count; i++) if (p.has(i)) st.avail[i]++
      p.send({ type: 'bitfield', count: this.store.count, bits: this.store.bits })
      // and what we have asked the origin for and not yet received, and what we wait for by
      // a peer's claim, in runs; a claim made at a designated turn with its score (ASKING),
      // ours taken or about to be too (scheduler.ts claimScore)
      const scores = p.remote.asking === true
      let first = -1
      let n = 0
      let sc: number | undefined
      for (const i of [...new Set([...this.feed.pending.keys(), ...this.scheduler.waitedFor()])].sort((a, b) => a - b)) {
        if (this.store.has(i)) continue
        const s = scores ? this.scheduler.claimScore(i) : undefined
        if (n > 0 && i === first + n && s === sc) { n++; continue }
        if (n > 0) p.send(sc === undefined ? { type: 'asked', first, count: n } : { type: 'asked', first, count: n, score: sc })
        first = i; n = 1; sc = s
      }
      if (n > 0) p.send(sc === undefined ? { type: 'asked', first, count: n } : { type: 'asked', first, count: n, score: sc })
    } else {
      p.send({ type: 'tree-request' })
    }
  }

  onMessage (p: PeerLink, m: Message): void {
    const st = this.scheduler.state
    switch (m.type) {
      case 'bitfield':
        if (st && m.count !== st.count) { this.members.ban(p, `bitfield of ${m.count} chunks, expected ${st.count}`); return }
        if (st) for (let i = 0; i < st.count; i++) if (p.has(i) && !p.missed.has(i) && st.avail[i] > 0) st.avail[i]--
        p.bits = Uint8Array.from(m.bits)
        p.sizeFor(m.count)
        if (st) for (let i = 0; i < st.count; i++) if (p.has(i) && !p.missed.has(i)) st.avail[i]++
        break
      case 'have':
        if (!st) return
        if (m.index >= st.count) { this.members.ban(p, `HAVE ${m.index} out of range`); return }
        if (p.markHave(m.index) && !p.missed.has(m.index)) st.avail[m.index]++
        // a pass only when it may ask for something on it (Scheduler.haveMayAct)
        if (!this.scheduler.haveMayAct(p, m.index)) return
        break
      case 'request': void this.uploads.serve(p, m.alt === true); return
      case 'cancel': return
      case 'piece': void this.onPiece(p, m.index, m.data); return
      case 'reject': {
        if (p.inflight.delete(m.index)) this.scheduler.unpend(m.index, p)
        // not held, or too busy to send it in time: asked of others, not of it again
        this.scheduler.missedBy(p, m.index)
        break
      }
      case 'tree-request':
        if (this.tree && !this.treeText) this.treeText = formatTree(this.tree)
        p.send({ type: 'tree', text: this.treeText ?? '' })
        return
      case 'tree':
        if (this.tree || m.text === '') return
        try {
          const t = parseTree(m.text, `peer ${p.address}`, this.opts.root)
          if (!this.opts.root) return // an unauthenticated tree from a peer is worth nothing
          void this.setTree(t).catch((e: Error) => this.emit('error', e))
        } catch (e) { this.members.ban(p, `bad hash tree: ${(e as Error).message}`) }
        return
      case 'pex':
        for (const a of m.peers) this.addAddress(a)
        return
      case 'goodbye':
        this.scheduler.release(p)
        break
      case 'asked':
        if (!st) return
        if (m.first >= st.count || m.count > st.count - m.first) { this.members.ban(p, `ASKED ${m.first}+${m.count} out of range`); return }
        this.scheduler.claimed(p, m.first, m.count, m.score)
        return
      default: return
    }
    this.kick()
  }

  private async onPiece (p: PeerLink, i: number, data: Buffer): Promise<void> {
    const t0 = p.inflight.get(i)
    if (t0 === undefined) { if (this.scheduler.lateCopy(p, i)) await this.onLatePiece(p, i, data); return }
    const at = this.clock.now()
    p.inflight.delete(i)
    this.scheduler.unpend(i, p)
    this.stats.bytesFromPeers += data.length
    const r = this.store ? await this.put(i, data) : 'bad'
    if (r === 'bad') { this.forged(p, i); return }
    p.credit(data.length, t0, at)
    this.scheduler.arrived(data.length, t0, at)
  }

  /**
   * Chunk i from p after its request was cancelled past its deadline (Scheduler.lateCopy):
   * verified and kept, not credited to anyone's pace (when it was asked is gone). A peer
   * sends what it had queued before the cancel came: a late joiner in a steady audience
   * (bench/sim steady, N = 10,000, seed 3) threw six such copies of the chunk it waited for
   * away unread, the first 13 s before another copy came. A piece nobody asked for is
   * still dropped unread.
   */
  private async onLatePiece (p: PeerLink, i: number, data: Buffer): Promise<void> {
    this.stats.bytesFromPeers += data.length
    if (await this.put(i, data) === 'bad') this.forged(p, i)
  }

  /** Chunk i from p did not match the hash tree: counted, p banned. */
  private forged (p: PeerLink, i: number): void {
    this.stats.chunksRejected++
    this.members.ban(p, `chunk ${i} does not match the hash tree`)
    this.kick()
  }

  /**
   * Verify chunk i and store it (on a verifier thread for big items). While that runs
   * the chunk counts as busy, so it is asked of nobody else; a second copy that arrives
   * meanwhile is dropped unchecked. A stored chunk cancels its other requests.
   */
  private async put (i: number, data: Buffer): Promise<PutResult> {
    const writing = this.scheduler.writing
    if (writing.has(i) || !this.store) return 'held'
    writing.add(i)
    let r: PutResult
    try { r = await this.store.putChecked(i, data) } catch (e) { this.emit('error', e); return 'held' } finally { writing.delete(i) }
    if (r !== 'bad') { this.scheduler.stored(i); this.feed.held(i) }
    this.kick()
    return r
  }

  /** Leave: optionally say goodbye, let uploads in flight finish for up to `graceMs`, close everything. */
  async close (goodbye: boolean, graceMs = 0): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.emit('close')
    this.scheduler.close()
    this.members.close(goodbye)
    const until = this.clock.now() + graceMs
    while (this.uploads.active > 0 && this.clock.now() < until) await sleepOn(this.clock, 20)
    this.members.end()
    this.feed.close()
    await this.store?.close(this.opts.removeCache)
  }
}
