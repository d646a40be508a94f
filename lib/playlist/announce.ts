// "Up next" for pc-schedule --follow: the slots coming over a look-ahead horizon, as
// records marked "announce": true that pc-fetch passes on (NEXT frames) without
// fetching. Each slot is announced once, and again only when the playlist changes it;
// what it remembers is bounded by the slots in the horizon.
import type { ScheduleRecord } from '../core/records.js'
import { slotsFrom, toRecord, type Schedule } from './schedule.js'

/** the most slots announced ahead at once (1 s items over a day would be 86,400) */
export const MAX_ANNOUNCED_SLOTS = 1000

export class Announcer {
  /** slot start (ms) → the record last announced for it */
  private readonly sent = new Map<number, string>()
  constructor (readonly horizonMs: number, readonly maxSlots = MAX_ANNOUNCED_SLOTS) {}

  /**
   * The announcements to write now: slots starting at or after `after` (the end of the
   * last slot printed for fetching) and before `now` + the horizon, that were not
   * announced yet or have changed since.
   */
  update (schedule: Schedule, after: number, now: number): ScheduleRecord[] {
    for (const k of this.sent.keys()) if (k < after) this.sent.delete(k)
    const out: ScheduleRecord[] = []
    if (this.horizonMs <= 0 || !Number.isFinite(after)) return out
    let n = 0
    for (const slot of slotsFrom(schedule, after)) {
      if (slot.start < after) continue // on air at `after`: printed for fetching already
      if (slot.start >= now + this.horizonMs || n++ >= this.maxSlots) break
      const rec = { ...toRecord(slot, slot.start), announce: true }
      const line = JSON.stringify(rec)
      if (this.sent.get(slot.start) === line) continue
      this.sent.set(slot.start, line)
      out.push(rec)
    }
    return out
  }
}
