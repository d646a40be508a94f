// The tracker announce loop of one swarm on one tracker: started, then at the interval
// the tracker asks for (with backoff while it fails), completed once, stopped on leaving.
// The peers it answers are handed to the swarm to dial.
import { announce } from '../tracker/client.js'
import type { PeerAddress } from './wire.js'

/** What the loop needs of its swarm (an item's Swarm or a LiveSwarm). */
export interface AnnouncedSwarm {
  readonly opts: { infoHash: Buffer, peerId: Buffer }
  readonly stats: { bytesUploaded: number, bytesFromOrigin: number, bytesFromPeers: number }
  readonly left: number
  readonly closed: boolean
  addAddress: (a: PeerAddress) => void
}

export const LEAVE_GRACE_MS = 2000

export interface AnnounceHost {
  /** the port we accept peers on */
  readonly port: number
  readonly io: { warn: (msg: string) => void, info: (msg: string) => void }
}

export class Announcer {
  private timer?: NodeJS.Timeout
  private failures = 0
  private stopped = false
  constructor (readonly url: string, readonly swarm: AnnouncedSwarm, readonly f: AnnounceHost) {}

  /** First announce; resolves when it answered or failed. */
  async start (): Promise<void> { await this.once('started') }

  private async once (event?: 'started' | 'completed' | 'stopped'): Promise<void> {
    const s = this.swarm
    try {
      const r = await announce({
        announceUrl: this.url, infoHash: s.opts.infoHash, peerId: s.opts.peerId, port: this.f.port,
        uploaded: s.stats.bytesUploaded, downloaded: s.stats.bytesFromOrigin + s.stats.bytesFromPeers,
        left: s.left, event, numwant: 50, signal: event === 'stopped' ? AbortSignal.timeout(LEAVE_GRACE_MS) : undefined,
      })
      if (this.failures) this.f.io.info(`tracker ${this.url}: answering again`)
      this.failures = 0
      if (!s.closed) for (const p of r.peers) s.addAddress(p)
      this.next(r.interval * 1000)
    } catch (e) {
      if (event === 'stopped') return
      if (this.failures++ === 0) this.f.io.warn(`tracker ${this.url}: ${(e as Error).message}; retrying`)
      this.next(Math.min(60_000, 1000 * 2 ** Math.min(6, this.failures - 1)))
    }
  }

  private next (ms: number): void {
    if (this.stopped || this.swarm.closed) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.once() }, ms)
  }

  completed (): void { clearTimeout(this.timer); void this.once('completed') }
  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.once('stopped')
  }
}
