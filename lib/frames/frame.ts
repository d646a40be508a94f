// The frame stream (man pc-frames.5): what pc-fetch writes and pc-reorder/pc-icecast
// read. A magic line, then records; every integer big-endian, every length bounded
// before anything is allocated. Items are numbered by the writer, so frames of the
// next item may arrive before the current one ends (prefetch), and an item of no
// known size (live, later) is just a START whose size is null.
//
//   offset  width  field
//   0       1      type: 1 START, 2 DATA, 3 END, 4 GAP, 5 MARK, 6 NEXT (others: skipped, for later versions)
//   1       4      body length L (≤ MAX_BODY_BYTES)
//   5       L      body:
//     START  u32 item | UTF-8 JSON: the schedule record plus "size" (bytes or null) and "chunkSize"
//     DATA   u32 item | u64 byte offset | payload bytes
//     END    u32 item
//     GAP    u32 item | u64 start | u64 end      (half-open byte range given up on)
//     MARK   u32 item | u64 byte offset | UTF-8 JSON {time, seq, title?}: a live chunk starts at offset
//     NEXT   u32 item (0) | UTF-8 JSON: a schedule record announced ahead, not fetched
import type { Readable } from 'node:stream'
import { DataError } from '../core/errors.js'
import type { ScheduleRecord } from '../core/records.js'
import { MAX_CHUNK_BYTES } from '../hashing/hashtree.js'

export const FRAME_MAGIC = 'PCFRAMES 1\n'
const MAGIC = Buffer.from(FRAME_MAGIC)
export const HEADER_BYTES = 5
export const MAX_JSON_BYTES = 64 * 1024
/** the largest body: a DATA frame carrying one whole chunk of the largest chunk size */
export const MAX_BODY_BYTES = 12 + MAX_CHUNK_BYTES

export const T_START = 1
export const T_DATA = 2
export const T_END = 3
export const T_GAP = 4
export const T_MARK = 5
export const T_NEXT = 6

export interface ItemHeader extends ScheduleRecord {
  /** bytes; null when the item has no known end */
  size: number | null
  chunkSize: number
}
export type Frame =
  | { type: 'start', item: number, header: ItemHeader }
  | { type: 'data', item: number, offset: number, data: Buffer }
  | { type: 'end', item: number }
  | { type: 'gap', item: number, start: number, end: number }
  | { type: 'mark', item: number, offset: number, mark: LiveMark }
  | { type: 'next', item: number, record: ScheduleRecord }

/** What a MARK says of the byte at its offset: the start of live chunk `seq`. */
export interface LiveMark {
  /** ISO 8601 UTC with ms, ending in Z: when this byte left the source (source clock) */
  time: string
  seq: number
  title?: string
  [k: string]: unknown
}

export function encodeMagic (): Buffer { return Buffer.from(MAGIC) }

export function encodeFrame (f: Frame): Buffer {
  switch (f.type) {
    case 'start': {
      const json = Buffer.from(JSON.stringify(f.header))
      if (json.length > MAX_JSON_BYTES) throw new RangeError(`item header longer than ${MAX_JSON_BYTES} bytes`)
      const b = Buffer.allocUnsafe(HEADER_BYTES + 4 + json.length)
      b[0] = T_START; b.writeUInt32BE(4 + json.length, 1); b.writeUInt32BE(f.item, 5); json.copy(b, 9)
      return b
    }
    case 'data': {
      const b = Buffer.allocUnsafe(HEADER_BYTES + 12 + f.data.length)
      b[0] = T_DATA; b.writeUInt32BE(12 + f.data.length, 1); b.writeUInt32BE(f.item, 5)
      b.writeBigUInt64BE(BigInt(f.offset), 9); f.data.copy(b, 17)
      return b
    }
    case 'end': {
      const b = Buffer.allocUnsafe(HEADER_BYTES + 4)
      b[0] = T_END; b.writeUInt32BE(4, 1); b.writeUInt32BE(f.item, 5)
      return b
    }
    case 'gap': {
      const b = Buffer.allocUnsafe(HEADER_BYTES + 20)
      b[0] = T_GAP; b.writeUInt32BE(20, 1); b.writeUInt32BE(f.item, 5)
      b.writeBigUInt64BE(BigInt(f.start), 9); b.writeBigUInt64BE(BigInt(f.end), 17)
      return b
    }
    case 'mark': {
      const json = jsonBody(f.mark, 'MARK')
      const b = Buffer.allocUnsafe(HEADER_BYTES + 12 + json.length)
      b[0] = T_MARK; b.writeUInt32BE(12 + json.length, 1); b.writeUInt32BE(f.item, 5)
      b.writeBigUInt64BE(BigInt(f.offset), 9); json.copy(b, 17)
      return b
    }
    case 'next': {
      const json = jsonBody(f.record, 'NEXT')
      const b = Buffer.allocUnsafe(HEADER_BYTES + 4 + json.length)
      b[0] = T_NEXT; b.writeUInt32BE(4 + json.length, 1); b.writeUInt32BE(f.item, 5); json.copy(b, 9)
      return b
    }
  }
}

function jsonBody (o: object, what: string): Buffer {
  const json = Buffer.from(JSON.stringify(o))
  if (json.length > MAX_JSON_BYTES) throw new RangeError(`${what} JSON longer than ${MAX_JSON_BYTES} bytes`)
  return json
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/**
 * The 17 bytes that precede `length` payload bytes in a DATA frame, for writers that
 * send the payload as a separate write instead of copying it (pc-fetch).
 */
export function encodeDataHeader (item: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + 12)
  b[0] = T_DATA; b.writeUInt32BE(12 + length, 1); b.writeUInt32BE(item, 5)
  b.writeBigUInt64BE(BigInt(offset), 9)
  return b
}

/** Whether the first bytes of a stream are the frame magic (needs up to 11 bytes). */
export function looksLikeFrames (head: Buffer): boolean {
  const n = Math.min(head.length, MAGIC.length)
  return n > 0 && head.subarray(0, n).equals(MAGIC.subarray(0, n))
}

/**
 * Incremental decoder: push bytes in any split, get whole frames. Errors are
 * DataError naming `where` and the byte offset of the bad record.
 */
export class FrameDecoder {
  private pending: Buffer[] = []
  private pendingBytes = 0
  private pos = 0 // stream offset of pending[0][0]
  private sawMagic = false
  constructor (readonly where = 'stdin') {}

  private take (n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let o = 0
    while (o < n) {
      const head = this.pending[0]
      const k = Math.min(head.length, n - o)
      head.copy(out, o, 0, k)
      o += k
      if (k === head.length) this.pending.shift(); else this.pending[0] = head.subarray(k)
    }
    this.pendingBytes -= n
    this.pos += n
    return out
  }

  private peek (n: number): Buffer {
    if (this.pending[0].length >= n) return this.pending[0].subarray(0, n)
    return Buffer.concat(this.pending, Math.max(n, 0)).subarray(0, n)
  }

  private fail (what: string, at = this.pos): never { throw new DataError(`${what} at byte ${at}`, this.where) }

  push (chunk: Buffer): Frame[] {
    const out: Frame[] = []
    this.pushTo(chunk, out)
    return out
  }

  /** Like push(), appending to `out`: the frames before a bad record are kept there when it throws. */
  pushTo (chunk: Buffer, out: Frame[]): void {
    if (chunk.length) { this.pending.push(chunk); this.pendingBytes += chunk.length }
    if (!this.sawMagic) {
      const n = Math.min(this.pendingBytes, MAGIC.length)
      if (!this.peek(n).equals(MAGIC.subarray(0, n))) this.fail(`not a frame stream (expected '${FRAME_MAGIC.trim()}')`)
      if (this.pendingBytes < MAGIC.length) return
      this.take(MAGIC.length)
      this.sawMagic = true
    }
    while (this.pendingBytes >= HEADER_BYTES) {
      const h = this.peek(HEADER_BYTES)
      const type = h[0]; const len = h.readUInt32BE(1)
      if (len > MAX_BODY_BYTES) this.fail(`frame length ${len} exceeds ${MAX_BODY_BYTES}`)
      if (this.pendingBytes < HEADER_BYTES + len) break
      const at = this.pos
      this.take(HEADER_BYTES)
      const body = this.take(len)
      const f = this.decodeBody(type, body, at)
      if (f) out.push(f)
    }
  }

  private decodeBody (type: number, body: Buffer, at: number): Frame | undefined {
    const need = (n: number, name: string): void => { if (body.length < n) this.fail(`${name} frame too short (${body.length} bytes)`, at) }
    switch (type) {
      case T_START: {
        need(5, 'START')
        if (body.length - 4 > MAX_JSON_BYTES) this.fail(`START header longer than ${MAX_JSON_BYTES} bytes`, at)
        let header: ItemHeader
        try { header = JSON.parse(body.subarray(4).toString('utf8')) } catch { this.fail('START frame with bad JSON', at) }
        if (header === null || typeof header !== 'object' || typeof header.url !== 'string') this.fail('START frame without a url', at)
        if (!(header.size === null || (Number.isSafeInteger(header.size) && header.size >= 0))) this.fail('START frame with a bad size', at)
        if (!(Number.isInteger(header.chunkSize) && header.chunkSize > 0 && header.chunkSize <= MAX_CHUNK_BYTES)) this.fail('START frame with a bad chunkSize', at)
        return { type: 'start', item: body.readUInt32BE(0), header }
      }
      case T_DATA: {
        need(12, 'DATA')
        const off = body.readBigUInt64BE(4)
        if (off > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('DATA offset too large', at)
        return { type: 'data', item: body.readUInt32BE(0), offset: Number(off), data: body.subarray(12) }
      }
      case T_END:
        if (body.length !== 4) this.fail('END frame of wrong length', at)
        return { type: 'end', item: body.readUInt32BE(0) }
      case T_GAP: {
        if (body.length !== 20) this.fail('GAP frame of wrong length', at)
        const s = body.readBigUInt64BE(4); const e = body.readBigUInt64BE(12)
        if (e < s || e > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('GAP frame with a bad range', at)
        return { type: 'gap', item: body.readUInt32BE(0), start: Number(s), end: Number(e) }
      }
      case T_MARK: {
        need(13, 'MARK')
        if (body.length - 12 > MAX_JSON_BYTES) this.fail(`MARK JSON longer than ${MAX_JSON_BYTES} bytes`, at)
        const off = body.readBigUInt64BE(4)
        if (off > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('MARK offset too large', at)
        const mark = this.json(body.subarray(12), 'MARK', at) as LiveMark
        if (typeof mark.time !== 'string' || !ISO_MS.test(mark.time) || !Number.isFinite(Date.parse(mark.time))) this.fail('MARK frame with a bad time', at)
        if (!Number.isSafeInteger(mark.seq) || mark.seq < 0) this.fail('MARK frame with a bad seq', at)
        if (mark.title !== undefined && typeof mark.title !== 'string') this.fail('MARK frame with a bad title', at)
        return { type: 'mark', item: body.readUInt32BE(0), offset: Number(off), mark }
      }
      case T_NEXT: {
        need(5, 'NEXT')
        if (body.length - 4 > MAX_JSON_BYTES) this.fail(`NEXT JSON longer than ${MAX_JSON_BYTES} bytes`, at)
        const record = this.json(body.subarray(4), 'NEXT', at) as ScheduleRecord
        // a schedule record: url and start at least (pc-records(5))
        if (typeof record.url !== 'string') this.fail('NEXT frame without a url', at)
        if (typeof record.start !== 'string') this.fail('NEXT frame without a start', at)
        return { type: 'next', item: body.readUInt32BE(0), record }
      }
      default:
        return undefined // a later version's record type: skip it
    }
  }

  private json (b: Buffer, what: string, at: number): Record<string, unknown> {
    let o: unknown
    try { o = JSON.parse(b.toString('utf8')) } catch { this.fail(`${what} frame with bad JSON`, at) }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) this.fail(`${what} frame whose JSON is not an object`, at)
    return o as Record<string, unknown>
  }

  /** Call at end of input: a partial record left over is a truncated stream. */
  end (): void {
    if (!this.sawMagic && this.pendingBytes === 0) this.fail('empty input, not a frame stream')
    if (this.pendingBytes > 0) this.fail(`truncated frame stream (${this.pendingBytes} bytes of an unfinished record)`)
  }
}

export async function * decodeFrames (input: AsyncIterable<Buffer>, where = 'stdin'): AsyncGenerator<Frame> {
  const d = new FrameDecoder(where)
  for await (const chunk of input) yield * d.push(chunk)
  d.end()
}

export type { Readable }
