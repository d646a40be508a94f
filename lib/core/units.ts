// Human units, the same for every command: durations (`500ms`, `30s`, `10m`, `2h`,
// bare number = ms), sizes and rates (`64k`, `2M`, bytes), times (ISO 8601 with an
// offset or `Z`, `now`, `+10m`, `-1h`).

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseDuration (s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(s)
  if (!m) throw new Error(`not a duration: '${s}' (try 500ms, 30s, 10m, 2h)`)
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 'ms'])
}

const SIZE: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

export function parseSize (s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?\s*$/i.exec(s)
  if (!m) throw new Error(`not a size: '${s}' (try 64k, 2M)`)
  return Math.round(Number(m[1]) * SIZE[m[2].toLowerCase()])
}

export function formatSize (n: number): string {
  if (n < 1024) return `${n}B`
  const u = ['k', 'M', 'G', 'T']
  let i = -1
  do { n /= 1024; i++ } while (n >= 1024 && i < u.length - 1)
  return `${n.toFixed(n < 10 ? 1 : 0)}${u[i]}`
}

/**
 * A time: `now`, `+10m`/`-2h` relative to now, or ISO 8601 that names its offset
 * (`Z`, `+02:00`). A bare local time is refused: it would depend on the machine's zone.
 */
export function parseTime (s: string, now: number = Date.now()): number {
  const t = s.trim()
  if (t === 'now') return now
  const rel = /^([+-])(.+)$/.exec(t)
  if (rel) return now + (rel[1] === '-' ? -1 : 1) * parseDuration(rel[2])
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(t)) {
    throw new Error(`not a time: '${s}' (ISO 8601 with an offset such as 2026-11-22T18:00:00Z or +01:00, 'now', or '+10m')`)
  }
  const ms = Date.parse(t.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  if (Number.isNaN(ms)) throw new Error(`not a valid time: '${s}'`)
  return ms
}

/** ISO 8601 UTC with milliseconds only when needed. */
export function formatTime (ms: number): string {
  const s = new Date(ms).toISOString()
  return s.endsWith('.000Z') ? s.slice(0, -5) + 'Z' : s
}
