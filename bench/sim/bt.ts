// The reference the simulator compares pc with: a BitTorrent-like client as WebTorrent
// streams a file (not our code; nothing of lib/swarm's decisions is used). Each peer asks
// for the next STREAM_AHEAD chunks after its play position first (a player needs them in
// order), then rarest-first among what its peers hold; the origin is a web seed (BEP 19):
// a peer that holds everything, asked like any other whenever it has a free slot and a
// wanted chunk is held by no connected peer. Everyone unchokes everyone (no tit-for-tat).
// Runs over the same simulated links (SimLink) and origin as pc.
import type { HashTree } from '../../lib/hashing/hashtree.js'
import type { OriginSource } from '../../lib/swarm/origin.js'
import type { PeerLink } from '../../lib/swarm/link.js'
import type { Message, PeerAddress } from '../../lib/swarm/wire.js'
import type { SimClock } from './clock.js'
import type { Host, SimNet } from './net.js'

/** chunks wanted strictly in order ahead of the play position (WebTorrent's critical range) */
export const STREAM_AHEAD = 4
export const PIPELINE = 5
export const MAX_PEERS = 50
/** web seed requests in flight at once (WebTorrent's webconn takes one range at a time) */
export const WEBSEED_JOBS = 1

export interface BtOptions {
  clock: SimClock
  net: SimNet
  host: Host
  tree: HashTree
  chunks: Buffer[]
  peerId: Buffer
  infoHash: Buffer
  origin: OriginSource
  firstChunk: number
  deadlineMs: number
  got: (i: number) => void
}

export class BtClient {
  private readonly count: number
  private readonly bits: Uint8Array
  private readonly avail: Uint16Array
  private readonly pending = new Map<number, number>() // chunk → time asked
  private readonly peers = new Set<PeerLink>()
  private readonly known = new Set<string>()
  private seedJobs = 0
  private closed = false
  private queued = false
  private tick?: unknown

  constructor (readonly o: BtOptions) {
    this.count = o.chunks.length
    this.bits = new Uint8Array(this.count)
    this.avail = new Uint16Array(this.count)
    o.host.bt = this
  }

  addAddress (a: PeerAddress): void {
    const key = `${a.host}:${a.port}`
    if (this.closed || this.known.has(key) || this.peers.size >= MAX_PEERS || key === `${this.o.host.addr.host}:${this.o.host.addr.port}`) return
    this.known.add(key)
    const p = this.o.net.connector(this.o.host)(a)
    p.sendHandshake({ infoHash: this.o.infoHash, peerId: this.o.peerId, port: this.o.host.addr.port })
    p.once('handshake', () => this.attach(p))
  }

  /** A link whose handshake arrived (ours outgoing, or incoming). */
  attach (p: PeerLink): void {
    if (this.closed || this.peers.size >= MAX_PEERS) { p.drop('full'); return }
    p.sendHandshake({ infoHash: this.o.infoHash, peerId: this.o.peerId, port: this.o.host.addr.port })
    this.peers.add(p)
    p.sizeFor(this.count)
    p.on('message', (m: Message) => this.onMessage(p, m))
    p.on('close', () => {
      this.peers.delete(p)
      for (let i = 0; i < this.count; i++) if (p.has(i)) this.avail[i]--
      for (const i of p.inflight.keys()) this.pending.delete(i)
      this.kick()
    })
    p.send({ type: 'bitfield', count: this.count, bits: Buffer.from(this.packed()) })
    this.kick()
  }

  private packed (): Uint8Array {
    const b = new Uint8Array(Math.ceil(this.count / 8))
    for (let i = 0; i < this.count; i++) if (this.bits[i]) b[i >> 3] |= 0x80 >> (i & 7)
    return b
  }

  private onMessage (p: PeerLink, m: Message): void {
    switch (m.type) {
      case 'bitfield':
        p.bits = Uint8Array.from(m.bits)
        p.sizeFor(this.count)
        for (let i = 0; i < this.count; i++) if (p.has(i)) this.avail[i]++
        break
      case 'have': if (p.markHave(m.index)) this.avail[m.index]++; break
      case 'request': void this.serve(p); return
      case 'piece':
        if (!p.inflight.delete(m.index)) return
        this.pending.delete(m.index)
        this.store(m.index, m.data)
        break
      default: return
    }
    this.kick()
  }

  private async serve (p: PeerLink): Promise<void> {
    if (p.serving) return
    p.serving = true
    while (p.wanted.length && !p.closed && !this.closed) {
      const i = p.wanted.shift()!
      if (this.bits[i]) await p.sendPiece(i, this.o.chunks[i])
    }
    p.serving = false
  }

  private store (i: number, data: Buffer): void {
    if (this.bits[i] || data !== this.o.chunks[i]) return
    this.bits[i] = 1
    this.o.got(i)
    for (const p of this.peers) if (!p.has(i)) p.send({ type: 'have', index: i })
  }

  private kick (): void {
    if (this.queued || this.closed) return
    this.queued = true
    this.o.clock.defer(() => { this.queued = false; this.schedule() })
  }

  /** wanted chunks in this client's order: the next STREAM_AHEAD in order, then rarest first */
  private wanted (): number[] {
    const out: number[] = []
    let k = this.o.firstChunk
    for (; k < this.count && out.length < STREAM_AHEAD; k++) if (!this.bits[k]) out.push(k)
    const rest: number[] = []
    for (let i = 0; i < this.count; i++) if (!this.bits[i] && !out.includes(i)) rest.push(i)
    rest.sort((a, b) => this.avail[a] - this.avail[b])
    return out.concat(rest)
  }

  private schedule (): void {
    if (this.closed) return
    const now = this.o.clock.now()
    for (const [i, t] of this.pending) if (now - t > this.o.deadlineMs && i >= 0) this.pending.delete(i)
    for (const p of this.peers) for (const [i, t] of p.inflight) if (now - t > this.o.deadlineMs) { p.inflight.delete(i); p.send({ type: 'cancel', index: i }) }
    const want = this.wanted().filter(i => !this.pending.has(i))
    for (const i of want) {
      let best: PeerLink | undefined
      for (const p of this.peers) if (p.has(i) && p.inflight.size < PIPELINE && (!best || p.inflight.size < best.inflight.size)) best = p
      if (best) {
        best.ask(i, now)
        this.pending.set(i, now)
        best.send({ type: 'request', index: i })
      } else if (this.seedJobs < WEBSEED_JOBS) {
        this.fromSeed(i)
      }
    }
    if (this.tick === undefined && want.length) this.tick = this.o.clock.setTimeout(() => { this.tick = undefined; this.schedule() }, this.o.deadlineMs / 4)
  }

  private fromSeed (i: number): void {
    this.seedJobs++
    this.pending.set(i, Infinity)
    const cs = this.o.tree.chunkSize
    void this.o.origin.fetchChunks(i, 1, cs, this.o.tree.size, (j, d) => { this.store(j, d) }, { bytes: 0 })
      .finally(() => { this.seedJobs--; this.pending.delete(i); this.kick() })
  }

  close (): void {
    this.closed = true
    this.o.clock.clearTimeout(this.tick)
    for (const p of this.peers) p.end()
  }
}
