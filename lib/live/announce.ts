// The live swarm on the trackers: pc-live announces the stream's info-hash
// (liveInfoHash of the stream id) as a seed at its HTTP port, at the interval each
// tracker asks for, and says `stopped` when the show ends. A tracker that does not answer
// is asked again soon (RETRY_FIRST_MS, doubling up to the interval), not a minute later.
import { randomBytes } from 'node:crypto'
import { announce } from '../tracker/client.js'

export const PEER_ID_PREFIX = '-PC0001-'
/** the interval when the tracker has not said one */
export const DEFAULT_INTERVAL_S = 60
/**
 * After a failed announce the next comes this soon, then twice as long each time, up to
 * the interval. A tracker started a moment after pc-live (a station's services coming up
 * together) otherwise did not list the swarm for a minute, and listeners tuning in then
 * found no peer but the web server.
 */
export const RETRY_FIRST_MS = 2000

export interface AnnouncerOptions {
  trackers: string[]
  infoHash: Buffer
  port: number
  warn: (m: string) => void
  verbose?: (m: string) => void
}

export class Announcer {
  readonly peerId = Buffer.concat([Buffer.from(PEER_ID_PREFIX), randomBytes(12)])
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly ac = new AbortController()
  private stopped = false
  /** failed announces in a row, by tracker */
  private readonly failures = new Map<string, number>()
  /** the interval each tracker asked for last (s) */
  private readonly intervals = new Map<string, number>()

  constructor (readonly opts: AnnouncerOptions) {}

  start (): void { for (const t of this.opts.trackers) void this.once(t, 'started') }

  async stop (): Promise<void> {
    this.stopped = true
    for (const t of this.timers.values()) clearTimeout(t)
    await Promise.all(this.opts.trackers.map(t => this.send(t, 'stopped', 2000).catch(() => {})))
    this.ac.abort()
  }

  private async once (url: string, event?: 'started'): Promise<void> {
    let waitMs: number
    const failures = this.failures.get(url) ?? 0
    try {
      const r = await this.send(url, event)
      this.intervals.set(url, r.interval)
      waitMs = r.interval * 1000
      this.failures.set(url, 0)
      if (failures > 0) this.opts.warn(`tracker ${url}: answering again`)
      if (r.warning) this.opts.warn(`tracker ${url}: ${r.warning}`)
      this.opts.verbose?.(`tracker ${url}: announced, ${r.peers.length} peers, next in ${r.interval} s`)
    } catch (e) {
      if (this.stopped) return
      this.failures.set(url, failures + 1)
      const intervalMs = (this.intervals.get(url) ?? DEFAULT_INTERVAL_S) * 1000
      waitMs = Math.min(intervalMs, RETRY_FIRST_MS * 2 ** Math.min(failures, 16))
      if (failures === 0) this.opts.warn(`tracker ${url}: ${(e as Error).message}; retrying`)
      else this.opts.verbose?.(`tracker ${url}: ${(e as Error).message}; again in ${Math.round(waitMs / 1000)} s`)
    }
    if (this.stopped) return
    // the first announce that reaches the tracker says `started`
    const again = this.failures.get(url) ? event : undefined
    const t = setTimeout(() => { void this.once(url, again) }, waitMs)
    t.unref()
    this.timers.set(url, t)
  }

  private send (url: string, event?: 'started' | 'stopped', timeoutMs?: number): ReturnType<typeof announce> {
    return announce({ announceUrl: url, infoHash: this.opts.infoHash, peerId: this.peerId, port: this.opts.port, uploaded: 0, downloaded: 0, left: 0, event, signal: this.ac.signal, timeoutMs })
  }
}
