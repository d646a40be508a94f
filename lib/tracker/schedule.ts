// One tracker's announce schedule, as both announcers keep it: pc-fetch's for each swarm
// (lib/swarm/announce.ts) and pc-live's for its show (lib/live/announce.ts). One timer
// for what comes next; after a failed announce the next comes after `firstMs`, then
// twice as long each time up to a cap the caller gives (pc-fetch: a minute; pc-live: the
// tracker's interval); the first failure in a row is reported, and the tracker's return.
// What an answer leads to (the interval, announcing early while short of peers) is the
// caller's.
import { PcError } from '../core/errors.js'

/** the timers the schedule arms: a swarm's clock (lib/swarm/clock.ts), or the process's */
export interface ScheduleTimers {
  setTimeout: (fn: () => void, ms: number) => unknown
  /** accepts undefined and handles already fired */
  clearTimeout: (t: unknown) => void
}

/** the process's timers, unreferenced: a pending announce does not keep it running */
export const unrefTimers: ScheduleTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (t) => { clearTimeout(t as NodeJS.Timeout | undefined) },
}

/** where each line goes */
export interface ScheduleReport {
  /** the first failure in a row: "tracker URL: WHY; retrying" */
  failing: (m: string) => void
  /** an answer after failures: "tracker URL: answering again" */
  back: (m: string) => void
  /** each later failure in the row: "tracker URL: WHY; again in N s" (not said when absent) */
  again?: (m: string) => void
}

/** the waits double from firstMs this many times at the most (the cap comes long before) */
const MAX_DOUBLINGS = 16

export class TrackerSchedule {
  /** failed announces in a row */
  failures = 0
  /** the interval (s) the tracker named in its last answer, if it answered */
  interval?: number
  private timer: unknown
  private stopped = false

  constructor (readonly url: string, readonly firstMs: number, readonly say: ScheduleReport, readonly timers: ScheduleTimers) {}

  /** The tracker answered (naming `intervalS`): its return after failures is reported. */
  answered (intervalS: number): void {
    this.interval = intervalS
    if (this.failures) this.say.back(`tracker ${this.url}: answering again`)
    this.failures = 0
  }

  /** An announce failed: the wait before the next, firstMs doubled once per failure before it, at most capMs. */
  failed (e: Error, capMs: number): number {
    const waitMs = Math.min(capMs, this.firstMs * 2 ** Math.min(this.failures, MAX_DOUBLINGS))
    // (the URL once: an error naming it as its place said 'tracker URL: URL: cannot fetch: …')
    const why = e instanceof PcError && e.where === this.url ? e.reason : e.message
    if (this.failures++ === 0) this.say.failing(`tracker ${this.url}: ${why}; retrying`)
    else this.say.again?.(`tracker ${this.url}: ${why}; again in ${Math.round(waitMs / 1000)} s`)
    return waitMs
  }

  /** Run `fn` in `ms`, in place of what was planned; nothing once stopped. */
  after (ms: number, fn: () => void): void {
    if (this.stopped) return
    this.timers.clearTimeout(this.timer)
    this.timer = this.timers.setTimeout(fn, ms)
  }

  /** Forget what was planned (a `completed` announce goes out now instead). */
  cancel (): void { this.timers.clearTimeout(this.timer) }

  /** Nothing more is planned. */
  stop (): void {
    this.stopped = true
    this.cancel()
  }
}
