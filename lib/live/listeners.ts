// Plain players on the mount URL: they hear the show as from an Icecast server (ICY
// headers, metadata on request), starting at a chunk boundary (after the Ogg codec
// headers or the video container's header; video at a chunk that opens with a keyframe),
// each with a bounded queue; a player that falls behind is dropped, never slowing the
// source or the others.
import type { Socket } from 'node:net'
import { IcyInterleaver, ICY_METAINT } from '../icecast/icy.js'
import type { LiveChunk } from './chunker.js'

export interface ListenerOptions {
  maxListeners: number
  /** a listener with more than this queued in its socket is dropped */
  queueBytes: number
  metaint?: number
  warn: (m: string) => void
  verbose?: (m: string) => void
}

interface Listener { socket: Socket, addr: string, icy?: IcyInterleaver, lastSeq: number, started: boolean }

export class LiveListeners {
  private readonly set = new Set<Listener>()
  peak = 0

  constructor (readonly opts: ListenerOptions) {}

  get count (): number { return this.set.size }
  get full (): boolean { return this.set.size >= this.opts.maxListeners }
  get metaint (): number { return this.opts.metaint ?? ICY_METAINT }

  /** `start`: the newest complete chunk (its header first for Ogg and video); video that does not open with a keyframe waits for the next chunk that does */
  add (socket: Socket, wantsIcy: boolean, start: LiveChunk | undefined): void {
    const l: Listener = { socket, addr: `${socket.remoteAddress}:${socket.remotePort}`, icy: wantsIcy ? new IcyInterleaver(this.metaint) : undefined, lastSeq: -1, started: false }
    this.set.add(l)
    this.peak = Math.max(this.peak, this.set.size)
    socket.on('close', () => { if (this.set.delete(l)) this.opts.verbose?.(`listener ${l.addr} left`) })
    socket.on('data', () => {})
    this.opts.verbose?.(`listener ${l.addr} joined (${this.set.size} now)`)
    if (start) this.send(l, start)
  }

  broadcast (c: LiveChunk): void {
    for (const l of this.set) this.send(l, c)
  }

  closeAll (): void {
    for (const l of this.set) l.socket.end()
    this.set.clear()
  }

  private send (l: Listener, c: LiveChunk): void {
    if (c.seq <= l.lastSeq) return
    if (!l.started) {
      if (!c.key) return
      l.started = true
      if (c.header && !c.opensHeader) this.write(l, c.header.bytes, c.title)
    }
    // a chained Ogg link or a format change arrives with its own headers inline
    l.lastSeq = c.seq
    this.write(l, c.bytes, c.title)
  }

  private write (l: Listener, bytes: Buffer, title: string | undefined): void {
    if (l.socket.destroyed) return
    if (l.socket.writableLength > this.opts.queueBytes) {
      this.opts.warn(`listener ${l.addr} dropped: more than ${this.opts.queueBytes} bytes queued`)
      this.set.delete(l)
      l.socket.destroy()
      return
    }
    if (l.icy) for (const p of l.icy.split(bytes, title)) l.socket.write(p)
    else l.socket.write(bytes)
  }
}
