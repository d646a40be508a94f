// The swarm's sense of time: every scheduling decision reads `now()` and arms its
// timers through this, never Date.now() or the global timers, so a test or a
// simulator can run the same code under a virtual clock, faster than real time.
// (picker.ts takes its time as an argument; follow() and the Reorderer take a clock too.)

/** a timer handle, opaque to the swarm */
export type TimerHandle = unknown

export interface SwarmClock {
  /** milliseconds, on any fixed origin */
  now: () => number
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  /** accepts undefined and handles already fired */
  clearTimeout: (t: TimerHandle | undefined) => void
  /** run `fn` after the current event's work, at the same time (setImmediate) */
  defer: (fn: () => void) => void
}

export const realClock: SwarmClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => { clearTimeout(t as NodeJS.Timeout | undefined) },
  defer: (fn) => { setImmediate(fn) },
}

/** Resolve after `ms` on `clock`. */
export function sleepOn (clock: SwarmClock, ms: number): Promise<void> {
  return new Promise(resolve => { clock.setTimeout(resolve, ms) })
}

/** Wait for `p`, at most `ms` on `clock`, or until `signal` aborts; the timer goes when p settles first. */
export async function within (clock: SwarmClock, p: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<void> {
  let timer: TimerHandle | undefined
  let stop = (): void => {}
  const timeout = new Promise<void>(resolve => { stop = resolve; timer = clock.setTimeout(resolve, ms) })
  signal?.addEventListener('abort', stop, { once: true })
  try { await Promise.race([p, timeout]) } finally { clock.clearTimeout(timer); signal?.removeEventListener('abort', stop) }
}
