// One peer connection: handshake, the remote side's bitfield, our requests in flight
// to it and its requests to us (bounded: a flood drops the connection), keep-alives,
// and a throughput estimate the swarm ranks peers by. No scheduling here.
import type { Socket } from 'node:net'
import { EventEmitter } from 'node:events'
import {
  WireDecoder, WireError, encodeHandshake, encodeMessage, encodePieceHeader, getBit, setBit,
  type Handshake, type Message, type PeerAddress, MAX_MESSAGE_BYTES,
} from './wire.js'

export const KEEPALIVE_MS = 60_000
/** a peer silent this long is gone */
export const PEER_IDLE_MS = 150_000
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** requests a peer may have outstanding with us; more is a flood and drops it */
export const MAX_PEER_REQUESTS = 64

export class Peer extends EventEmitter {
  remote?: Handshake
  /** the remote's bitfield, sized once the swarm knows the chunk count */
  bits: Uint8Array = new Uint8Array(0)
  held = 0
  /** our requests to it: index → time sent */
  readonly inflight = new Map<number, number>()
  /** its requests to us, in order */
  readonly wanted: number[] = []
  bytesDelivered = 0
  /** delivered bytes per ms, smoothed */
  rate = 0
  /** requests that ran past the deadline, less one per chunk delivered */
  strikes = 0
  /** chunks it did not deliver in time: not asked of it again */
  readonly missed = new Set<number>()
  /** a serve loop is running for its requests */
  serving = false
  closed = false
  goodbye = false
  private lastRecv = Date.now()
  private readonly decoder = new WireDecoder()
  private handshakeSent = false
  private handshakeTimer?: NodeJS.Timeout

  constructor (readonly socket: Socket, readonly outgoing: boolean, readonly address: string) {
    super()
    socket.setNoDelay(true)
    socket.on('data', (d: Buffer) => this.onData(d))
    socket.on('error', () => {})
    socket.on('close', () => this.onClose())
    socket.setTimeout(KEEPALIVE_MS, () => {
      if (Date.now() - this.lastRecv > PEER_IDLE_MS) { this.drop('idle'); return }
      this.send({ type: 'keepalive' })
    })
    this.handshakeTimer = setTimeout(() => this.drop('no handshake'), HANDSHAKE_TIMEOUT_MS)
  }

  get id (): string { return this.remote ? this.remote.peerId.toString('hex') : '' }

  /** the host:port it accepts connections on, when it told us one */
  get listenAddress (): PeerAddress | undefined {
    if (!this.remote || this.remote.port === 0) return undefined
    const host = (this.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    return host ? { host, port: this.remote.port } : undefined
  }

  setMaxMessage (n: number): void { this.decoder.maxMessage = Math.min(n, MAX_MESSAGE_BYTES) }

  sendHandshake (h: Handshake): void {
    if (this.handshakeSent || this.closed) return
    this.handshakeSent = true
    this.socket.write(encodeHandshake(h))
  }

  send (m: Message): boolean {
    if (this.closed || this.socket.destroyed) return false
    return this.socket.write(encodeMessage(m))
  }

  /** Send a chunk; resolves when the socket can take more. */
  async sendPiece (index: number, data: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return
    this.socket.write(encodePieceHeader(index, data.length))
    if (this.socket.write(data)) return
    await new Promise<void>((resolve) => {
      const done = (): void => { this.socket.off('drain', done); this.socket.off('close', done); resolve() }
      this.socket.once('drain', done); this.socket.once('close', done)
    })
  }

  has (i: number): boolean { return i < this.bits.length * 8 && getBit(this.bits, i) }

  /** Size the remote bitfield for `count` chunks (keeping what a BITFIELD already said). */
  sizeFor (count: number): void {
    const n = Math.ceil(count / 8)
    if (this.bits.length === n) return
    const b = new Uint8Array(n)
    b.set(this.bits.subarray(0, n))
    this.bits = b
    this.held = 0
    for (let i = 0; i < count; i++) if (getBit(b, i)) this.held++
  }

  markHave (i: number): boolean {
    if (i >= this.bits.length * 8 || getBit(this.bits, i)) return false
    setBit(this.bits, i)
    this.held++
    return true
  }

  /** Record a delivery of `bytes` that took `ms` since its request. */
  credit (bytes: number, ms: number): void {
    this.bytesDelivered += bytes
    if (this.strikes > 0) this.strikes--
    const r = bytes / Math.max(1, ms)
    this.rate = this.rate === 0 ? r : this.rate * 0.7 + r * 0.3
  }

  drop (why: string): void {
    if (this.closed) return
    this.emit('dropped', why)
    this.socket.destroy()
    this.onClose()
  }

  private onClose (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.handshakeTimer)
    this.emit('close')
  }

  private onData (d: Buffer): void {
    if (this.closed) return
    this.lastRecv = Date.now()
    let msgs
    try { msgs = this.decoder.push(d) } catch (e) {
      this.drop(e instanceof WireError ? e.message : String(e))
      return
    }
    for (const m of msgs) {
      if (this.closed) return
      if (m.type === 'handshake') {
        clearTimeout(this.handshakeTimer)
        this.remote = m.handshake
        this.emit('handshake', m.handshake)
        continue
      }
      if (m.type === 'request') {
        if (this.wanted.length >= MAX_PEER_REQUESTS) { this.drop(`more than ${MAX_PEER_REQUESTS} requests outstanding`); return }
        this.wanted.push(m.index)
      } else if (m.type === 'cancel') {
        const k = this.wanted.indexOf(m.index)
        if (k >= 0) this.wanted.splice(k, 1)
      } else if (m.type === 'goodbye') {
        this.goodbye = true
      }
      this.emit('message', m)
    }
  }
}
