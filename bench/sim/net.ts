// The simulated network: hosts with an upload and a download capacity, an RTT and a loss
// rate; links between them that are PeerLinks (the swarm's own transport seam); the
// origin web server with a bounded upload; the tracker. Capacity is shared per host:
// every chunk a host sends queues behind what it is already sending (at its upload rate,
// whichever link it goes on) and behind what the receiver is already receiving (at its
// download rate). That is FIFO sharing, not TCP's per-flow fairness: the same bytes per
// second in total, in another order. Messages keep their order on a link, as over TCP.
import { PeerLink, LINK_FLAG_0, LINK_FLAG_1, LINK_FLAG_2, type Incoming } from '../../lib/swarm/link.js'
import type { OriginSource, ChunkSink } from '../../lib/swarm/origin.js'
import type { Handshake, LivePiece, Message, PeerAddress } from '../../lib/swarm/wire.js'
import type { Swarm } from '../../lib/swarm/swarm.js'
import type { LiveSwarm } from '../../lib/swarm/live-swarm.js'
import { HANDSHAKE_TIMEOUT_MS, PEER_IDLE_MS } from '../../lib/swarm/peer.js'
import { MAX_CONNECTIONS, yieldingConnection } from '../../lib/swarm/fetcher.js'
import { SimTimer, type SimClock } from './clock.js'
import type { AnnounceHost } from '../../lib/swarm/announce.js'
import type { AnnounceParams, AnnounceResult } from '../../lib/tracker/client.js'
import { DEFAULT_INTERVAL_S } from '../../lib/tracker/client.js'
import { minIntervalS } from '../../lib/tracker/swarms.js'
import { sleepOn } from '../../lib/swarm/clock.js'
import type { HostSpec, Rng } from './population.js'
import type { Shard } from './shard.js'

/** TCP segment payload, for the loss model */
const SEGMENT_BYTES = 1448

export class Host {
  upBusy = 0
  downBusy = 0
  bytesSent = 0
  bytesReceived = 0
  incoming = 0
  online = true
  /** left without a word: its links go silent, the far ends notice after PEER_IDLE_MS */
  vanished = false
  swarm?: Swarm
  /** the day's scenario (day.ts): the swarms of the items it holds at once, by info-hash in hex, as one pc-fetch accepts peers for each on one port (made by the first: an empty map was 184 bytes of every host) */
  swarms?: Map<string, Swarm>
  /** the live swarm, when the host listens to a live show */
  live?: LiveSwarm
  /** the network it is on, for its links (a field of each of them was 8 bytes a link); set by the first link made */
  net?: SimNet
  /** the BitTorrent-like reference client, when the host runs that instead */
  bt?: { attach: (p: PeerLink) => void }
  /**
   * What reaches this host at a time not yet come, one inbox (one timer) per time (see
   * Inbox): their times, and the inboxes at the same places; with them those that fired
   * since the last message to the host, taken out by the next (SimLink.deliver). (A walk over a list of inboxes,
   * reading each one's time, was 4 % of a flash crowd at N = 2,000; a Map by time after it,
   * its lookup, insertion and deletion for every message and inbox, ~5 % at N = 3,000, 20
   * peers, its tables made again as they grew and shrank: a host has few times pending,
   * and a walk over their numbers alone reads one array.)
   */
  boxAt?: number[]
  boxes?: Array<Inbox | undefined>
  /** how many: the arrays keep their length (set shorter, V8 shrank them, and made them again at the next push) */
  nBoxes = 0
  /** host:port, the key of SimNet.hosts and the address of every link dialled to it */
  readonly key: string
  /** the spec's RTT, kept here too: every message's one-way delay reads both ends' (a load of each end's spec fewer) */
  readonly rttMs: number
  constructor (readonly id: number, readonly addr: PeerAddress, readonly spec: HostSpec) { this.key = `${addr.host}:${addr.port}`; this.rttMs = spec.rttMs }

  /** The address it listens on when its handshake says `port`: one object for all its links (each of ~100 had its own). */
  listenAt (port: number): PeerAddress {
    if (port === this.addr.port) return this.addr
    if (this.otherListen?.port !== port) this.otherListen = { host: this.addr.host, port }
    return this.otherListen
  }

  private otherListen?: PeerAddress
}

/**
 * Everything that reaches one host at one time (a multiple of the clock's quantum), over
 * all its links: one timer, where there was one per link and time (a PEX batch to ~100
 * peers was ~100 timers at each end's arrival times, at N = 300 1.6 million of a run's
 * 2.2 million). The messages are handed over in the order they were sent, one link's in
 * its order; the swarm's promise chains run once after all of them (the clock's
 * microtask turns after each timer), as a process reads every socket that has data in
 * one turn of its event loop.
 */
export class Inbox extends SimTimer {
  /** the first message and the link it came over (the sending end): most inboxes hold one */
  link0?: Sender
  msg0?: Incoming
  /** the others, link then message, in arrival order (two arrays of their own cost ~350 bytes an inbox) */
  more?: Array<Sender | Incoming>
  constructor (readonly host: Host) { super() }
  add (l: Sender, m: Incoming): void {
    if (this.link0 === undefined) { this.link0 = l; this.msg0 = m } else (this.more ??= []).push(l, m)
  }

  /**
   * Hands the messages over. It stays among the host's pending ones until the next message
   * to the host (SimLink.deliver), which takes out those that fired (`msg0` undefined):
   * finding it there at once was ~3 % of audio N = 3,000, 20 peers, most of it the first
   * load of the host's arrays.
   */
  override fire (): void {
    const m = this.msg0!
    const more = this.more
    this.msg0 = undefined
    this.more = undefined
    this.link0!.arrived(m)
    if (more) for (let k = 0; k < more.length; k += 2) (more[k] as Sender).arrived(more[k + 1] as Incoming)
  }
}

/**
 * A timer that closes a link, or drops it with a reason: a dial to a host behind a NAT
 * waits 10 s for its handshake, and a closure, its context and a timer each for it were
 * ~170 bytes of every such link (bench/sim, N = 300 at 20 s: 11,000 of them); this is one
 * object of ~50.
 */
class LinkTimer extends SimTimer {
  constructor (readonly link: SimLink, readonly why?: string) { super() }
  override fire (): void { if (this.why === undefined) this.link.close(); else this.link.drop(this.why) }
}

/** SimLink's flags (PeerLink.flags) */
const HANDSHAKE_SENT = LINK_FLAG_0
const DEAD = LINK_FLAG_1
const OUTGOING = LINK_FLAG_2

/** what a message arrives from: a link's far end, here or on another shard (RemoteEnd) */
interface Sender { arrived: (x: Incoming) => void }

export class SimLink extends PeerLink {
  /**
   * the far end, once the far host accepted (a dial refused, or to a host behind a NAT, has
   * none); a RemoteEnd when the far host is another shard's (shard.ts)
   */
  other?: SimLink | RemoteEnd
  private lastArrival = 0

  /** `where`: the address dialled (outgoing), or the port the far host dialled from */
  constructor (net: SimNet, outgoing: boolean, private readonly where: string | number, readonly local: Host) {
    super()
    local.net = net
    if (outgoing) this.flags |= OUTGOING
  }

  /**
   * The far host: the far end's (a field of its own was 8 bytes of every link). A link with
   * no far end reads it only for the one-way delay of what it sends, which goes nowhere
   * (deliver): its own host stands in.
   */
  get far (): Host { return (this.other ?? this).local }

  /** the network (its host's: a field of every link was 8 bytes) */
  get net (): SimNet { return this.local.net! }
  /** whether we dialled it (a flag: a field of every link was 8 bytes) */
  get outgoing (): boolean { return (this.flags & OUTGOING) !== 0 }

  /** host:port of the connection, made when asked (messages, bans): a string of its own was ~40 bytes a link */
  get address (): string {
    const w = this.where
    return typeof w === 'string' ? w : `${this.far.addr.host}:${w}`
  }

  private get dead (): boolean { return (this.flags & DEAD) !== 0 }

  /** the host's books, kept here rather than by a 'close' listener: one closure and once-wrapper fewer per link */
  protected override ended (): void {
    if (!this.closed && !this.outgoing) { this.local.incoming--; this.net.awaiting.delete(this) }
    const o = this.other
    if (!this.closed && o instanceof RemoteEnd) this.net.cross.delete(o.pair)
    super.ended()
  }

  /**
   * The far host's one object for the port (Host.listenAt): Members asks for it on every
   * PEX (each peer's own, and the list of the others for a newcomer), and a new one each
   * time was garbage by the million that lived long enough in the clock's queue to reach
   * the old generation. (Kept in the link with the handshake it was made of, it was 16
   * bytes of every link.)
   */
  get listenAddress (): PeerAddress | undefined {
    const r = this.remote
    return r && r.port ? this.far.listenAt(r.port) : undefined
  }

  private get oneWayMs (): number { return (this.local.rttMs + this.far.rttMs) / 4 }

  sendHandshake (h: Handshake): void {
    if ((this.flags & HANDSHAKE_SENT) !== 0 || this.closed) return
    this.flags |= HANDSHAKE_SENT
    this.deliver({ type: 'handshake', handshake: h }, this.net.clock.now() + this.oneWayMs)
  }

  send (m: Message): boolean {
    if (this.closed) return false
    // a bitfield is encoded when sent, as on the wire: the store's changes afterwards
    this.net.sent[m.type] = (this.net.sent[m.type] ?? 0) + 1
    this.deliver(m.type === 'bitfield' ? { ...m, bits: Buffer.from(m.bits) } : m, this.net.clock.now() + this.oneWayMs)
    return true
  }

  async sendPiece (index: number, data: Buffer): Promise<void> {
    await this.transfer({ type: 'piece', index, data }, data.length)
  }

  /** a live chunk with its claim: the same capacity as a piece */
  override async sendLivePiece (m: LivePiece): Promise<void> {
    this.net.sent[m.type] = (this.net.sent[m.type] ?? 0) + 1
    await this.transfer(m, m.data.length + (m.header?.length ?? 0))
  }

  private async transfer (m: Message, len: number): Promise<void> {
    if (this.closed) return
    const c = this.net.clock
    const now = c.now()
    const src = this.local
    const dst = this.far
    const sent = Math.max(now, src.upBusy) + len / src.spec.upBytesPerMs
    src.upBusy = sent
    src.bytesSent += len
    this.net.pieceBytesSent += len
    const ow = this.oneWayMs
    const loss = Math.max(src.spec.loss, dst.spec.loss)
    this.net.pieceBytesInFlight += len
    const o = this.other
    // the receiver's downlink is taken when the first byte reaches it, not before (see SimNet.receive); on another shard, by it
    if (o instanceof RemoteEnd) { if (!this.dead) this.net.shard!.transfer(o, m, sent - len / src.spec.upBytesPerMs + ow, sent + ow, len, 2 * ow, loss) } else {
      this.net.receive(dst, sent - len / src.spec.upBytesPerMs + ow, sent + ow, len, 2 * ow, loss, (at) => {
        this.net.pieceBytesInFlight -= len
        this.deliver(m, at, len)
      })
    }
    if (sent > now) await new Promise<void>(resolve => { c.setTimeout(resolve, sent - now) })
  }

  /** what was sent still arrives, then both ends close */
  end (): void {
    if (this.dead) return
    const c = this.net.clock
    if (this.local.vanished) { this.silence(); return }
    const o = this.other
    // on another shard: the far end closes once what was sent before has arrived (RemoteEnd.lastArrival there)
    if (o instanceof RemoteEnd) { this.net.shard!.close(o, c.now() + this.oneWayMs, false); c.schedule(new LinkTimer(this), this.oneWayMs); return }
    c.setTimeout(() => { o?.close(); this.close() }, Math.max(0, this.lastArrival - c.now()))
  }

  /** what is in flight is lost; the far end learns of it a one-way trip later (or, when we vanished, once idle) */
  protected destroy (): void {
    if (this.local.vanished) { this.silence(); return }
    this.flags |= DEAD
    const o = this.other
    if (o instanceof RemoteEnd) this.net.shard!.close(o, this.net.clock.now() + this.oneWayMs, true)
    else if (o) this.net.clock.schedule(new LinkTimer(o), this.oneWayMs)
  }

  private silence (): void {
    this.flags |= DEAD
    this.ended()
    const o = this.other
    if (o instanceof RemoteEnd) {
      // what is in flight is lost, and the far end closes once it has been idle long enough
      this.net.shard!.close(o, this.net.clock.now() + PEER_IDLE_MS, true)
    } else if (o) this.net.clock.schedule(new LinkTimer(o), PEER_IDLE_MS)
  }

  private deliver (m: Incoming, at: number, pieceBytes = 0): void {
    const o = this.other
    if (!o || this.dead) return
    // the far shard keeps the link's order and finds the inbox (RemoteEnd.deliverIn)
    if (o instanceof RemoteEnd) { this.net.shard!.message(o, m, at); return }
    if (at < this.lastArrival) at = this.lastArrival
    // what reaches a host within one quantum of the clock is one inbox (one timer)
    const q = this.net.clock.quantumMs
    if (q > 0) at = Math.ceil(at / q) * q
    this.lastArrival = at
    if (pieceBytes) this.net.pieceBytesInFlight += pieceBytes
    enqueue(this.net.clock, this, this.far, m, at)
  }

  /** A message this end sent arrives at the other. */
  arrived (x: Incoming): void { hand(this.net, this.dead, this.other as SimLink, x) }

  /**
   * What arrives is received; an incoming connection's first handshake then hands it to
   * its swarm (SimNet.awaiting), as pc-fetch does (a once listener on each such link, its
   * closure and its list were ~200 bytes of a third of the links, kept after it fired).
   */
  take (m: Incoming): void {
    this.received(m)
    if (m.type !== 'handshake' || this.outgoing) return
    const into = this.net.awaiting.get(this)
    if (into === undefined) return
    this.net.awaiting.delete(this)
    if (!this.closed) into.attach(this)
  }
  close (): void { this.flags |= DEAD; this.ended() }
}

/**
 * Message `m` from `from` reaches host `far` at `at` (a multiple of the quantum): into the
 * host's inbox for that time, made when it has none.
 */
function enqueue (c: SimClock, from: Sender, far: Host, m: Incoming, at: number): void {
  const times = (far.boxAt ??= [])
  const boxes = (far.boxes ??= [])
  const now = c.now()
  let n = far.nBoxes
  let k = 0
  while (k < n) {
    const t = times[k]
    // one that fired (before now, or now and handed over: Inbox.fire) goes, the last in its place
    if (t <= now && (t < now || boxes[k]!.msg0 === undefined)) {
      n--
      times[k] = times[n]
      boxes[k] = boxes[n]
      boxes[n] = undefined
      continue
    }
    if (t === at) break
    k++
  }
  far.nBoxes = n
  let x: Inbox
  if (k < n) x = boxes[k]!
  else {
    x = new Inbox(far)
    c.schedule(x, at - now)
    // by the time the clock gives it (the same as `at` when times are whole multiples of the quantum)
    if (n < times.length) { times[n] = x.at; boxes[n] = x } else { times.push(x.at); boxes.push(x) }
    far.nBoxes = n + 1
  }
  x.add(from, m)
}

/** Message `x` arrives at link `o` from a far end (`dead`: that end is gone, and what it sent with it). */
function hand (net: SimNet, dead: boolean, o: SimLink, x: Incoming): void {
  const bytes = x.type === 'piece' || x.type === 'live-piece' ? x.data.length + (x.type === 'live-piece' ? x.header?.length ?? 0 : 0) : 0
  if (bytes) { net.pieceBytesInFlight -= bytes }
  if (dead || o.closed || o.local.vanished) return
  if (bytes) {
    net.pieceBytesDelivered += bytes
    o.local.bytesReceived += bytes
  }
  if (x.type === 'piece') {
    // still asked for when it arrives, or come after its request was cancelled (or never made)
    if (o.inflight.has(x.index)) net.piecesWanted++; else net.piecesUnwanted++
  }
  o.take(x)
}

/**
 * The far end of a link whose far host another shard runs (shard.ts): what the near end
 * sends goes to that shard, and what comes from it arrives through this. `local` is the far
 * host as this shard knows it (its address and line, no swarm), so that a link reads its
 * far host the same way whichever shard runs it.
 */
export class RemoteEnd implements Sender {
  /** when the last message from it arrives here: the link's order, as SimLink.lastArrival */
  lastArrival = 0
  /** it is gone: what it sent and has not arrived is lost */
  dead = false
  /** `pair`: the link's number on both shards */
  constructor (readonly pair: number, readonly local: Host, readonly near: SimLink) {}

  /** A message from the far end, sent so as to arrive at `at` (a piece: all in at `at`), reaches the near end. */
  deliverIn (m: Incoming, at: number, pieceBytes = 0): void {
    const net = this.near.net
    if (this.dead) return
    if (at < this.lastArrival) at = this.lastArrival
    const q = net.clock.quantumMs
    if (q > 0) at = Math.ceil(at / q) * q
    this.lastArrival = at
    if (pieceBytes) net.pieceBytesInFlight += pieceBytes
    enqueue(net.clock, this, this.near.local, m, at)
  }

  arrived (x: Incoming): void { hand(this.near.net, this.dead, this.near, x) }
}

/**
 * A swarm's `stats.peersSeen` in the simulator, which never reads it: the ids of every
 * peer met, kept by each swarm for pc-fetch's --stats, were 10.5 MB of a 268 MB heap at
 * N = 3,000 (BENCHMARKS.md `## scale`). One for every swarm; it keeps nothing.
 */
export const UNKEPT: Set<string> = new (class extends Set<string> { override add (_id: string): this { return this } })()

export class SimNet {
  readonly hosts = new Map<string, Host>()
  /** incoming connections a host accepts at once (pc-fetch's limit) */
  maxIncoming = MAX_CONNECTIONS
  pieceBytesSent = 0
  pieceBytesDelivered = 0
  pieceBytesInFlight = 0
  /** messages sent, by type; pieces that arrived still asked for, and after their request was gone */
  readonly sent: Record<string, number> = {}
  piecesWanted = 0
  piecesUnwanted = 0
  /** dials refused because the far host held its `maxIncoming` connections already */
  refusedFull = 0
  /** incoming connections dropped to make room for a dial at that limit (fetcher.ts yieldingConnection) */
  yielded = 0
  /** connections dialled (each a link, and one more at the far end when it accepts) */
  linksMade = 0
  private nextPort = 40000
  /** incoming connections whose handshake has not come yet, and what takes them when it does (SimLink.take) */
  readonly awaiting = new Map<SimLink, { attach: (p: PeerLink) => void }>()
  /** the shard this network is one of (shard.ts): a host another shard runs is dialled through it */
  shard?: Shard
  /** this shard's ends of the links whose far end another shard runs, by the pair's number */
  readonly cross = new Map<number, SimLink>()

  constructor (readonly clock: SimClock, readonly rng: Rng) {}

  /** the host of a sim address (an address object of its own, or one made of the same host and port) */
  hostOf (a: PeerAddress): Host | undefined { return this.byAddr.get(a) ?? this.hosts.get(`${a.host}:${a.port}`) }

  add (h: Host): void { this.hosts.set(h.key, h); this.byAddr.set(h.addr, h) }

  /**
   * The hosts by their own address object, which the tracker's answers and most PEX lists
   * hand on: a dial looked its host up by a string made for it, hashed and compared, 0.9 %
   * of audio N = 3,000, 20 peers (other address objects are still looked up so).
   */
  private readonly byAddr = new Map<PeerAddress, Host>()

  /**
   * A transfer of `len` bytes reaches `dst` from `firstAt` (its first byte) to no earlier
   * than `lastAt` (its last byte, at the sender's pace); the receiver's downlink takes
   * the bytes in the order they start arriving (a FIFO share of its capacity), so the
   * accounting waits until the first byte is there: a transfer still queued at a busy
   * sender holds no place at the receiver meanwhile. It takes the downlink for its bytes'
   * worth of time, not for as long as a slow sender trickles them: a listener on a
   * 680 Mbit/s line sent a chunk by a 0.25 Mbit/s one had every other chunk held back
   * behind it for 4 s. `done(at)`: when it is all in.
   */
  receive (dst: Host, firstAt: number, lastAt: number, len: number, rttMs: number, loss: number, done: (at: number) => void): void {
    this.clock.setTimeout(() => {
      const now = this.clock.now()
      dst.downBusy = Math.max(now, dst.downBusy) + len / dst.spec.downBytesPerMs
      const at = Math.max(lastAt, dst.downBusy)
      done(at + this.lossDelay(len, rttMs, loss))
    }, firstAt - this.clock.now())
  }

  /** Extra delay of a transfer of `bytes` when each segment is lost with `p`: one RTT per loss. */
  lossDelay (bytes: number, rttMs: number, p: number): number {
    if (p <= 0) return 0
    const lost = this.rng.poisson(p * Math.ceil(bytes / SEGMENT_BYTES))
    return lost * rttMs
  }

  /** The `connect` of the swarm on `from`; with `item` (an info-hash in hex), to the far host's swarm of that item (Host.swarms). */
  connector (from: Host, item?: string): (to: PeerAddress) => PeerLink {
    return (to) => {
      const there = this.byAddr.get(to) ?? this.hosts.get(`${to.host}:${to.port}`)
      this.linksMade++
      const a = new SimLink(this, true, there?.key ?? `${to.host}:${to.port}`, from)
      const rtt = (from.spec.rttMs + (there?.spec.rttMs ?? from.spec.rttMs)) / 2
      // another shard's host decides there, at once, as below (accept); meanwhile what is sent goes to it
      const sh = this.shard
      if (sh !== undefined && there !== undefined && !sh.mine(there)) {
        if (item !== undefined) throw new Error('a sharded run has one item')
        a.other = new RemoteEnd(sh.dial(from, there, rtt), there, a)
        this.cross.set(a.other.pair, a)
        return a
      }
      // behind a NAT the SYN is dropped: no answer, the handshake times out; gone: refused
      const sw = item === undefined ? there?.swarm : there?.swarms?.get(item)
      const into = there?.bt ?? there?.live ?? sw
      if (!there || !there.online || !into || (there.live ?? sw)?.closed) { this.clock.schedule(new LinkTimer(a), rtt); return a }
      if (there.spec.nat) { this.clock.schedule(new LinkTimer(a, 'no handshake'), HANDSHAKE_TIMEOUT_MS); return a }
      if (there.incoming >= this.maxIncoming) {
        // as pc-fetch does at its limit: an idle connection of a swarm holding its item gives way (fetcher.ts)
        const idle = sw && into === sw ? yieldingConnection(there.swarms?.values() ?? [], sw) : undefined
        if (!idle) { this.refusedFull++; this.clock.schedule(new LinkTimer(a), rtt); return a }
        idle.drop('making room for a swarm still fetching')
        this.yielded++
      }
      there.incoming++
      const b = new SimLink(this, false, this.nextPort++, there)
      a.other = b
      b.other = a
      // as pc-fetch does with an incoming connection: to its swarm once the handshake is in (SimLink.take)
      this.awaiting.set(b, into)
      return a
    }
  }

  /**
   * A dial from another shard's host `from` to ours, `there`, made at this shard's last step
   * (Shard.exchange): decided as a dial between two of ours is (connector). What it
   * answers: 'refused' (the dialler's end closes an RTT after the dial), 'nat' (its
   * handshake times out), or 'accepted'.
   */
  accept (pair: number, from: Host, there: Host): 'refused' | 'nat' | 'accepted' {
    const sw = there.swarm
    const into = there.bt ?? there.live ?? sw
    if (!there.online || !into || (there.live ?? sw)?.closed) return 'refused'
    if (there.spec.nat) return 'nat'
    if (there.incoming >= this.maxIncoming) {
      const idle = sw && into === sw ? yieldingConnection(there.swarms?.values() ?? [], sw) : undefined
      if (!idle) { this.refusedFull++; return 'refused' }
      idle.drop('making room for a swarm still fetching')
      this.yielded++
    }
    there.incoming++
    const b = new SimLink(this, false, this.nextPort++, there)
    b.other = new RemoteEnd(pair, from, b)
    this.cross.set(pair, b)
    this.awaiting.set(b, into)
    return 'accepted'
  }

  /** Link `l` closes at `at` (no sooner than now); with `why`, it is dropped with that reason. */
  closeAt (l: SimLink, at: number, why?: string): void { this.clock.schedule(new LinkTimer(l, why), Math.max(0, at - this.clock.now())) }

  /** The host leaves: with `goodbye` (pc-fetch closing), or vanishing (power, network) without a word. */
  async leave (h: Host, goodbye: boolean): Promise<void> {
    h.online = false
    if (!goodbye) h.vanished = true
    h.live?.close(goodbye)
    await Promise.all([h.swarm, ...(h.swarms?.values() ?? [])].map(async s => await s?.close(goodbye, goodbye ? 2000 : 0)))
  }
}

/** The web server: a bounded upload shared by every request (FIFO), counting what it sends. */
export class SimOrigin {
  bytesSent = 0
  requests = 0
  /** copies of each chunk of `chunks` sent (fetchChunks), and when each copy after the first went (ms) */
  readonly copies: number[]
  readonly extraAt: number[] = []
  /** when each copy of each chunk went (a sharded run's shards' copies are put together: scenario.ts tally) */
  readonly copyAt: number[][]
  private busy = 0
  /** the upload's time taken by what this shard sent since the last step (Shard): the other shards queue behind it */
  sentMs = 0
  constructor (readonly clock: SimClock, readonly net: SimNet, readonly chunks: Buffer[], readonly upBytesPerMs: number, readonly rttMs: number) {
    this.copies = new Array<number>(chunks.length).fill(0)
    this.copyAt = chunks.map(() => [])
  }

  /** Another shard's origin sent for `ms` of its upload: what we send next queues behind it (one upload for all). */
  queueBehind (ms: number): void { this.busy = Math.max(this.busy, this.clock.now()) + ms }

  /** Send `len` bytes to `to`, queued behind what the origin is already sending; resolves when they are all in. */
  transfer (to: Host, len: number): Promise<void> {
    const now = this.clock.now()
    const ow = (this.rttMs + to.spec.rttMs) / 4
    const sent = Math.max(now, this.busy) + len / this.upBytesPerMs
    this.busy = sent
    this.sentMs += len / this.upBytesPerMs
    return new Promise(resolve => {
      this.net.receive(to, sent - len / this.upBytesPerMs + ow, sent + ow, len, 2 * ow, to.spec.loss, (at) => {
        this.clock.setTimeout(resolve, at - this.clock.now())
      })
    })
  }

  /** Send `len` bytes of a file (a live chunk, a claim, a manifest) to `to`: one request, its answer once all in. */
  async send (to: Host, len: number): Promise<void> {
    this.requests++
    await new Promise<void>(resolve => { this.clock.setTimeout(resolve, (this.rttMs + to.spec.rttMs) / 4) })
    await this.transfer(to, len)
    if (!to.online) return
    this.bytesSent += len
    to.bytesReceived += len
  }

  /** What `h` asks the server for; `chunks` for another item than the one it was made with (the day's scenario: one server, several items). */
  source (h: Host, chunks = this.chunks): OriginSource { return new SimSource(this, h, chunks) }

  /** Plain HTTP: one listener reads the whole item from `from` chunk by chunk; `got` as each arrives. */
  async stream (h: Host, from: number, got: (i: number) => void): Promise<void> {
    const sleep = (ms: number): Promise<void> => new Promise(resolve => { this.clock.setTimeout(resolve, ms) })
    this.requests++
    await sleep((this.rttMs + h.spec.rttMs) / 2)
    for (let i = from; i < this.chunks.length; i++) {
      await this.transfer(h, this.chunks[i].length)
      if (!h.online) return
      this.bytesSent += this.chunks[i].length
      h.bytesReceived += this.chunks[i].length
      got(i)
    }
  }
}

/**
 * What one host asks the web server for (SimOrigin.source): an object of its own, where
 * three closures, a fourth for its sleeps, their context and the object holding them were
 * ~400 bytes of every listener.
 */
class SimSource implements OriginSource {
  constructor (private readonly o: SimOrigin, private readonly h: Host, private readonly chunks: Buffer[]) {}

  async fetchChunks (first: number, count: number, _cs: number, _size: number, sink: ChunkSink, counter: { bytes: number }, signal?: AbortSignal, received?: () => void): Promise<void> {
    const { o, h, chunks } = this
    o.requests++
    // the request travels one way before the server starts sending
    await new Promise<void>(resolve => { o.clock.setTimeout(resolve, (o.rttMs + h.spec.rttMs) / 4) })
    for (let i = first; i < first + count && i < chunks.length; i++) {
      // an aborted request (the client closed the connection) sends no further chunk
      if (signal?.aborted) break
      const chunk = chunks[i]
      await o.transfer(h, chunk.length)
      if (!h.online) return
      o.bytesSent += chunk.length
      if (chunks === o.chunks) { if (o.copies[i]++ > 0) o.extraAt.push(o.clock.now()); o.copyAt[i].push(o.clock.now()) }
      h.bytesReceived += chunk.length
      counter.bytes += chunk.length
      await sink(i, chunk)
    }
    received?.()
  }

  async fetchSequential (): Promise<void> { throw new Error('the simulated origin answers ranges') }
  close (): void {}
}

/** The tracker: answers an announce with up to `numwant` random peers of the swarm (BEP 3). */
export class SimTracker {
  private readonly addrs: PeerAddress[] = []
  private readonly where = new Map<string, number>()
  announces = 0
  /** what announceHost's listeners asked of it: each request (stopped ones too) by simulated second, and per host */
  private readonly perSecond: number[] = []
  private readonly perHost = new Map<string, number>()
  constructor (readonly rng: Rng, readonly numwant = 50) {}

  /** The load announceHost's listeners put on it: requests, hosts, per host mean and max, and the busiest second. */
  load (): { requests: number, hosts: number, perHostMean: number, perHostMax: number, peakPerSecond: number, peakAtS: number } {
    let requests = 0
    let max = 0
    for (const n of this.perHost.values()) { requests += n; max = Math.max(max, n) }
    let peak = 0
    let at = 0
    this.perSecond.forEach((n, s) => { if (n > peak) { peak = n; at = s } })
    return { requests, hosts: this.perHost.size, perHostMean: requests / Math.max(1, this.perHost.size), perHostMax: max, peakPerSecond: peak, peakAtS: at }
  }

  announce (a: PeerAddress): PeerAddress[] {
    this.announces++
    const out: PeerAddress[] = []
    const n = this.addrs.length
    if (n <= this.numwant) out.push(...this.addrs)
    else {
      const seen = new Set<number>()
      while (out.length < this.numwant) {
        const k = Math.floor(this.rng.next() * n)
        if (!seen.has(k)) { seen.add(k); out.push(this.addrs[k]) }
      }
    }
    this.add(a)
    return out
  }

  /**
   * `a` is in the list (an announce here, or one to another shard's copy of the tracker,
   * told at a step: Shard); `mirror` tells the other shards of an announce made here.
   */
  add (a: PeerAddress, told = false): void {
    const key = `${a.host}:${a.port}`
    if (this.where.has(key)) return
    this.where.set(key, this.addrs.length)
    this.addrs.push(a)
    if (!told) this.mirror?.(true, a)
  }

  /** a sharded run's other copies of the tracker (Shard), told of each address added or taken out here */
  mirror?: (added: boolean, a: PeerAddress) => void

  /**
   * What lib/swarm/announce.ts's Announcer needs to announce host h here: the answer after
   * one RTT, with pc-tracker's interval and min interval. A host that went away without
   * goodbye announces nothing more (its process is gone: the loop stops there).
   */
  announceHost (h: Host, clock: SimClock): AnnounceHost {
    const never = new Promise<AnnounceResult>(() => {})
    const announce = async (p: AnnounceParams): Promise<AnnounceResult> => {
      if (!h.online && p.event !== 'stopped') return await never
      await sleepOn(clock, h.spec.rttMs)
      const s = Math.floor(clock.now() / 1000)
      this.perSecond[s] = (this.perSecond[s] ?? 0) + 1
      this.perHost.set(h.key, (this.perHost.get(h.key) ?? 0) + 1)
      if (p.event === 'stopped') { this.stopped(h.addr); return { interval: DEFAULT_INTERVAL_S, peers: [] } }
      if (!h.online) return await never
      const peers = this.announce(h.addr)
      // pc-tracker counts every listener of the swarm, this one included (complete + incomplete)
      return { interval: DEFAULT_INTERVAL_S, minInterval: minIntervalS(DEFAULT_INTERVAL_S, peers.length, this.numwant), incomplete: this.addrs.length, peers }
    }
    return { port: h.addr.port, io: { warn: () => {}, info: () => {} }, clock, announce }
  }

  stopped (a: PeerAddress, told = false): void {
    const key = `${a.host}:${a.port}`
    const k = this.where.get(key)
    if (k === undefined) return
    if (!told) this.mirror?.(false, a)
    const last = this.addrs.pop()!
    this.where.delete(key)
    if (k < this.addrs.length) { this.addrs[k] = last; this.where.set(`${last.host}:${last.port}`, k) }
  }
}
