// Media timing for a pacing sink: cut a byte stream into units (MPEG audio frames,
// ADTS frames, Ogg pages, TS packet groups, Matroska elements, fMP4 fragments, or plain
// slices) that each know their play time. Any input
// split gives the same units; corrupt bytes are skipped to the next sync point with
// one warning per bad run; a GAP (resyncAt) resyncs quietly.
import { parseMpegHeader, MpegFormat, sameMpegStream } from './mpeg.js'
import { parseAdtsHeader, AdtsFormat } from './adts.js'
import { OggFormat } from './ogg.js'
import { isTsStart, TsFormat, TS_PACKET_BYTES, TS_SYNC } from './ts.js'
import { ID, MatroskaFormat, readElementHead } from './matroska.js'
import { Fmp4Format, parseMoov, readBoxHead } from './mp4.js'
import { id3v2Length } from './id3.js'

export type { MediaKind, StreamInfo, MediaUnit, Step, UnitFormat } from './format.js'
import type { MediaKind, StreamInfo, MediaUnit, UnitFormat } from './format.js'

/** 'other' slices: small enough to pace smoothly, big enough to keep per-unit work low */
export const OTHER_SLICE_BYTES = 16 * 1024

const MIME_KIND: Record<string, MediaKind> = {
  'audio/mpeg': 'mp3', 'audio/mp3': 'mp3', 'audio/mpeg3': 'mp3', 'audio/x-mpeg': 'mp3', 'audio/mpa': 'mp3',
  'audio/aac': 'aac', 'audio/aacp': 'aac', 'audio/x-aac': 'aac', 'audio/x-hx-aac-adts': 'aac',
  'video/mp2t': 'ts', 'video/webm': 'matroska', 'audio/webm': 'matroska', 'video/x-matroska': 'matroska', 'audio/x-matroska': 'matroska', 'video/ogg': 'ogg',
  'audio/ogg': 'ogg', 'application/ogg': 'ogg', 'audio/opus': 'ogg', 'audio/vorbis': 'ogg', 'audio/x-vorbis+ogg': 'ogg', 'audio/x-ogg': 'ogg',
}

function mimeKind (mime?: string): MediaKind | undefined {
  if (!mime) return undefined
  return MIME_KIND[mime.split(';')[0].trim().toLowerCase()]
}

/** whether buf holds a frame header (MPEG or ADTS) that, when the bytes are there, is followed by another */
function framesAt (buf: Buffer, i: number): MediaKind | undefined {
  const b = buf.subarray(i)
  const m = parseMpegHeader(b)
  if (m) {
    if (b.length < m.frameBytes + 4) return i === 0 ? 'mp3' : undefined
    const n = parseMpegHeader(b.subarray(m.frameBytes))
    if (n && sameMpegStream(m, n)) return 'mp3'
  }
  const a = parseAdtsHeader(b)
  if (a) {
    if (b.length < a.frameBytes + 7) return i === 0 ? 'aac' : undefined
    if (parseAdtsHeader(b.subarray(a.frameBytes))) return 'aac'
  }
  return undefined
}

/**
 * Sniff the first bytes of an item (a few KiB is plenty): Ogg capture pattern, ID3,
 * MPEG or ADTS sync at the start; then the MIME type; then a search for two
 * consecutive frame headers, in case of junk before the audio.
 */
export function detectKind (head: Buffer, mimeHint?: string): MediaKind {
  const hint = mimeKind(mimeHint)
  if (head.length >= 4 && head.readUInt32BE(0) === 0x4f676753) return 'ogg'
  // containers before any frame search: their payloads hold bytes that look like audio frames
  if (isTsStart(head)) return 'ts'
  if (head.length >= 4 && head.readUInt32BE(0) === ID.EBML) return 'matroska'
  if (isFragmentedMp4(head)) return 'fmp4'
  let at = 0
  const tag = id3v2Length(head)
  if (tag) {
    if (head.length <= tag) return hint === 'aac' ? 'aac' : 'mp3'
    at = tag
  }
  const here = framesAt(head, at)
  if (here) return here
  if (tag) return hint === 'aac' ? 'aac' : 'mp3'
  if (hint) return hint
  // containers carried byte-exactly: RIFF/WAVE, MP4/M4A (ftyp), FLAC, Matroska/WebM
  const magic = head.subarray(0, 4).toString('latin1')
  if (magic === 'RIFF' || magic === 'fLaC' || head.subarray(4, 8).toString('latin1') === 'ftyp' || (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3)) return 'other'
  for (let i = 1; i + 4 <= head.length; i++) {
    if (head[i] !== 0xff) continue
    const k = framesAt(head, i)
    if (k) return k
  }
  return 'other'
}

/** An MP4 whose 'moov' (in the head) holds 'mvex': fragments follow. */
function isFragmentedMp4 (head: Buffer): boolean {
  if (head.toString('latin1', 4, 8) !== 'ftyp') return false
  for (let at = 0; at < head.length;) {
    const h = readBoxHead(head, at)
    if (h === null || h === 'need' || at + h.size > head.length) return false
    if (h.type === 'moov') return parseMoov(head.subarray(at + h.headBytes, at + h.size)).fragmented
    at += h.size
  }
  return false
}

/** Whether `head` begins where a unit of `kind` may begin (a live chunk of that kind starts so): its sync or element there. */
export function beginsUnit (kind: MediaKind, head: Buffer): boolean {
  switch (kind) {
    case 'ts': return head.length > 0 && head[0] === TS_SYNC && (head.length < 2 * TS_PACKET_BYTES || isTsStart(head))
    case 'matroska': {
      const h = readElementHead(head)
      return h !== null && h !== 'need' && (h.id === ID.Cluster || h.id === ID.EBML)
    }
    case 'fmp4': {
      const h = readBoxHead(head)
      return h !== null && h !== 'need' && ['moof', 'ftyp', 'styp'].includes(h.type)
    }
    case 'ogg': return head.length >= 4 && head.readUInt32BE(0) === 0x4f676753
    case 'mp3': return parseMpegHeader(head) !== null
    case 'aac': return parseAdtsHeader(head) !== null
    default: return false
  }
}

export function mimeOf (kind: MediaKind, info?: StreamInfo): string {
  switch (kind) {
    case 'ts': return 'video/mp2t'
    case 'matroska': return `${info?.video === false ? 'audio' : 'video'}/${info?.docType === 'matroska' ? 'x-matroska' : 'webm'}`
    case 'fmp4': return info?.video === false ? 'audio/mp4' : 'video/mp4'
    case 'mp3': return 'audio/mpeg'
    case 'aac': return 'audio/aac'
    case 'ogg': return info?.video ? 'video/ogg' : 'audio/ogg' // Opus in Ogg too: players sniff the codec
    default: return 'application/octet-stream'
  }
}

const EMPTY = Buffer.alloc(0)

/** Cut a byte stream of one kind into timed units; see the file comment. */
export class MediaParser {
  private readonly fmt?: UnitFormat
  private readonly warn: (m: string) => void
  private chunks: Buffer[] = []
  private chunkBytes = 0
  private buf: Buffer = EMPTY
  /** item offset of buf[0] (or of the next byte to come when buf is empty) */
  private at = 0
  private need = 1
  /** bytes still to drop: a tag longer than what had arrived */
  private discard = 0
  private synced = false
  private badAt?: number
  private badWhy = ''
  /** no warning for the first bad run after resyncAt(): resyncing there is expected */
  private quiet = false

  constructor (readonly kind: MediaKind, opts: { warn?: (m: string) => void } = {}) {
    this.warn = opts.warn ?? (() => {})
    if (kind === 'mp3') this.fmt = new MpegFormat()
    else if (kind === 'aac') this.fmt = new AdtsFormat()
    else if (kind === 'ogg') this.fmt = new OggFormat()
    else if (kind === 'ts') this.fmt = new TsFormat()
    else if (kind === 'matroska') this.fmt = new MatroskaFormat()
    else if (kind === 'fmp4') this.fmt = new Fmp4Format()
  }

  push (data: Buffer): MediaUnit[] {
    if (this.discard) {
      const k = Math.min(this.discard, data.length)
      this.discard -= k; this.at += k
      data = data.subarray(k)
    }
    if (!data.length) return []
    if (!this.fmt) return this.slices(data)
    this.chunks.push(data)
    this.chunkBytes += data.length
    if (this.buf.length + this.chunkBytes < this.need) return []
    this.gather()
    return this.run(false)
  }

  /** A GAP: drop what is held and resync at `toOffset`, where the next push() starts. */
  resyncAt (toOffset: number): void {
    this.chunks = []; this.chunkBytes = 0; this.buf = EMPTY
    this.at = toOffset; this.need = 1; this.discard = 0
    this.synced = false
    if (this.badAt !== undefined) this.flushBad(this.at)
    this.quiet = true
    this.fmt?.desync()
  }

  /**
   * The bytes are over: the units still held come out. A final unit cut short is
   * dropped, with a warning unless `cut` says the stream was stopped there (a signal,
   * an item whose END never came) rather than truncated; so are bytes at the end in
   * which no unit was found.
   */
  end (opts: { cut?: boolean } = {}): MediaUnit[] {
    if (!this.fmt) return []
    this.gather()
    const out = this.run(true, opts.cut === true)
    // no unit found from badAt to the end: cut there, that is the last unit cut short too
    // (a frame header too short to read, a block whose size runs past the end), not damage.
    // A listener pipeline stopped by SIGTERM said 'byte 262143: 1 bytes skipped (no MPEG
    // audio frame sync)' of the byte of the next frame that pc-fetch had written.
    if (this.badAt !== undefined) {
      if (opts.cut === true) { this.badAt = undefined; this.quiet = false } else this.flushBad(this.at)
    }
    return out
  }

  info (): StreamInfo | undefined {
    return this.fmt ? this.fmt.info() : { kind: this.kind }
  }

  private slices (data: Buffer): MediaUnit[] {
    const out: MediaUnit[] = []
    for (let i = 0; i < data.length; i += OTHER_SLICE_BYTES) {
      const bytes = data.subarray(i, i + OTHER_SLICE_BYTES)
      out.push({ offset: this.at, bytes, durationUs: 0 })
      this.at += bytes.length
    }
    return out
  }

  private gather (): void {
    if (!this.chunks.length) return
    this.buf = this.buf.length ? Buffer.concat([this.buf, ...this.chunks]) : this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks)
    this.chunks = []; this.chunkBytes = 0
  }

  private advance (n: number): void {
    this.buf = this.buf.subarray(n)
    this.at += n
  }

  private flushBad (to: number): void {
    if (!this.quiet) this.warn(`byte ${this.badAt}: ${to - (this.badAt as number)} bytes skipped (${this.badWhy})`)
    this.badAt = undefined
    this.quiet = false
  }

  private run (atEnd: boolean, cut = false): MediaUnit[] {
    const fmt = this.fmt as UnitFormat
    const out: MediaUnit[] = []
    this.need = 1
    while (this.buf.length && this.buf.length >= this.need) {
      const s = fmt.step(this.buf, atEnd, this.synced)
      switch (s.t) {
        case 'unit': {
          if (this.badAt !== undefined) this.flushBad(this.at)
          this.quiet = false
          const u: MediaUnit = { offset: this.at, bytes: this.buf.subarray(0, s.len), durationUs: s.durationUs }
          if (s.header) u.header = true
          if (s.key) u.key = true
          if (s.joinBytes) u.joinBytes = s.joinBytes
          if (s.inner) u.inner = true
          if (s.timeUs !== undefined) u.timeUs = s.timeUs
          out.push(u)
          this.advance(s.len)
          this.synced = true
          break
        }
        case 'skip':
          if (this.badAt !== undefined) this.flushBad(this.at)
          if (s.len > this.buf.length) { this.discard = s.len - this.buf.length; this.advance(this.buf.length) } else this.advance(s.len)
          this.synced = true
          break
        case 'need':
          if (!atEnd) { this.need = s.bytes; return out }
          // the input ended inside a unit
          if (this.badAt === undefined && !this.quiet && !cut) this.warn(`byte ${this.at}: truncated final unit of ${this.buf.length} bytes dropped`)
          this.advance(this.buf.length)
          return out
        case 'bad': {
          if (this.badAt === undefined) { this.badAt = this.at; this.badWhy = s.why }
          this.synced = false
          this.advance(fmt.resync(this.buf, 1))
          break
        }
      }
    }
    return out
  }
}
