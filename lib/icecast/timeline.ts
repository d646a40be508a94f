// Turns the input (ordered frames, or plain media bytes) into a timeline of segments:
// runs of whole media units (MPEG/ADTS frames, Ogg pages) each stamped with the wall
// time it plays. With frames the clock is the schedule's (an item's unit plays at
// item.start + its media time; a live item's at its last MARK's source time + the live
// delay + the media time since that MARK); with plain bytes it starts at the first byte.
// The server sends a segment when it is due; nothing here touches a socket, and
// nothing here reads the input (pump.ts does).
import type { Frame, ItemHeader } from '../frames/frame.js'
import type { ScheduleRecord } from '../core/records.js'
import { oggPageUs } from '../media/ogg-join.js'
import { joinRule, type JoinRule } from './join.js'
import { MediaParser, beginsUnit, detectKind, mimeOf, type MediaKind, type MediaUnit, type StreamInfo } from '../media/media.js'

/** a segment closes at this many bytes… */
export const SEGMENT_BYTES = 4096
/** …or this much play time: a listener gets about four writes a second, as from icecast2 */
export const SEGMENT_MS = 250
/** bytes sniffed before deciding what an item is */
export const SNIFF_BYTES = 4096
/** plain input that falls behind its own clock by more than this moves the clock */
export const REBASE_MS = 500
/** a container clock going back by more than this starts the next concatenated file */
export const LINK_JUMP_US = 1_000_000
/** a live video unit this late is still sent (at once): players buffer, and losing it costs pictures to the next keyframe */
export const LIVE_VIDEO_LATE_MS = 1000
/** warnings kept for the status page */
export const MAX_WARNINGS = 20
/** announced slots (NEXT frames) kept for /next.json; the earliest are kept */
export const MAX_ANNOUNCED = 2000

export interface ItemMeta {
  item: number
  title?: string
  url?: string
  mime?: string
  /** ms epoch when the item's media time 0 plays */
  startMs: number
  durationMs?: number
  size?: number | null
  kind?: MediaKind
  info?: StreamInfo
  /** what a listener joining mid-item gets first (set once the kind is known; shared by the items of one kind) */
  join?: JoinRule
  /** the START record as given, for /next.json */
  header?: ItemHeader
  /** a live item: timed by its MARKs */
  live?: boolean
}

/** A MARK as the timeline keeps it until the unit at its offset is parsed. */
interface PendingMark { offset: number, playMs: number, seq: number, title?: string }

export interface Segment {
  seq: number
  meta: ItemMeta
  /** when its first audio byte plays / its last one ends (ms epoch) */
  atMs: number
  endMs: number
  bytes: Buffer
  /** the title of these bytes (ICY StreamTitle): the item's, or a live item's MARK title in force */
  title?: string
  /** leading bytes that are Ogg header pages */
  headerBytes: number
  /** what a player joining in this segment gets first: the headers in force for it (Ogg: its link's header pages) */
  headers: readonly Buffer[]
  /** byte offsets (in bytes) where each audio unit starts, and when each plays */
  units: number[]
  unitAt: number[]
  /** which units are random-access points (video) */
  keys: boolean[]
}

export interface TimelineOptions {
  now: () => number
  warn: (m: string) => void
  /** overrides detection (plain bytes or every item) */
  contentType?: string
  /** pace 'other' plain bytes at this rate */
  bitrateKbps: number
  /** title for plain input */
  title?: string
  /** a live item's byte at a MARK plays this long after the MARK's source time */
  liveDelayMs?: number
  verbose?: (m: string) => void
}

interface Open {
  meta: ItemMeta
  title?: string
  headers: readonly Buffer[]
  parts: Buffer[]
  size: number
  headerBytes: number
  atMs: number
  endMs: number
  units: number[]
  unitAt: number[]
  keys: boolean[]
}

interface ItemRun {
  meta: ItemMeta
  parser?: MediaParser
  sniff: Buffer[]
  sniffBytes: number
  sniffOffset: number
  /** media time of the next unit (µs) */
  mediaUs: number
  /** plain video input: added to the container's clock, which starts again with each concatenated file */
  linkUs: number
  /** after a GAP: estimate the next unit's time from its byte offset */
  estimate: boolean
  dropped: number
  heldOgg?: MediaUnit
  /** live: MARKs not yet reached by the parser, in offset order */
  marks: PendingMark[]
  /** live: the last MARK reached, anchoring media time to the wall clock */
  anchor?: { playMs: number, mediaUs: number, seq: number, late: number }
  /** live: the title in force (the last MARK's, else the item's) */
  title?: string
  /** live: the stream's codec, rate and channels as last seen, to say when they change */
  info?: StreamInfo
  /** live: the next DATA starts a chunk: check its kind */
  chunkStart: boolean
  /** live video: units wait for a random-access point (at the start, and after one was late) */
  needKey: boolean
}

export class Timeline {
  /** segments still held; segments[0] has seq `baseSeq` */
  private segs: Segment[] = []
  private baseSeq = 0
  private open: Open | undefined
  private pendingHeaders: Buffer[] = []
  private run: ItemRun | undefined
  private prevInfo: { meta: ItemMeta } | undefined
  /** items announced by START and not yet over: for now playing and /next.json */
  readonly items = new Map<number, ItemMeta>()
  readonly warnings: string[] = []
  ended = false
  /** the first item's kind and info, which fix the mount's Content-Type */
  first: ItemMeta | undefined
  private readonly listeners = new Set<() => void>()
  private plainT0: number | undefined
  private readonly joinRules = new Map<MediaKind, JoinRule>()
  /** slots announced ahead by NEXT frames, by start time and URL */
  private readonly announced = new Map<string, ItemMeta>()

  /** plain bytes: no schedule, the clock starts at the first byte (set by pumpInput in pump.ts) */
  plain = true

  constructor (readonly opts: TimelineOptions) {}

  get nextSeq (): number { return this.baseSeq + this.segs.length }
  get firstSeq (): number { return this.baseSeq }
  get (seq: number): Segment | undefined { return this.segs[seq - this.baseSeq] }
  get last (): Segment | undefined { return this.segs[this.segs.length - 1] }

  /** called whenever segments are added or the timeline ends */
  onChange (f: () => void): () => void { this.listeners.add(f); return () => this.listeners.delete(f) }

  /** how far ahead of `now` the timeline reaches (ms); negative when dry */
  aheadMs (now: number): number {
    const l = this.open ? this.open.endMs : this.last?.endMs
    return l === undefined ? -Infinity : l - now
  }

  /** The Content-Type of the mount (undefined until the first item's kind is known). */
  contentType (): string | undefined {
    if (this.opts.contentType) return this.opts.contentType
    if (!this.first?.kind) return undefined
    return mimeOf(this.first.kind, this.first.info)
  }

  /**
   * Where a listener connecting at `now` starts: the unit whose time covers now; for
   * video, the last random-access unit at or before it (else the next one to come).
   */
  find (now: number): { seq: number, off: number, unit: number } {
    for (let i = 0; i < this.segs.length; i++) {
      const s = this.segs[i]
      if (s.endMs <= now) continue
      let u = 0
      while (u + 1 < s.units.length && s.unitAt[u + 1] <= now) u++
      if (s.meta.join?.keyed) return this.keyNear(i, u)
      return this.at(s, u)
    }
    return { seq: this.nextSeq, off: 0, unit: -1 }
  }

  private at (s: Segment, u: number): { seq: number, off: number, unit: number } {
    return { seq: s.seq, off: u === 0 && s.headerBytes > 0 ? 0 : s.units[u], unit: u }
  }

  private keyNear (i: number, u: number): { seq: number, off: number, unit: number } {
    for (let k = i; k >= 0; k--) {
      const s = this.segs[k]
      for (let v = k === i ? u : s.units.length - 1; v >= 0; v--) if (s.keys[v]) return this.at(s, v)
    }
    for (let k = i; k < this.segs.length; k++) {
      const s = this.segs[k]
      for (let v = k === i ? u + 1 : 0; v < s.units.length; v++) if (s.keys[v]) return this.at(s, v)
    }
    return { seq: this.nextSeq, off: 0, unit: -1 }
  }

  /** Forget segments before `seq` (no listener needs them). */
  trimBefore (seq: number): void {
    const n = Math.min(seq - this.baseSeq, this.segs.length)
    if (n > 0) { this.segs.splice(0, n); this.baseSeq += n }
  }

  /** Items whose start is after `now`, in order, then the slots announced after them (for /next.json and the page). */
  upcoming (now: number): ItemMeta[] {
    const items = [...this.items.values()].filter(m => m.startMs > now).sort((a, b) => a.item - b.item)
    const last = items.length ? items[items.length - 1].startMs : now
    for (const [k, a] of this.announced) if (a.startMs <= now) this.announced.delete(k)
    const later = [...this.announced.values()].filter(a => a.startMs > last).sort((a, b) => a.startMs - b.startMs)
    return [...items, ...later]
  }

  /** A NEXT frame: a slot announced ahead; a later announcement of the same slot replaces it. */
  private announce (rec: ScheduleRecord): void {
    const startMs = Date.parse(rec.start)
    if (Number.isNaN(startMs)) return
    const key = `${rec.start} ${rec.url}`
    this.announced.delete(key)
    // a slot that starts at the same time as another replaces it (the playlist changed)
    for (const [k, a] of this.announced) if (a.startMs === startMs) this.announced.delete(k)
    if (this.announced.size >= MAX_ANNOUNCED) {
      const latest = [...this.announced].reduce((x, y) => y[1].startMs > x[1].startMs ? y : x)
      if (latest[1].startMs <= startMs) return
      this.announced.delete(latest[0])
    }
    this.announced.set(key, { item: -1, title: rec.title, url: rec.url, mime: rec.mime, startMs, durationMs: rec.duration, header: { ...rec, size: null, chunkSize: 1 } })
  }

  private warnOnce (m: string): void {
    this.opts.warn(m)
    this.warnings.push(m)
    if (this.warnings.length > MAX_WARNINGS) this.warnings.shift()
  }

  // ---- input: frames ----

  pushFrame (f: Frame): void {
    switch (f.type) {
      case 'start': {
        const h = f.header
        const startMs = Date.parse(h.start)
        const meta: ItemMeta = {
          item: f.item, title: h.title, url: h.url, mime: h.mime, startMs: Number.isNaN(startMs) ? this.opts.now() : startMs,
          durationMs: h.duration, size: h.size, header: h, live: h.live === true,
        }
        this.items.set(f.item, meta)
        // what is announced for this slot is now this item
        const until = meta.durationMs !== undefined ? meta.startMs + meta.durationMs : meta.startMs + 1
        for (const [k, a] of this.announced) if (a.startMs < until) this.announced.delete(k)
        break
      }
      case 'next':
        this.announce(f.record)
        return
      case 'mark': {
        const run = this.runFor(f.item)
        if (!run || !run.meta.live) break
        const playMs = Date.parse(f.mark.time) + (this.opts.liveDelayMs ?? 0)
        run.marks.push({ offset: f.offset, playMs, seq: f.mark.seq, title: f.mark.title })
        run.chunkStart = true
        break
      }
      case 'data': {
        const run = this.runFor(f.item)
        if (!run) break
        if (run.chunkStart) { run.chunkStart = false; this.checkKind(run, f.data) }
        this.feed(run, f.data, f.offset)
        break
      }
      case 'gap': {
        const run = this.runFor(f.item)
        if (!run) break
        // still sniffing: what we have is the item's head; keep it, resync after the gap
        if (!run.parser) this.decide(run)
        ;(run.parser as MediaParser | undefined)?.resyncAt(f.end)
        run.estimate = true
        break
      }
      case 'end': {
        const run = this.run
        if (run && run.meta.item === f.item) this.finishRun(run)
        this.items.delete(f.item)
        break
      }
    }
    this.flush()
  }

  private runFor (item: number): ItemRun | undefined {
    if (this.run?.meta.item === item) return this.run
    const meta = this.items.get(item)
    if (!meta) return undefined
    if (this.run) this.finishRun(this.run)
    // items before this one are over
    for (const k of this.items.keys()) if (k < item) this.items.delete(k)
    this.run = newRun(meta)
    return this.run
  }

  // ---- input: plain bytes ----

  private plainOffset = 0
  pushPlain (buf: Buffer): void {
    if (!this.run) {
      const meta: ItemMeta = { item: 0, title: this.opts.title, startMs: this.opts.now(), size: null }
      this.items.set(0, meta)
      this.run = newRun(meta)
    }
    this.feed(this.run, buf, this.plainOffset)
    this.plainOffset += buf.length
    this.flush()
  }

  /**
   * Input ended: emit what is held, close the timeline. A frame stream that ends
   * inside an item (no END: the writer stopped) or input stopped by a signal (`stopped`)
   * cuts the last unit short; that is not damage, and is said only with -v.
   */
  end (opts: { stopped?: boolean } = {}): void {
    const run = this.run
    if (run) {
      const cut = opts.stopped === true || !this.plain
      if (cut && !opts.stopped) this.opts.verbose?.(`${this.where(run.meta)}the input ended before the item's END`)
      this.finishRun(run, cut)
    }
    this.run = undefined
    this.closeOpen()
    this.ended = true
    this.changed()
  }

  // ---- parsing and timing ----

  private feed (run: ItemRun, data: Buffer, offset: number): void {
    if (!run.parser) {
      if (run.sniffOffset < 0) run.sniffOffset = offset
      run.sniff.push(data)
      run.sniffBytes += data.length
      if (run.sniffBytes < SNIFF_BYTES) return
      this.decide(run)
      return
    }
    this.units(run, run.parser.push(data))
  }

  /** Settle the item's kind from its first bytes and start its parser. */
  private decide (run: ItemRun): void {
    if (run.parser) return
    const head = Buffer.concat(run.sniff)
    const meta = run.meta
    meta.kind = detectKind(head, this.opts.contentType ?? meta.mime)
    run.parser = new MediaParser(meta.kind, { warn: (m) => this.opts.warn(this.where(meta) + m) })
    // one rule per kind for the whole stream: the items follow each other in one
    // stream (Ogg items as links of one chain), so the next must not reuse the serial
    // numbers of the one before
    meta.join = this.joinRules.get(meta.kind) ?? joinRule(meta.kind)
    this.joinRules.set(meta.kind, meta.join)
    meta.join.newItem?.()
    if (!this.first) this.first = meta
    run.sniff = []
    if (head.length) this.units(run, run.parser.push(head))
  }

  private where (meta: ItemMeta): string {
    return this.plain ? 'stdin: ' : `item ${meta.item}${meta.title ? ` (${meta.title})` : ''}: `
  }

  private finishRun (run: ItemRun, cut = false): void {
    if (!run.parser && run.sniffBytes > 0) this.decide(run)
    if (run.parser) this.units(run, run.parser.end({ cut }))
    this.lateChunk(run)
    if (run.dropped > 0) this.opts.verbose?.(`${this.where(run.meta)}${run.dropped} units were late for the schedule and not sent`)
    if (this.run === run) this.run = undefined
  }

  private units (run: ItemRun, parsed: MediaUnit[]): void {
    let units = parsed
    const meta = run.meta
    if (!meta.info && run.parser) {
      const info = run.parser.info()
      if (info) { meta.info = info; this.checkChain(meta) }
    }
    if (meta.live) this.checkLiveInfo(run)
    const now = this.opts.now()
    if (meta.kind === 'ogg') units = this.timeOggPages(run, units)
    // containers with their own clock: every unit at its time (headers and gaps have none)
    const clocked = meta.kind === 'ts' || meta.kind === 'matroska' || meta.kind === 'fmp4'
    for (const u of units) {
      const bytes = meta.join?.take(u) ?? u.bytes
      const note = meta.join?.takeNote?.()
      if (note) this.warnOnce(this.where(meta) + note)
      if (u.header) {
        this.closeOpen()
        this.pendingHeaders.push(bytes)
        continue
      }
      let durUs = u.durationUs
      let tUs: number
      if (meta.live) {
        const at = this.liveTime(run, u)
        if (at === undefined) continue
        // a video container's clock is its own: a Cluster head or a header takes no time
        if (durUs === 0 && !clocked) durUs = u.bytes.length * 8000 / this.opts.bitrateKbps
        run.mediaUs += durUs
        // video: a unit lost costs every picture to the next keyframe, so one a little late is sent at once
        if (at + durUs / 1000 + (clocked ? LIVE_VIDEO_LATE_MS : 0) < now) { run.dropped++; (run.anchor as { late: number }).late++; run.needKey = true; continue }
        // video: from the show's start and after a unit lost, nothing until a random-access point (a decoder cannot start elsewhere)
        if (meta.join?.keyed && run.needKey && !u.key) { run.dropped++; continue }
        run.needKey = false
        // the slot's end cuts the show as heard, so the next item starts on time
        if (meta.durationMs !== undefined && at >= meta.startMs + meta.durationMs) continue
        this.addUnit(meta, bytes, at, durUs / 1000, u.key === true, run.title)
        continue
      }
      if (clocked) {
        // plain input: a clock that jumps back is the next file of a concatenation; it plays on from here
        if (this.plain && u.timeUs !== undefined && u.timeUs + run.linkUs < run.mediaUs - LINK_JUMP_US) run.linkUs = run.mediaUs - u.timeUs
        tUs = u.timeUs === undefined ? run.mediaUs : u.timeUs + run.linkUs
      } else if (durUs === 0 && meta.size && meta.durationMs) {
        // nothing in the bytes says their time: the schedule's duration over size
        tUs = u.offset / meta.size * meta.durationMs * 1000
        durUs = u.bytes.length / meta.size * meta.durationMs * 1000
      } else if (durUs === 0) {
        durUs = u.bytes.length * 8000 / this.opts.bitrateKbps
        tUs = this.plain ? run.mediaUs : (meta.size && meta.durationMs ? u.offset / meta.size * meta.durationMs * 1000 : run.mediaUs)
      } else if (u.timeUs !== undefined) {
        tUs = u.timeUs
      } else if (run.estimate && meta.size && meta.durationMs) {
        tUs = u.offset / meta.size * meta.durationMs * 1000
      } else {
        tUs = run.mediaUs
      }
      run.estimate = false
      run.mediaUs = clocked ? Math.max(run.mediaUs, tUs + durUs) : tUs + durUs
      let atMs: number
      if (this.plain) {
        if (this.plainT0 === undefined) this.plainT0 = now - tUs / 1000
        atMs = this.plainT0 + tUs / 1000
        if (atMs < now - REBASE_MS) {
          // live input fell behind: move the clock instead of bursting to catch up
          this.plainT0 += now - atMs
          atMs = now
        }
      } else {
        atMs = meta.startMs + tUs / 1000
        if (atMs + durUs / 1000 < now) { run.dropped++; continue }
      }
      this.addUnit(meta, bytes, atMs, durUs / 1000, u.key === true, meta.title)
    }
  }

  /**
   * A live unit's play time: the last MARK at or before its offset fixes when the
   * byte there plays (source time + delay); media time runs on from there. Units
   * before the first MARK have no time and are not sent.
   */
  private liveTime (run: ItemRun, u: MediaUnit): number | undefined {
    while (run.marks.length && run.marks[0].offset <= u.offset) {
      const m = run.marks.shift() as PendingMark
      this.lateChunk(run)
      run.anchor = { playMs: m.playMs, mediaUs: run.mediaUs, seq: m.seq, late: 0 }
      if (m.title !== undefined) run.title = m.title
    }
    if (!run.anchor) { run.dropped++; return undefined }
    return run.anchor.playMs + (run.mediaUs - run.anchor.mediaUs) / 1000
  }

  /** -v: say when a live chunk came (partly) after its play time and was skipped. */
  private lateChunk (run: ItemRun): void {
    const a = run.anchor
    if (a && a.late > 0) this.opts.verbose?.(`${this.where(run.meta)}live chunk ${a.seq}: ${a.late} units arrived after their play time, skipped`)
    if (a) a.late = 0
  }

  /** A live chunk starts with a frame of another kind than the show's so far: say so and parse it as that. */
  private checkKind (run: ItemRun, head: Buffer): void {
    if (!run.parser || !run.meta.live) return
    // a video chunk opens at a Cluster or a packet, whose payload may look like anything
    if (run.meta.kind && beginsUnit(run.meta.kind, head)) return
    const kind = detectKind(head)
    if (kind === 'other' || kind === run.meta.kind) return
    this.units(run, run.parser.end())
    this.warnOnce(`${this.where(run.meta)}the source changed from ${run.meta.kind} to ${kind} mid-show; some players will stop or garble here`)
    run.meta.kind = kind
    run.parser = new MediaParser(kind, { warn: (m) => this.opts.warn(this.where(run.meta) + m) })
    run.info = undefined
  }

  /** Sample rate or channels changing within a live show: said on stderr and the status page. */
  private checkLiveInfo (run: ItemRun): void {
    const info = run.parser?.info()
    if (!info || (!info.sampleRate && !info.channels && !info.codec)) return
    const before = run.info
    run.info = info
    if (!before) return
    const diffs = infoDiffs(before, info)
    if (diffs.length) this.warnOnce(`${this.where(run.meta)}the source changed mid-show: ${diffs.join(', ')}; some players will stop or garble here`)
  }

  /**
   * The first Ogg page after a GAP has no known start (its granule says only where
   * it ends): hold it until the next page, whose start is its end, and take its
   * length from its packets (Opus) or from that next page.
   */
  private timeOggPages (run: ItemRun, units: MediaUnit[]): MediaUnit[] {
    const out: MediaUnit[] = []
    for (const u of units) {
      if (!u.header && u.durationUs === 0 && u.timeUs === undefined) { run.heldOgg = u; continue }
      const held = run.heldOgg
      if (held && !u.header && u.timeUs !== undefined) {
        const dur = oggPageUs(held.bytes, run.meta.info?.codec) ?? u.durationUs
        if (dur > 0 && dur <= u.timeUs) out.push({ ...held, timeUs: u.timeUs - dur, durationUs: dur })
        run.heldOgg = undefined
      }
      out.push(u)
    }
    return out
  }

  /** Warn when this item cannot follow the previous one in one stream without a decoder reset. */
  private checkChain (meta: ItemMeta): void {
    const prev = this.prevInfo?.meta
    this.prevInfo = { meta }
    if (!prev?.info || !meta.info) return
    const diffs = infoDiffs(prev.info, meta.info)
    if (diffs.length) this.warnOnce(`${this.where(meta)}${diffs.join(', ')} after the previous item; some players will stop or garble here`)
  }

  private addUnit (meta: ItemMeta, bytes: Buffer, atMs: number, durMs: number, key: boolean, title: string | undefined): void {
    let o = this.open
    // a new title starts a new segment, so the ICY title changes at its byte
    if (o && (o.meta !== meta || o.title !== title || o.size >= SEGMENT_BYTES || atMs - o.atMs >= SEGMENT_MS)) { this.closeOpen(); o = undefined }
    if (!o) {
      o = { meta, title, headers: meta.join?.headers ?? [], parts: [], size: 0, headerBytes: 0, atMs, endMs: atMs, units: [], unitAt: [], keys: [] }
      for (const h of this.pendingHeaders) { o.parts.push(h); o.size += h.length; o.headerBytes += h.length }
      this.pendingHeaders = []
      this.open = o
    }
    o.units.push(o.size)
    o.unitAt.push(atMs)
    o.keys.push(key)
    o.parts.push(bytes)
    o.size += bytes.length
    o.endMs = Math.max(o.endMs, atMs + durMs)
  }

  private closeOpen (): void {
    const o = this.open
    if (!o) return
    this.open = undefined
    const bytes = o.parts.length === 1 ? o.parts[0] : Buffer.concat(o.parts, o.size)
    this.segs.push({ seq: this.nextSeq, meta: o.meta, title: o.title, atMs: o.atMs, endMs: o.endMs, bytes, headerBytes: o.headerBytes, headers: o.headers, units: o.units, unitAt: o.unitAt, keys: o.keys })
  }

  /** After each input push: what is parsed goes out now, so a quiet input does not hold it back. */
  private flush (): void {
    this.closeOpen()
    this.changed()
  }

  private changed (): void { for (const f of this.listeners) f() }
}

function newRun (meta: ItemMeta): ItemRun {
  return { meta, sniff: [], sniffBytes: 0, sniffOffset: -1, mediaUs: 0, linkUs: 0, estimate: false, dropped: 0, marks: [], title: meta.title, chunkStart: false, needKey: true }
}

/** What differs between two streams that a decoder cannot follow without a reset. */
function infoDiffs (a: StreamInfo, b: StreamInfo): string[] {
  const diffs: string[] = []
  if (a.kind !== b.kind || (a.codec ?? '') !== (b.codec ?? '')) diffs.push(`codec ${a.codec ?? a.kind} → ${b.codec ?? b.kind}`)
  else if (b.kind === 'mp3' || b.kind === 'aac') {
    if (a.sampleRate && b.sampleRate && a.sampleRate !== b.sampleRate) diffs.push(`sample rate ${a.sampleRate} → ${b.sampleRate} Hz`)
    if (a.channels && b.channels && a.channels !== b.channels) diffs.push(`channels ${a.channels} → ${b.channels}`)
  }
  return diffs
}
