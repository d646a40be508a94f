// Serving what we hold: each peer's requests, lowest index first, read from the store
// and sent through the shared upload limit (--upload-limit), one chunk at a time per peer
// and at most UPLOAD_SLOTS chunks at a time over all peers.
import type { PeerLink } from './link.js'
import type { Store } from './store.js'
import type { RateLimiter } from './ratelimit.js'

/** What uploads need of their swarm (swarm.ts Swarm). */
export interface UploadsHost {
  readonly opts: { limiter: RateLimiter }
  readonly closed: boolean
  readonly store?: Store
  readonly stats: { bytesUploaded: number }
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

export class Uploads {
  /** chunks being sent right now (close() lets them finish) */
  active = 0
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

  async serve (p: PeerLink): Promise<void> {
    const sw = this.sw
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
          await sw.opts.limiter.take(len)
          k = p.wanted.indexOf(i)
          if (k < 0) continue // cancelled while we waited
          p.wanted.splice(k, 1)
          let data: Buffer
          try { data = await sw.store.get(i) } catch { p.send({ type: 'reject', index: i }); continue }
          await p.sendPiece(i, data)
          sw.stats.bytesUploaded += len
          sw.emit('uploaded', len)
        } finally { this.release() }
      }
    } finally { p.serving = false }
  }
}
