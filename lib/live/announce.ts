// The live swarm on the trackers: pc-live announces the stream's info-hash
// (liveInfoHash of the stream id) as a seed at its HTTP port, at the interval each
// tracker asks for, and says `stopped` when the show ends.
import { randomBytes } from 'node:crypto'
import { announce } from '../tracker/client.js'

export const PEER_ID_PREFIX = '-PC0001-'

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

  constructor (readonly opts: AnnouncerOptions) {}

  start (): void { for (const t of this.opts.trackers) void this.once(t, 'started') }

  async stop (): Promise<void> {
    this.stopped = true
    for (const t of this.timers.values()) clearTimeout(t)
    await Promise.all(this.opts.trackers.map(t => this.send(t, 'stopped', 2000).catch(() => {})))
    this.ac.abort()
  }

  private async once (url: string, event?: 'started'): Promise<void> {
    let interval = 60
    try {
      const r = await this.send(url, event)
      interval = r.interval
      if (r.warning) this.opts.warn(`tracker ${url}: ${r.warning}`)
      this.opts.verbose?.(`tracker ${url}: announced, ${r.peers.length} peers, next in ${interval} s`)
    } catch (e) {
      this.opts.warn(`tracker ${url}: ${(e as Error).message}`)
    }
    if (this.stopped) return
    const t = setTimeout(() => { void this.once(url) }, interval * 1000)
    t.unref()
    this.timers.set(url, t)
  }

  private send (url: string, event?: 'started' | 'stopped', timeoutMs?: number): ReturnType<typeof announce> {
    return announce({ announceUrl: url, infoHash: this.opts.infoHash, peerId: this.peerId, port: this.opts.port, uploaded: 0, downloaded: 0, left: 0, event, signal: this.ac.signal, timeoutMs })
  }
}
