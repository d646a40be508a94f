// Join rules for the video containers (MPEG-TS, Matroska/WebM, fragmented MP4). A
// joining viewer gets the item's header (TS PAT/PMT; EBML header, Segment, Info,
// Tracks; ftyp+moov) and then data from a random-access unit (`keyed`: the timeline
// steps back to one). Items follow each other as one stream: every item's timestamps
// are moved on to continue the clock of the one before (players drop or stall on a
// clock that jumps back), and where the next item has the same track setup its header
// is not repeated in the stream. Where the setup differs the new header is sent, and
// `takeNote` says so.
import type { MediaUnit } from '../media/media.js'
import type { JoinRule } from './join-rule.js'
import { TS_PACKET_BYTES, TS_SYNC, TS_WRAP, TS_CLOCK_HZ, pesTimes, parsePmt, readTsPacket } from '../media/ts.js'
import { pictureSize, type PictureSize } from '../media/picture-size.js'
import { ID, readElementHead, unknownSize, children, parseInfo, UNKNOWN_SIZE, DEFAULT_TIMECODE_SCALE } from '../media/matroska.js'
import { readBoxHead, boxes } from '../media/mp4.js'

const EMPTY = Buffer.alloc(0)
/** where the next item starts when nothing in the last one said its time */
const FALLBACK_STEP_US = 40_000

/** What the video rules share: header runs per item, the item's clock offset, and the note. */
abstract class VideoJoin implements JoinRule {
  readonly keyed = true
  headers: readonly Buffer[] = []
  /** stream time (µs) at which the current item's media time 0 plays */
  protected offsetUs = 0
  /** the current item's end in its own media time (a unit's time plus its duration) */
  private itemEndUs = 0
  private inRun = false
  private sawMedia = false
  private note?: string

  newItem (): void {
    if (!this.sawMedia) return
    this.offsetUs += this.itemEndUs || FALLBACK_STEP_US
    this.itemEndUs = 0
    this.sawMedia = false
    this.startItem()
  }

  takeNote (): string | undefined { const n = this.note; this.note = undefined; return n }
  protected say (m: string): void { this.note ??= m }

  take (u: MediaUnit): Buffer {
    if (u.header) {
      // a header after media: the next item of a plain input
      if (this.sawMedia) this.newItem()
      const { send, join } = this.header(u)
      if (join.length) this.headers = this.inRun ? [...this.headers, join] : [join]
      this.inRun = true
      return send
    }
    this.inRun = false
    this.sawMedia = true
    if (u.timeUs !== undefined) this.itemEndUs = Math.max(this.itemEndUs, u.timeUs + u.durationUs)
    return this.media(u)
  }

  entry (): undefined { return undefined }

  /** the bytes of a header unit to send in the stream (empty: repeated setup) and to give a joiner */
  protected abstract header (u: MediaUnit): { send: Buffer, join: Buffer }
  protected abstract media (u: MediaUnit): Buffer
  protected abstract startItem (): void
}

// ---- MPEG-TS ----

function writeTs33 (b: Buffer, i: number, v: number): void {
  const hi = Math.floor(v / 2 ** 30); const lo = v % 2 ** 30
  b[i] = (b[i] & 0xf0) | (hi << 1) | 1
  b[i + 1] = (lo >>> 22) & 0xff
  b[i + 2] = (((lo >>> 15) & 0x7f) << 1) | 1
  b[i + 3] = (lo >>> 7) & 0xff
  b[i + 4] = ((lo & 0x7f) << 1) | 1
}

const readTs33 = (b: Buffer, i: number): number => ((b[i] >> 1) & 7) * 2 ** 30 + (b[i + 1] << 22) + ((b[i + 2] >> 1) << 15) + (b[i + 3] << 7) + (b[i + 4] >> 1)

/**
 * TS: continuity counters run on across items (each PID's counter is shifted by what
 * makes its first packet follow the last one sent), PCR, PTS and DTS are moved by the
 * item's offset, and the item's first PCR packet carries the discontinuity indicator.
 * PAT and PMT are repeated in the stream anyway, so they are always sent. The picture
 * size (H.264 SPS, MPEG-2 sequence header) of each item's first video PES that declares
 * one is compared with the previous item's: a change is said, as for WebM.
 */
export class TsJoin extends VideoJoin {
  private readonly cc = new Map<number, number>()
  private delta = new Map<number, number>()
  /** 90 kHz ticks added to this item's clock; undefined until its first timestamp */
  private shift?: number
  /** the first item's first decode time, which is stream time 0 */
  private base0?: number
  private marked = false
  /** the video stream the PMT names, and the picture size players decode now */
  private video?: { pid: number, codec: string }
  private size?: PictureSize
  /** this item's picture size was found (or the item has none to compare) */
  private sized = false

  protected startItem (): void { this.delta = new Map(); this.shift = undefined; this.marked = false; this.sized = false }
  protected header (u: MediaUnit): { send: Buffer, join: Buffer } {
    const p = readTsPacket(u.bytes)
    const v = p && parsePmt(p)?.find(x => x.video)
    if (v) this.video = { pid: v.pid, codec: v.codec }
    const b = this.rewrite(u.bytes)
    return { send: b, join: b }
  }

  protected media (u: MediaUnit): Buffer {
    if (!this.sized && this.video) this.checkSize(u.bytes, this.video)
    return this.rewrite(u.bytes)
  }

  private checkSize (b: Buffer, video: { pid: number, codec: string }): void {
    for (let i = 0; i + TS_PACKET_BYTES <= b.length; i += TS_PACKET_BYTES) {
      const p = readTsPacket(b.subarray(i))
      if (!p || p.pid !== video.pid || !p.pusi || p.payload.length < 9) continue
      const size = pictureSize(p.payload.subarray(9 + p.payload[8]), video.codec)
      if (!size) continue
      this.sized = true
      const prev = this.size
      this.size = size
      if (prev && (prev.width !== size.width || prev.height !== size.height)) this.say(`picture size ${prev.width}x${prev.height} → ${size.width}x${size.height} after the previous item; some players will stop or garble here`)
      return
    }
  }

  private rewrite (src: Buffer): Buffer {
    const b = Buffer.from(src)
    for (let i = 0; i + TS_PACKET_BYTES <= b.length; i += TS_PACKET_BYTES) {
      if (b[i] !== TS_SYNC) continue
      const pid = ((b[i + 1] & 0x1f) << 8) | b[i + 2]
      const afc = (b[i + 3] >> 4) & 3
      if (afc & 1) {
        const inCc = b[i + 3] & 15
        if (!this.delta.has(pid)) { const last = this.cc.get(pid); this.delta.set(pid, last === undefined ? 0 : (last + 1 - inCc) & 15) }
        const out = (inCc + (this.delta.get(pid) as number)) & 15
        b[i + 3] = (b[i + 3] & 0xf0) | out
        this.cc.set(pid, out)
      }
      const pcrAt = (afc & 2) && b[i + 4] >= 7 && (b[i + 5] & 0x10) ? i + 6 : -1
      const pay = afc & 2 ? i + 5 + b[i + 4] : i + 4
      const pusi = (b[i + 1] & 0x40) !== 0
      const pes = pusi && pid !== 0 && (afc & 1) ? pesTimes(b.subarray(pay, i + TS_PACKET_BYTES)) : undefined
      const t = pes?.dts ?? pes?.pts
      if (this.shift === undefined && t !== undefined) {
        // this item's first decode time plays at its offset in the stream
        this.base0 ??= t
        this.shift = (this.base0 + Math.round(this.offsetUs * TS_CLOCK_HZ / 1e6) - t + TS_WRAP) % TS_WRAP
      }
      const shift = this.shift ?? 0
      if (pcrAt >= 0) {
        if (shift) {
          const base = (b.readUInt32BE(pcrAt) * 2 + (b[pcrAt + 4] >> 7) + shift) % TS_WRAP
          b.writeUInt32BE(Math.floor(base / 2), pcrAt)
          b[pcrAt + 4] = (b[pcrAt + 4] & 0x7f) | ((base % 2) << 7)
        }
        // the clock jumps here: say so in the item's first PCR
        if (this.offsetUs > 0 && !this.marked) { b[i + 5] |= 0x80; this.marked = true }
      }
      if (pes?.pts !== undefined && shift) {
        for (const at of pes.dts !== undefined ? [pay + 9, pay + 14] : [pay + 9]) writeTs33(b, at, (readTs33(b, at) + shift) % TS_WRAP)
      }
    }
    return b
  }
}

// ---- Matroska / WebM ----

/** A Void element of exactly `len` bytes (len ≥ 2 and ≤ 129 with a one-byte size). */
function voidElement (len: number): Buffer {
  const b = Buffer.alloc(len)
  b[0] = ID.Void
  if (len - 2 <= 126) b[1] = 0x80 | (len - 2)
  else { b[1] = 0x40 | ((len - 3) >> 8); b[2] = (len - 3) & 0xff }
  return b
}

/** what of a TrackEntry makes two items' tracks the same for a decoder: all but the TrackUID */
const TRACK_UID = 0x73c5
interface TrackSetup { codecs: string, setup: string, entries: Buffer[] }
function trackSetup (tracksBody: Buffer): TrackSetup {
  const entries = children(tracksBody).filter(([id]) => id === ID.TrackEntry).map(([, e]) => e)
  const codecs = entries.map(e => children(e).find(([id]) => id === ID.CodecID)?.[1].toString('latin1') ?? '').join('+')
  const setup = entries.map(e => children(e).filter(([id]) => id !== TRACK_UID).map(([id, d]) => `${id.toString(16)}:${d.toString('hex')}`).join(',')).join('|')
  return { codecs, setup, entries }
}

/** the TrackEntry elements a setup change names (Matroska's element names), and Video and Audio, whose children are compared */
const TRACK_NAMES: Record<number, string> = {
  0xd7: 'TrackNumber', 0x83: 'TrackType', 0x86: 'CodecID', 0x63a2: 'CodecPrivate', 0x23e383: 'DefaultDuration',
  0x56aa: 'CodecDelay', 0x56bb: 'SeekPreRoll', 0x22b59c: 'Language', 0x536e: 'Name', 0x9c: 'FlagLacing',
  0x88: 'FlagDefault', 0xb9: 'FlagEnabled', 0x23314f: 'TrackTimecodeScale', 0xe0: 'Video', 0xe1: 'Audio',
  0xb0: 'PixelWidth', 0xba: 'PixelHeight', 0x54b0: 'DisplayWidth', 0x54ba: 'DisplayHeight', 0x54b2: 'DisplayUnit',
  0x55b0: 'Colour', 0x9a: 'FlagInterlaced', 0x53b8: 'StereoMode', 0x2383e3: 'FrameRate',
  0xb5: 'SamplingFrequency', 0x78b5: 'OutputSamplingFrequency', 0x9f: 'Channels', 0x6264: 'BitDepth',
}
const NESTED = new Set([0xe0, 0xe1])

/**
 * What differs between two items' tracks, for the warning (each differing element by
 * name, one level into Video and Audio): two WebM items from ffmpeg's testsrc and
 * testsrc2, alike but for the colour range, were said only to differ.
 */
function setupDiff (a: Buffer[], b: Buffer[]): string {
  if (a.length !== b.length) return `${a.length} tracks, then ${b.length}`
  const tracks: string[] = []
  let out: string[] = []
  const diff = (x: Buffer, y: Buffer, prefix: string): void => {
    const mx = new Map(children(x).filter(([id]) => id !== TRACK_UID))
    const my = new Map(children(y).filter(([id]) => id !== TRACK_UID))
    for (const id of new Set([...mx.keys(), ...my.keys()])) {
      const dx = mx.get(id)
      const dy = my.get(id)
      if (dx !== undefined && dy !== undefined && dx.equals(dy)) continue
      const name = prefix + (TRACK_NAMES[id] ?? `0x${id.toString(16)}`)
      if (NESTED.has(id) && dx !== undefined && dy !== undefined) diff(dx, dy, name + '.')
      else out.push(name)
    }
  }
  for (let k = 0; k < a.length; k++) {
    out = []
    diff(a[k], b[k], '')
    if (out.length > 0) tracks.push(`track ${k + 1}: ${out.join(', ')}`)
  }
  return tracks.join('; ')
}

/**
 * Matroska/WebM: the Segment runs on with its size unknown; SeekHead and Cues go
 * (their byte positions are the file's, not the stream's), Info loses its Duration;
 * each Cluster's head is rewritten with its size unknown and its Timecode moved on by
 * the item's offset, so the blocks' relative timecodes stand.
 */
export class MatroskaJoin extends VideoJoin {
  private scale = DEFAULT_TIMECODE_SCALE
  /** the track setup players are decoding now, and the one of the item being read */
  private current?: TrackSetup
  private held: Buffer[] = []
  private continuing = false
  private decided = false

  protected startItem (): void { this.held = []; this.continuing = false; this.decided = false }

  protected header (u: MediaUnit): { send: Buffer, join: Buffer } {
    const h = readElementHead(u.bytes)
    if (h === null || h === 'need') return { send: u.bytes, join: u.bytes }
    if (h.id === ID.EBML) { this.held = []; this.decided = false }
    let out = u.joinBytes ?? u.bytes
    if (h.id === ID.SeekHead) out = EMPTY
    if (h.id === ID.Info) {
      this.scale = parseInfo(u.bytes.subarray(h.headBytes)).timecodeScale
      out = Buffer.from(u.bytes)
      for (let i = h.headBytes; i < out.length;) {
        const c = readElementHead(out, i)
        if (c === null || c === 'need' || c.size === UNKNOWN_SIZE) break
        const len = c.headBytes + c.size
        if (c.id === ID.Duration) voidElement(len).copy(out, i)
        i += len
      }
    }
    if (h.id === ID.Tracks) {
      const t = trackSetup(u.bytes.subarray(h.headBytes))
      const prev = this.current
      this.current = t
      this.continuing = prev !== undefined && prev.setup === t.setup
      this.decided = true
      if (prev && !this.continuing && prev.codecs === t.codecs) this.say(`video or audio setup differs from the previous item (same codecs; ${setupDiff(prev.entries, t.entries)}); a new WebM header is sent mid-stream, which some players do not follow`)
      const send = this.continuing ? EMPTY : Buffer.concat([...this.held, out])
      this.held = []
      return { send, join: out }
    }
    // before the Tracks: held until it is known whether the setup changed
    if (!this.decided) { this.held.push(out); return { send: EMPTY, join: out } }
    return { send: this.continuing ? EMPTY : out, join: out }
  }

  protected media (u: MediaUnit): Buffer {
    const h = readElementHead(u.bytes)
    if (h === null || h === 'need') return u.bytes
    const held = this.held.length ? Buffer.concat(this.held) : EMPTY
    this.held = []
    if (h.id === ID.Cues || h.id === ID.SeekHead) return held
    if (h.id !== ID.Cluster) return held.length ? Buffer.concat([held, u.bytes]) : u.bytes
    // the Cluster head: ID, size (now unknown), its children up to the first block
    const parts: Buffer[] = [held, unknownSize(u.bytes.subarray(0, h.headBytes))]
    let tc = 0
    for (let i = h.headBytes; i < u.bytes.length;) {
      const c = readElementHead(u.bytes, i)
      if (c === null || c === 'need' || c.size === UNKNOWN_SIZE) { parts.push(u.bytes.subarray(i)); break }
      const len = c.headBytes + c.size
      if (c.id === ID.Timecode) tc = u.bytes.subarray(i + c.headBytes, i + len).reduce((a, v) => a * 256 + v, 0)
      else if (c.id !== ID.Crc32 && c.id !== 0xa7 && c.id !== 0xab) parts.push(u.bytes.subarray(i, i + len)) // CRC-32, Position, PrevSize no longer hold
      i += len
    }
    const moved = tc + Math.round(this.offsetUs * 1000 / this.scale)
    const timecode = Buffer.alloc(10)
    timecode[0] = ID.Timecode; timecode[1] = 0x88
    timecode.writeUInt32BE(Math.floor(moved / 2 ** 32), 2); timecode.writeUInt32BE(moved % 2 ** 32, 6)
    parts.splice(2, 0, timecode)
    return Buffer.concat(parts)
  }
}

// ---- fragmented MP4 ----

/** the codec setup of a 'moov': per track its id, timescale, handler, sample description and size */
function moovSetup (moov: Buffer): { handlers: string, setup: string, timescales: Map<number, number> } {
  const timescales = new Map<number, number>()
  const parts: string[] = []; const handlers: string[] = []
  for (const [t, trak] of boxes(moov)) {
    if (t !== 'trak') continue
    const tkhd = boxes(trak).find(([x]) => x === 'tkhd')?.[1]
    const mdia = boxes(trak).find(([x]) => x === 'mdia')?.[1]
    if (!tkhd || !mdia) continue
    const mdhd = boxes(mdia).find(([x]) => x === 'mdhd')?.[1]
    const hdlr = boxes(mdia).find(([x]) => x === 'hdlr')?.[1]
    const minf = boxes(mdia).find(([x]) => x === 'minf')?.[1]
    const stbl = minf && boxes(minf).find(([x]) => x === 'stbl')?.[1]
    const stsd = stbl && boxes(stbl).find(([x]) => x === 'stsd')?.[1]
    const id = tkhd.readUInt32BE(tkhd[0] === 1 ? 20 : 12)
    const ts = mdhd && mdhd.length >= 24 ? mdhd.readUInt32BE(mdhd[0] === 1 ? 20 : 12) : 0
    timescales.set(id, ts)
    const handler = hdlr && hdlr.length >= 12 ? hdlr.toString('latin1', 8, 12) : ''
    handlers.push(handler)
    parts.push(`${id}/${ts}/${handler}/${tkhd.subarray(tkhd.length - 8).toString('hex')}/${stsd?.toString('hex') ?? ''}`)
  }
  return { handlers: handlers.join('+'), setup: parts.join('|'), timescales }
}

/**
 * fMP4: each track fragment's tfdt is moved on by the item's offset (in the track's
 * timescale) and mfhd sequence numbers run on; 'mfra' (file offsets) goes. The init
 * segment of an item with the same tracks and sample descriptions is not repeated.
 */
export class Fmp4Join extends VideoJoin {
  private timescales = new Map<number, number>()
  private current?: { handlers: string, setup: string }
  private held: Buffer[] = []
  private continuing = false
  private seq = 0

  protected startItem (): void { this.held = []; this.continuing = false }

  protected header (u: MediaUnit): { send: Buffer, join: Buffer } {
    const h = readBoxHead(u.bytes)
    if (h === null || h === 'need' || h.type !== 'moov') {
      // ftyp (and anything else before moov) waits for the moov to say whether the setup changed
      if (h !== null && h !== 'need' && h.type === 'ftyp') this.held = []
      this.held.push(u.bytes)
      return { send: EMPTY, join: u.bytes }
    }
    const m = moovSetup(u.bytes.subarray(h.headBytes))
    const prev = this.current
    this.current = m
    this.timescales = m.timescales
    this.continuing = prev !== undefined && prev.setup === m.setup
    if (prev && !this.continuing && prev.handlers === m.handlers) this.say('video or audio setup differs from the previous item; a new MP4 initialisation segment is sent mid-stream, which some players do not follow')
    const send = this.continuing ? EMPTY : Buffer.concat([...this.held, u.bytes])
    this.held = []
    return { send, join: u.bytes }
  }

  protected media (u: MediaUnit): Buffer {
    const h = readBoxHead(u.bytes)
    if (h === null || h === 'need') return u.bytes
    if (h.type === 'mfra') return EMPTY
    if (h.type !== 'moof') return u.bytes
    const b = Buffer.from(u.bytes)
    for (let i = h.headBytes; i < h.size;) {
      const c = readBoxHead(b, i)
      if (c === null || c === 'need' || i + c.size > h.size) break
      if (c.type === 'mfhd' && c.size >= c.headBytes + 8) b.writeUInt32BE(++this.seq, i + c.headBytes + 4)
      if (c.type === 'traf') this.moveTraf(b, i + c.headBytes, i + c.size)
      i += c.size
    }
    return b
  }

  private moveTraf (b: Buffer, from: number, to: number): void {
    let track = 0
    for (let i = from; i < to;) {
      const c = readBoxHead(b, i)
      if (c === null || c === 'need' || i + c.size > to) return
      const at = i + c.headBytes
      if (c.type === 'tfhd' && c.size >= c.headBytes + 8) track = b.readUInt32BE(at + 4)
      if (c.type === 'tfdt' && c.size >= c.headBytes + 8) {
        const off = Math.round(this.offsetUs * (this.timescales.get(track) ?? 0) / 1e6)
        if (b[at] === 1 && c.size >= c.headBytes + 12) b.writeBigUInt64BE(b.readBigUInt64BE(at + 4) + BigInt(off), at + 4)
        else b.writeUInt32BE((b.readUInt32BE(at + 4) + off) % 2 ** 32, at + 4)
      }
      i += c.size
    }
  }
}
