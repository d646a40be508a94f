// Puts a frame stream (man pc-frames.5) back in order: STARTs pass at once, each
// item's bytes come out in byte order, items in item order, within a bounded window
// and, with a deadline, without waiting forever for a chunk that never comes. A MARK
// stays just before the byte at its offset; a NEXT passes at once.
// Shared by pc-reorder and pc-icecast.
import type { Writable } from 'node:stream'
import { FrameDecoder, encodeDataHeader, encodeFrame, encodeMagic, type Frame, type ItemHeader } from './frame.js'
import { writeAll } from '../core/ndjson.js'

export interface ReorderOptions {
  /** most payload bytes held back waiting for an earlier byte */
  windowBytes: number
  /** give up a missing range this long after it was due; undefined = wait */
  deadlineMs?: number
  now?: () => number
  warn?: (m: string) => void
  /**
   * where a range given up at its deadline goes when all of it was due before it was
   * found missing (a listener tuning in after its time): a sink that drops late bytes
   * anyway loses nothing by it. Default: warn
   */
  late?: (m: string) => void
  /** reorderStream: once aborted, input that ends is not flushed (what is held was stopped, not lost) */
  signal?: AbortSignal
}

/** A held range of one item: bytes, or (no data) a range the writer gave up on. */
interface Segment { start: number, end: number, data?: Buffer, arrived: number, cost: number }

/** what a held GAP range counts against the window: its bookkeeping, so GAPs cannot pile up unbounded */
export const GAP_COST_BYTES = 64

interface Item {
  n: number
  header: ItemHeader
  /** next byte offset to deliver */
  next: number
  /** held ranges beyond `next`, sorted, not overlapping */
  segs: Segment[]
  /** MARKs at or beyond `next`, sorted by offset: each goes out just before its byte */
  marks: Array<{ frame: Frame & { type: 'mark' }, cost: number }>
  ended: boolean
}

/**
 * When a byte is due: the item's schedule says where it falls in time
 * (start + offset/size × duration). A missing range is due when the byte it holds
 * up is, and never before we knew it was missing, that is before a later frame
 * arrived (nextDeadline). Undefined when the header lacks start, size or duration.
 */
export function scheduledTime (h: ItemHeader, offset: number): number | undefined {
  const start = typeof h.start === 'string' ? Date.parse(h.start) : NaN
  if (Number.isNaN(start) || !h.size || !h.duration) return undefined
  return start + Math.min(offset, h.size) / h.size * h.duration
}

export class Reorderer {
  private readonly windowBytes: number
  private readonly deadlineMs?: number
  private readonly now: () => number
  private readonly warn: (m: string) => void
  private readonly late: (m: string) => void
  /** items with a START not yet closed, in item order; [0] is the one being delivered */
  private items: Item[] = []
  /** every item numbered at or below this is closed (or was never announced) */
  private closedUpTo = -1
  /** highest item number a START announced */
  private lastStarted = -1
  private held = 0
  private readonly warnedItems = new Map<number, Set<string>>()

  constructor (opts: ReorderOptions) {
    if (!(opts.windowBytes > 0)) throw new RangeError('windowBytes must be positive')
    this.windowBytes = opts.windowBytes
    this.deadlineMs = opts.deadlineMs
    this.now = opts.now ?? Date.now
    this.warn = opts.warn ?? (() => {})
    this.late = opts.late ?? this.warn
  }

  get bufferedBytes (): number { return this.held }

  push (f: Frame): Frame[] {
    const out: Frame[] = []
    switch (f.type) {
      case 'start':
        if (f.item <= this.lastStarted) { this.warnOnce(f.item, 'start', `item ${f.item}: START out of order or repeated, dropped`); return out }
        this.lastStarted = f.item
        this.items.push({ n: f.item, header: f.header, next: 0, segs: [], marks: [], ended: false })
        out.push(f)
        break
      case 'next':
        out.push(f)
        break
      case 'mark': {
        const it = this.find(f.item, 'MARK')
        if (!it) return out
        if (it.ended || f.offset < it.next) { this.warnOnce(it.n, 'mark', `item ${it.n}: MARK at byte ${f.offset} after its bytes went out, dropped`); return out }
        const cost = GAP_COST_BYTES + (f.mark.title?.length ?? 0)
        const i = it.marks.findIndex(m => m.frame.offset >= f.offset)
        if (i >= 0 && it.marks[i].frame.offset === f.offset) { this.held -= it.marks[i].cost; it.marks.splice(i, 1, { frame: f, cost }) } else it.marks.splice(i < 0 ? it.marks.length : i, 0, { frame: f, cost })
        this.held += cost
        break
      }
      case 'data':
      case 'gap': {
        const what = f.type === 'data' ? 'DATA' : 'GAP'
        const it = this.find(f.item, what)
        if (!it) return out
        if (it.ended) { this.warnOnce(it.n, what, `item ${it.n}: ${what} after its END, dropped`); return out }
        const start = f.type === 'data' ? f.offset : f.start
        let end = f.type === 'data' ? f.offset + f.data.length : f.end
        if (it.header.size !== null && end > it.header.size) {
          this.warnOnce(it.n, 'size', `item ${it.n}: ${f.type.toUpperCase()} past the item's size ${it.header.size} at byte ${Math.max(start, it.header.size)}, cut`)
          end = it.header.size
        }
        this.insert(it, start, end, f.type === 'data' ? f.data : undefined, f.type === 'data' ? f.offset : 0)
        break
      }
      case 'end': {
        const it = this.find(f.item, 'END')
        if (!it) return out
        if (it.ended) { this.warnOnce(it.n, 'END', `item ${it.n}: END repeated, dropped`); return out }
        it.ended = true
        break
      }
    }
    this.deliver(out)
    while (this.held > this.windowBytes && this.items.length) {
      const it = this.items[0]
      this.giveUpHead(it, out, `window of ${this.windowBytes} bytes full`)
      this.deliver(out)
    }
    return out
  }

  /** Give up missing ranges whose deadline has passed; returns what that frees. */
  expire (now = this.now()): Frame[] {
    const out: Frame[] = []
    for (;;) {
      const h = this.hole()
      if (h === undefined || h.deadline > now) break
      const it = this.items[0]
      if (h.due !== undefined && h.due < h.noticed) {
        this.giveUpHead(it, out, 'were due before they were found missing', true, this.late)
      } else {
        const held = it.segs.length ? `byte ${it.segs[0].start}` : 'the next item'
        this.giveUpHead(it, out, `still missing ${this.deadlineMs ? `${this.deadlineMs} ms after` : 'when'} ${held} was due`)
      }
      this.deliver(out)
    }
    return out
  }

  /** When expire() should next be called (ms since the epoch), or undefined: nothing to wait for. */
  nextDeadline (): number | undefined {
    return this.hole()?.deadline
  }

  /** The head's missing range: when it was found missing, when it is due, when it is given up. */
  private hole (): { noticed: number, due?: number, deadline: number } | undefined {
    if (this.deadlineMs === undefined || !this.items.length) return undefined
    const it = this.items[0]
    // the head is blocked; the earliest arrival of anything held behind it is when we knew
    let noticed = Infinity
    for (const s of it.segs) noticed = Math.min(noticed, s.arrived)
    if (noticed === Infinity) {
      for (let i = 1; i < this.items.length; i++) for (const s of this.items[i].segs) noticed = Math.min(noticed, s.arrived)
      if (noticed === Infinity) return undefined
    }
    // what the hole holds up is the first byte held after it (else, only later items
    // being held, the item's end): waiting costs nothing until that byte is due to play.
    // A hole at the start of an item on air is partly due already, yet whatever of it
    // comes before then still plays from there (a sink drops what is late)
    const due = scheduledTime(it.header, it.segs.length ? it.segs[0].start : it.header.size ?? it.next)
    return { noticed, due, deadline: Math.ceil(Math.max(noticed, due ?? -Infinity)) + this.deadlineMs }
  }

  /**
   * Input ended: held bytes are delivered, holes between them become GAPs. An item
   * is closed (GAP to its size, END) when its END was read or a later item has
   * frames; the last open item is left without END, as the input left it.
   */
  end (): Frame[] {
    const out: Frame[] = []
    while (this.items.length) {
      const it = this.items[0]
      const later = this.items.some(i => i !== it && (i.segs.length > 0 || i.ended))
      if (!it.ended && !later) {
        while (it.segs.length) this.giveUpHead(it, out, 'missing at end of input', false)
        break
      }
      while (this.items[0] === it) { this.giveUpHead(it, out, 'missing at end of input'); this.deliver(out) }
    }
    return out
  }

  private find (n: number, what: string): Item | undefined {
    for (const it of this.items) if (it.n === n) return it
    if (n <= this.closedUpTo || n < (this.items[0]?.n ?? -1)) this.warnOnce(n, what, `item ${n}: ${what} after the item was closed, dropped`)
    else this.warnOnce(n, what, `item ${n}: ${what} for an item with no START, dropped`)
    return undefined
  }

  private warnOnce (n: number, key: string, msg: string): void {
    let s = this.warnedItems.get(n)
    if (!s) {
      s = new Set()
      this.warnedItems.set(n, s)
      if (this.warnedItems.size > 64) this.warnedItems.delete(this.warnedItems.keys().next().value as number)
    }
    if (s.has(key)) return
    s.add(key)
    this.warn(msg)
  }

  /** Add [start,end) to an item's held ranges, dropping whatever is already held or delivered. */
  private insert (it: Item, start: number, end: number, data: Buffer | undefined, dataOffset: number): void {
    const arrived = this.now()
    let cur = Math.max(start, it.next)
    if (cur >= end) return
    const segs = it.segs
    // first segment ending after cur
    let lo = 0; let hi = segs.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (segs[mid].end <= cur) lo = mid + 1; else hi = mid }
    let i = lo
    const add = (s: number, e: number): void => {
      const seg: Segment = data
        ? { start: s, end: e, arrived, data: data.subarray(s - dataOffset, e - dataOffset), cost: e - s }
        : { start: s, end: e, arrived, cost: GAP_COST_BYTES }
      this.held += seg.cost
      segs.splice(i, 0, seg)
      i++
    }
    while (cur < end && i < segs.length && segs[i].start < end) {
      if (segs[i].start > cur) add(cur, segs[i].start)
      cur = Math.max(cur, segs[i].end)
      i++
    }
    if (cur < end) add(cur, end)
  }

  /** Emit everything now in order, closing items whose END has come. */
  private deliver (out: Frame[]): void {
    while (this.items.length) {
      const it = this.items[0]
      while (it.segs.length && it.segs[0].start <= it.next) this.emitSeg(it, it.segs.shift() as Segment, out)
      if (!it.ended) return
      if (it.segs.length || (it.header.size !== null && it.next < it.header.size)) {
        this.giveUpHead(it, out, 'missing at END')
        continue
      }
      this.dropMarks(it, Infinity)
      out.push({ type: 'end', item: it.n })
      this.items.shift()
      this.closedUpTo = it.n
    }
  }

  private emitSeg (it: Item, s: Segment, out: Frame[]): void {
    this.held -= s.cost
    const part = (a: number, b: number): void => {
      if (s.data) out.push({ type: 'data', item: it.n, offset: a, data: a === s.start && b === s.end ? s.data : s.data.subarray(a - s.start, b - s.start) })
      else out.push({ type: 'gap', item: it.n, start: a, end: b })
    }
    // a MARK inside the range splits it: the MARK goes out just before its byte
    let from = s.start
    while (it.marks.length && it.marks[0].frame.offset < s.end) {
      const m = it.marks.shift() as Item['marks'][number]
      if (m.frame.offset > from) { part(from, m.frame.offset); from = m.frame.offset }
      this.held -= m.cost
      out.push(m.frame)
    }
    if (from < s.end) part(from, s.end)
    it.next = s.end
  }

  /** MARKs whose bytes were given up (or of an item that closes) go with them. */
  private dropMarks (it: Item, before: number): void {
    while (it.marks.length && it.marks[0].frame.offset < before) this.held -= (it.marks.shift() as Item['marks'][number]).cost
  }

  /**
   * The next in-order byte of `it` is missing: give up the range up to what is held
   * (or, with nothing held, the rest of the item, closing it).
   */
  private giveUpHead (it: Item, out: Frame[], why: string, mayClose = true, say = this.warn): void {
    if (it.segs.length) {
      const to = it.segs[0].start
      if (to > it.next) {
        this.dropMarks(it, to)
        say(`item ${it.n}: bytes ${it.next}-${to} ${why}, skipped`)
        out.push({ type: 'gap', item: it.n, start: it.next, end: to })
        it.next = to
      }
      this.emitSeg(it, it.segs.shift() as Segment, out)
      return
    }
    if (!mayClose) return
    this.dropMarks(it, Infinity)
    const size = it.header.size
    if (size !== null && it.next < size) {
      say(`item ${it.n}: bytes ${it.next}-${size} ${why}, skipped`)
      out.push({ type: 'gap', item: it.n, start: it.next, end: size })
      it.next = size
    } else if (!it.ended) {
      say(`item ${it.n}: closed, ${why}`)
    }
    it.ended = true
    out.push({ type: 'end', item: it.n })
    this.items.shift()
    this.closedUpTo = it.n
  }
}

/**
 * Reorder an async stream of frames. expire() is called at nextDeadline() by one
 * timer raced against the next input frame: no polling.
 */
export async function * reorderStream (input: AsyncIterable<Frame>, opts: ReorderOptions): AsyncGenerator<Frame> {
  const r = new Reorderer(opts)
  const now = opts.now ?? Date.now
  const it = input[Symbol.asyncIterator]()
  const TIMEOUT = Symbol('timeout')
  let next: Promise<IteratorResult<Frame>> | undefined
  try {
    for (;;) {
      next ??= it.next()
      const due = r.nextDeadline()
      let res: IteratorResult<Frame> | typeof TIMEOUT
      if (due === undefined) {
        res = await next
      } else {
        const wait = due - now()
        if (wait <= 0) { yield * r.expire(); continue }
        let timer: NodeJS.Timeout | undefined
        const t = new Promise<typeof TIMEOUT>(resolve => { timer = setTimeout(resolve, wait, TIMEOUT) })
        try { res = await Promise.race([next, t]) } finally { clearTimeout(timer) }
        if (res === TIMEOUT) { yield * r.expire(); continue }
      }
      next = undefined
      if (res.done) break
      yield * r.push(res.value)
    }
    if (opts.signal?.aborted) return
    yield * r.end()
  } finally {
    // stopped early: close the input, or (a read in flight) make sure its failure cannot go unhandled
    if (next === undefined) await it.return?.(); else next.catch(() => {})
  }
}

export interface PipeOptions extends ReorderOptions {
  /** write DATA payloads only (GAPs skipped), not frames */
  raw: boolean
  /** names the input in errors: `stdin` or the path */
  where: string
  /** a line per item when it ends (bytes, gaps) */
  report?: (m: string) => void
}

/**
 * pc-reorder's loop: frame bytes in, reordered frames (or raw bytes) out, each write
 * awaited before more input is read. A bad or truncated frame ends the input: what
 * came before it is still delivered, then the DataError is thrown.
 */
export async function pipeReordered (input: AsyncIterable<Buffer>, out: Writable, opts: PipeOptions): Promise<void> {
  let failure: unknown
  async function * frames (): AsyncGenerator<Frame> {
    const d = new FrameDecoder(opts.where)
    const got: Frame[] = []
    try {
      for await (const chunk of input) {
        d.pushTo(chunk, got)
        yield * got.splice(0)
      }
      d.end()
    } catch (e) {
      yield * got.splice(0)
      failure = e
    }
  }
  const stats = new Map<number, { bytes: number, gaps: number, gapBytes: number }>()
  if (!opts.raw) await writeAll(out, encodeMagic())
  for await (const f of reorderStream(frames(), opts)) {
    if (opts.report) {
      if (f.type === 'start') stats.set(f.item, { bytes: 0, gaps: 0, gapBytes: 0 })
      const s = stats.get(f.item)
      if (s && f.type === 'data') s.bytes += f.data.length
      if (s && f.type === 'gap') { s.gaps++; s.gapBytes += f.end - f.start }
      if (s && f.type === 'end') { opts.report(`item ${f.item}: ${s.bytes} bytes, ${s.gaps} gaps (${s.gapBytes} bytes)`); stats.delete(f.item) }
    }
    if (opts.raw) {
      if (f.type === 'data') await writeAll(out, f.data)
    } else if (f.type === 'data') {
      // header and payload as two writes: no copy of the payload
      await writeAll(out, encodeDataHeader(f.item, f.offset, f.data.length))
      await writeAll(out, f.data)
    } else {
      await writeAll(out, encodeFrame(f))
    }
  }
  if (failure) throw failure
}
