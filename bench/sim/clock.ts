// The simulator's clock: a binary heap of timers fired in (time, creation) order, virtual
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
    this.push(x)
  }

  clearTimeout (t: TimerHandle | undefined): void { if (t) (t as SimTimer).cancelled = true }
  defer (fn: () => void): void { this.setTimeout(fn, 0) }
  get pending (): number { return this.size }

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
            if (this.size === 0 || this.ats[0] > until) {
              drain().then(() => { if (this.t < until) this.t = until; resolve() }, reject)
              return
            }
            const x = this.pop()
            if (x.cancelled) continue
            sameTime = x.at === this.t ? sameTime + 1 : 0
            // code that keeps re-arming a timer for now would hold virtual time still for ever
            if (sameTime > MAX_TIMERS_AT_ONCE) throw new Error(`more than ${MAX_TIMERS_AT_ONCE} timers at ${this.t} ms: time no longer moves`)
            this.t = x.at
            this.fired++
            x.fire()
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
   * The heap: each timer's time and order in typed arrays beside the timers themselves,
   * so that sifting compares numbers side by side rather than loading each timer object
   * (at N = 3,000, ~130,000 pending timers: pop was 6 % of a run).
   */
  private ats = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private refs: Array<SimTimer | undefined> = []
  private size = 0

  private push (x: SimTimer): void {
    if (this.size === this.ats.length) {
      const ats = new Float64Array(2 * this.size); ats.set(this.ats); this.ats = ats
      const seqs = new Float64Array(2 * this.size); seqs.set(this.seqs); this.seqs = seqs
    }
    const { ats, seqs, refs } = this
    const at = x.at
    const seq = x.seq
    let i = this.size++
    while (i > 0) {
      const p = (i - 1) >> 1
      const pa = ats[p]
      if (at > pa || (at === pa && seq > seqs[p])) break
      ats[i] = pa; seqs[i] = seqs[p]; refs[i] = refs[p]
      i = p
    }
    ats[i] = at; seqs[i] = seq; refs[i] = x
  }

  private pop (): SimTimer {
    const { ats, seqs, refs } = this
    const top = refs[0]!
    const n = --this.size
    if (n > 0) {
      const at = ats[n]
      const seq = seqs[n]
      const last = refs[n]
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && (ats[r] < ats[l] || (ats[r] === ats[l] && seqs[r] < seqs[l])) ? r : l
        const ca = ats[c]
        if (!(ca < at || (ca === at && seqs[c] < seq))) break
        ats[i] = ca; seqs[i] = seqs[c]; refs[i] = refs[c]
        i = c
      }
      ats[i] = at; seqs[i] = seq; refs[i] = last
    }
    refs[n] = undefined
    return top
  }
}

const RESOLVED = Promise.resolve()

function drain (): Promise<void> { return new Promise(resolve => setImmediate(resolve)) }
