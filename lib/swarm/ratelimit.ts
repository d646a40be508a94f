// A token bucket shared by every upload of a pc-fetch (--upload-limit). Waiting takes
// one timer per waiter; with no limit, take() resolves at once and costs nothing.
export class RateLimiter {
  private tokens: number
  private last = Date.now()
  private queue: Promise<void> = Promise.resolve()
  /** `bytesPerSecond` 0 means unlimited; the burst is one second's worth */
  constructor (readonly bytesPerSecond: number) { this.tokens = bytesPerSecond }

  take (n: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return Promise.resolve()
    const next = this.queue.then(() => this.wait(n))
    this.queue = next
    return next
  }

  private async wait (n: number): Promise<void> {
    const now = Date.now()
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + (now - this.last) * this.bytesPerSecond / 1000)
    this.last = now
    this.tokens -= n
    if (this.tokens < 0) await new Promise(resolve => setTimeout(resolve, Math.ceil(-this.tokens * 1000 / this.bytesPerSecond)))
  }
}
