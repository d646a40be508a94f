// One peer connection over TCP: the wire transport of a PeerLink (link.ts holds what
// the swarm keeps about the peer). Handshake timeout, keep-alives, framing through
// WireDecoder (a flood or a malformed message drops the connection). No scheduling here.
import type { Socket } from 'node:net'
import { WireDecoder, WireError, encodeHandshake, encodeMessage, encodePieceHeader, encodeLivePieceHead, type LivePiece, type Handshake, type Message, type PeerAddress, MAX_MESSAGE_BYTES } from './wire.js'
import { PeerLink } from './link.js'

export const KEEPALIVE_MS = 60_000
/** a peer silent this long is gone */
export const PEER_IDLE_MS = 150_000
export const HANDSHAKE_TIMEOUT_MS = 10_000
/** after end(), a connection whose other side does not close is destroyed */
export const END_GRACE_MS = 500

export class Peer extends PeerLink {
  private lastRecv = Date.now()
  private readonly decoder: WireDecoder
  private handshakeSent = false
  private handshakeTimer?: NodeJS.Timeout

  constructor (readonly socket: Socket, readonly outgoing: boolean, readonly address: string) {
    super()
    this.decoder = new WireDecoder()
    socket.setNoDelay(true)
    socket.on('data', (d: Buffer) => this.onData(d))
    // (said with -v, as any drop: Members)
    socket.on('error', (e: NodeJS.ErrnoException) => { this.drop(`${this.remote ? 'connection' : 'cannot connect'}: ${e.code ?? e.message}`) })
    socket.on('close', () => { clearTimeout(this.handshakeTimer); this.ended() })
    socket.setTimeout(KEEPALIVE_MS, () => {
      if (Date.now() - this.lastRecv > PEER_IDLE_MS) { this.drop('idle'); return }
      this.send({ type: 'keepalive' })
    })
    this.handshakeTimer = setTimeout(() => this.drop('no handshake'), HANDSHAKE_TIMEOUT_MS)
  }

  get listenAddress (): PeerAddress | undefined {
    if (!this.remote || this.remote.port === 0) return undefined
    const host = (this.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    return host ? { host, port: this.remote.port } : undefined
  }

  override setMaxMessage (n: number): void { this.decoder.maxMessage = Math.min(n, MAX_MESSAGE_BYTES) }

  sendHandshake (h: Handshake): void {
    if (this.handshakeSent || this.closed) return
    this.handshakeSent = true
    this.socket.write(encodeHandshake(h))
  }

  send (m: Message): boolean {
    if (this.closed || this.socket.destroyed) return false
    return this.socket.write(encodeMessage(m))
  }

  async sendPiece (index: number, data: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return
    this.socket.write(encodePieceHeader(index, data.length))
    if (this.socket.write(data)) return
    await this.drained()
  }

  override async sendLivePiece (m: LivePiece): Promise<void> {
    if (this.closed || this.socket.destroyed) return
    this.socket.write(encodeLivePieceHead(m))
    if (m.header) this.socket.write(m.header)
    if (this.socket.write(m.data)) return
    await this.drained()
  }

  private async drained (): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => { this.socket.off('drain', done); this.socket.off('close', done); resolve() }
      this.socket.once('drain', done); this.socket.once('close', done)
    })
  }

  end (): void {
    this.socket.end()
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref()
  }

  protected destroy (): void {
    clearTimeout(this.handshakeTimer)
    this.socket.destroy()
  }

  private onData (d: Buffer): void {
    if (this.closed) return
    this.lastRecv = Date.now()
    let msgs
    try { msgs = this.decoder.push(d) } catch (e) {
      this.drop(e instanceof WireError ? e.message : String(e), true)
      return
    }
    for (const m of msgs) {
      if (this.closed) return
      if (m.type === 'handshake') clearTimeout(this.handshakeTimer)
      this.received(m)
    }
  }
}
