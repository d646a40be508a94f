// Whether a memory series grows beyond its noise: a least-squares line through the
// samples, its slope's standard error, and the rise the line makes across the span
// compared with how far the samples scatter around it. Used by bench/soak.ts on the
// second half of a run, after start-up and the allocator's settling.

export interface Growth {
  /** y units per x unit (MB per 1000 item changes when x is in thousands) */
  slope: number
  /** standard error of the slope */
  slopeSe: number
  /** what the line rises from the first x to the last */
  rise: number
  /** standard deviation of the samples around the line */
  noise: number
  /** the slope is more than 3 standard errors above 0 and the rise more than twice the noise */
  grows: boolean
}

/** Least-squares fit of ys over xs; NaN fields when there are fewer than 3 points or no spread in x. */
export function growth (xs: number[], ys: number[]): Growth {
  const n = xs.length
  const none = { slope: NaN, slopeSe: NaN, rise: NaN, noise: NaN, grows: false }
  if (n < 3 || ys.length !== n) return none
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let sxx = 0; let sxy = 0
  for (let i = 0; i < n; i++) { sxx += (xs[i] - mx) ** 2; sxy += (xs[i] - mx) * (ys[i] - my) }
  if (sxx === 0) return none
  const slope = sxy / sxx
  let sse = 0
  for (let i = 0; i < n; i++) sse += (ys[i] - my - slope * (xs[i] - mx)) ** 2
  const noise = Math.sqrt(sse / (n - 2))
  const slopeSe = noise / Math.sqrt(sxx)
  const rise = slope * (Math.max(...xs) - Math.min(...xs))
  return { slope, slopeSe, rise, noise, grows: slope > 3 * slopeSe && rise > 2 * noise }
}

/**
 * Bytes per item change over a span, by least squares: what the heap kept after a full
 * collection, and how much of that V8's compiled code (code and bytecode with their
 * metadata) accounts for. The code grows while functions become hot for the first time,
 * and slows as fewer are left; what the program keeps is in the difference.
 * `changes` in item changes, `heap` and `code` in bytes; NaN with fewer than 3 samples.
 */
export function perChange (changes: number[], heap: number[], code: number[]): { heap: number, code: number } {
  return { heap: growth(changes, heap).slope, code: growth(changes, code).slope }
}
