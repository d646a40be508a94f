// Serving what we hold: each peer's requests, lowest index first, read from the store
// and sent through the shared upload limit (--upload-limit), one chunk at a time per peer
// and at most UPLOAD_SLOTS chunks at a time over all peers. A request our line could not
// send within half a deadline, behind what it already has to send, is answered REJECT at once.
// A listener whose upload has reached its share (--max-share × what it received, over all
// its items) answers REJECT to every request until it has received more. Past its fair
// share (--fair-share, 4 by default) it answers REJECT only to a request whose sender
// says it has another holder at hand and time to ask it (AREQUEST, pc-wire(7)).
import type { PeerLink } from './link.js'
import type { Store } from './store.js'
import type { RateLimiter } from './ratelimit.js'
import type { SwarmClock } from './clock.js'

/** What uploads need of their swarm (swarm.ts Swarm). */
export interface UploadsHost {
  /** `share`: the line's ledger, shared by every swarm on that line (none: no bound, nothing counted) */
  readonly opts: { limiter: RateLimiter, deadlineMs: number, share?: ShareLedger }
  readonly clock: SwarmClock
  readonly closed: boolean
  readonly store?: Store
  readonly stats: { bytesUploaded: number, requestsRefused: number }
  emit: (event: string, ...args: unknown[]) => boolean
  /** 'have': a chunk held */
  on?: (event: 'have', fn: (i: number) => void) => unknown
}

/**
 * pc-fetch's --max-share default: no bound. A bound is the listener's to set (a metered
 * line): what it refuses goes to another holder, or to the origin when none other is at
 * hand, and listeners tuning in wait longer when the fast lines are at theirs (bench/sim
 * day, N = 100, seeds 1-3, every listener at 4: the busiest 27.96 / 23.43 / 22.56 → 4.00 ×
 * what it listened to, origin 1.177 / 1.102 / 1.222 → 1.177 / 1.075 / 1.218 × the item,
 * first audio p95 875 / 1,148 / 1,897 → 1,027 / 1,775 / 2,517 ms; see man/pc-fetch.1).
 */
export const DEFAULT_MAX_SHARE = 0

/**
 * pc-fetch's --fair-share default: past 4 × what it received, over all its items, a line
 * refuses the requests that say their sender has another holder at hand and time to ask
 * it (AREQUEST: scheduler.ts sends one only then); every other request is served as
 * before. Issue 13's day target is 4 ×; this does not reach it (bench/sim day, N = 100,
 * seeds 1-3: the busiest 29.16 / 22.74 / 23.48 → 22.70 / 19.35 / 18.73 × what it listened
 * to, origin 1.089 / 1.072 / 1.034 → 1.085 / 1.068 / 1.027 × the item, first audio p95
 * 821 / 1,085 / 1,897 → 971 / 1,180 / 1,897 ms; steady seeds 1-8 and flash 1-3 the same
 * origin): most requests reaching a line past its share come from requesters that know
 * no other holder (BENCHMARKS.md `## scale`, "A fair share by default").
 */
export const DEFAULT_FAIR_SHARE = 4

/**
 * One listener's upload against what it received, over all its items: one per line, made
 * beside its RateLimiter and handed to each of its swarms (fetcher.ts makes one per
 * pc-fetch; bench/sim one per listener). `maxShare` 0: no bound.
 */
export class ShareLedger {
  uploaded = 0
  received = 0
  /** bytes of the chunks on their way out now (counted in `uploaded` once sent) */
  sending = 0
  /** requests answered REJECT for it */
  refused = 0
  /** requests answered REJECT for the fair share (AREQUEST) */
  fairRefused = 0
  /** `fairShare`: past it × received, AREQUESTs are refused (0: never) */
  constructor (public maxShare = DEFAULT_MAX_SHARE, public fairShare = DEFAULT_FAIR_SHARE) {
    if (!(maxShare >= 0) || !Number.isFinite(maxShare)) throw new RangeError(`max share must be a number >= 0, not ${maxShare}`)
    if (!(fairShare >= 0) || !Number.isFinite(fairShare)) throw new RangeError(`fair share must be a number >= 0, not ${fairShare}`)
  }

  /**
   * Whether a chunk of `len` bytes may start out: not when it would take what was sent
   * and what is on its way past `maxShare` × received, so the bound holds at every moment.
   */
  allows (len: number): boolean { return this.maxShare === 0 || this.uploaded + this.sending + len <= this.maxShare * this.received }
  /** at the bound: not even a byte more may go */
  get full (): boolean { return !this.allows(1) }
  /** whether a chunk of `len` bytes, sent now with what is on its way, would take the line past `fairShare` × received */
  beyondFair (len: number): boolean { return this.fairShare > 0 && this.uploaded + this.sending + len > this.fairShare * this.received }
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

  constructor (private readonly sw: UploadsHost) {
    // Swarm makes its Uploads before its own fields are set: opts is read only when a chunk comes
    sw.on?.('have', (i: number) => { const l = sw.opts.share; if (l && sw.store) l.received += sw.store.length(i) })
  }

  /**
   * Answer REJECT to `p`'s latest request when its chunk would take our line past its share
   * (ShareLedger.allows), whatever the chunk: the bound holds. Requests go to the fastest
   * holder first (scheduler.ts), so with no bound a few fast reachable lines serve most of
   * every item (the day's schedule, N = 100, seed 1: 27.96 × what the busiest one listened
   * to). A bound that served what played soon and what no other peer held, past it (before
   * this rule), still let that line upload 7.52 × with --max-share 3.
   * Below that, answer REJECT to a request asked with AREQUEST (`alt`: its sender has another
   * holder at hand and time to ask it) when its chunk would take our line past its fair
   * share (ShareLedger.beyondFair). A REQUEST, and an AREQUEST below the fair share, are
   * served as before: the requester that knows no other holder, or whose chunk plays soon,
   * is never sent to the origin by this rule. Checked when the request comes only: one
   * accepted then is sent when its turn comes. Returns whether it refused.
   */
  private refuseBeyondShares (p: PeerLink, alt: boolean): boolean {
    const i = p.wanted[p.wanted.length - 1]
    const ledger = this.sw.opts.share
    if (i === undefined || ledger === undefined || !this.sw.store?.has(i)) return false
    const len = this.sw.store.length(i)
    if (!ledger.allows(len)) return this.refuseShare(p, i, ledger)
    return alt && ledger.beyondFair(len) && this.refuseShare(p, i, ledger, true)
  }

  /** REJECT `p`'s request for chunk i, for our share (`fair`: the fair share's, counted apart) */
  private refuseShare (p: PeerLink, i: number, ledger: ShareLedger, fair = false): true {
    const k = p.wanted.lastIndexOf(i)
    if (k >= 0) p.wanted.splice(k, 1)
    p.send({ type: 'reject', index: i })
    this.sw.stats.requestsRefused++
    if (fair) ledger.fairRefused++; else ledger.refused++
    return true
  }

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
    const msPerByte = this.pace
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

  /**
   * Whether our line can pass a chunk of `len` bytes on to a peer, as far as we know: at the
   * pace of the chunks sent lately (or --upload-limit) it goes within half a deadline (the
   * test refuseBeyondLine makes of a request with nothing ahead of it), and --max-share
   * allows it. Before our first chunk is out nothing says the line is slow: it can.
   */
  canPassOn (len: number): boolean {
    const ledger = this.sw.opts.share
    return len * this.pace <= this.sw.opts.deadlineMs / 2 && (ledger === undefined || ledger.allows(len))
  }

  /** ms per byte our line sends at: the pace of the chunks sent lately, or --upload-limit's when slower (0: neither known) */
  private get pace (): number {
    const limit = this.sw.opts.limiter.bytesPerSecond
    return Math.max(this.msPerByte, limit > 0 ? 1000 / limit : 0)
  }

  /** Serve `p`'s requests; its latest came now, asked with AREQUEST when `alt` (refuseBeyondShares). */
  async serve (p: PeerLink, alt = false): Promise<void> {
    const sw = this.sw
    if (!this.refuseBeyondShares(p, alt)) this.refuseBeyondLine(p)
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
          const share = sw.opts.share
          const len = sw.store.length(i)
          // the bound reached since it was asked (what others asked meanwhile went first): refused now
          if (share !== undefined && !share.allows(len)) { this.refuseShare(p, i, share); continue }
          if (share) share.sending += len
          try {
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
            if (share) share.uploaded += len
          } finally { if (share) share.sending -= len }
          sw.emit('uploaded', len)
        } finally { this.release() }
      }
    } finally { p.serving = false }
  }
}
