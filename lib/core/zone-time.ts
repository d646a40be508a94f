// Times named by a wall clock in a time zone, written as RFC 9557 does
// (`2026-03-29T03:30:00[Europe/Berlin]`), so a broadcaster can say "8 pm in Berlin"
// without working out the offset. A wall time that a daylight-saving change skips or
// repeats is refused: the schedule must never be an hour out.
import { parseTime } from './units.js'

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?$/

function formatter (zone: string): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    })
  } catch {
    throw new Error(`unknown time zone '${zone}' (an IANA name such as Europe/Berlin)`)
  }
}

/** The wall-clock reading in `zone` at instant `ms`, as if it were UTC, in whole seconds. */
function wallAt (f: Intl.DateTimeFormat, ms: number): number {
  const p: Record<string, number> = {}
  for (const part of f.formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value)
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second)
}

/**
 * Like parseTime (lib/units.ts), and also `WALLTIME[Zone/Name]`. With both an offset and
 * a zone, the offset decides (as RFC 9557 reads it when they agree).
 */
export function parseZonedTime (s: string, now: number = Date.now()): number {
  const m = /^(.*)\[([^\]]+)\]$/.exec(s.trim())
  if (!m) return parseTime(s, now)
  const [, body, zone] = m
  const f = formatter(zone)
  if (/(Z|[+-]\d{2}:?\d{2})$/i.test(body)) return parseTime(body, now)
  const w = WALL.exec(body)
  if (!w) throw new Error(`not a time: '${s}' (try 2026-11-22T20:00:00[Europe/Berlin])`)
  const [, y, mo, d, h, mi, sec, frac] = w
  const wallMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec ?? 0))
  const extra = frac ? Number(frac.padEnd(3, '0')) : 0
  // the zone's offset a day either side brackets every offset in force near this time
  const candidates = new Set<number>()
  for (const probe of [wallMs - 86_400_000, wallMs + 86_400_000]) {
    const offset = wallAt(f, probe) - Math.floor(probe / 1000) * 1000
    const t = wallMs - offset
    if (wallAt(f, t) === wallMs) candidates.add(t)
  }
  if (candidates.size === 0) throw new Error(`${body} does not exist in ${zone}: the clocks skip it`)
  if (candidates.size > 1) throw new Error(`${body} happens twice in ${zone}: the clocks go back; give an offset instead`)
  return [...candidates][0] + extra
}
