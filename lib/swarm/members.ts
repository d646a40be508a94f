// Who is in one item's swarm: the addresses we know and dial (with backoff), the
// connections that handshook into it (one per peer), peer exchange, and the bans of
// peers that lied. Connections come through the swarm's `connect` (TCP by default), so
// a test or a simulator can join swarms with links of its own.
import type { PeerLink } from './link.js'
import { FEW_PEERS } from './announce.js'
import { WIRE_VERSION, type Handshake, type Message, type PeerAddress } from './wire.js'
import type { SwarmClock, TimerHandle } from './clock.js'

/** peers a swarm dials while it has fewer (its option `maxPeers`, SwarmOptions) */
export const MAX_PEERS = 50
/**
 * Newcomers are told to the other peers in one PEX message per peer per this interval,
 * not one per newcomer: a listener tuning in to a swarm of 20 otherwise set off 380 PEX
 * messages, which woke every process at once and delayed its own first chunk by
 * ~100 ms on two cores. (BEP 11 asks for at most one a minute; a flash crowd wants its
 * peers to meet sooner, and the tracker is not asked again for a minute.)
 */
export const PEX_BATCH_MS = 250
export const DIAL_RETRIES = 4
/** addresses in one PEX message */
export const PEX_MAX_ADDRESSES = 100
/**
 * A dial still unanswered after this long no longer holds a listener back from the origin
 * (LiveSwarm's start-up grace): a handshake takes one round trip after the TCP one, under
 * 700 ms at the 300 ms RTTs of the worst home lines; an address that accepts and never
 * answers (a firewall, a server that is not a peer, such as pc-live's HTTP port when it
 * was listed) otherwise kept a lone live listener off the origin until its fallback, past
 * pc-icecast's live delay, on every chunk.
 */
export const DIAL_GRACE_MS = 1000

/** PEXFULL's two messages, one object each for every peer (a link encodes or reads a message, never changes it) */
const PEX_FULL: Message = { type: 'pex-full', full: true }
const PEX_ROOM: Message = { type: 'pex-full', full: false }

/** Dial's flags; its tries are counted above them */
const STICKY = 1
const CONNECTED = 2
const CONNECTING = 4
const TRIES_SHIFT = 3

/**
 * A known address and the state of dialling it. A swarm knows up to 4 × its maxPeers: a
 * literal object of its own each, with three booleans and a timer added later (out of the
 * object, a property array of its own), was ~90 bytes, a tenth of the simulator's heap
 * (bench/sim, N = 300 at 20 s: 55,000 of them); this is 48 (64 with its tries in a field of their own, 56 with its start time and timer in two).
 */
class Dial {
  /**
   * While CONNECTING, when the dial began (`since`); otherwise the timer of the next dial,
   * if one is set (`timer`): never both at once. A field each were 8 bytes more, and the
   * time a number object of its own (16 bytes) in every dial that ever dialled (bench/sim,
   * N = 3,000 with 20 peers dialled, at 20 s: 283,914 dials, 4.5 MB of numbers in a 155 MB heap).
   */
  private at: unknown = undefined
  /** STICKY, CONNECTED, CONNECTING, and the tries above them (a field of its own was 8 bytes of ~260 dials a swarm) */
  private flags: number
  constructor (readonly addr: PeerAddress, sticky: boolean, connected = false) { this.flags = (sticky ? STICKY : 0) | (connected ? CONNECTED : 0) }
  get tries (): number { return this.flags >>> TRIES_SHIFT }
  set tries (n: number) { this.flags = (this.flags & ((1 << TRIES_SHIFT) - 1)) | (n << TRIES_SHIFT) }
  /** when the dial under way began (0 when none is) */
  get since (): number { return this.is(CONNECTING) ? this.at as number : 0 }
  set since (t: number) { if (this.is(CONNECTING)) this.at = t }
  /** the timer of the next dial, when one is set and no dial is under way */
  get timer (): TimerHandle | undefined { return this.is(CONNECTING) ? undefined : this.at }
  set timer (t: TimerHandle | undefined) { if (!this.is(CONNECTING)) this.at = t }
  is (f: number): boolean { return (this.flags & f) !== 0 }
  set (f: number, v: boolean): void {
    // a dial begun or ended: its start time (since) is set or no longer read
    if ((f & CONNECTING) !== 0 && v !== this.is(CONNECTING)) this.at = undefined
    this.flags = v ? this.flags | f : this.flags & ~f
  }
}

/**
 * An address's key string, made once per address object: every PEX brings up to 100
 * addresses, and a fresh string for each, hashed for three lookups, was most of what
 * receiving one cost (bench/sim, N = 1,000: addAddress 6 % of a flash crowd). Addresses
 * are not changed once made (a PEX list, a tracker's answer, a link's listen address).
 */
const addrKeys = new WeakMap<PeerAddress, string>()
function keyOf (a: PeerAddress): string {
  let k = addrKeys.get(a)
  if (k === undefined) { k = `${a.host}:${a.port}`; addrKeys.set(a, k) }
  return k
}

/** What Members needs of its swarm (an item's Swarm or a LiveSwarm). */
export interface MembersHost {
  /** `maxPeers`: dial while fewer peers than this are connected (default MAX_PEERS) */
  readonly opts: { infoHash: Buffer, peerId: Buffer, port: number, maxPeers?: number, warn: (m: string) => void, debug: (m: string) => void }
  readonly clock: SwarmClock
  readonly closed: boolean
  readonly stats: { peersSeen: Set<string> }
  readonly scheduler: { forget: (p: PeerLink) => void }
  connect: (to: PeerAddress) => PeerLink
  greet: (p: PeerLink) => void
  kick: () => void
  onMessage: (p: PeerLink, m: Message) => void
}

export class Members {
  readonly peers = new Set<PeerLink>()
  /** when the last peer joined (for the view-quiet rule) */
  lastJoinAt = 0
  /**
   * The known addresses by key, each with its dial's state. Two states, the commonest, have
   * no Dial (48 bytes; bench/sim audio, N = 3,000, 20 peers dialled: at 25 s 175,000 of
   * 304,000 known addresses connected and idle, at 100 s 139,000 of 329,000 waiting with no
   * timer): an address that is only an incoming peer's listen address (attach), connected
   * and never dialled, is the address itself, as `new Dial(addr, false, true)` would be;
   * one whose redial found us at maxPeers (dialClosed), not sticky, with no timer, no link
   * and no place in `failed`, dialled again when a place frees (refill) or it is made
   * sticky, is the number of its tries, its address read back from its key. Its Dial is
   * made in its place then (dialOf).
   */
  private readonly dials = new Map<string, Dial | PeerAddress | number>()
  /** ids and addresses of peers that broke the rules, and our own addresses: made by the first (two empty sets were ~300 bytes of every swarm) */
  private banned?: Set<string>
  private selfAddrs?: Set<string>
  /** whether known address `key` is not to be dialled: banned, or our own */
  private shunned (key: string): boolean { return this.banned?.has(key) === true || this.selfAddrs?.has(key) === true }
  /** newcomers not yet told to the other peers */
  private pexQueue: PeerAddress[] = []
  private pexTimer?: TimerHandle
  /**
   * otherKeys' answer until it can change: a peer joins or leaves, says goodbye or
   * handshakes again (a new peer id). Asked for on every scheduling pass, it cost a walk
   * over every peer each time (at N = 300 in bench/sim, 9 % of the run).
   */
  private keys?: number[]
  /**
   * Peers that joined since `keys` was made, in the order they joined: a join is the
   * commonest change (a flash crowd's listener that accepts connections takes ~300), and
   * its new answer is the old one with the newcomers' keys after it, where the walk over
   * every peer again was 5 % of a flash crowd (bench/sim, N = 2,000). A peer that leaves,
   * says goodbye or handshakes again still drops `keys` (and these) for a walk.
   */
  private joined: PeerLink[] = []
  /**
   * The designation key of each peer's id (PeerLink.key, as a signed integer: V8 keeps it
   * in the array itself), in the set's order as listenAt, kept at attach and at a new
   * handshake: the duplicate check of attach reads the ids only of the peers whose key is
   * the newcomer's. Walking every peer's id on each join was two thirds of attach, a tenth
   * of a flash crowd's run in bench/sim (a host that accepts connections has up to ~300
   * peers); a Map of the peers by id in its place was 7 % of the heap (bench/sim audio,
   * N = 10,000, 20 peers, at 45 s: 27 of 401 MiB), this ~1 %.
   */
  private readonly keyAt: number[] = []
  /**
   * The listen address of each peer (undefined where it told none), in the set's order,
   * kept at attach and at a new handshake: every attach sends the newcomer up to
   * PEX_MAX_ADDRESSES of them and every PEX batch reads each peer's, and asking each link
   * for it was a quarter of attach (bench/sim, N = 3,000: 2.4 % of a flash crowd), most of
   * it waiting on memory for each link and its far end. (The peers in an array beside it
   * too were 3.6 MB more at N = 3,000, for a walk over the set that does not read them.)
   */
  private readonly listenAt: Array<PeerAddress | undefined> = []

  /**
   * What attach listens for on each peer, one function each for all of them (a link calls
   * its listeners with itself as `this`): four closures and their context per link were
   * ~300 of the ~2,200 bytes the simulator kept per link.
   */
  private readonly listeners: { message: (m: Message) => void, handshake: () => void, dropped: (why: string) => void, close: () => void }
  /**
   * What dial() listens for on each outgoing connection, adopted by it (LinkEvents.adopt)
   * until attach adopts `dialledListeners` (Members' own, after the dial's close): a once
   * listener and an on listener were a list and an object of ~120 bytes on each; two
   * closures, their context and the dial's before that ~300. The dial itself is kept in
   * the link (PeerLink.dialled) until it closes: a map from each link to it was ~40 bytes
   * an outgoing link (bench/sim, N = 3,000 at 20 s: 15.7 MB of a 293 MB heap).
   */
  private readonly dialListeners: { handshake: () => void, dropped: (why: string) => void, close: () => void }
  private readonly dialledListeners: { message: (m: Message) => void, handshake: () => void, dropped: (why: string) => void, close: () => void }

  /** the dials under way (CONNECTING): with the peers, what refill fills up to maxPeers */
  private underway = 0
  /**
   * Whether a known address may be idle, neither connected, being dialled nor waiting for
   * its redial timer: set when dial() found us at maxPeers, cleared by a refill that walked
   * every address. A refill needs no walk without it (a peer leaving a swarm that never
   * reached its limit, every dial that fails).
   */
  private idle = false
  /** a refill is deferred to the end of this moment (refillSoon) */
  private refillQueued = false

  constructor (private readonly sw: MembersHost, readonly version = WIRE_VERSION) {
    const self = this
    this.listeners = {
      message (this: PeerLink, m: Message) {
        if (m.type === 'pex-full') { this.pexOff = m.full; return }
        if (m.type === 'goodbye') self.keysChanged()
        sw.onMessage(this, m)
        if (m.type === 'pex') self.pexTaken(this)
      },
      handshake (this: PeerLink) { self.keysChanged(); self.readdress(this) },
      dropped (this: PeerLink, why: string) { if (this.fault) self.avoid(this, why); else sw.opts.debug(`peer ${this.address}: ${why}`) },
      close (this: PeerLink) { self.detach(this) },
    }
    this.dialListeners = {
      handshake (this: PeerLink) { self.dialAnswered(this) },
      // (a dial that fails is said with -v too: refused, no handshake)
      dropped: this.listeners.dropped,
      close (this: PeerLink) { self.dialClosed(this) },
    }
    this.dialledListeners = {
      ...this.listeners,
      close (this: PeerLink) { self.dialClosed(this); self.detach(this) },
    }
  }

  /** the swarm's limit on the peers it dials, read when used (a swarm's options are set after its members are made) */
  private get maxPeers (): number { return this.sw.opts.maxPeers ?? MAX_PEERS }

  /**
   * Known address (tracker, --peer, PEX); `sticky` ones are redialled while we run. With
   * the list full (4 × maxPeers) while we are short of peers (announce.ts FEW_PEERS), a new
   * address takes the place of the one whose dial failed longest ago and that waits to be
   * dialled again (no handshake came: refused, or no answer; not a sticky one, nor one
   * still being dialled). Kept to their last try (DIAL_RETRIES dials, 1, 2 and 4 s after
   * each failure: ~45 s for an address that never answers, HANDSHAKE_TIMEOUT_MS each),
   * such addresses shut out every new one: in a flash crowd of 100,000 four listeners
   * behind NATs that came first had their list filled by
   * their one peer's PEX within half a second, 54 of the 80 with addresses behind NATs
   * (a 10 s handshake timeout each) and 26 with the first listeners that accept
   * connections, already at their limit of incoming ones; the tracker's later answers were
   * dropped, they still had one peer at 7.5 s, and each took chunk 1 from the origin in
   * the same 10 ms when it came due (bench/sim audio, 20 peers dialled, origin at 10 × the
   * stream, seed 1: 6 copies after the first by 10 s, 2 so). A list so held still says it
   * is full (PEXFULL): a PEX is what filled it. Not with FEW_PEERS or more: there the
   * change only moved who met whom, and with it the figures both ways (flash crowd, 20
   * peers dialled: N = 3,000 1.00 → 1.14 × the item, two listeners sharing the first
   * place of a block; N = 10,000 first audio p95 1.29 → 1.60 s; BENCHMARKS.md `## scale`).
   */
  addAddress (addr: PeerAddress, sticky = false): void {
    // with the list full, an address that is not sticky changes nothing whatever it is
    // unless one that failed gives way: said first, as PEX brings hundreds at a time and
    // each took a key string and lookups
    const old = !sticky && this.full ? this.givesWay() : undefined
    if (old === null) return
    const key = keyOf(addr)
    if (this.sw.closed || this.shunned(key)) return
    const d = this.dials.get(key)
    if (d !== undefined) { if (sticky) this.dialOf(key, d).set(STICKY, true); return }
    if (old !== undefined) {
      this.failed!.delete(old)
      this.sw.clock.clearTimeout(old.timer)
      old.timer = undefined
      this.dials.delete(keyOf(old.addr))
    }
    const dial = new Dial(addr, sticky)
    this.dials.set(key, dial)
    this.dial(dial)
  }

  /** Whether a connection to a known address is being attempted, begun less than DIAL_GRACE_MS ago (the start-up grace). */
  get dialling (): boolean {
    const now = this.sw.clock.now()
    for (const d of this.dials.values()) if (d instanceof Dial && d.is(CONNECTING) && now - d.since < DIAL_GRACE_MS) return true
    return false
  }

  /** The Dial of known address `key`, whose entry is `d`: made in its place (the same place in the map's order) when the entry is the address alone or a number of tries (dials). */
  private dialOf (key: string, d: Dial | PeerAddress | number): Dial {
    if (d instanceof Dial) return d
    let made: Dial
    if (typeof d !== 'number') made = new Dial(d, false, true)
    else {
      const k = key.lastIndexOf(':')
      made = new Dial({ host: key.slice(0, k), port: Number(key.slice(k + 1)) }, false)
      made.tries = d
    }
    this.dials.set(key, made)
    return made
  }

  private dial (d: Dial): void {
    const sw = this.sw
    if (sw.closed || d.is(CONNECTED)) return
    if (this.peers.size >= this.maxPeers) { this.idle = true; return }
    const p = sw.connect(d.addr)
    this.greetWith(p)
    d.set(CONNECTED, true)
    d.set(CONNECTING, true)
    this.underway++
    d.since = sw.clock.now()
    p.dialled = d
    // its first handshake answers the dial (attach then adopts dialledListeners: the dial's
    // handshake is not called again); its close, whenever it comes, ends the dial
    p.adopt(this.dialListeners)
  }

  /** An outgoing connection's handshake came: the dial succeeded. */
  private dialAnswered (p: PeerLink): void {
    const d = p.dialled as Dial
    d.tries = 0
    this.settled(d)
    this.attach(p)
  }

  /** A dial is no longer under way (answered, or closed). */
  private settled (d: Dial): void {
    if (!d.is(CONNECTING)) return
    d.set(CONNECTING, false)
    this.underway--
  }

  /** An outgoing connection closed: dial again later, or give the address up. */
  private dialClosed (p: PeerLink): void {
    const sw = this.sw
    const d = p.dialled as Dial
    p.dialled = undefined
    const key = keyOf(d.addr)
    this.settled(d)
    // a dial that got no peer leaves a place (one that did, its detach after this)
    this.refillSoon()
    // the peer is connected the other way round: that connection's end redials (detach)
    if (p.dropped === 'duplicate') return
    d.set(CONNECTED, false)
    if (sw.closed || this.shunned(key)) { this.forgetDial(key); return }
    // no handshake came (dialAnswered was not called: it is the only one that sees the remote's handshake first)
    if (p.remote === undefined) d.tries++
    if (p.goodbye && !d.is(STICKY)) { this.forgetDial(key); return }
    if (!d.is(STICKY) && d.tries >= DIAL_RETRIES) { this.forgetDial(key); sw.kick(); return }
    const wait = Math.min(30_000, 500 * 2 ** Math.min(6, d.tries))
    d.timer = sw.clock.setTimeout(() => {
      d.timer = undefined
      this.failed?.delete(d)
      this.dial(d)
      // not dialled (we are at maxPeers): kept as its tries alone (dials)
      if (!d.is(CONNECTED) && !d.is(STICKY) && d.timer === undefined && this.dials.get(key) === d) this.dials.set(key, d.tries)
    }, wait)
    if (d.tries > 0 && !d.is(STICKY)) (this.failed ??= new Set()).add(d)
    sw.kick()
  }

  /** Once this moment's work is done, dial idle known addresses if there is room (refill): once however many peers left or dials failed in it. */
  private refillSoon (): void {
    if (this.refillQueued || !this.idle || this.sw.closed || this.peers.size + this.underway >= this.maxPeers) return
    this.refillQueued = true
    this.sw.clock.defer(() => { this.refillQueued = false; this.refill() })
  }

  /**
   * Dial the idle known addresses, oldest first, until the peers and the dials under way
   * are maxPeers. dial() dials nobody at maxPeers, and an address is dialled when it is
   * learned or its redial timer fires: one learned at the limit (a tracker's answer, a
   * PEX), or whose redial fell there, was never dialled again, so a listener whose peers
   * left got new ones only from addresses it had not heard of and from peers that
   * connected to it, with dozens known and idle. Cheap: in bench/sim steady (N = 1,000,
   * MAX_PEERS, seed 1), 528 passes in the whole run walked 3,042 entries and dialled 491,
   * and first audio p95 went 810 → 790 ms (origin 1.00 × the item both ways). Its tries
   * stay as they were, and one waiting for its redial timer is left to it (DIAL_RETRIES,
   * the backoff). An entry that
   * is an address alone is the listen address of a peer connected to us (or was, until it
   * handshook again with another: the same peer), so it is skipped: when that peer leaves,
   * detach forgets it rather than make it dialable here, as the peer left the swarm or
   * us, and a dial to it would most likely be refused or go unanswered.
   */
  private refill (): void {
    if (this.sw.closed) return
    const max = this.maxPeers
    for (const [key, d] of this.dials) {
      if (this.peers.size + this.underway >= max) return
      if (d instanceof Dial ? d.is(CONNECTED | CONNECTING) || d.timer !== undefined : typeof d !== 'number') continue
      if (this.shunned(key)) continue
      this.dial(this.dialOf(key, d))
    }
    // every address walked, each dialled or not idle
    this.idle = false
  }

  /** With the list full: the address that gives way to a new one (addAddress), or null when none does. */
  private givesWay (): Dial | null {
    return this.peers.size < FEW_PEERS ? this.failed?.values().next().value ?? null : null
  }

  /**
   * The known addresses whose last dial got no handshake (refused, or no answer) and that
   * wait to be dialled again, oldest first (addAddress); made when the first one fails.
   */
  private failed?: Set<Dial>

  /** A connection whose remote handshake arrived (either direction). */
  attach (p: PeerLink): void {
    const sw = this.sw
    const h = p.remote
    if (!h || sw.closed) { p.drop('swarm closed'); return }
    if (!h.infoHash.equals(sw.opts.infoHash)) { p.drop('wrong swarm'); return }
    if ((h.version ?? WIRE_VERSION) !== this.version) { p.drop(`wire version ${h.version ?? WIRE_VERSION}, this swarm speaks ${this.version}`); return }
    if (h.peerId.equals(sw.opts.peerId)) { (this.selfAddrs ??= new Set()).add(p.address); p.drop('connected to myself'); return }
    const id = p.id
    const la = p.listenAddress
    const banned = this.banned
    if (banned !== undefined && (banned.has(id) || (la && banned.has(keyOf(la))))) { p.drop('avoided'); return }
    // two connections to one peer: keep the one opened by the smaller peer id, on both sides
    const by = (x: PeerLink): string => x.outgoing ? this.ownHex : x.id
    const q = this.withId(id, p.key | 0)
    // (drop() runs detach(), which frees the requests in flight on it)
    if (q) { if (by(p) < by(q)) q.drop('duplicate'); else { p.drop('duplicate'); return } }
    // an incoming connection's answer; a dialled one's was sent with the dial (dial)
    if (p.dialled === undefined) this.greetWith(p)
    else if (p.toldFullInHandshake && !this.full) { p.toldFullInHandshake = false; p.send(PEX_ROOM) } // room made since the dial
    this.peers.add(p)
    this.listenAt.push(la)
    this.keyAt.push(p.key | 0)
    if (this.keys) this.joined.push(p) // (a subset of the peers: a leaving one clears it)
    this.lastJoinAt = sw.clock.now()
    sw.stats.peersSeen.add(id)
    p.adopt(p.dialled !== undefined ? this.dialledListeners : this.listeners)
    if (la) {
      // connected, never dialled: the address alone (dials)
      if (!this.dials.has(keyOf(la))) this.dials.set(keyOf(la), la)
    }
    sw.greet(p)
    // peer exchange: tell it who else is here, and tell the others about it
    // (not to a peer whose handshake said its list is full: at N = 10,000 with 20 peers
    // dialled, these were 0.81 million PEX and the 0.94 million PEXFULL that answered them)
    const others = p.pexOff ? undefined : this.addressesBut(p)
    if (others?.length) p.send({ type: 'pex', peers: others })
    if (la) this.tellOthers(la)
    sw.kick()
  }

  /**
   * Send p our handshake, flagged when our list of addresses is full (a PEX brings us
   * nothing): p then sends no PEX, its first one included, until told there is room
   * (forgetDial), as after a PEXFULL 1.
   */
  private greetWith (p: PeerLink): void {
    const full = this.full
    p.sendHandshake(this.handshake(full))
    if (full) { p.toldFullInHandshake = true; this.toldFull = true }
  }

  /** ours, one object for every connection each with and without the flag (a link sends or reads a handshake, never changes it) */
  private handshake (full: boolean): Handshake {
    const had = full ? this.oursFull : this.ours
    if (had) return had
    const o = this.sw.opts
    const h: Handshake = { infoHash: o.infoHash, peerId: o.peerId, port: o.port }
    // an item swarm reads AREQUEST (uploads.ts, the fair share) and ASKING (scheduler.ts CLAIM_INTENT_MS); a live swarm neither
    if (this.version !== WIRE_VERSION) h.version = this.version; else { h.altRequests = true; h.asking = true }
    if (full) { h.pexFull = true; this.oursFull = h } else this.ours = h
    return h
  }

  private ours?: Handshake
  private oursFull?: Handshake

  /** our peer id in hex, for the duplicate rule (made for each duplicate, it was 0.7 % of a flash crowd) */
  private get ownHex (): string { return (this.ownHexValue ??= this.sw.opts.peerId.toString('hex')) }
  private ownHexValue?: string

  /**
   * The listen addresses of the peers other than `p`, at most PEX_MAX_ADDRESSES, in one
   * walk: every connection's attach builds it, and the chain of array copies it took was
   * a sixth of what the simulator allocated (bench/sim, N = 300).
   */
  private addressesBut (p: PeerLink): PeerAddress[] {
    // (p joined last: a full list of the peers before it is the answer for every later newcomer too)
    if (this.fullList) return this.fullList
    const out: PeerAddress[] = []
    const at = this.listenAt
    let k = 0
    for (const q of this.peers) {
      if (out.length >= PEX_MAX_ADDRESSES) break
      const a = at[k++]
      if (q !== p && a) out.push(a)
    }
    if (out.length >= PEX_MAX_ADDRESSES) this.fullList = out
    return out
  }

  /**
   * addressesBut's answer once it holds PEX_MAX_ADDRESSES, until a peer leaves or
   * handshakes again: a newcomer joins after the others, so the first addresses stay the
   * same, and each newcomer's PEX shares one list (a link encodes or reads a message,
   * never changes it). A listener that accepts connections has up to ~270 peers: the walk
   * over them for each newcomer was ~1 % of a flash crowd's time (bench/sim, N = 3,000, 20
   * peers), and with the lists made for each, attach allocated 61 MiB of 1,987 sampled
   * (N = 1,000, 20 peers, first 30 s; 31 MiB with this).
   */
  private fullList?: PeerAddress[]

  /** where p is in the set's order (and in listenAt), or -1 */
  private placeOf (p: PeerLink): number {
    let k = 0
    for (const q of this.peers) { if (q === p) return k; k++ }
    return -1
  }

  /** A peer handshook again: its listen address and id as it now says. */
  private readdress (p: PeerLink): void {
    this.fullList = undefined
    const k = this.placeOf(p)
    if (k >= 0) { this.listenAt[k] = p.listenAddress; this.keyAt[k] = p.key | 0 }
  }

  /** The peer with id `id` (hex), whose designation key is `key` (signed, keyAt), if one is connected. */
  private withId (id: string, key: number): PeerLink | undefined {
    const keys = this.keyAt
    let k = keys.indexOf(key)
    if (k < 0) return undefined
    let j = 0
    for (const q of this.peers) {
      if (j++ !== k) continue
      if (q.id === id) return q
      k = keys.indexOf(key, k + 1)
      if (k < 0) return undefined
    }
    return undefined
  }

  private tellOthers (la: PeerAddress): void {
    this.pexQueue.push(la)
    this.pexTimer ??= this.sw.clock.setTimeout(() => {
      this.pexTimer = undefined
      const fresh = this.pexQueue.splice(0)
      // one list for every peer not among the newcomers (most of them): the messages share
      // it (a link encodes or reads a message, never changes it) instead of a copy per peer
      // (and one message: a reachable listener's batch went to ~300 peers)
      const shared = fresh.slice(0, PEX_MAX_ADDRESSES)
      const sharedMsg: Message = { type: 'pex', peers: shared }
      // the newcomers by key, one lookup a peer: scanning the batch for each peer's own
      // address was ~30,000 comparisons a batch for a listener with ~300 peers and 100
      // newcomers, the largest single function of a flash crowd (bench/sim, N = 3,000: 7 %)
      const freshKeys = new Set<string>()
      for (const a of fresh) freshKeys.add(keyOf(a))
      const at = this.listenAt
      let k = 0
      for (const q of this.peers) {
        const own = at[k++]
        if (q.goodbye || q.pexOff) continue
        if (own && freshKeys.has(keyOf(own))) {
          const list = fresh.filter(a => !(a.host === own.host && a.port === own.port)).slice(0, PEX_MAX_ADDRESSES)
          if (list.length) q.send({ type: 'pex', peers: list })
        } else if (shared.length) q.send(sharedMsg)
      }
    }, PEX_BATCH_MS)
  }

  /** whether a PEX can bring us nothing: every address not sticky is refused (addAddress; but while we are short of peers, one that failed gives way) */
  private get full (): boolean { return this.dials.size >= 4 * this.maxPeers }

  /**
   * Peer p sent a PEX, and our list is full (after it): tell it so once (PEXFULL), and it
   * sends us none until we say there is room again (forgetDial). Of the PEX messages of a
   * flash crowd, 99.5 % reached a list that was full and changed nothing (bench/sim,
   * N = 1,000, 20 peers dialled: 1,345,647 of 1,352,404), a third of all peer messages.
   */
  pexTaken (p: PeerLink): void {
    if (p.toldFull || !this.full || this.sw.closed) return
    p.toldFull = true
    this.toldFull = true
    p.send(PEX_FULL)
  }

  /** A known address forgotten: with room in the list again, the peers told it was full are told it is not. */
  private forgetDial (key: string): void {
    const d = this.dials.get(key)
    if (d instanceof Dial) this.failed?.delete(d)
    this.dials.delete(key)
    if (!this.toldFull || this.full || this.sw.closed) return
    this.toldFull = false
    for (const q of this.peers) {
      if (!q.toldFull && !q.toldFullInHandshake) continue
      q.toldFull = false
      q.toldFullInHandshake = false
      if (!q.goodbye) q.send(PEX_ROOM)
    }
  }

  /** some peer was told our list is full (PEXFULL 1 or our handshake's flag) and not yet that it has room */
  private toldFull = false

  private detach (p: PeerLink): void {
    const sw = this.sw
    if (!this.peers.has(p)) return
    this.fullList = undefined
    const k = this.placeOf(p)
    this.listenAt.splice(k, 1)
    this.keyAt.splice(k, 1)
    this.peers.delete(p)
    this.keysChanged()
    sw.scheduler.forget(p)
    const la = p.listenAddress
    if (la && !p.outgoing && !sw.closed) {
      const d = this.dials.get(keyOf(la))
      // (an address alone is not sticky)
      if (d !== undefined && !(d instanceof Dial && d.is(STICKY))) this.forgetDial(keyOf(la))
      else if (d instanceof Dial && !d.is(CONNECTING) && d.timer === undefined) {
        d.set(CONNECTED, false)
        d.timer = sw.clock.setTimeout(() => { d.timer = undefined; this.dial(d) }, 500)
      }
    }
    this.refillSoon()
    sw.kick()
  }

  ban (p: PeerLink, why: string): void {
    this.avoid(p, why)
    p.drop(why)
  }

  /** Say why a peer that broke the rules goes, and never connect to it (by id or address) again. */
  private avoid (p: PeerLink, why: string): void {
    this.sw.opts.warn(`peer ${p.address}: ${why}; disconnected and avoided`)
    const banned = (this.banned ??= new Set())
    if (p.remote) banned.add(p.id)
    if (p.outgoing) banned.add(p.address)
    const la = p.listenAddress
    if (la) { banned.add(keyOf(la)); this.forgetDial(keyOf(la)) }
  }

  /** the designation keys of the peers that count (handshook, not leaving); the same array until they change: do not modify it */
  otherKeys (): number[] {
    if (this.keys && this.joined.length > 0) {
      // the walk's answer: the peers it counted, then those joined since, in the set's order
      // (in one array of its length: a copy grown by a push was made twice, 63 MiB of the
      // 1,987 a flash crowd allocated, bench/sim, N = 1,000, 20 peers, first 30 s; 31 with this)
      const add: number[] = []
      for (const p of this.joined) if (p.remote && !p.goodbye) add.push(p.key)
      this.joined.length = 0
      this.keys = this.keys.concat(add)
    }
    if (this.keys) return this.keys
    const out: number[] = []
    for (const p of this.peers) if (p.remote && !p.goodbye) out.push(p.key)
    this.keys = out
    return out
  }

  private keysChanged (): void {
    this.keys = undefined
    this.joined.length = 0
  }

  /** Stop dialling; with `goodbye`, tell every peer we leave. */
  close (goodbye: boolean): void {
    const c = this.sw.clock
    c.clearTimeout(this.pexTimer)
    for (const d of this.dials.values()) if (d instanceof Dial) c.clearTimeout(d.timer)
    if (goodbye) for (const p of this.peers) p.send({ type: 'goodbye' })
  }

  /** Close every connection (after what was sent has gone out). */
  end (): void { for (const p of this.peers) p.end() }
}
