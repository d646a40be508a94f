// One item's swarm: the peers connected under its info-hash, the chunks in flight to
// them and to the origin, verification of everything received, serving what we hold.
// Scheduling runs on events (a chunk arrived, a peer came or went) and on a timer that
// exists only while requests are in flight, so an idle swarm costs no CPU.
import { connect } from 'node:net'
import { EventEmitter } from 'node:events'
import { type HashTree, parseTree, formatTree } from '../hashing/hashtree.js'
import { ChunkStore, type PutResult, type OutputFile } from './store.js'
import type { VerifyPool } from '../hashing/verify-pool.js'
import { OriginFeed } from './origin-feed.js'
import { Peer } from './peer.js'
import { MAX_TREE_BYTES, type Message, type PeerAddress } from './wire.js'
import { playOrder, pickForPeer, designated, peerKey, BLOCK_CHUNKS, type PickState } from './picker.js'
import { RateLimiter } from './ratelimit.js'

/** requests in flight to one peer, of which URGENT_SLOTS only for the urgent window */
export const PIPELINE = 10
export const URGENT_SLOTS = 2
/** after the origin is first allowed, a peer that is not alone uses one origin request at a time while the swarm's view settles */
export const SETTLE_MS = 1000
/**
 * While peers are still joining, each peer's view of the swarm is partial and the
 * designated origin fetchers of a block overlap (measured: duplicated blocks were taken
 * by peers that saw 4, 6 and 11 of 19 others). So non-overdue origin fetches wait until
 * no peer has joined for VIEW_QUIET_MS, for at most VIEW_WAIT_MAX_MS after the origin is allowed,
 * except for the next OVERDUE_POSITIONS positions to be written: the output waits for those now.
 */
export const VIEW_QUIET_MS = 300
export const VIEW_WAIT_MAX_MS = 2000
/**
 * Only a chunk within this many play positions of the first one missing can be overdue
 * (go to the origin out of turn): one further ahead holds up no output yet. Measured at
 * N = 20 on two cores, where every process is short of CPU: chunks 7 to 15 positions
 * ahead went past the deadline while the peer designated for them was still reading
 * them from the origin, and up to seven peers fetched each of them again.
 */
export const OVERDUE_POSITIONS = 4
/**
 * An overdue chunk goes to the origin from the peer designated for its block after the
 * deadline, from any other peer after this many deadlines. Measured at N = 20 on two
 * cores: a designated peer short of CPU took 0.7 s to get its block from the origin and
 * announce it, and four peers whose deadline fell in between fetched it again.
 */
export const OVERDUE_OTHERS = 2
export const MAX_PEERS = 50
/**
 * Newcomers are told to the other peers in one PEX message per peer per this interval,
 * not one per newcomer: a listener tuning in to a swarm of 20 otherwise set off 380 PEX
 * messages, which woke every process at once and delayed its own first chunk by
 * ~100 ms on two cores. (BEP 11 asks for at most one a minute; a flash crowd wants its
 * peers to meet sooner, and the tracker is not asked again for a minute.)
 */
export const PEX_BATCH_MS = 250
/** origin requests in flight at once, alone / with peers around */
export const ORIGIN_JOBS_ALONE = 3
export const ORIGIN_JOBS = 2
export const ORIGIN_RUN_CHUNKS = 16
/** end-game: when this few chunks are missing, ask a second peer for chunks in flight */
export const ENDGAME_CHUNKS = 8
export const DIAL_RETRIES = 4
/** a peer that has answered nothing and let this many requests pass their deadline is dropped */
export const MAX_STRIKES = 6
export const MAX_MISSED = 4096

export interface SwarmStats {
  bytesFromOrigin: number
  bytesFromPeers: number
  bytesUploaded: number
  chunksRejected: number
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
  limiter: RateLimiter
  /** threads that verify and store chunks, used for items of at least `verifyMinBytes` */
  verifier?: VerifyPool
  verifyMinBytes?: number
  /** the output file as the store, instead of a file in cacheDir */
  output?: OutputFile
  warn: (msg: string) => void
  debug: (msg: string) => void
}

interface Dial { addr: PeerAddress, tries: number, sticky: boolean, timer?: NodeJS.Timeout, connected: boolean, connecting: boolean }

export class Swarm extends EventEmitter {
  tree?: HashTree
  store?: ChunkStore
  readonly peers = new Set<Peer>()
  readonly stats: SwarmStats = { bytesFromOrigin: 0, bytesFromPeers: 0, bytesUploaded: 0, chunksRejected: 0, peersSeen: new Set() }
  readonly gaveUp = new Set<number>()
  closed = false
  complete = false
  private treeText?: string
  private opening?: Promise<void>
  private readonly myKey: number
  private readonly feed: OriginFeed
  private state?: PickState
  private readonly pendingPeers = new Map<number, Set<Peer>>()
  /** verified, being written to the store */
  private readonly writing = new Set<number>()
  private readonly urgentSince = new Map<number, number>()
  private readonly dials = new Map<string, Dial>()
  private readonly banned = new Set<string>()
  private readonly selfAddrs = new Set<string>()
  private kickQueued = false
  /** when the last peer joined (for the view-quiet rule) */
  private lastJoinAt = 0
  private quietTimer: NodeJS.Timeout | undefined
  private tick?: NodeJS.Timeout
  private uploads = 0
  /** newcomers not yet told to the other peers */
  private pexQueue: PeerAddress[] = []
  private pexTimer?: NodeJS.Timeout

  constructor (readonly opts: SwarmOptions) {
    super()
    this.feed = new OriginFeed(opts.url, {
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

  get infoHashHex (): string { return this.opts.infoHash.toString('hex') }

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
    const store = this.opts.output ? ChunkStore.onOutput(this.opts.output, tree, pool) : await ChunkStore.open(this.opts.cacheDir, tree, pool)
    if (this.closed) { await store.close(this.opts.removeCache); return }
    // origin bytes are received straight into the verifier's shared buffers
    const buffers = store.buffers
    if (buffers) this.feed.useBuffers(buffers)
    this.tree = tree
    this.store = store
    const n = store.count
    this.feed.size(n)
    const play = Math.min(n - 1, Math.max(0, Math.floor(this.opts.playFraction * tree.size / tree.chunkSize) - 1))
    const { order, originLimit } = playOrder(n, play)
    const avail = new Uint16Array(n)
    this.state = {
      count: n, order, originLimit, cursor: 0, window: this.opts.window, avail,
      has: (i) => store.has(i),
      busy: (i) => this.pendingPeers.has(i) || this.feed.pending.has(i) || this.writing.has(i),
    }
    store.on('have', (i: number) => {
      for (const p of this.peers) if (p.remote && !p.has(i)) p.send({ type: 'have', index: i })
      this.emit('have', i)
    })
    store.on('lost', (i: number) => this.opts.warn(`cache chunk ${i} of ${this.opts.url} no longer verifies; fetching it again`))
    for (const p of this.peers) this.greet(p)
    this.emit('tree', tree)
    this.kick()
  }

  /** The index of chunk position `k` in play order (for the output). */
  get order (): Int32Array | undefined { return this.state?.order }
  get originLimit (): number { return this.state?.originLimit ?? 0 }

  allowOrigin (): void { this.feed.allow() }

  // ---- peers ----------------------------------------------------------------

  /** Known address (tracker, --peer, PEX); `sticky` ones are redialled while we run. */
  addAddress (addr: PeerAddress, sticky = false): void {
    const key = `${addr.host}:${addr.port}`
    if (this.closed || this.banned.has(key) || this.selfAddrs.has(key)) return
    const d = this.dials.get(key)
    if (d) { d.sticky ||= sticky; return }
    if (!sticky && this.dials.size >= 4 * MAX_PEERS) return
    const dial: Dial = { addr, tries: 0, sticky, connected: false, connecting: false }
    this.dials.set(key, dial)
    this.dial(dial)
  }

  /** Whether connections to known addresses are still being attempted (for the start-up grace). */
  get dialling (): boolean {
    for (const d of this.dials.values()) if (d.connecting) return true
    return false
  }

  private dial (d: Dial): void {
    if (this.closed || d.connected || this.peers.size >= MAX_PEERS) return
    const key = `${d.addr.host}:${d.addr.port}`
    const socket = connect({ host: d.addr.host, port: d.addr.port })
    const p = new Peer(socket, true, key)
    p.sendHandshake({ infoHash: this.opts.infoHash, peerId: this.opts.peerId, port: this.opts.port })
    d.connected = true
    d.connecting = true
    let ok = false
    let duplicate = false
    p.once('handshake', () => { ok = true; d.tries = 0; d.connecting = false; this.attach(p) })
    p.once('dropped', (why: string) => { duplicate = why === 'duplicate' })
    p.once('close', () => {
      d.connecting = false
      // the peer is connected the other way round: that connection's end redials (detach)
      if (duplicate) return
      d.connected = false
      if (this.closed || this.banned.has(key) || this.selfAddrs.has(key)) { this.dials.delete(key); return }
      if (!ok) d.tries++
      if (p.goodbye && !d.sticky) { this.dials.delete(key); return }
      if (!d.sticky && d.tries >= DIAL_RETRIES) { this.dials.delete(key); this.kick(); return }
      const wait = Math.min(30_000, 500 * 2 ** Math.min(6, d.tries))
      d.timer = setTimeout(() => { d.timer = undefined; this.dial(d) }, wait)
      this.kick()
    })
  }

  /** A connection whose remote handshake arrived (either direction). */
  attach (p: Peer): void {
    const h = p.remote
    if (!h || this.closed) { p.drop('swarm closed'); return }
    if (!h.infoHash.equals(this.opts.infoHash)) { p.drop('wrong swarm'); return }
    if (h.peerId.equals(this.opts.peerId)) { this.selfAddrs.add(p.address); p.drop('connected to myself'); return }
    const id = p.id
    const la = p.listenAddress
    if (this.banned.has(id) || (la && this.banned.has(`${la.host}:${la.port}`))) { p.drop('avoided'); return }
    for (const q of this.peers) {
      if (q.id !== id) continue
      // two connections to one peer: keep the one opened by the smaller peer id, on both sides
      const by = (x: Peer): string => x.outgoing ? this.opts.peerId.toString('hex') : x.id
      // drop() runs detach(), which frees the requests in flight on it
      if (by(p) < by(q)) q.drop('duplicate'); else { p.drop('duplicate'); return }
    }
    p.sendHandshake({ infoHash: this.opts.infoHash, peerId: this.opts.peerId, port: this.opts.port })
    this.peers.add(p)
    this.lastJoinAt = Date.now()
    this.stats.peersSeen.add(id)
    p.on('message', (m: Message) => this.onMessage(p, m))
    p.on('dropped', (why: string) => this.opts.debug(`peer ${p.address}: ${why}`))
    p.on('close', () => this.detach(p))
    if (la) {
      const key = `${la.host}:${la.port}`
      const d = this.dials.get(key)
      if (!d) this.dials.set(key, { addr: la, tries: 0, sticky: false, connected: true, connecting: false })
    }
    this.greet(p)
    // peer exchange: tell it who else is here, and tell the others about it
    const others = [...this.peers].filter(q => q !== p).map(q => q.listenAddress).filter((a): a is PeerAddress => !!a)
    if (others.length) p.send({ type: 'pex', peers: others.slice(0, 100) })
    if (la) this.tellOthers(la)
    this.kick()
  }

  private tellOthers (la: PeerAddress): void {
    this.pexQueue.push(la)
    this.pexTimer ??= setTimeout(() => {
      this.pexTimer = undefined
      const fresh = this.pexQueue.splice(0)
      for (const q of this.peers) {
        const own = q.listenAddress
        const list = fresh.filter(a => !(own && a.host === own.host && a.port === own.port))
        if (list.length && !q.goodbye) q.send({ type: 'pex', peers: list.slice(0, 100) })
      }
    }, PEX_BATCH_MS)
  }

  private greet (p: Peer): void {
    if (!p.remote) return
    if (this.store && this.state) {
      p.setMaxMessage(Math.max(9 + this.tree!.chunkSize, 1 + MAX_TREE_BYTES))
      p.sizeFor(this.state.count)
      for (let i = 0; i < this.state.count; i++) if (p.has(i)) this.state.avail[i]++
      p.send({ type: 'bitfield', count: this.store.count, bits: this.store.bits })
    } else {
      p.send({ type: 'tree-request' })
    }
  }

  private detach (p: Peer): void {
    if (!this.peers.delete(p)) return
    if (this.state) for (let i = 0; i < this.state.count; i++) if (p.has(i) && !p.missed.has(i) && this.state.avail[i] > 0) this.state.avail[i]--
    for (const i of p.inflight.keys()) this.unpend(i, p)
    p.inflight.clear()
    const la = p.listenAddress
    if (la && !p.outgoing && !this.closed) {
      const d = this.dials.get(`${la.host}:${la.port}`)
      if (d && !d.sticky) this.dials.delete(`${la.host}:${la.port}`)
      else if (d && !d.connecting && d.timer === undefined) {
        d.connected = false
        d.timer = setTimeout(() => { d.timer = undefined; this.dial(d) }, 500)
      }
    }
    this.kick()
  }

  private ban (p: Peer, why: string): void {
    this.opts.warn(`peer ${p.address}: ${why}; disconnected and avoided`)
    this.banned.add(p.id)
    if (p.outgoing) this.banned.add(p.address)
    const la = p.listenAddress
    if (la) { this.banned.add(`${la.host}:${la.port}`); this.dials.delete(`${la.host}:${la.port}`) }
    p.drop(why)
  }

  private unpend (i: number, p: Peer): void {
    const s = this.pendingPeers.get(i)
    if (s) { s.delete(p); if (s.size === 0) this.pendingPeers.delete(i) }
  }

  private onMessage (p: Peer, m: Message): void {
    const st = this.state
    switch (m.type) {
      case 'bitfield':
        if (st && m.count !== st.count) { this.ban(p, `bitfield of ${m.count} chunks, expected ${st.count}`); return }
        if (st) for (let i = 0; i < st.count; i++) if (p.has(i) && !p.missed.has(i) && st.avail[i] > 0) st.avail[i]--
        p.bits = Uint8Array.from(m.bits)
        p.sizeFor(m.count)
        if (st) for (let i = 0; i < st.count; i++) if (p.has(i) && !p.missed.has(i)) st.avail[i]++
        break
      case 'have':
        if (!st) return
        if (m.index >= st.count) { this.ban(p, `HAVE ${m.index} out of range`); return }
        if (p.markHave(m.index) && !p.missed.has(m.index)) st.avail[m.index]++
        break
      case 'request': void this.serve(p); return
      case 'cancel': return
      case 'piece': void this.onPiece(p, m.index, m.data); return
      case 'reject': {
        if (p.inflight.delete(m.index)) this.unpend(m.index, p)
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
        } catch (e) { this.ban(p, `bad hash tree: ${(e as Error).message}`) }
        return
      case 'pex':
        for (const a of m.peers) this.addAddress(a)
        return
      case 'goodbye':
        for (const i of p.inflight.keys()) this.unpend(i, p)
        p.inflight.clear()
        break
      default: return
    }
    this.kick()
  }

  private async onPiece (p: Peer, i: number, data: Buffer): Promise<void> {
    const t0 = p.inflight.get(i)
    if (t0 === undefined) return // not asked for, or cancelled: ignore, do not trust
    const took = Date.now() - t0
    p.inflight.delete(i)
    this.unpend(i, p)
    this.stats.bytesFromPeers += data.length
    const r = this.store ? await this.put(i, data) : 'bad'
    if (r === 'bad') {
      this.stats.chunksRejected++
      this.ban(p, `chunk ${i} does not match the hash tree`)
      this.kick()
      return
    }
    p.credit(data.length, took)
  }

  /**
   * Verify chunk i and store it (on a verifier thread for big items). While that runs
   * the chunk counts as busy, so it is asked of nobody else; a second copy that arrives
   * meanwhile is dropped unchecked. A stored chunk cancels its other requests.
   */
  private async put (i: number, data: Buffer): Promise<PutResult> {
    if (this.writing.has(i) || !this.store) return 'held'
    this.writing.add(i)
    let r: PutResult
    try { r = await this.store.putChecked(i, data) } catch (e) { this.emit('error', e); return 'held' } finally { this.writing.delete(i) }
    if (r !== 'bad') {
      const s = this.pendingPeers.get(i)
      if (s) for (const q of s) { q.inflight.delete(i); q.send({ type: 'cancel', index: i }) }
      this.pendingPeers.delete(i)
      this.urgentSince.delete(i)
    }
    this.kick()
    return r
  }

  private async serve (p: Peer): Promise<void> {
    if (p.serving) return
    p.serving = true
    try {
      while (p.wanted.length && !p.closed && !this.closed) {
        // lowest index first: peers playing an item want its earlier chunks sooner
        let k = 0
        for (let j = 1; j < p.wanted.length; j++) if (p.wanted[j] < p.wanted[k]) k = j
        const i = p.wanted[k]
        if (!this.store?.has(i)) { p.wanted.splice(k, 1); p.send({ type: 'reject', index: i }); continue }
        const len = this.store.length(i)
        await this.opts.limiter.take(len)
        k = p.wanted.indexOf(i)
        if (k < 0) continue // cancelled while we waited
        p.wanted.splice(k, 1)
        let data: Buffer
        try { data = await this.store.get(i) } catch { p.send({ type: 'reject', index: i }); continue }
        this.uploads++
        try { await p.sendPiece(i, data) } finally { this.uploads-- }
        this.stats.bytesUploaded += len
        this.emit('uploaded', len)
      }
    } finally { p.serving = false }
  }

  // ---- scheduling -----------------------------------------------------------

  kick (): void {
    if (this.kickQueued || this.closed) return
    this.kickQueued = true
    setImmediate(() => { this.kickQueued = false; this.schedule() })
  }

  private schedule (): void {
    const st = this.state
    const store = this.store
    if (this.closed || !st || !store) return
    const now = Date.now()
    while (st.cursor < st.order.length && (store.has(st.order[st.cursor]) || this.gaveUp.has(st.order[st.cursor]))) st.cursor++
    if (!this.complete && this.neededDone()) { this.complete = true; this.emit('complete') }
    const dl = this.opts.deadlineMs
    // no request may stay pending on a connection that is gone
    for (const [i, set] of this.pendingPeers) for (const q of set) if (q.closed || !this.peers.has(q)) { q.inflight.delete(i); this.unpend(i, q) }
    // requests past their deadline go elsewhere; the slow peer ranks lower
    for (const p of this.peers) {
      for (const [i, t] of p.inflight) {
        if (now - t <= dl) continue
        p.inflight.delete(i)
        this.unpend(i, p)
        p.send({ type: 'cancel', index: i })
        p.rate *= 0.5
        p.strikes++
        // not asked of it again, and no longer counted as available from it
        if (!p.missed.has(i) && p.missed.size < MAX_MISSED) {
          p.missed.add(i)
          if (p.has(i) && st.avail[i] > 0) st.avail[i]--
        }
      }
      if (p.strikes >= MAX_STRIKES && p.bytesDelivered === 0) p.drop(`${p.strikes} requests unanswered within ${dl} ms, none ever answered`)
    }
    // the urgent window: when each chunk started being waited for
    let seen = 0
    for (let k = st.cursor; k < st.order.length && seen < st.window; k++) {
      const i = st.order[k]
      if (store.has(i) || this.gaveUp.has(i)) continue
      seen++
      if (!this.urgentSince.has(i)) this.urgentSince.set(i, now)
    }
    const ranked = [...this.peers].filter(p => p.remote && !p.goodbye && p.bits.length > 0).sort((a, b) => b.rate - a.rate)
    // until the first position is held, only the urgent window is asked for: a listener
    // tuning in to 20 peers asked them for the whole item at once, and on two cores its
    // first chunk queued behind the others' uploads (first byte ~50 ms later)
    const windowOnly = st.cursor === 0
    for (const p of ranked) {
      const picks = pickForPeer(st, (i) => p.has(i) && !p.missed.has(i), PIPELINE - p.inflight.size, URGENT_SLOTS, windowOnly)
      for (const i of picks) this.request(p, i, now)
    }
    const missing = st.count - store.held - this.gaveUp.size
    if (missing > 0 && missing <= ENDGAME_CHUNKS) {
      for (const p of ranked) {
        for (const [i, s] of this.pendingPeers) {
          if (p.inflight.size >= PIPELINE) break
          if (s.size < 2 && !s.has(p) && p.has(i) && !p.missed.has(i)) this.request(p, i, now)
        }
      }
    }
    this.scheduleOrigin(now)
    this.giveUpHopeless(now)
    this.armTick()
  }

  private request (p: Peer, i: number, now: number): void {
    p.inflight.set(i, now)
    let s = this.pendingPeers.get(i)
    if (!s) { s = new Set(); this.pendingPeers.set(i, s) }
    s.add(p)
    p.send({ type: 'request', index: i })
  }

  private neededDone (): boolean {
    const st = this.state!
    for (let k = st.cursor; k < st.originLimit; k++) {
      const i = st.order[k]
      if (!this.store!.has(i) && !this.gaveUp.has(i)) return false
    }
    return true
  }

  private otherKeys (): number[] {
    const out: number[] = []
    for (const p of this.peers) if (p.remote && !p.goodbye) out.push(peerKey(p.remote.peerId))
    return out
  }

  /**
   * Chunk i, at play position k, holds up the output and has been waited for past the
   * deadline: once for the peer designated for its block, twice for the others, who give
   * that peer's origin fetch time to arrive (see OVERDUE_OTHERS).
   */
  private overdue (i: number, k: number, now: number, others: number[]): boolean {
    const since = this.urgentSince.get(i)
    if (since === undefined || k - this.state!.cursor >= OVERDUE_POSITIONS) return false
    const waited = now - since
    if (waited < this.opts.deadlineMs) return false
    return waited >= OVERDUE_OTHERS * this.opts.deadlineMs || designated(this.myKey, others, Math.floor(i / BLOCK_CHUNKS))
  }

  /** Whether chunk i, at play position k, may be fetched from the origin now. */
  private originEligible (i: number, k: number, now: number, others: number[]): boolean {
    const st = this.state!
    if (this.store!.has(i) || st.busy(i) || this.gaveUp.has(i) || this.feed.exhausted(i)) return false
    if (this.overdue(i, k, now, others)) return true
    return st.avail[i] === 0 && designated(this.myKey, others, Math.floor(i / BLOCK_CHUNKS))
  }

  private scheduleOrigin (now: number): void {
    const st = this.state!
    const f = this.feed
    if (!f.ready(now)) return
    const others = this.otherKeys()
    const settling = now - f.since < SETTLE_MS
    const maxJobs = f.sequential ? 1 : others.length === 0 ? ORIGIN_JOBS_ALONE : settling ? 1 : ORIGIN_JOBS
    // alone, runs grow with what is held (a slow start): when others join a moment later, little
    // is in flight at the origin where they cannot see it, so their designated blocks do not repeat it
    const runMax = others.length ? BLOCK_CHUNKS : Math.min(ORIGIN_RUN_CHUNKS, Math.max(BLOCK_CHUNKS, this.store!.held))
    const quietAt = Math.min(this.lastJoinAt + VIEW_QUIET_MS, f.since + VIEW_WAIT_MAX_MS)
    const viewSettling = others.length > 0 && now < quietAt
    if (viewSettling && !this.quietTimer) this.quietTimer = setTimeout(() => { this.quietTimer = undefined; this.kick() }, quietAt - now)
    let k = st.cursor
    while (f.jobs < maxJobs && k < st.originLimit) {
      const at = k
      const i = st.order[k++]
      const late = this.overdue(i, at, now, others)
      // the view-quiet wait is for chunks further ahead; the next few hold up the output now
      if (viewSettling && !late && at - st.cursor >= OVERDUE_POSITIONS) continue
      if (!this.originEligible(i, at, now, others)) continue
      if (f.sequential) { f.startSequential(); return }
      let n = 1
      while (n < runMax && k < st.originLimit && st.order[k] === i + n && this.originEligible(i + n, k, now, others) &&
        (others.length === 0 || Math.floor((i + n) / BLOCK_CHUNKS) === Math.floor(i / BLOCK_CHUNKS))) { n++; k++ }
      this.opts.debug(`${this.opts.url}: origin chunks ${i}..${i + n - 1}${late ? ' (overdue)' : ''}, ${others.length} peers`)
      f.startRange(i, n)
    }
  }

  /** Urgent chunks that no peer holds and the origin cannot give are given up (a GAP). */
  private giveUpHopeless (now: number): void {
    const st = this.state!
    for (const [i, since] of this.urgentSince) {
      if (this.store!.has(i) || st.busy(i) || st.avail[i] > 0) continue
      const originGone = this.feed.exhausted(i)
      if (!originGone || now - since < this.opts.deadlineMs) continue
      this.urgentSince.delete(i)
      this.gaveUp.add(i)
      this.emit('gaveup', i)
    }
  }

  private armTick (): void {
    if (this.tick || this.closed) return
    const work = this.pendingPeers.size > 0 || this.feed.busy || (this.urgentSince.size > 0 && !this.complete)
    if (!work) return
    const ms = Math.max(50, Math.min(500, this.opts.deadlineMs / 4))
    this.tick = setTimeout(() => { this.tick = undefined; this.schedule() }, ms)
  }

  /** Leave: optionally say goodbye, let uploads in flight finish for up to `graceMs`, close everything. */
  async close (goodbye: boolean, graceMs = 0): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.emit('close')
    clearTimeout(this.tick)
    clearTimeout(this.quietTimer)
    clearTimeout(this.pexTimer)
    for (const d of this.dials.values()) clearTimeout(d.timer)
    if (goodbye) for (const p of this.peers) p.send({ type: 'goodbye' })
    const until = Date.now() + graceMs
    while (this.uploads > 0 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
    for (const p of this.peers) p.socket.end()
    const t = setTimeout(() => { for (const p of this.peers) p.socket.destroy() }, 500)
    t.unref()
    this.feed.close()
    await this.store?.close(this.opts.removeCache)
  }
}
