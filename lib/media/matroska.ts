// Matroska and WebM (EBML, RFC 8794; Matroska element table, RFC 9559): the header a
// joining viewer needs (EBML header, Segment head and every top-level element before
// the first Cluster: SeekHead, Info, Tracks…), then Clusters cut into their head
// (Timecode) and one unit per SimpleBlock or BlockGroup, timed by the block timecodes.
//
// An element is an ID (a variable-length integer of 1-4 bytes kept with its length
// marker), a size (1-8 bytes, the marker removed; all ones: unknown size), then the data.
// A block opens with its track number (a size-style integer), a signed 16-bit
// timecode relative to the Cluster's, and flags (SimpleBlock: 0x80 keyframe).
import type { Step, StreamInfo, UnitFormat } from './format.js'

export const ID = {
  EBML: 0x1a45dfa3, DocType: 0x4282, Segment: 0x18538067,
  SeekHead: 0x114d9b74, Info: 0x1549a966, TimecodeScale: 0x2ad7b1, Duration: 0x4489,
  Tracks: 0x1654ae6b, TrackEntry: 0xae, TrackNumber: 0xd7, TrackType: 0x83, CodecID: 0x86,
  Cluster: 0x1f43b675, Timecode: 0xe7, SimpleBlock: 0xa3, BlockGroup: 0xa0, Block: 0xa1, ReferenceBlock: 0xfb,
  Cues: 0x1c53bb6b, Attachments: 0x1941a469, Chapters: 0x1043a770, Tags: 0x1254c367, Void: 0xec, Crc32: 0xbf,
} as const

const TOP_LEVEL = new Set<number>([ID.SeekHead, ID.Info, ID.Tracks, ID.Cluster, ID.Cues, ID.Attachments, ID.Chapters, ID.Tags])
/** nanoseconds per timecode tick unless Info says otherwise */
export const DEFAULT_TIMECODE_SCALE = 1_000_000
/** a header element (Attachments with fonts, say) bigger than this is refused rather than held */
export const MAX_HEADER_ELEMENT_BYTES = 16 * 1024 * 1024
/** a block bigger than this is not a block but bytes out of sync */
export const MAX_BLOCK_BYTES = 64 * 1024 * 1024

export interface ElementHead { id: number, size: number, headBytes: number }
export const UNKNOWN_SIZE = -1

/** The element head at b[at]; 'need' when b ends inside it; null when it is not a valid head. */
export function readElementHead (b: Buffer, at = 0): ElementHead | 'need' | null {
  if (at >= b.length) return 'need'
  const f = b[at]
  const idLen = f >= 0x80 ? 1 : f >= 0x40 ? 2 : f >= 0x20 ? 3 : f >= 0x10 ? 4 : 0
  if (idLen === 0) return null
  if (at + idLen >= b.length) return 'need'
  let id = 0
  for (let i = 0; i < idLen; i++) id = id * 256 + b[at + i]
  const s = b[at + idLen]
  if (s === 0) return null
  let sizeLen = 1
  while (!(s & (0x80 >> (sizeLen - 1)))) sizeLen++
  if (at + idLen + sizeLen > b.length) return 'need'
  let size = s & (0xff >> sizeLen)
  let ones = size === (0xff >> sizeLen)
  for (let i = 1; i < sizeLen; i++) {
    const v = b[at + idLen + i]
    size = size * 256 + v
    if (v !== 0xff) ones = false
  }
  return { id, size: ones ? UNKNOWN_SIZE : size, headBytes: idLen + sizeLen }
}

/** An element head with its size field set to 'unknown' (all value bits one), same length. */
export function unknownSize (head: Buffer): Buffer {
  const out = Buffer.from(head)
  const sizeAt = out[0] >= 0x80 ? 1 : out[0] >= 0x40 ? 2 : out[0] >= 0x20 ? 3 : 4
  const len = out.length - sizeAt
  out[sizeAt] = 0xff >> (len - 1)
  out.fill(0xff, sizeAt + 1)
  return out
}

export function readUint (b: Buffer, at: number, n: number): number {
  let v = 0
  for (let i = 0; i < n; i++) v = v * 256 + b[at + i]
  return v
}

/** The children of a fully present element body, as [id, data] pairs; stops at anything malformed. */
export function children (body: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = []
  for (let i = 0; i < body.length;) {
    const h = readElementHead(body, i)
    if (h === null || h === 'need' || h.size === UNKNOWN_SIZE || i + h.headBytes + h.size > body.length) break
    out.push([h.id, body.subarray(i + h.headBytes, i + h.headBytes + h.size)])
    i += h.headBytes + h.size
  }
  return out
}

export interface SegmentInfo { timecodeScale: number, durationTicks?: number }

export function parseInfo (body: Buffer): SegmentInfo {
  const out: SegmentInfo = { timecodeScale: DEFAULT_TIMECODE_SCALE }
  for (const [id, d] of children(body)) {
    if (id === ID.TimecodeScale && d.length >= 1 && d.length <= 8) out.timecodeScale = readUint(d, 0, d.length) || DEFAULT_TIMECODE_SCALE
    if (id === ID.Duration && (d.length === 4 || d.length === 8)) out.durationTicks = d.length === 4 ? d.readFloatBE(0) : d.readDoubleBE(0)
  }
  return out
}

export interface Track { number: number, type: number, codec: string }
export const TRACK_VIDEO = 1

export function parseTracks (body: Buffer): Track[] {
  return children(body).filter(([id]) => id === ID.TrackEntry).map(([, e]) => {
    const t: Track = { number: 0, type: 0, codec: '' }
    for (const [id, d] of children(e)) {
      if (id === ID.TrackNumber) t.number = readUint(d, 0, Math.min(8, d.length))
      if (id === ID.TrackType) t.type = readUint(d, 0, Math.min(8, d.length))
      if (id === ID.CodecID) t.codec = d.toString('latin1').replace(/\0+$/, '')
    }
    return t
  })
}

export function parseDocType (body: Buffer): string | undefined {
  const d = children(body).find(([id]) => id === ID.DocType)
  return d ? d[1].toString('latin1').replace(/\0+$/, '') : undefined
}

/** Track, relative timecode and keyframe flag of a block's data (SimpleBlock or Block). */
export function blockHead (d: Buffer): { track: number, rel: number, key: boolean } | undefined {
  const h = readElementHead(Buffer.concat([Buffer.of(0x80), d.subarray(0, 9)])) // the track number is coded like a size
  if (h === null || h === 'need' || d.length < h.headBytes - 1 + 3) return undefined
  const at = h.headBytes - 1
  return { track: h.size, rel: d.readInt16BE(at), key: (d[at + 2] & 0x80) !== 0 }
}

/** Latest block time (ticks) in a Cluster's body; undefined when it holds none. */
export function clusterEnd (body: Buffer): number | undefined {
  let tc = 0
  let end: number | undefined
  for (const [id, d] of children(body)) {
    if (id === ID.Timecode) tc = readUint(d, 0, Math.min(8, d.length))
    const blk = id === ID.SimpleBlock ? d : id === ID.BlockGroup ? children(d).find(([i]) => i === ID.Block)?.[1] : undefined
    const b = blk && blockHead(blk)
    if (b) end = Math.max(end ?? -Infinity, tc + b.rel)
  }
  return end
}

type Where = 'start' | 'segment' | 'cluster'

/** Matroska/WebM as media units; see the file comment. */
export class MatroskaFormat implements UnitFormat {
  private where: Where = 'start'
  private docType?: string
  private scale = DEFAULT_TIMECODE_SCALE
  private tracks: Track[] = []
  private sawCluster = false
  /** bytes left in the current Cluster, UNKNOWN_SIZE when it runs to the next top-level element */
  private left = 0
  private clusterTc = 0
  /** the media clock: the latest block time yet, in µs */
  private clock?: number

  step (buf: Buffer, atEnd: boolean, synced: boolean): Step {
    const h = readElementHead(buf)
    if (h === 'need') return atEnd ? { t: 'bad', why: 'truncated Matroska element' } : { t: 'need', bytes: Math.min(buf.length + 1, 12) }
    if (h === null) return { t: 'bad', why: 'no Matroska element' }
    const whole = h.size === UNKNOWN_SIZE ? undefined : h.headBytes + h.size
    if (h.id === ID.EBML) {
      if (whole === undefined || whole > 4096) return { t: 'bad', why: 'bad EBML header' }
      if (buf.length < whole) return { t: 'need', bytes: whole }
      this.docType = parseDocType(buf.subarray(h.headBytes, whole)) ?? this.docType
      this.where = 'segment'; this.sawCluster = false; this.clock = undefined
      return { t: 'unit', len: whole, durationUs: 0, header: true }
    }
    if (this.where === 'start') return { t: 'bad', why: 'no EBML header' }
    if (h.id === ID.Segment) {
      // a joining viewer gets the Segment head with its size unknown: it no longer ends where the file says
      this.where = 'segment'
      return { t: 'unit', len: h.headBytes, durationUs: 0, header: true, joinBytes: unknownSize(buf.subarray(0, h.headBytes)) }
    }
    if (this.where === 'cluster' && !TOP_LEVEL.has(h.id)) return this.inCluster(buf, h, whole, atEnd)
    if (!synced && h.id !== ID.Cluster) return { t: 'bad', why: 'no Matroska Cluster' }
    if (h.id === ID.Cluster) return this.clusterHead(buf, h, atEnd)
    // a top-level element other than a Cluster: header before the first Cluster, else plain
    if (whole === undefined || whole > MAX_HEADER_ELEMENT_BYTES) return { t: 'bad', why: `Matroska element 0x${h.id.toString(16)} of unknown or excessive size` }
    if (buf.length < whole) return atEnd ? { t: 'bad', why: 'truncated Matroska element' } : { t: 'need', bytes: whole }
    const body = buf.subarray(h.headBytes, whole)
    this.where = 'segment'
    if (this.sawCluster) return { t: 'unit', len: whole, durationUs: 0 }
    if (h.id === ID.Info) this.scale = parseInfo(body).timecodeScale
    if (h.id === ID.Tracks) this.tracks = parseTracks(body)
    return { t: 'unit', len: whole, durationUs: 0, header: true }
  }

  /** The Cluster head up to its first block, flagged key when that block is a (video) keyframe. */
  private clusterHead (buf: Buffer, h: ElementHead, atEnd: boolean): Step {
    let at = h.headBytes
    let tc = 0
    let key = false
    /** where the head unit ends: the first block */
    let first: number | undefined
    const video = this.tracks.find(t => t.type === TRACK_VIDEO)
    const end = h.size === UNKNOWN_SIZE ? Infinity : h.headBytes + h.size
    // the Cluster is key when its first video block (audio blocks may come before it) is a keyframe
    for (;;) {
      if (at >= end) break
      const c = readElementHead(buf, at)
      if (c === 'need') return atEnd ? { t: 'bad', why: 'truncated Matroska Cluster' } : { t: 'need', bytes: at + 12 }
      if (c === null || c.size === UNKNOWN_SIZE) return { t: 'bad', why: 'bad element in a Matroska Cluster' }
      if (TOP_LEVEL.has(c.id) || c.id === ID.EBML) break
      const cEnd = at + c.headBytes + c.size
      if (c.id === ID.SimpleBlock || c.id === ID.BlockGroup) {
        first ??= at
        const need = c.id === ID.SimpleBlock ? Math.min(cEnd, at + c.headBytes + 12) : cEnd
        if (buf.length < need) return atEnd ? { t: 'bad', why: 'truncated Matroska block' } : { t: 'need', bytes: need }
        const data = buf.subarray(at + c.headBytes, need)
        const groupKids = c.id === ID.BlockGroup ? children(data) : []
        const b = blockHead(c.id === ID.SimpleBlock ? data : groupKids.find(([i]) => i === ID.Block)?.[1] ?? Buffer.alloc(0))
        if (b && (!video || video.number === b.track)) {
          key = c.id === ID.SimpleBlock ? b.key : !groupKids.some(([i]) => i === ID.ReferenceBlock)
          break
        }
      } else if (first === undefined) {
        if (buf.length < cEnd) return atEnd ? { t: 'bad', why: 'truncated Matroska Cluster' } : { t: 'need', bytes: cEnd }
        if (c.id === ID.Timecode) tc = readUint(buf, at + c.headBytes, Math.min(8, c.size))
      }
      at = cEnd
    }
    at = first ?? Math.min(at, end)
    this.where = 'cluster'; this.sawCluster = true
    this.clusterTc = tc
    this.left = h.size === UNKNOWN_SIZE ? UNKNOWN_SIZE : h.headBytes + h.size - at
    if (this.left === 0) this.where = 'segment'
    const s: Step = { t: 'unit', len: at, durationUs: 0, timeUs: tc * this.scale / 1000 }
    if (key) s.key = true
    return s
  }

  private inCluster (buf: Buffer, h: ElementHead, whole: number | undefined, atEnd: boolean): Step {
    if (whole === undefined || whole > MAX_BLOCK_BYTES || (this.left !== UNKNOWN_SIZE && whole > this.left)) return { t: 'bad', why: 'bad element in a Matroska Cluster' }
    if (buf.length < whole) return atEnd ? { t: 'bad', why: 'truncated Matroska block' } : { t: 'need', bytes: whole }
    if (this.left !== UNKNOWN_SIZE) { this.left -= whole; if (this.left === 0) this.where = 'segment' }
    const data = buf.subarray(h.headBytes, whole)
    const blk = h.id === ID.SimpleBlock ? data : h.id === ID.BlockGroup ? children(data).find(([i]) => i === ID.Block)?.[1] : undefined
    const b = blk && blockHead(blk)
    if (!b) return { t: 'unit', len: whole, durationUs: 0, inner: true }
    const t = (this.clusterTc + b.rel) * this.scale / 1000
    const step = this.clock === undefined ? 0 : Math.max(0, t - this.clock)
    this.clock = Math.max(this.clock ?? t, t)
    return { t: 'unit', len: whole, durationUs: step, timeUs: t, inner: true }
  }

  /** the next Cluster or EBML header (a new stream) */
  resync (buf: Buffer, from: number): number {
    for (let i = from; i + 4 <= buf.length; i++) {
      const v = buf.readUInt32BE(i)
      if (v === ID.Cluster || v === ID.EBML) { this.where = this.where === 'start' ? 'start' : 'segment'; return i }
    }
    return Math.max(from, buf.length - 3)
  }

  desync (): void { if (this.where !== 'start') this.where = 'segment'; this.clock = undefined }

  info (): StreamInfo | undefined {
    if (!this.docType) return undefined
    return { kind: 'matroska', docType: this.docType, codec: this.tracks.map(t => t.codec).join('+') || undefined, video: this.tracks.some(t => t.type === TRACK_VIDEO) }
  }
}
