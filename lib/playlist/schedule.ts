// The timing rule (DESIGN.md "Playlist"): lay a parsed playlist out on the UTC time
// line, find what is on air at a time, and follow the schedule as time passes. An
// item without ev:startdate starts when the previous one ends; a playlist with no
// time at all is an endless loop anchored at the Unix epoch.
import { DataError } from '../core/errors.js'
import { formatTime } from '../core/units.js'
import type { Playlist, PlaylistItem } from './read.js'
import type { ScheduleRecord } from '../core/records.js'

/** One airing of an item: [start, end) in ms since the epoch; no end = open-ended (live). */
export interface Slot { item: PlaylistItem, start: number, end?: number }

export type Schedule =
  | { kind: 'timed', slots: Slot[] }
  | { kind: 'loop', items: PlaylistItem[], cycleMs: number, anchor: number }

export interface LayoutOptions {
  /** where a playlist that names no time starts (once through) instead of the epoch loop */
  start?: number
  /** told about decisions the user may want to know of */
  warn?: (msg: string) => void
}

/** Apply the timing rule. Throws DataError naming the item it cannot place. */
export function layOut (pl: Playlist, opts: LayoutOptions = {}): Schedule {
  const { items } = pl
  const timed = items.findIndex(i => i.start !== undefined || i.end !== undefined)
  if (timed < 0 && pl.date === undefined && opts.start === undefined) return loopOf(items)
  if (timed >= 0 && opts.start !== undefined) opts.warn?.('--start ignored: the playlist gives its own start times')

  let t0: number
  if (items[0].start !== undefined) t0 = items[0].start
  else if (timed < 0) t0 = opts.start ?? pl.date as number
  else if (pl.date !== undefined) t0 = pl.date
  else t0 = backFill(items, timed)

  const slots: Slot[] = []
  let prevEnd: number | undefined = t0
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    let start: number
    if (item.start !== undefined) start = item.start
    else if (prevEnd !== undefined) start = prevEnd
    else throw new DataError('cannot place this item: the one before it has no mm:duration or ev:enddate', item.where)
    const prev = slots[slots.length - 1]
    if (prev && start < prev.start) throw new DataError(`ev:startdate ${formatTime(start)} is before the previous item's start ${formatTime(prev.start)}`, item.where)
    if (prev && (prev.end === undefined || prev.end > start)) prev.end = start // a later item cuts an earlier one short
    let end = item.end ?? (item.duration !== undefined ? start + item.duration : undefined)
    if (end === undefined) {
      const next = items[i + 1]
      if (next?.start !== undefined) end = next.start
      else if (next !== undefined) throw new DataError('item has no mm:duration or ev:enddate, and the next item has no ev:startdate', item.where)
      // the last item with no length is open-ended (a live item)
    }
    if (end !== undefined && end < start) throw new DataError(`ev:enddate ${formatTime(end)} is before the item's start ${formatTime(start)}`, item.where)
    slots.push({ item, start, end })
    prevEnd = end
  }
  return { kind: 'timed', slots: slots.filter(s => s.end === undefined || s.end > s.start) }
}

/** Items before the first timed one end where the next begins, counted back from it. */
function backFill (items: PlaylistItem[], timed: number): number {
  let t = items[timed].start ?? (items[timed].end as number) - need(items[timed])
  for (let i = timed - 1; i >= 0; i--) t -= need(items[i])
  return t
}

function need (item: PlaylistItem): number {
  if (item.duration === undefined) throw new DataError('item has no mm:duration, so it cannot be placed before the first timed item', item.where)
  return item.duration
}

function loopOf (items: PlaylistItem[]): Schedule {
  for (const it of items) {
    if (it.duration === undefined) throw new DataError('item has no mm:duration (a playlist with no times is a loop, and every item of a loop needs one)', it.where)
  }
  const playing = items.filter(i => (i.duration as number) > 0)
  const cycleMs = playing.reduce((s, i) => s + (i.duration as number), 0)
  if (cycleMs === 0) throw new DataError('every item has mm:duration 0: nothing to loop', items[0].where)
  return { kind: 'loop', items: playing, cycleMs, anchor: 0 }
}

/** Slots that have not ended by `t`, in order; the first may be on air at `t`. Endless for a loop. */
export function * slotsFrom (s: Schedule, t: number): Generator<Slot> {
  if (s.kind === 'timed') {
    for (const slot of s.slots) if (slot.end === undefined || slot.end > t) yield slot
    return
  }
  let cycleStart = s.anchor + Math.floor((t - s.anchor) / s.cycleMs) * s.cycleMs
  for (;;) {
    let start = cycleStart
    for (const item of s.items) {
      const end = start + (item.duration as number)
      if (end > t) yield { item, start, end }
      start = end
    }
    cycleStart += s.cycleMs
  }
}

/** How many records one pass through the schedule makes (a loop: one cycle). */
export function passLength (s: Schedule): number {
  return s.kind === 'loop' ? s.items.length : Infinity
}

/** A schedule record (man pc-records.5) for a slot, played from `from` on. */
export function toRecord (slot: Slot, from: number): ScheduleRecord {
  const { item } = slot
  // field order as documented: url, title, mime, start, end, duration, offset, live, root, hashtree
  const rec: Record<string, unknown> = { url: item.url }
  if (item.title !== undefined) rec.title = item.title
  if (item.mime !== undefined) rec.mime = item.mime
  rec.start = formatTime(slot.start)
  if (slot.end !== undefined) { rec.end = formatTime(slot.end); rec.duration = slot.end - slot.start }
  rec.offset = Math.max(0, from - slot.start)
  if (item.live) rec.live = true
  if (item.root !== undefined) {
    rec.root = item.root
    // dc:identifier says a tree was made; pc-playlist --hash publishes it beside the media
    rec.hashtree = item.url + '.hashtree'
  }
  return rec as ScheduleRecord
}

/** The records from the item on air at `at`: `count` of them, or one pass. */
export function * recordsAt (s: Schedule, at: number, count?: number): Generator<ScheduleRecord> {
  const limit = count ?? passLength(s)
  let n = 0
  if (limit <= 0) return
  for (const slot of slotsFrom(s, at)) {
    yield toRecord(slot, at)
    if (++n >= limit) return
  }
}

export interface Clock {
  now: () => number
  /** resolve after `ms`, or early when `signal` aborts */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
}

export const systemClock = (shiftMs = 0): Clock => ({
  now: () => Date.now() + shiftMs,
  sleep: (ms, signal) => new Promise<void>((resolve) => {
    if (signal.aborted) { resolve(); return }
    const done = (): void => { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
    // setTimeout holds at most 2^31-1 ms; a longer wait just wakes up and looks again
    const t = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)))
    signal.addEventListener('abort', done, { once: true })
  }),
})

export interface FollowOptions {
  schedule: Schedule
  /** schedule time to begin at (--at) */
  at: number
  clock: Clock
  leadMs: number
  pollMs: number
  /** stop after this many records */
  count?: number
  signal: AbortSignal
  /** a newer schedule, or undefined to keep the one we have (unchanged, or broken: reload warns) */
  reload: () => Promise<Schedule | undefined>
  emit: (rec: ScheduleRecord) => Promise<void>
}

/**
 * Print the item on air at `at` at once, then each next one `leadMs` before it starts,
 * reloading every `pollMs`. Items not yet printed come from the newest schedule: the
 * cursor is the end of the last printed slot, and the next record is whatever the
 * current schedule airs from there. A reload runs beside the timing, so a slow origin
 * never makes an item late. Returns when `count` is reached or `signal` aborts.
 */
export async function follow (o: FollowOptions): Promise<void> {
  let schedule = o.schedule
  let cursor = o.at
  let printed = 0
  let nextPoll = o.clock.now() + o.pollMs
  let reloading: Promise<void> | undefined
  let failed: { error: unknown } | undefined
  // One listener on the caller's signal for the whole run, waking whichever wait is
  // current. An AbortSignal.any() per wait would leave a WeakRef in the caller's
  // signal for every item (Node 20 keeps them until that signal aborts): a day of
  // one-second items is 86,400 of them.
  let wake = new AbortController()
  const stop = (): void => wake.abort()
  o.signal.addEventListener('abort', stop, { once: true })
  try {
    while (!o.signal.aborted && (o.count === undefined || printed < o.count)) {
      if (failed) throw failed.error
      const now = o.clock.now()
      // after a stall (suspend, slow reload) never print what has already ended
      const from = printed === 0 ? o.at : Math.max(cursor, now)
      const slot = cursor === Infinity ? undefined : slotsFrom(schedule, from).next().value as Slot | undefined
      const playAt = slot ? Math.max(slot.start, from) : Infinity
      if (slot && now >= playAt - o.leadMs) {
        await o.emit(toRecord(slot, from))
        printed++
        cursor = slot.end ?? Infinity
        continue
      }
      if (reloading === undefined && now >= nextPoll) {
        reloading = o.reload().then((s) => { if (s) schedule = s }, (e: unknown) => { if (!o.signal.aborted) failed = { error: e } })
          .finally(() => { reloading = undefined; nextPoll = o.clock.now() + o.pollMs })
        continue
      }
      // wake for the next item, the next poll, or a reload that has finished
      const wait = Math.min(playAt - o.leadMs, reloading ? Infinity : nextPoll) - now
      const waits: Array<Promise<void>> = reloading ? [reloading] : []
      if (Number.isFinite(wait)) waits.push(o.clock.sleep(wait, wake.signal))
      await Promise.race(waits)
      wake.abort()
      wake = new AbortController()
    }
  } finally {
    o.signal.removeEventListener('abort', stop)
  }
}
