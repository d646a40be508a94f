// The simulator's clock: timers fired in (time, creation) order, virtual
// time jumping from one to the next. Between two timers the promises a callback started
// are let run (a few microtask turns, and a full event-loop turn every DRAIN_EVERY
// timers), so the swarm's async code sees the time of the event that woke it.
import type { SwarmClock, TimerHandle } from '../../lib/swarm/clock.js'

/** microtask turns after each timer: the swarm's await chains (put, serve) are this deep */
const MICRO_TURNS = 6
/** timers between two full turns of the event loop (setImmediate), which drain every chain */
const DRAIN_EVERY = 256
const MAX_TIMERS_AT_ONCE = 1_000_000

/**
 * A timer in the queue: `fire()` runs at `at`, ties broken by `seq` (the order they were
 * set). What the simulator sets by the million (a link's batch of arriving messages)
 * extends it with its own fields and `fire`, instead of a closure and its context each.
 */
export class SimTimer {
  at = 0
  seq = 0
  cancelled = false
  fire (): void {}
}

/** what the queue holds: a timer, or a deferred call (SimClock.defer) */
type Queued = SimTimer | (() => void)

class FnTimer extends SimTimer {
  constructor (readonly fn: () => void) { super() }
  override fire (): void { this.fn() }
}

export class SimClock implements SwarmClock {
  /**
   * Timers fire on multiples of `quantumMs`: what arrives within one quantum is handled
   * together, and the swarm's deferred scheduling runs once after all of it, as a busy
   * process reads several sockets' data in one turn of its event loop before its
   * setImmediate work. 0 keeps every time exact.
   */
  constructor (readonly quantumMs = 0) {}
  private t = 0
  private seq = 0
  /** timers fired so far */
  fired = 0

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const x = new FnTimer(fn)
    this.schedule(x, ms)
    return x
  }

  /** Set timer `x` to fire `ms` from now (on the quantum, as setTimeout). */
  schedule (x: SimTimer, ms: number): void {
    let at = this.t + (ms > 0 ? ms : 0)
    const q = this.quantumMs
    if (q > 0 && at > this.t) at = Math.ceil(at / q) * q
    x.at = at
    x.seq = this.seq++
    this.push(x, at)
  }

  clearTimeout (t: TimerHandle | undefined): void { if (t) (t as SimTimer).cancelled = true }
  /**
   * `fn` at the end of what fires now (setTimeout(fn, 0)), queued as itself: a deferred call
   * cannot be cancelled, so it needs no timer object (every scheduling pass of every swarm
   * comes through here, a quarter of a run's timers at N = 100).
   */
  defer (fn: () => void): void { this.push(fn, this.t) }
  get pending (): number { return this.size }
  /** the time of the next timer, Infinity when none is set */
  get next (): number { return this.size > 0 ? this.nextAt : Infinity }

  /**
   * The run is over: every pending timer is let go, and none set from now on is kept (it
   * would never fire). Closing the swarms at a run's end sets one per link (what was sent
   * still arrives, then both ends close: SimLink.end), all kept until the clock was let go:
   * the peak RSS of a flash crowd (20 peers dialled, seed 1) 955 → 931 MiB at N = 10,000,
   * 8,199 → 8,116 MiB at 100,000 (BENCHMARKS.md `## scale`).
   */
  halt (): void {
    this.halted = true
    this.buckets.clear()
    this.cur = []
    this.head = 0
    this.curAt = -Infinity
    this.nTimes = 0
    this.size = 0
  }

  private halted = false

  /**
   * Fire timers in order until virtual time `until` (or `stop()` says so). Written as
   * callbacks on one resolved promise rather than an async loop: `await undefined` and
   * `RESOLVED.then(turn)` each queue one job at the same place in the microtask queue, so
   * the swarm's promise chains advance between timers exactly as before, but the
   * await cost ~3 × as much (6 of them after every timer: a sixth of a run's time).
   */
  run (until: number, stop?: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let n = 0
      let sameTime = 0
      let turns = 0
      const fire = (): void => {
        try {
          for (;;) {
            if (this.size === 0 || this.nextAt > until) {
              drain().then(() => { if (this.t < until) this.t = until; resolve() }, reject)
              return
            }
            const x = this.pop()
            if (typeof x !== 'function' && x.cancelled) continue
            const at = this.curAt
            sameTime = at === this.t ? sameTime + 1 : 0
            // code that keeps re-arming a timer for now would hold virtual time still for ever
            if (sameTime > MAX_TIMERS_AT_ONCE) throw new Error(`more than ${MAX_TIMERS_AT_ONCE} timers at ${this.t} ms: time no longer moves`)
            this.t = at
            this.fired++
            if (typeof x === 'function') x(); else x.fire()
            break
          }
          if (++n % DRAIN_EVERY === 0) {
            drain().then(() => { if (stop?.()) resolve(); else fire() }, reject)
          } else {
            turns = 0
            RESOLVED.then(turn)
          }
        } catch (e) { reject(e) }
      }
      // one microtask turn; after MICRO_TURNS of them the next timer
      const turn = (): void => { if (++turns < MICRO_TURNS) RESOLVED.then(turn); else fire() }
      drain().then(fire, reject)
    })
  }

  /**
   * The queue: one array of timers per time (a bucket), in the order they were set (a
   * deferred call as its function, defer()), and a binary heap of the times that have a bucket. Timers fall on few distinct times (the
   * quantum's multiples), so a timer is pushed and popped without sifting; the order is
   * the heap of timers' it replaced, (time, order set), as a bucket is only ever appended
   * to. (A heap of every timer sifted ~17 levels a push and a pop at N = 3,000, ~130,000
   * pending timers: 6 % of a run before its times moved into typed arrays.)
   */
  private buckets = new Map<number, Queued[]>()
  private times = new Float64Array(1024)
  private nTimes = 0
  /** the bucket being fired, its time, and the next in it */
  private cur: Array<Queued | undefined> = []
  private curAt = -Infinity
  private head = 0
  private size = 0

  /** the time of the next timer (size > 0) */
  private get nextAt (): number { return this.head < this.cur.length ? this.curAt : this.times[0] }

  private push (x: Queued, at: number): void {
    if (this.halted) return
    this.size++
    if (at === this.curAt && this.head < this.cur.length) { this.cur.push(x); return }
    let b = this.buckets.get(at)
    if (b === undefined) {
      b = []
      this.buckets.set(at, b)
      this.pushTime(at)
    }
    b.push(x)
  }

  /** the next timer; its time is `curAt` */
  private pop (): Queued {
    this.size--
    if (this.head >= this.cur.length) {
      const at = this.popTime()
      this.cur = this.buckets.get(at)!
      this.buckets.delete(at)
      this.curAt = at
      this.head = 0
    }
    const x = this.cur[this.head]!
    this.cur[this.head++] = undefined
    return x
  }

  private pushTime (at: number): void {
    if (this.nTimes === this.times.length) { const t = new Float64Array(2 * this.nTimes); t.set(this.times); this.times = t }
    const ts = this.times
    let i = this.nTimes++
    while (i > 0) {
      const p = (i - 1) >> 1
      if (ts[p] <= at) break
      ts[i] = ts[p]
      i = p
    }
    ts[i] = at
  }

  private popTime (): number {
    const ts = this.times
    const top = ts[0]
    const n = --this.nTimes
    if (n > 0) {
      const at = ts[n]
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && ts[r] < ts[l] ? r : l
        if (ts[c] >= at) break
        ts[i] = ts[c]
        i = c
      }
      ts[i] = at
    }
    return top
  }
}

const RESOLVED = Promise.resolve()

function drain (): Promise<void> { return new Promise(resolve => setImmediate(resolve)) }
