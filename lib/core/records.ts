// Schedule records (man pc-records.5): the NDJSON lines pc-schedule writes and
// pc-fetch reads. Types plus a hand-written validator; unknown fields pass through.
import { DataError } from './errors.js'

export interface ScheduleRecord {
  url: string
  title?: string
  mime?: string
  /** ISO 8601 UTC, ending in Z */
  start: string
  /** ISO 8601 UTC; absent for an item with no known end (live) */
  end?: string
  /** ms; absent for live */
  duration?: number
  /** ms into the item at the time the record was made (0 for later items) */
  offset: number
  /** a live show: url is a pc-live mount, the item has no size and no hash tree */
  live?: boolean
  /** announced ahead for "up next" (pc-schedule --follow --announce): not to be fetched now */
  announce?: boolean
  /** hash-tree root, lowercase hex (from dc:identifier urn:blake2b:…) */
  root?: string
  /** URL of the published hash tree */
  hashtree?: string
  [extra: string]: unknown
}

const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/
const HEX64 = /^[0-9a-f]{64}$/

/** Check a parsed NDJSON object is a schedule record; `where` is e.g. `stdin:3`. */
export function validateRecord (v: Record<string, unknown>, where: string): ScheduleRecord {
  const bad = (what: string): never => { throw new DataError(`schedule record: ${what}`, where) }
  if (typeof v.url !== 'string' || v.url === '') bad('missing "url"')
  if (typeof v.start !== 'string' || !ISO_Z.test(v.start)) bad('"start" must be ISO 8601 UTC ending in Z')
  if (v.end !== undefined && (typeof v.end !== 'string' || !ISO_Z.test(v.end))) bad('"end" must be ISO 8601 UTC ending in Z')
  if (v.duration !== undefined && !(Number.isInteger(v.duration) && (v.duration as number) >= 0)) bad('"duration" must be a non-negative integer (ms)')
  if (v.offset === undefined) v.offset = 0
  if (!(Number.isInteger(v.offset) && (v.offset as number) >= 0)) bad('"offset" must be a non-negative integer (ms)')
  if (v.root !== undefined && (typeof v.root !== 'string' || !HEX64.test(v.root))) bad('"root" must be 64 lowercase hex digits')
  if (v.hashtree !== undefined && typeof v.hashtree !== 'string') bad('"hashtree" must be a URL string')
  if (v.live !== undefined && typeof v.live !== 'boolean') bad('"live" must be true or false')
  if (v.announce !== undefined && typeof v.announce !== 'boolean') bad('"announce" must be true or false')
  for (const k of ['title', 'mime'] as const) if (v[k] !== undefined && typeof v[k] !== 'string') bad(`"${k}" must be a string`)
  return v as ScheduleRecord
}
