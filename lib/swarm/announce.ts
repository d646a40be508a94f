// The tracker announce loop of one swarm on one tracker: started, then at the interval
// the tracker asks for (with backoff while it fails: lib/tracker/schedule.ts, as pc-live's),
// completed once, stopped on leaving.
// The peers it answers are handed to the swarm to dial. A swarm with few peers asks
// again sooner (NEEDY_FIRST_MS, doubling, never below the tracker's min interval).
import { announce as httpAnnounce, MIN_INTERVAL_S, type AnnounceParams, type AnnounceResult } from '../tracker/client.js'
import { TrackerSchedule } from '../tracker/schedule.js'
import { realClock, type SwarmClock } from './clock.js'
import type { PeerAddress } from './wire.js'

/** What the loop needs of its swarm (an item's Swarm or a LiveSwarm). */
export interface AnnouncedSwarm {
  readonly opts: { infoHash: Buffer, peerId: Buffer }
  readonly stats: { bytesUploaded: number, bytesFromOrigin: number, bytesFromPeers: number }
  readonly left: number
  readonly closed: boolean
  /** the peers connected now */
  readonly peers: { readonly size: number }
  addAddress: (a: PeerAddress) => void
  /** the tracker's count of the swarm (complete + incomplete), when it gives one */
  counted?: (audience: number) => void
  /** whether the swarm wants that count kept fresh (GROWING): an item's does, a live show's not */
  readonly freshCount?: boolean
}

export const LEAVE_GRACE_MS = 2000
/**
 * A swarm connected to fewer peers than this announces again before the interval is up.
 * The tracker's answer is who was there then: a listener that tuned in first, or whose
 * peers could not dial it (behind a NAT, as most home lines are), heard of nobody who
 * came after it until its next announce a minute later, and fetched alone from the
 * origin meanwhile. Simulated (bench/sim, steady audience, 100 listeners, origin at 10×
 * the stream, seed 1): the first listeners behind NATs stayed apart for a minute, the
 * origin sent each early chunk several times, and 19 % of listeners stalled; announcing
 * again after 5, 10, 20… s while short of peers, none did (BENCHMARKS.md "scale").
 * Short of peers so, a swarm's full list of known addresses also lets one that failed
 * give way to a new one (members.ts addAddress).
 */
export const FEW_PEERS = 5
/**
 * The first early announce comes this long after an answer; each next one waits twice as
 * long, up to the interval, and never sooner than the tracker's min interval (pc-tracker
 * answers 1 s while it names fewer peers than asked for, 5 s otherwise). It was 5 s; a
 * listener with no peer takes each chunk from the origin itself and its copies reach
 * nobody, and in a flash crowd the first listeners, behind NATs and told of nobody they
 * could dial, did so for those 5 s (simulated, BENCHMARKS.md `## scale`: live N = 300
 * seed 1, 145 s of gaps in the first seconds, 1 s from 1 s; an item's flash crowd at
 * N = 1,000 seeds 1-2, 1.17 / 1.17 × the item and first audio p95 5.5 / 5.3 s, from 1 s
 * 1.03 / 1.17 ×, 1.9 / 3.2 s).
 */
export const NEEDY_FIRST_MS = 1000
/**
 * A swarm that wants the tracker's count fresh (an item's Swarm: the origin's timing places
 * a listener in the whole audience by it) also announces again early, on the same steps,
 * after its first answer and while the count grows by this factor from one answer to the
 * next. In a flash crowd the count a listener got when it tuned in was soon a fraction of
 * the audience (one that came 2 s after the top of the hour was told 43; ten seconds later
 * there were ~460), and it placed itself, and spaced its turn at the origin, by that
 * (bench/sim, flash crowd, N = 1,000, origin at 10 × the stream, seed 1: with turns 4 s
 * apart, 6.73 × the item with this rule, 11.03 × without it).
 */
export const GROWING = 1.25
/**
 * An item's swarm with no peer at all while the tracker counts others announces again at
 * most this long after the last early one: its early announces do not double past it. A
 * listener behind a NAT can be reached by nobody: it meets a listener that accepts
 * connections only by hearing of it from the tracker and dialling it, and the one coming
 * after it is in no answer it has had. Doubling, the first listener of a steady audience,
 * behind a NAT and alone from 1.3 s, announced at 16.4 s and then at 32.4 s; the first
 * reachable listener came at 18.3 s, and it took chunks 4 and 5 from the origin alone at
 * 24 and 31 s, which the one it could have reached took too (bench/sim steady, N = 100,
 * origin at 10 × the stream, seed 4; BENCHMARKS.md `## scale`). Only an item's swarm
 * (freshCount): a live show's keeps its own steps.
 */
export const ALONE_MAX_MS = 2000

export interface AnnounceHost {
  /** the port we accept peers on */
  readonly port: number
  readonly io: { warn: (msg: string) => void, info: (msg: string) => void }
  /** the swarm's clock (default: the real one) */
  readonly clock?: SwarmClock
  /** how an announce reaches the tracker (default: HTTP, tracker/client.ts; the simulator's tracker stands in here) */
  readonly announce?: (p: AnnounceParams) => Promise<AnnounceResult>
}

/** after a failed announce the next comes this soon, then twice as long each time, up to RETRY_MAX_MS */
export const RETRY_FIRST_MS = 1000
export const RETRY_MAX_MS = 60_000

export class Announcer {
  private needyMs = NEEDY_FIRST_MS
  /** the tracker's count in its last answer (0: none yet) */
  private count = 0
  /** the next announce, and the backoff while the tracker fails (shared with pc-live's) */
  private readonly schedule: TrackerSchedule
  constructor (readonly url: string, readonly swarm: AnnouncedSwarm, readonly f: AnnounceHost) {
    this.schedule = new TrackerSchedule(url, RETRY_FIRST_MS, { failing: m => f.io.warn(m), back: m => f.io.warn(m) }, f.clock ?? realClock)
  }

  /** First announce; resolves when it answered or failed. */
  async start (): Promise<void> { await this.once('started') }

  private async once (event?: 'started' | 'completed' | 'stopped'): Promise<void> {
    const s = this.swarm
    try {
      const r = await (this.f.announce ?? httpAnnounce)({
        announceUrl: this.url, infoHash: s.opts.infoHash, peerId: s.opts.peerId, port: this.f.port,
        uploaded: s.stats.bytesUploaded, downloaded: s.stats.bytesFromOrigin + s.stats.bytesFromPeers,
        left: s.left, event, numwant: 50, signal: event === 'stopped' ? AbortSignal.timeout(LEAVE_GRACE_MS) : undefined,
      })
      this.schedule.answered(r.interval)
      if (!s.closed) for (const p of r.peers) s.addAddress(p)
      let growing = false
      if (r.complete !== undefined || r.incomplete !== undefined) {
        const n = (r.complete ?? 0) + (r.incomplete ?? 0)
        growing = s.freshCount === true && n > 1 && n >= GROWING * this.count
        this.count = n
        s.counted?.(n)
      }
      this.plan(r, growing)
    } catch (e) {
      if (event === 'stopped') return
      this.next(this.schedule.failed(e as Error, RETRY_MAX_MS))
    }
  }

  /**
   * After an answer: the next announce at the interval, or sooner if by then the swarm is
   * still short of peers (FEW_PEERS), or the count it reads is still growing (GROWING), each
   * early one waiting twice as long as the last.
   */
  private plan (r: AnnounceResult, growing: boolean): void {
    const full = r.interval * 1000
    if (this.swarm.peers.size >= FEW_PEERS && !growing) this.needyMs = NEEDY_FIRST_MS
    const soon = Math.min(full, Math.max((r.minInterval ?? MIN_INTERVAL_S) * 1000, this.needyMs))
    if (soon >= full) { this.next(full); return }
    this.after(soon, () => {
      if (this.swarm.peers.size < FEW_PEERS || growing) {
        this.needyMs = Math.min(full, 2 * this.needyMs, this.alone() ? ALONE_MAX_MS : Infinity)
        void this.once()
      } else {
        this.needyMs = NEEDY_FIRST_MS
        this.next(full - soon)
      }
    })
  }

  /** ALONE_MAX_MS: an item's swarm with no peer while its tracker counts others */
  private alone (): boolean { return this.swarm.freshCount === true && this.swarm.peers.size === 0 && this.count > 1 }

  private next (ms: number): void { this.after(ms, () => { void this.once() }) }

  private after (ms: number, fn: () => void): void {
    if (!this.swarm.closed) this.schedule.after(ms, fn)
  }

  completed (): void { this.schedule.cancel(); void this.once('completed') }
  async stop (): Promise<void> {
    this.schedule.stop()
    await this.once('stopped')
  }
}
