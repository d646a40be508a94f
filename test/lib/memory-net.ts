// A virtual clock and an in-memory network for running real swarms in one process,
// faster than real time: links with a latency and an upload rate per sender, an origin
// with a rate that counts what it sends. The decisions stay in lib/swarm; only the
// transport and time are replaced here (through SwarmClock, PeerLink and OriginSource).
import type { SwarmClock, TimerHandle } from '../../lib/swarm/clock.js'
import { PeerLink, type Incoming } from '../../lib/swarm/link.js'
import type { OriginSource, ChunkSink } from '../../lib/swarm/origin.js'
import type { Handshake, LivePiece, Message, PeerAddress } from '../../lib/swarm/wire.js'

/** what a listening swarm does with a connection whose handshake came in (Swarm, LiveSwarm) */
interface Attachable { attach: (l: PeerLink) => void }

const MAX_TIMERS_AT_ONCE = 100_000

interface Timer { at: number, seq: number, fn: () => void, cancelled: boolean }

/** Time moves only when run() moves it, from one timer to the next. */
export class VirtualClock implements SwarmClock {
  private t = 0
  private seq = 0
  private timers: Timer[] = []
  /** timers fired so far */
  fired = 0

  now (): number { return this.t }
  setTimeout (fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    this.timers.push(timer)
    return timer
  }

  clearTimeout (t: TimerHandle | undefined): void { if (t) (t as Timer).cancelled = true }
  defer (fn: () => void): void { this.setTimeout(fn, 0) }

  /**
   * Fire timers in time order until `until`; between two, let the promises and file
   * I/O they started settle (real time spent there is not counted).
   */
  async run (until: number): Promise<void> {
    let sameTime = 0
    for (;;) {
      await settle()
      this.timers = this.timers.filter(x => !x.cancelled)
      let next: Timer | undefined
      for (const x of this.timers) if (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq)) next = x
      if (!next || next.at > until) { this.t = Math.max(this.t, until); return }
      next.cancelled = true
      sameTime = next.at === this.t ? sameTime + 1 : 0
      // code that keeps re-arming a timer for now would hold virtual time still for ever
      if (sameTime > MAX_TIMERS_AT_ONCE) throw new Error(`more than ${MAX_TIMERS_AT_ONCE} timers at ${this.t} ms: time no longer moves`)
      this.t = next.at
      this.fired++
      next.fn()
    }
  }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve))
}

export interface LinkOptions {
  latencyMs: number
  /** the sender's upload, bytes per ms */
  upBytesPerMs: number
}

/** One end of an in-memory connection. */
export class MemoryLink extends PeerLink {
  other?: MemoryLink
  /** pieces this end sends are lost (a peer that never answers them) */
  readonly withhold = new Set<number>()
  /** pieces this end sent: index list */
  readonly piecesSent: number[] = []
  private handshakeSent = false
  private destroyed = false
  private busyUntil = 0

  constructor (readonly net: MemoryNet, readonly outgoing: boolean, readonly address: string, readonly remoteHost: string, readonly opts: LinkOptions) { super() }

  get listenAddress (): PeerAddress | undefined {
    return this.remote && this.remote.port ? { host: this.remoteHost, port: this.remote.port } : undefined
  }

  sendHandshake (h: Handshake): void {
    if (this.handshakeSent || this.closed) return
    this.handshakeSent = true
    this.deliver({ type: 'handshake', handshake: h }, 0)
  }

  send (m: Message): boolean {
    if (this.closed) return false
    // encoded when sent, as on the wire: the store's bitfield changes afterwards
    this.deliver(m.type === 'bitfield' ? { ...m, bits: Buffer.from(m.bits) } : m, 0)
    return true
  }

  async sendPiece (index: number, data: Buffer): Promise<void> {
    if (this.closed) return
    const c = this.net.clock
    this.busyUntil = Math.max(c.now(), this.busyUntil) + data.length / this.opts.upBytesPerMs
    const copy = Buffer.from(data)
    const wait = this.busyUntil - c.now()
    if (!this.withhold.has(index)) {
      this.piecesSent.push(index)
      this.deliver({ type: 'piece', index, data: copy }, wait)
    }
    await new Promise<void>(resolve => { c.setTimeout(resolve, wait) })
  }

  /** a live chunk is paced by the sender's upload like a PIECE */
  override async sendLivePiece (m: LivePiece): Promise<void> {
    if (this.closed) return
    const c = this.net.clock
    const bytes = m.data.length + (m.header?.length ?? 0) + 150
    this.busyUntil = Math.max(c.now(), this.busyUntil) + bytes / this.opts.upBytesPerMs
    const wait = this.busyUntil - c.now()
    this.piecesSent.push(m.seq)
    this.deliver({ ...m, data: this.forge?.(m) ?? Buffer.from(m.data) }, wait)
    await new Promise<void>(resolve => { c.setTimeout(resolve, wait) })
  }

  /** a liar: the bytes it sends instead of a live chunk's (undefined: the true ones) */
  forge?: (m: LivePiece) => Buffer | undefined

  /** what was sent still arrives, then both ends close */
  end (): void {
    const c = this.net.clock
    c.setTimeout(() => { this.other?.close(); this.close() }, Math.max(0, this.busyUntil - c.now()) + this.opts.latencyMs)
  }

  /** what is in flight is lost; the other end learns of it a latency later */
  protected destroy (): void {
    this.destroyed = true
    const o = this.other
    if (o) this.net.clock.setTimeout(() => o.close(), this.opts.latencyMs)
  }

  /** A message reaches the other end `extraMs` plus the latency from now. */
  private deliver (m: Incoming, extraMs: number): void {
    const o = this.other
    if (!o) return
    this.net.clock.setTimeout(() => { if (!this.destroyed) { this.net.onDeliver?.(o, m); o.take(m) } }, extraMs + this.opts.latencyMs)
  }

  take (m: Incoming): void { this.received(m) }
  close (): void { this.ended() }
}

/** Swarms reachable by address; connect() pairs two links and hands the far one to its swarm. */
export class MemoryNet {
  private readonly listeners = new Map<string, Attachable>()
  private nextPort = 40000
  readonly links: MemoryLink[] = []
  /** sees every message as it reaches the end `to` */
  onDeliver?: (to: MemoryLink, m: Incoming) => void

  constructor (readonly clock: VirtualClock, readonly link: LinkOptions) {}

  listen (addr: PeerAddress, swarm: Attachable): void { this.listeners.set(`${addr.host}:${addr.port}`, swarm) }

  /** The `connect` of the swarm at `from`. */
  connector (from: PeerAddress): (to: PeerAddress) => PeerLink {
    return (to) => {
      const key = `${to.host}:${to.port}`
      const a = new MemoryLink(this, true, key, to.host, this.link)
      const there = this.listeners.get(key)
      if (!there) { this.clock.setTimeout(() => a.close(), this.link.latencyMs); return a }
      const b = new MemoryLink(this, false, `${from.host}:${this.nextPort++}`, from.host, this.link)
      a.other = b
      b.other = a
      this.links.push(a, b)
      // as pc-fetch does with an incoming connection: to its swarm once the handshake is in
      b.once('handshake', () => { if (!b.closed) there.attach(b) })
      return a
    }
  }
}

/** The web server: serves `data` at `bytesPerMs` per request, counts what it sends. */
export class MemoryServer {
  bytesSent = 0
  /** every range asked for: who, when, which chunks */
  readonly requests: Array<{ who: string, at: number, first: number, count: number }> = []
  constructor (readonly clock: VirtualClock, readonly data: Buffer, readonly bytesPerMs: number, readonly latencyMs: number) {}

  /** The origin as one swarm sees it. */
  source (who: string): OriginSource {
    const sleep = (ms: number): Promise<void> => new Promise(resolve => { this.clock.setTimeout(resolve, ms) })
    return {
      fetchChunks: async (first: number, count: number, chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, _signal?: AbortSignal, received?: () => void): Promise<void> => {
        this.requests.push({ who, at: this.clock.now(), first, count })
        await sleep(this.latencyMs)
        for (let i = first; i < first + count && i * chunkSize < size; i++) {
          const chunk = Buffer.from(this.data.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize)))
          await sleep(chunk.length / this.bytesPerMs)
          this.bytesSent += chunk.length
          counter.bytes += chunk.length
          await sink(i, chunk)
        }
        received?.()
      },
      fetchSequential: async () => { throw new Error('the memory origin answers ranges') },
      close: () => {},
    }
  }
}
