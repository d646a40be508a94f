// One peer as the swarm sees it: a message-level link (handshake, then BITFIELD, HAVE,
// REQUEST, CANCEL, PIECE, … as in pc-wire(7)) plus what the swarm keeps about the peer
// (its bitfield, our requests in flight to it, its requests to us, its rate). The
// transport is the subclass: Peer (wire.ts over a TCP socket) or a simulated link.
//
// A transport implements the abstract members and, for everything it receives, calls
// received() (which emits 'handshake' or 'message'); when the connection ends it calls
// ended() (which emits 'close' once). drop() closes with a reason ('dropped' is emitted first).
import { getBit, setBit, type Handshake, type LivePiece, type Message, type PeerAddress } from './wire.js'
import { peerKey } from './picker.js'

/** requests a peer may have outstanding with us; more is a flood and drops it */
export const MAX_PEER_REQUESTS = 64

/**
 * A line's pace from the pieces arriving over it: pipelined pieces come one after another,
 * so the gap between them (or since the ask, when there was none before) is the pace.
 * Bytes per ms, smoothed; 0 before the first piece.
 *
 * It also keeps what a link holds once it carries traffic or is dropped, made at the first
 * request either way, piece, strike, miss or drop: most links never do (bench/sim, N = 3,000
 * at 20 s: requests on 25,000 of 402,000 links), and four fields of every link for them
 * were 32 of its 168 bytes.
 */
export class Pace {
  value = 0
  /** the link's request-to-piece rate (PeerLink.rate), kept here with its pace */
  rate = 0
  /** the link's PeerLink.bytesDelivered and .strikes, kept here too: most links never carry a piece nor miss one (two number fields of every link) */
  bytesDelivered = 0
  strikes = 0
  /** PeerLink's inflight, wanted, missed and dropped */
  asks?: Map<number, number> = undefined
  wants?: number[] = undefined
  misses?: Misses = undefined
  dropped?: string = undefined
  /** the last piece's time; none before the first (-Infinity there was a number object of every pace) */
  private last?: number = undefined
  /**
   * Whether it holds nothing a link would not show without one (every getter's default):
   * then the link lets it go (PeerLink.dropIfIdle). Most are made by a peer's request to us and
   * hold nothing once it is served (bench/sim audio, N = 10,000, 20 peers, at 45 s: 267,000
   * of 340,000, each 96 bytes and two boxed numbers, 8 % of a 401 MiB heap).
   */
  get idle (): boolean {
    return this.value === 0 && this.rate === 0 && this.bytesDelivered === 0 && this.strikes === 0 && this.last === undefined &&
      this.asks === undefined && this.wants === undefined && this.misses === undefined && this.dropped === undefined
  }

  arrived (bytes: number, askedAt: number, now: number): void {
    const t = bytes / Math.max(1, now - Math.max(askedAt, this.last ?? -Infinity))
    this.last = now
    this.value = this.value === 0 ? t : this.value * 0.7 + t * 0.3
  }
}

/** what a link can receive: a handshake or a message */
export type Incoming = { type: 'handshake', handshake: Handshake } | Message

/**
 * What a link shows for its requests (or misses) before it has any: one empty map (set)
 * shared by all, that refuses additions (made through ask() and miss(), which give the
 * link its own). A swarm of a hundred thousand links carries requests on few of them
 * (bench/sim, N = 300: 14,000 requests over 38,000 links), and an empty Map and Set
 * cost ~450 bytes a link, a fifth of what the simulator kept per link.
 */
class NoAsks extends Map<number, number> {
  override set (): this { throw new Error('PeerLink.inflight: add through ask()') }
}
/**
 * A link's misses (PeerLink.missed): chunks 0 to 30 as bits of one integer, any other in a
 * Set made for it. A Set of its own was 152 bytes of every link with a miss not yet
 * forgiven (bench/sim audio, N = 10,000, 20 peers, at 25 s: 83,000 of them, 12 MiB of a
 * 411 MiB heap); this is 48. What the swarm reads of it is a Set's (has, delete, size);
 * it iterates in the order of the chunks, then the others in the order added.
 */
export class Misses {
  private bits = 0
  private more?: Set<number> = undefined
  size = 0
  has (i: number): boolean { return Misses.small(i) ? (this.bits & (1 << i)) !== 0 : this.more?.has(i) === true }
  add (i: number): this {
    if (this.has(i)) return this
    if (Misses.small(i)) this.bits |= 1 << i; else (this.more ??= new Set()).add(i)
    this.size++
    return this
  }

  delete (i: number): boolean {
    if (!this.has(i)) return false
    if (Misses.small(i)) this.bits &= ~(1 << i); else this.more!.delete(i)
    this.size--
    return true
  }

  * [Symbol.iterator] (): IterableIterator<number> {
    for (let i = 0; i < 31; i++) if ((this.bits & (1 << i)) !== 0) yield i
    if (this.more) yield * this.more
  }

  private static small (i: number): boolean { return i >= 0 && i < 31 && (i | 0) === i }
}

class NoMisses extends Misses {
  override add (): this { throw new Error('PeerLink.missed: add through miss()') }
}
const NO_ASKS: Map<number, number> = new NoAsks()
/** a link's bitfield before it is sized: a Uint8Array and its buffer were ~200 bytes a link, on the third of them that never handshake (a dial to a host behind a NAT) */
const NO_BITS = new Uint8Array(0)

/**
 * Links' bitfields, BITS_PER_SLAB of them to one buffer: a bitfield of its own was a
 * Uint8Array, an ArrayBuffer and its bytes, ~210 bytes for the 4 bytes of a 30-chunk item
 * (bench/sim, N = 300 at 20 s: 28,000 of them); a view on a shared buffer is ~100. A buffer
 * lives while one of its links' bitfields does, so a slab holds few.
 */
const BITS_PER_SLAB = 64
let slab = new ArrayBuffer(0)
let slabUsed = 0
/** a zeroed bitfield of `n` bytes */
function slabBits (n: number): Uint8Array {
  if (slabUsed + n > slab.byteLength) { slab = new ArrayBuffer(n * BITS_PER_SLAB); slabUsed = 0 }
  const b = new Uint8Array(slab, slabUsed, n)
  slabUsed += n
  return b
}

/** PeerLink's flags (booleans in one field: six were 48 bytes of every link) */
const SERVING = 1
const CLOSED = 2
const GOODBYE = 4
const FAULT = 8
/** its bitfield is a slab's (slabBits), not one assigned from outside */
const SLAB = 16
/**
 * A sized bitfield of at most WORD_BYTES bytes (an item of up to 32 chunks) is kept in the
 * link's field itself, as one integer (its bytes big-endian: byte 0 the top), and its
 * length in bytes in the flags: a view on a slab was a 96-byte object of every link that
 * handshook, plus its share of the slab (bench/sim audio, N = 10,000, 20 peers, at 25 s:
 * 603,000 views, 55 MiB and 13 MiB of slabs of a 526 MiB heap).
 */
const WORD_BYTES = 4
const WORD_LEN_SHIFT = 11
const WORD_LEN = 7 << WORD_LEN_SHIFT
/** bit i of a word bitfield (0 for an i out of it, which no bit answers, as a byte out of a Uint8Array) */
function wordBit (i: number): number { return i >= 0 && i < 32 ? 0x80000000 >>> i : 0 }
/** the first n (at most WORD_BYTES) bytes of `b` as a word */
function toWord (b: Uint8Array, n: number): number {
  let w = 0
  for (let k = 0; k < n && k < b.length; k++) w |= b[k] << (24 - 8 * k)
  return w
}
/** the peer said its list of addresses is full (PEXFULL): it is sent no PEX */
const PEX_OFF = 256
/** we told the peer our list is full, and not yet that it has room again */
const TOLD_FULL = 512
/** our handshake to the peer said our list is full (its flag), and no message has said otherwise since */
const TOLD_FULL_HS = 1024
/** for the transport's own (SimLink) */
export const LINK_FLAG_0 = 32
export const LINK_FLAG_1 = 64
export const LINK_FLAG_2 = 128
const NO_MISSES: Misses = new NoMisses()
/** a link's requests to us before it has any: one empty array for all, frozen (a push there throws; add through want()) */
const NO_WANTS: number[] = Object.freeze([]) as unknown as number[]

/**
 * A peer id in hex, one string per id buffer: every link to a peer (a swarm's links to
 * ~100 peers, each peer's id read from its own handshake) otherwise kept its own copy.
 */
const hexIds = new WeakMap<Buffer, string>()
function hexOf (id: Buffer): string {
  let x = hexIds.get(id)
  if (x === undefined) { x = id.toString('hex'); hexIds.set(id, x) }
  return x
}

type Listener = (...args: any[]) => void
/** an owner's listeners by event (LinkEvents.adopt) */
export type OwnerListeners = Partial<Record<string, Listener>>
/** a listener added with once(): called at most once, removed before it is called */
interface Once { fn: Listener, fired: boolean }

/**
 * The events of a link ('handshake', 'message', 'dropped', 'close') with EventEmitter's
 * rules for what is used of it (on, once, off, emit): listeners are called in the order
 * they were added, with `this` the link; an emit calls the listeners there when it began,
 * even one removed meanwhile; a once listener is removed before it is called; off removes
 * the last one added of that function; an 'error' with no listener throws. Kept in one
 * array made at the first listener, where EventEmitter kept a dictionary object per link
 * (~280 bytes) and a bound wrapper and its state per once: a simulated audience of
 * 100,000 holds ~100 links per listener.
 */
export class LinkEvents {
  /** event name, then the function or its Once, for each listener in the order added */
  protected ls?: Array<string | Listener | Once>
  /** the owner's listeners (adopt), called after the others */
  protected owner?: OwnerListeners

  /**
   * Listen with one object for every event it names, shared by all the links of an owner
   * (Members: message, handshake, dropped, close), instead of a listener each on every
   * link: its functions are called after the listeners added with on and once, however
   * late it was adopted, as if added last (an emit under way when it is adopted does not
   * call it). Its four entries were a fifth of a link's memory in the simulator (bench/sim).
   */
  adopt (owner: OwnerListeners): this { this.owner = owner; return this }

  on (event: string, fn: Listener): this { this.add(event, fn); return this }
  addListener (event: string, fn: Listener): this { return this.on(event, fn) }
  once (event: string, fn: Listener): this { this.add(event, { fn, fired: false }); return this }

  /**
   * A new list one entry longer, of its exact length: a push grew it to 19 slots at the
   * first listener (V8's growth), where a link has 4 to 6 listeners (~70 bytes a link).
   */
  private add (event: string, x: Listener | Once): void {
    const ls = this.ls
    if (ls === undefined) { this.ls = [event, x]; return }
    const n = ls.length
    const out = new Array<string | Listener | Once>(n + 2)
    for (let k = 0; k < n; k++) out[k] = ls[k]
    out[n] = event
    out[n + 1] = x
    this.ls = out
  }

  off (event: string, fn: Listener): this {
    const ls = this.ls
    if (!ls) return this
    for (let k = ls.length - 2; k >= 0; k -= 2) {
      const x = ls[k + 1]
      if (ls[k] === event && (x === fn || (typeof x === 'object' && x.fn === fn))) { ls.splice(k, 2); break }
    }
    return this
  }

  removeListener (event: string, fn: Listener): this { return this.off(event, fn) }

  emit (event: string, ...args: any[]): boolean {
    if (args.length === 1) return this.emit1(event, args[0])
    return this.emitAll(event, args)
  }

  /**
   * emit() with one argument, without an array for it: a link's every message comes
   * through here. What the listener sees is the same (`this`, one argument).
   */
  protected emit1 (event: string, arg: unknown): boolean {
    const ls = this.ls
    const own = this.owner?.[event]
    if (ls) {
      let k = 0
      while (k < ls.length && ls[k] !== event) k += 2
      if (k < ls.length) {
        let j = k + 2
        while (j < ls.length && ls[j] !== event) j += 2
        if (j < ls.length) return this.emitAll(event, [arg], own)
        // the only listener: called as emit would, with nothing to keep a list of
        const x = ls[k + 1] as Listener | Once
        if (typeof x === 'function') x.call(this, arg); else this.call(x, [arg])
        if (own !== undefined) own.call(this, arg)
        return true
      }
    }
    if (own !== undefined) { own.call(this, arg); return true }
    return this.emitAll(event, [arg], own)
  }

  private emitAll (event: string, args: any[], own = this.owner?.[event]): boolean {
    const ls = this.ls
    let first: Listener | Once | undefined
    let more: Array<Listener | Once> | undefined
    if (ls) {
      for (let k = 0; k < ls.length; k += 2) {
        if (ls[k] !== event) continue
        const x = ls[k + 1] as Listener | Once
        if (first === undefined) first = x; else (more ??= [first]).push(x)
      }
    }
    if (first === undefined) {
      if (own !== undefined) { own.apply(this, args); return true }
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(`unhandled 'error' event (${String(args[0])})`)
      return false
    }
    if (more === undefined) this.call(first, args)
    else for (const x of more) this.call(x, args)
    if (own !== undefined) own.apply(this, args)
    return true
  }

  private call (x: Listener | Once, args: any[]): void {
    if (typeof x === 'function') { x.apply(this, args); return }
    if (x.fired) return
    x.fired = true
    const ls = this.ls!
    for (let k = ls.length - 1; k > 0; k -= 2) if (ls[k] === x) { ls.splice(k - 1, 2); break }
    x.fn.apply(this, args)
  }
}

export abstract class PeerLink extends LinkEvents {
  /** the remote's handshake, once it came; its designation key (`key`) is worked out when it is set */
  get remote (): Handshake | undefined { return this.remoteValue }
  set remote (h: Handshake | undefined) { this.remoteValue = h; this.keyValue = h ? peerKey(h.peerId) | 0 : 0 }
  private remoteValue?: Handshake = undefined
  /**
   * What the swarm's Members keep with a connection they dialled (its known address's
   * state) until it closes: a map from each such link to it was ~40 bytes an outgoing
   * link (bench/sim, N = 3,000 at 20 s: 15.7 MB of a 293 MB heap), this field is 8.
   */
  dialled?: object = undefined
  /**
   * the remote's bitfield, sized once the swarm knows the chunk count (until then one empty
   * array for all links, never written); of an item of up to 32 chunks, a copy (WORD_BYTES):
   * read it with has(), holdsAny() and sized, write it with markHave()
   */
  get bits (): Uint8Array {
    const b = this.bitsValue
    if (typeof b !== 'number') return b
    // a word (WORD_BYTES): its bytes, a copy
    const n = this.bitBytes
    const out = new Uint8Array(n)
    for (let k = 0; k < n; k++) out[k] = (b >>> (24 - 8 * k)) & 0xff
    return out
  }

  set bits (b: Uint8Array) { this.bitsValue = b; this.flags &= ~(SLAB | WORD_LEN) }
  /** a Uint8Array, or a word of up to WORD_BYTES bytes, its length in the flags */
  private bitsValue: Uint8Array | number = NO_BITS
  /** the bitfield's length in bytes */
  private get bitBytes (): number {
    const b = this.bitsValue
    return typeof b === 'number' ? (this.flags & WORD_LEN) >>> WORD_LEN_SHIFT : b.length
  }

  /** whether it has been sized (or a BITFIELD gave it bits): its bitfield is not empty */
  get sized (): boolean { return this.bitBytes > 0 }

  /** whether it holds one of the chunks of `mask` (a bitfield's bytes: picker.ts ChunkMask) */
  holdsAny (mask: number[]): boolean {
    const b = this.bitsValue
    if (typeof b !== 'number') {
      const n = Math.min(mask.length, b.length)
      for (let k = 0; k < n; k++) if ((mask[k] & b[k]) !== 0) return true
      return false
    }
    const n = Math.min(mask.length, this.bitBytes)
    for (let k = 0; k < n; k++) if ((mask[k] & (b >>> (24 - 8 * k))) !== 0) return true
    return false
  }
  /** SERVING, CLOSED, … and the transport's LINK_FLAG_0 and _1 */
  protected flags = 0
  held = 0
  /**
   * our requests to it: index → time sent (on the swarm's clock); add with ask(). A map
   * found empty is let go (the shared empty one stands for it until the next ask), and so
   * are `wanted` and `missed` found empty: made at a link's first request, each stayed
   * with it, empty most of the time (bench/sim audio, N = 10,000, 20 peers, at 25 s:
   * 130,000 maps, 100,000 sets and 130,000 arrays, 45 MiB of a 526 MiB heap).
   */
  get inflight (): Map<number, number> {
    const t = this.pace
    const a = t?.asks
    if (a === undefined) return NO_ASKS
    if (a.size === 0) { t!.asks = undefined; this.dropIfIdle(t!); return NO_ASKS }
    return a
  }

  /**
   * its requests to us, in order (add with want()): an empty array of its own was 32 bytes
   * of every link, where most links never carry a request (bench/sim)
   */
  get wanted (): number[] {
    const t = this.pace
    const w = t?.wants
    if (w === undefined) return NO_WANTS
    if (w.length === 0) { t!.wants = undefined; this.dropIfIdle(t!); return NO_WANTS }
    return w
  }

  /** bytes it delivered to us (kept with the pace, made at the first piece or strike) */
  get bytesDelivered (): number { return this.pace ? this.pace.bytesDelivered : 0 }
  set bytesDelivered (n: number) { if (this.pace || n !== 0) (this.pace ??= new Pace()).bytesDelivered = n }
  /** delivered bytes per ms of each request's wait (request to piece), smoothed: ranks peers (kept with the pace: a number field of every link was a boxed double of its own) */
  get rate (): number { return this.pace ? this.pace.rate : 0 }
  set rate (r: number) { if (this.pace || r !== 0) (this.pace ??= new Pace()).rate = r }
  /** made at the first request (either way), piece, strike, miss or drop: most links never carry one (bench/sim, N = 300: 14,000 requests over ~38,000 links); let go when it holds nothing again (dropIfIdle) */
  private pace?: Pace
  /** Lets the pace go when it holds nothing (Pace.idle): its maps, list and misses are let go when found empty, and then it may be too. */
  private dropIfIdle (t: Pace): void { if (t.idle) this.pace = undefined }
  /** bytes per ms the link carries to us (each piece over the time since the later of its request and the piece before), smoothed; 0 until one arrives */
  get throughput (): number { return this.pace ? this.pace.value : 0 }
  /** requests that ran past the deadline, less one per chunk delivered (kept with the pace) */
  get strikes (): number { return this.pace ? this.pace.strikes : 0 }
  set strikes (n: number) { if (this.pace || n !== 0) (this.pace ??= new Pace()).strikes = n }
  /** chunks it did not deliver in time: not asked of it again; add with miss() (one found empty is let go, as inflight) */
  get missed (): Misses {
    const t = this.pace
    const m = t?.misses
    if (m === undefined) return NO_MISSES
    if (m.size === 0) { t!.misses = undefined; this.dropIfIdle(t!); return NO_MISSES }
    return m
  }

  /** a serve loop is running for its requests */
  get serving (): boolean { return (this.flags & SERVING) !== 0 }
  set serving (v: boolean) { this.flag(SERVING, v) }
  get closed (): boolean { return (this.flags & CLOSED) !== 0 }
  set closed (v: boolean) { this.flag(CLOSED, v) }
  get goodbye (): boolean { return (this.flags & GOODBYE) !== 0 }
  set goodbye (v: boolean) { this.flag(GOODBYE, v) }
  /** why drop() closed it, if it did */
  get dropped (): string | undefined { return this.pace?.dropped }
  set dropped (why: string | undefined) { if (this.pace || why !== undefined) (this.pace ??= new Pace()).dropped = why }
  /** the peer said its list of addresses is full (PEXFULL 1, until a PEXFULL 0): a PEX tells it nothing */
  get pexOff (): boolean { return (this.flags & PEX_OFF) !== 0 }
  set pexOff (v: boolean) { this.flag(PEX_OFF, v) }
  /** we told the peer our list is full (Members), and not yet that it has room again */
  get toldFull (): boolean { return (this.flags & TOLD_FULL) !== 0 }
  set toldFull (v: boolean) { this.flag(TOLD_FULL, v) }
  /**
   * our handshake told the peer our list is full (Members), and not yet that it has room:
   * apart from toldFull, as a peer that reads no handshake flags still sends PEX and is
   * answered PEXFULL 1 once
   */
  get toldFullInHandshake (): boolean { return (this.flags & TOLD_FULL_HS) !== 0 }
  set toldFullInHandshake (v: boolean) { this.flag(TOLD_FULL_HS, v) }
  /** drop() closed it for breaking the protocol (a malformed message, a flood of requests) */
  get fault (): boolean { return (this.flags & FAULT) !== 0 }
  set fault (v: boolean) { this.flag(FAULT, v) }
  protected flag (f: number, v: boolean): void { this.flags = v ? this.flags | f : this.flags & ~f }

  /** whether we opened the connection */
  abstract readonly outgoing: boolean
  /** host:port of the connection, for messages and bans */
  abstract readonly address: string
  /** the host:port it accepts connections on, when it told us one */
  abstract get listenAddress (): PeerAddress | undefined
  /** sent once; later calls do nothing */
  abstract sendHandshake (h: Handshake): void
  /** false when the link is closed or its buffer is full */
  abstract send (m: Message): boolean
  /** Send a chunk; resolves when the link can take more (or has closed). */
  abstract sendPiece (index: number, data: Buffer): Promise<void>
  /** Send a live chunk with its claim; resolves when the link can take more. */
  async sendLivePiece (m: LivePiece): Promise<void> { this.send(m) }
  /** Close after what was sent has gone out (leaving politely). */
  abstract end (): void
  /** Close at once; ends with ended(). */
  protected abstract destroy (): void
  /** the largest message accepted from now on (a transport with no limit ignores it) */
  setMaxMessage (_n: number): void {}

  /** the remote's peer id in hex, one string per id (hexOf) */
  get id (): string { return this.remote ? hexOf(this.remote.peerId) : '' }

  /** the designation key of its peer id (picker.ts peerKey), worked out once a handshake (a field that kept the handshake it was worked out for was 8 bytes a link) */
  get key (): number { return this.keyValue >>> 0 }

  /** as a signed 32-bit integer, which V8 keeps in the field itself (an unsigned one above 2^31 was a boxed double) */
  private keyValue = 0

  /** Record our request for chunk i, sent at `at`. */
  ask (i: number, at: number): void { ((this.pace ??= new Pace()).asks ??= new Map()).set(i, at) }
  /** It asks us for chunk i (its REQUEST, kept in `wanted`). */
  want (i: number): void { const t = (this.pace ??= new Pace()); if (t.wants === undefined) t.wants = [i]; else t.wants.push(i) }
  /** Chunk i was not delivered in time: not asked of this peer again. */
  miss (i: number): void { ((this.pace ??= new Pace()).misses ??= new Misses()).add(i) }

  has (i: number): boolean {
    const b = this.bitsValue
    if (typeof b !== 'number') return i < b.length * 8 && getBit(b, i)
    return i < this.bitBytes * 8 && (b & wordBit(i)) !== 0
  }

  /** Size the remote bitfield for `count` chunks (keeping what a BITFIELD already said). */
  sizeFor (count: number): void {
    const n = Math.ceil(count / 8)
    const old = this.bitsValue
    const had = this.bitBytes
    if (had === n) {
      // the same bits (one a BITFIELD gave), moved into a word or a slab
      if (typeof old === 'number') return
      if (n > 0 && n <= WORD_BYTES) this.setWord(toWord(old, n), n)
      else if ((this.flags & SLAB) === 0 && n > 0) { const b = slabBits(n); b.set(old); this.bitsValue = b; this.flags |= SLAB }
      return
    }
    const from = typeof old === 'number' ? this.bits : old
    if (n > 0 && n <= WORD_BYTES) this.setWord(toWord(from, n), n)
    else {
      const b = n > 0 ? slabBits(n) : new Uint8Array(0)
      b.set(from.subarray(0, n))
      this.bitsValue = b
      this.flags = (n > 0 ? this.flags | SLAB : this.flags & ~SLAB) & ~WORD_LEN
    }
    this.held = 0
    for (let i = 0; i < count; i++) if (this.has(i)) this.held++
  }

  private setWord (w: number, n: number): void {
    this.bitsValue = w
    this.flags = (this.flags & ~(SLAB | WORD_LEN)) | (n << WORD_LEN_SHIFT)
  }

  markHave (i: number): boolean {
    const bits = this.bitsValue
    if (typeof bits === 'number') {
      if (i >= this.bitBytes * 8 || (bits & wordBit(i)) !== 0) return false
      this.bitsValue = bits | wordBit(i)
    } else {
      if (i >= bits.length * 8 || getBit(bits, i)) return false
      setBit(bits, i)
    }
    this.held++
    return true
  }

  /** Record a delivery of `bytes` at `now`, asked for at `askedAt`. */
  credit (bytes: number, askedAt: number, now: number): void {
    const pace = (this.pace ??= new Pace())
    pace.bytesDelivered += bytes
    if (pace.strikes > 0) pace.strikes--
    const r = bytes / Math.max(1, now - askedAt)
    pace.rate = pace.rate === 0 ? r : pace.rate * 0.7 + r * 0.3
    pace.arrived(bytes, askedAt, now)
  }

  /**
   * Requests worth having in flight to this peer: what its link delivers within
   * `deadlineMs`, between 1 and `max` (`unknown` before anything arrived). More would
   * only queue at its end and pass their deadline.
   */
  pipeline (deadlineMs: number, chunkBytes: number, max: number, unknown: number): number {
    if (this.throughput === 0) return unknown
    return Math.max(1, Math.min(max, Math.floor(this.throughput * deadlineMs / chunkBytes)))
  }

  /** Close it with a reason; `fault` when the peer broke the protocol (it is then avoided and said without -v). */
  drop (why: string, fault = false): void {
    if (this.closed) return
    this.dropped = why
    this.fault = fault
    this.emit1('dropped', why)
    this.destroy()
    this.ended()
  }

  /** The transport's connection ended. */
  protected ended (): void {
    if (this.closed) return
    this.closed = true
    this.emit('close')
  }

  /** The transport received `m`: keep the remote's requests, then tell the swarm. */
  protected received (m: Incoming): void {
    if (this.closed) return
    if (m.type === 'handshake') {
      this.remote = m.handshake
      // its list of addresses full from the start (the handshake's flag): no PEX, as after a PEXFULL 1
      this.pexOff = m.handshake.pexFull === true
      this.emit1('handshake', m.handshake)
      return
    }
    if (m.type === 'request') {
      if (this.wanted.length >= MAX_PEER_REQUESTS) { this.drop(`more than ${MAX_PEER_REQUESTS} requests outstanding`, true); return }
      this.want(m.index)
    } else if (m.type === 'cancel') {
      const k = this.wanted.indexOf(m.index)
      if (k >= 0) this.wanted.splice(k, 1)
    } else if (m.type === 'goodbye') {
      this.goodbye = true
    }
    // the owner's listener alone (a swarm's Members), called as emit1 calls it, without
    // emit1's lookup of it by the event's name: 0.85 % of audio N = 3,000, 20 peers (bench/sim)
    const own = this.ls === undefined ? this.owner?.message : undefined
    if (own !== undefined) { own.call(this, m); return }
    this.emit1('message', m)
  }
}
