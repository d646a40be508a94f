// Listener fan-out: every player connected to the mount, each at its own place in
// the timeline. A new player gets the unit that plays now (after the headers its
// decoder needs) and a burst forward; then each segment as it becomes due. Sockets
// are written directly, one shared buffer per segment for every player, and a
// bounded queue per player: overflow drops that player, never slows the rest.
import type { Socket } from 'node:net'
import type { Timeline, Segment } from './timeline.js'
import type { IcyInterleaver } from './icy.js'
import { formatSize } from '../core/units.js'

export interface FanoutOptions {
  burstBytes: number
  queueBytes: number
  warn: (m: string) => void
  verbose?: (m: string) => void
}

interface Listener {
  id: number
  socket: Socket
  addr: string
  seq: number
  off: number
  leadMs: number
  icy?: IcyInterleaver
  ending: boolean
  /** connected, nothing sent yet: waiting for something to play */
  waiting: boolean
}

export class Fanout {
  private readonly listeners = new Set<Listener>()
  private nextId = 1
  /** most listeners at once */
  peak = 0

  constructor (private readonly timeline: Timeline, private readonly opts: FanoutOptions) {}

  get size (): number { return this.listeners.size }

  add (socket: Socket, icy: IcyInterleaver | undefined, now: number): void {
    const l: Listener = { id: this.nextId++, socket, addr: `${socket.remoteAddress}:${socket.remotePort}`, seq: 0, off: 0, leadMs: 0, icy, ending: false, waiting: true }
    this.listeners.add(l)
    this.peak = Math.max(this.peak, this.listeners.size)
    socket.on('close', () => { this.listeners.delete(l); this.opts.verbose?.(`listener ${l.addr} left`) })
    socket.on('data', () => {}) // a player may send more; nothing to read
    this.opts.verbose?.(`listener ${l.addr} joined (${this.listeners.size} now)`)
    this.pump(l, now)
  }

  /** Send every listener what is due. */
  pumpAll (now: number): void { for (const l of this.listeners) this.pump(l, now) }

  /** The first segment some listener still needs (at most `below`). */
  minSeq (below: number): number {
    let min = below
    for (const l of this.listeners) if (!l.waiting && l.seq < min) min = l.seq
    return min
  }

  /** every listener got its last byte queued */
  allEnding (): boolean { return [...this.listeners].every(l => l.ending) }

  /** Wait up to `drainMs` for listeners already ended to receive what is queued, then cut everyone. */
  async close (drainMs: number): Promise<void> {
    const ending = [...this.listeners].filter(l => l.ending && !l.socket.destroyed)
    if (drainMs > 0 && ending.length) {
      let t: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(ending.map(l => new Promise(resolve => l.socket.once('close', resolve)))),
        new Promise(resolve => { t = setTimeout(resolve, drainMs) }),
      ])
      clearTimeout(t)
    }
    for (const l of this.listeners) l.socket.destroy()
  }

  /**
   * A listener's first audio: the unit that plays now, then the burst forward. Until
   * something plays (before the first item's start, or while the input is dry) it
   * waits: a player plays what it gets at once, so a byte sent early is heard early.
   */
  private begin (l: Listener, now: number): boolean {
    const start = this.timeline.find(now)
    const seg = this.timeline.get(start.seq)
    if (!seg || seg.atMs > now) return false
    l.waiting = false
    l.seq = start.seq
    l.off = start.off
    // the headers the decoder needs first (Ogg: the link's header pages), then the
    // unit that covers now without what is already over
    const join = seg.meta.join
    if (join && seg.headers.length && start.unit >= 0) {
      for (const h of seg.headers) this.send(l, h, seg.title)
      const u = start.unit
      l.off = seg.units[u]
      const end = u + 1 < seg.units.length ? seg.units[u + 1] : seg.bytes.length
      const endMs = u + 1 < seg.units.length ? seg.unitAt[u + 1] : seg.endMs
      const trimmed = join.entry(seg.bytes.subarray(seg.units[u], end), (now - seg.unitAt[u]) * 1000, (endMs - seg.unitAt[u]) * 1000, seg.meta.info)
      if (trimmed) {
        this.send(l, trimmed, seg.title)
        if (end < seg.bytes.length) l.off = end; else { l.seq++; l.off = 0 }
      }
    }
    // the burst: from the present forward, whole segments, as long as they follow
    // each other without a pause in the schedule
    let sent = 0
    let lastEnd = now
    while (sent < this.opts.burstBytes && l.seq < this.timeline.nextSeq) {
      const s = this.timeline.get(l.seq)
      if (!s) { l.seq++; continue }
      if (s.atMs > lastEnd + 50) break
      sent += this.writeSeg(l, s)
      lastEnd = Math.max(lastEnd, s.endMs)
    }
    l.leadMs = Math.max(0, lastEnd - now)
    return true
  }

  private send (l: Listener, b: Buffer, title: string | undefined): void {
    if (l.icy) {
      const pieces = l.icy.split(b, title)
      if (pieces.length === 1) { l.socket.write(pieces[0]); return }
      l.socket.cork()
      for (const p of pieces) l.socket.write(p)
      l.socket.uncork()
    } else {
      l.socket.write(b)
    }
  }

  private writeSeg (l: Listener, s: Segment): number {
    const b = l.off ? s.bytes.subarray(l.off) : s.bytes
    l.seq = s.seq + 1
    l.off = 0
    this.send(l, b, s.title)
    return b.length
  }

  /** Send a listener what is due for it; drop it if its queue overflows. */
  private pump (l: Listener, now: number): void {
    if (l.ending || l.socket.destroyed) return
    if (l.waiting && !this.begin(l, now)) {
      if (this.timeline.ended && this.timeline.find(now).seq >= this.timeline.nextSeq) { l.ending = true; l.socket.end() }
      return
    }
    while (l.seq < this.timeline.nextSeq) {
      const s = this.timeline.get(l.seq)
      if (!s) { l.seq = Math.max(l.seq + 1, this.timeline.firstSeq); continue }
      if (s.atMs - l.leadMs > now) break
      this.writeSeg(l, s)
    }
    if (l.socket.writableLength > this.opts.queueBytes) {
      this.opts.warn(`listener ${l.addr} dropped: more than ${formatSize(this.opts.queueBytes)} queued (too slow)`)
      this.listeners.delete(l)
      l.socket.destroy()
      return
    }
    if (this.timeline.ended && l.seq >= this.timeline.nextSeq) {
      l.ending = true
      l.socket.end()
    }
  }
}
