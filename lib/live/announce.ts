// The live swarm on the trackers: pc-live announces the stream's info-hash
// (liveInfoHash of the stream id) as a seed at its HTTP port, at the interval each
// tracker asks for, and says `stopped` when the show ends. A tracker that does not answer
// is asked again soon (RETRY_FIRST_MS, doubling up to the interval), not a minute later
// (the schedule is lib/tracker/schedule.ts, as pc-fetch's).
import { randomBytes } from 'node:crypto'
import { announce } from '../tracker/client.js'
import { TrackerSchedule, unrefTimers } from '../tracker/schedule.js'

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
  private readonly schedules: TrackerSchedule[]
  private readonly ac = new AbortController()
  private stopped = false

  constructor (readonly opts: AnnouncerOptions) {
    this.schedules = opts.trackers.map(t => new TrackerSchedule(t, RETRY_FIRST_MS, { failing: m => opts.warn(m), back: m => opts.warn(m), again: m => opts.verbose?.(m) }, unrefTimers))
  }

  start (): void { for (const s of this.schedules) void this.once(s, 'started') }

  async stop (): Promise<void> {
    this.stopped = true
    for (const s of this.schedules) s.stop()
    await Promise.all(this.opts.trackers.map(t => this.send(t, 'stopped', 2000).catch(() => {})))
    this.ac.abort()
  }

  private async once (s: TrackerSchedule, event?: 'started'): Promise<void> {
    const url = s.url
    let waitMs: number
    try {
      const r = await this.send(url, event)
      s.answered(r.interval)
      waitMs = r.interval * 1000
      if (r.warning) this.opts.warn(`tracker ${url}: ${r.warning}`)
      this.opts.verbose?.(`tracker ${url}: announced, ${r.peers.length} peers, next in ${r.interval} s`)
    } catch (e) {
      if (this.stopped) return
      waitMs = s.failed(e as Error, (s.interval ?? DEFAULT_INTERVAL_S) * 1000)
    }
    // the first announce that reaches the tracker says `started`
    const again = s.failures ? event : undefined
    s.after(waitMs, () => { void this.once(s, again) })
  }

  private send (url: string, event?: 'started' | 'stopped', timeoutMs?: number): ReturnType<typeof announce> {
    return announce({ announceUrl: url, infoHash: this.opts.infoHash, peerId: this.peerId, port: this.opts.port, uploaded: 0, downloaded: 0, left: 0, event, signal: this.ac.signal, timeoutMs })
  }
}
