// Serving what we hold: each peer's requests, lowest index first, read from the store
// and sent through the shared upload limit (--upload-limit), one chunk at a time per peer
// and at most UPLOAD_SLOTS chunks at a time over all peers. A request our line could not
// send within half a deadline, behind what it already has to send, is answered REJECT at once.
import type { PeerLink } from './link.js'
import type { Store } from './store.js'
import type { RateLimiter } from './ratelimit.js'
import type { SwarmClock } from './clock.js'

/** What uploads need of their swarm (swarm.ts Swarm). */
export interface UploadsHost {
  readonly opts: { limiter: RateLimiter, deadlineMs: number }
  readonly clock: SwarmClock
  readonly closed: boolean
  readonly store?: Store
  readonly stats: { bytesUploaded: number, requestsRefused: number }
  emit: (event: string, ...args: unknown[]) => boolean
}

/**
 * Chunks on their way out at once, over all peers. The requests beyond wait in their
 * peer's queue, where a CANCEL still removes them: with every request sent at once, a
 * home line serving a crowd queued seconds of chunks behind one another, their requesters
 * cancelled them at the deadline while they were already on the wire, and a third of
 * what peers uploaded arrived unwanted (the simulator, bench/sim, N = 100).
 */
export const UPLOAD_SLOTS = 4

/** weight of the latest chunk in the line's pace (an exponential average over a few chunks) */
const PACE_WEIGHT = 0.3
/**
 * Deadlines after the last chunk sent when its pace is forgotten: a line too slow to send
 * one chunk within half a deadline refuses every request while it remembers; idle this
 * long, it serves one request (refusing others meanwhile by the pace it had) and measures
 * anew (the line may have been shared with something else).
 */
export const PACE_MEMORY_DEADLINES = 5

export class Uploads {
  /** chunks being sent right now (close() lets them finish) */
  active = 0
  /**
   * our line's time per byte sent, from the chunks sent lately (0: none sent yet): a mean
   * of times, not link.ts's Pace (a mean of rates), which weighs a fast chunk more and, used
   * here, moved the simulated steady audience (N = 300 seed 2: one listener stalled 45 s)
   */
  private msPerByte = 0
  /** when the last chunk was all sent */
  private lastSentAt = -Infinity
  /** serve loops waiting for a slot, first come first served */
  private readonly waiting: Array<() => void> = []

  constructor (private readonly sw: UploadsHost) {}

  private async slot (): Promise<void> {
    if (this.active < UPLOAD_SLOTS) { this.active++; return }
    await new Promise<void>(resolve => this.waiting.push(resolve))
  }

  /** hand the slot to the next loop waiting, or free it */
  private release (): void {
    const next = this.waiting.shift()
    if (next) next(); else this.active--
  }

  /**
   * Answer REJECT to `p`'s latest request when our line, at its pace lately, would not have
   * sent it within half a deadline behind the chunks it already has to send (those on their way
   * and one for each peer waiting for a slot, and `p`'s own earlier requests). Queued, it
   * would come after its requester had cancelled it and asked another peer: in the
   * simulator (bench/sim, steady audience, N = 100) listeners tuning in asked a peer on a
   * 0.25 Mbit/s line for their first chunk, which had 4 to 12 s of chunks ahead of it, and
   * heard nothing until their deadline had passed. Answered at once, the requester asks
   * another peer at once.
   */
  private refuseBeyondLine (p: PeerLink): void {
    const i = p.wanted[p.wanted.length - 1]
    // --upload-limit bounds the pace too, measured or not
    const limit = this.sw.opts.limiter.bytesPerSecond
    const msPerByte = Math.max(this.msPerByte, limit > 0 ? 1000 / limit : 0)
    if (msPerByte === 0 || i === undefined || !this.sw.store?.has(i)) return
    const dl = this.sw.opts.deadlineMs
    // idle long enough to forget: one request is served, and measures the line anew
    if (this.active === 0 && this.waiting.length === 0 && p.wanted.length === 1 && this.sw.clock.now() - this.lastSentAt > PACE_MEMORY_DEADLINES * dl) return
    const ahead = this.active + this.waiting.length + p.wanted.length - 1
    if ((ahead + 1) * this.sw.store.length(i) * msPerByte <= dl / 2) return
    p.wanted.pop()
    p.send({ type: 'reject', index: i })
    this.sw.stats.requestsRefused++
  }

  /** `len` bytes were taken from the limit at `from` and all sent now: the line's pace */
  private sent (len: number, from: number): void {
    const now = this.sw.clock.now()
    // chunks sent at once share the line: each counts from when the one before it was out
    const ms = (now - Math.max(from, this.lastSentAt)) / len
    const forgotten = from - this.lastSentAt > PACE_MEMORY_DEADLINES * this.sw.opts.deadlineMs
    this.lastSentAt = now
    this.msPerByte = this.msPerByte === 0 || forgotten ? ms : this.msPerByte + PACE_WEIGHT * (ms - this.msPerByte)
  }

  async serve (p: PeerLink): Promise<void> {
    const sw = this.sw
    this.refuseBeyondLine(p)
    if (p.serving) return
    p.serving = true
    try {
      while (p.wanted.length && !p.closed && !sw.closed) {
        await this.slot()
        try {
          // lowest index first: peers playing an item want its earlier chunks sooner
          let k = 0
          for (let j = 1; j < p.wanted.length; j++) if (p.wanted[j] < p.wanted[k]) k = j
          const i = p.wanted[k]
          if (i === undefined || p.closed || sw.closed) continue // cancelled while we waited for the slot
          if (!sw.store?.has(i)) { p.wanted.splice(k, 1); p.send({ type: 'reject', index: i }); continue }
          const len = sw.store.length(i)
          const from = sw.clock.now()
          await sw.opts.limiter.take(len)
          k = p.wanted.indexOf(i)
          // cancelled while we waited: the limit's wait was still the line's pace (its bytes are spent)
          if (k < 0) { if (sw.opts.limiter.bytesPerSecond > 0) this.sent(len, from); continue }
          p.wanted.splice(k, 1)
          let data: Buffer
          try { data = await sw.store.get(i) } catch { p.send({ type: 'reject', index: i }); continue }
          await p.sendPiece(i, data)
          this.sent(len, from)
          sw.stats.bytesUploaded += len
          sw.emit('uploaded', len)
        } finally { this.release() }
      }
    } finally { p.serving = false }
  }
}
