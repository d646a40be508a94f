// A token bucket shared by every upload of a pc-fetch (--upload-limit). Waiting takes
// one timer per waiter; with no limit, take() resolves at once and costs nothing.
import { realClock, sleepOn, type SwarmClock } from './clock.js'

export class RateLimiter {
  private tokens: number
  private last: number
  private queue: Promise<void> = Promise.resolve()
  /** `bytesPerSecond` 0 means unlimited; the burst is one second's worth */
  constructor (readonly bytesPerSecond: number, private readonly clock: SwarmClock = realClock) {
    this.tokens = bytesPerSecond
    this.last = clock.now()
  }

  take (n: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return Promise.resolve()
    const next = this.queue.then(() => this.wait(n))
    this.queue = next
    return next
  }

  private async wait (n: number): Promise<void> {
    const now = this.clock.now()
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
    this.tokens -= n
    if (this.tokens < 0) await sleepOn(this.clock, Math.ceil(-this.tokens * 1000 / this.bytesPerSecond))
  }
}
