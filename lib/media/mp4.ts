// ISO base media file format (ISO/IEC 14496-12), fragmented: the initialisation segment
// (ftyp, moov with mvex) is the header; then each fragment, a 'moof' and the 'mdat' it
// describes, is one unit, timed by its track fragments' tfdt and sample durations.
//
//   box: size u32 (1: a u64 largesize follows the type; 0: to the end), type 4 chars
//   tfhd flags: 0x01 base_data_offset u64, 0x02 sample_description_index u32,
//     0x08 default_sample_duration, 0x10 default_sample_size, 0x20 default_sample_flags
//   trun flags: 0x01 data_offset, 0x04 first_sample_flags, then per sample
//     0x100 duration, 0x200 size, 0x400 flags, 0x800 composition offset (u32 each)
//   sample flags: 0x00010000 sample_is_non_sync_sample
import type { Step, StreamInfo, UnitFormat } from './format.js'

export interface BoxHead { type: string, size: number, headBytes: number }

/** The box head at b[at]: 'need' when b ends inside it, null when malformed. size 0 (to the end) is Infinity. */
export function readBoxHead (b: Buffer, at = 0): BoxHead | 'need' | null {
  if (at + 8 > b.length) return 'need'
  let size = b.readUInt32BE(at)
  const type = b.toString('latin1', at + 4, at + 8)
  if (!/^[\x20-\x7e]{4}$/.test(type)) return null
  if (size === 1) {
    if (at + 16 > b.length) return 'need'
    size = Number(b.readBigUInt64BE(at + 8))
    return size < 16 ? null : { type, size, headBytes: 16 }
  }
  if (size === 0) return { type, size: Infinity, headBytes: 8 }
  return size < 8 ? null : { type, size, headBytes: 8 }
}

/** The child boxes of a fully present body, as [type, body]. */
export function boxes (body: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = []
  for (let i = 0; i < body.length;) {
    const h = readBoxHead(body, i)
    if (h === null || h === 'need' || i + h.size > body.length) break
    out.push([h.type, body.subarray(i + h.headBytes, i + h.size)])
    i += h.size
  }
  return out
}

const child = (body: Buffer, type: string): Buffer | undefined => boxes(body).find(([t]) => t === type)?.[1]

export interface Mp4Track { id: number, timescale: number, handler: string, defaultDuration: number, defaultFlags: number }

/** Tracks of a 'moov' body: id, media timescale, handler ('vide', 'soun') and trex defaults. */
export function parseMoov (moov: Buffer): { tracks: Mp4Track[], fragmented: boolean, timescale: number, fragmentDuration?: number } {
  const tracks: Mp4Track[] = []
  for (const [t, trak] of boxes(moov)) {
    if (t !== 'trak') continue
    const tkhd = child(trak, 'tkhd')
    const mdia = child(trak, 'mdia')
    const mdhd = mdia && child(mdia, 'mdhd')
    const hdlr = mdia && child(mdia, 'hdlr')
    if (!tkhd || !mdhd || mdhd.length < 24) continue
    tracks.push({
      id: tkhd.readUInt32BE(tkhd[0] === 1 ? 20 : 12),
      timescale: mdhd.readUInt32BE(mdhd[0] === 1 ? 20 : 12),
      handler: hdlr && hdlr.length >= 12 ? hdlr.toString('latin1', 8, 12) : '',
      defaultDuration: 0,
      defaultFlags: 0,
    })
  }
  const mvhd = child(moov, 'mvhd')
  const timescale = mvhd && mvhd.length >= 20 ? mvhd.readUInt32BE(mvhd[0] === 1 ? 20 : 12) : 0
  const mvex = child(moov, 'mvex')
  let fragmentDuration: number | undefined
  for (const [t, b] of mvex ? boxes(mvex) : []) {
    if (t === 'mehd' && b.length >= 8) fragmentDuration = b[0] === 1 && b.length >= 12 ? Number(b.readBigUInt64BE(4)) : b.readUInt32BE(4)
    if (t === 'trex' && b.length >= 24) {
      const tr = tracks.find(x => x.id === b.readUInt32BE(4))
      if (tr) { tr.defaultDuration = b.readUInt32BE(12); tr.defaultFlags = b.readUInt32BE(20) }
    }
  }
  return { tracks, fragmented: mvex !== undefined, timescale, fragmentDuration }
}

export interface TrackRun { track: number, start: number, duration: number, firstSync: boolean }

/** Per track fragment of a 'moof' body: the decode time it starts at, its duration (track timescale), whether it opens with a sync sample. */
export function parseMoof (moof: Buffer, tracks: Mp4Track[]): TrackRun[] {
  const out: TrackRun[] = []
  for (const [t, traf] of boxes(moof)) {
    if (t !== 'traf') continue
    const tfhd = child(traf, 'tfhd')
    if (!tfhd || tfhd.length < 8) continue
    const id = tfhd.readUInt32BE(4)
    const tr = tracks.find(x => x.id === id)
    const f = tfhd.readUInt32BE(0) & 0xffffff
    let at = 8
    if (f & 0x01) at += 8
    if (f & 0x02) at += 4
    let defDur = tr?.defaultDuration ?? 0
    if (f & 0x08) { defDur = tfhd.readUInt32BE(at); at += 4 }
    if (f & 0x10) at += 4
    const defFlags = f & 0x20 ? tfhd.readUInt32BE(at) : tr?.defaultFlags ?? 0
    const tfdt = child(traf, 'tfdt')
    const start = tfdt && tfdt.length >= 8 ? (tfdt[0] === 1 && tfdt.length >= 12 ? Number(tfdt.readBigUInt64BE(4)) : tfdt.readUInt32BE(4)) : 0
    let duration = 0
    let firstFlags: number | undefined
    for (const [rt, trun] of boxes(traf)) {
      if (rt !== 'trun' || trun.length < 8) continue
      const rf = trun.readUInt32BE(0) & 0xffffff
      const n = trun.readUInt32BE(4)
      let p = 8
      if (rf & 0x01) p += 4
      if (rf & 0x04) { if (firstFlags === undefined) firstFlags = trun.readUInt32BE(p); p += 4 }
      const per = [0x100, 0x200, 0x400, 0x800].filter(b => rf & b).length * 4
      for (let i = 0; i < n && p + per <= trun.length; i++) {
        let q = p
        if (rf & 0x100) { duration += trun.readUInt32BE(q); q += 4 } else duration += defDur
        if (rf & 0x200) q += 4
        if (rf & 0x400 && i === 0 && firstFlags === undefined) firstFlags = trun.readUInt32BE(q)
        p += per
      }
    }
    out.push({ track: id, start, duration, firstSync: ((firstFlags ?? defFlags) & 0x10000) === 0 })
  }
  return out
}

/** boxes of the initialisation segment; anything else before the first 'moof' is carried as header too */
const MAX_HEADER_BOX_BYTES = 16 * 1024 * 1024
/** a fragment bigger than this is refused rather than held whole */
export const MAX_FRAGMENT_BYTES = 64 * 1024 * 1024

/** Fragmented MP4 as media units; see the file comment. */
export class Fmp4Format implements UnitFormat {
  private tracks: Mp4Track[] = []
  private sawMoof = false
  private lead?: Mp4Track
  private hasVideo = false

  step (buf: Buffer, atEnd: boolean, synced: boolean): Step {
    const h = readBoxHead(buf)
    if (h === 'need') return atEnd ? { t: 'bad', why: 'truncated MP4 box' } : { t: 'need', bytes: 16 }
    if (h === null) return { t: 'bad', why: 'no MP4 box' }
    if (!synced && !['ftyp', 'moof', 'styp'].includes(h.type)) return { t: 'bad', why: 'no MP4 fragment' }
    if (h.type === 'moof') {
      if (h.size > MAX_FRAGMENT_BYTES) return { t: 'bad', why: "oversized 'moof'" }
      const m = readBoxHead(buf, h.size)
      if (m === 'need') return atEnd ? { t: 'bad', why: "'moof' without 'mdat'" } : { t: 'need', bytes: h.size + 16 }
      if (m === null || m.type !== 'mdat' || h.size + m.size > MAX_FRAGMENT_BYTES) return { t: 'bad', why: "'moof' without 'mdat'" }
      const len = h.size + m.size
      if (buf.length < len) return atEnd ? { t: 'bad', why: 'truncated MP4 fragment' } : { t: 'need', bytes: len }
      this.sawMoof = true
      const runs = parseMoof(buf.subarray(h.headBytes, h.size), this.tracks)
      const lead = runs.find(r => r.track === this.lead?.id) ?? runs[0]
      const ts = this.tracks.find(t => t.id === lead?.track)?.timescale
      if (!lead || !ts) return { t: 'unit', len, durationUs: 0 }
      const s: Step = { t: 'unit', len, durationUs: lead.duration / ts * 1e6, timeUs: lead.start / ts * 1e6 }
      if (lead.firstSync) s.key = true
      return s
    }
    if (h.size === Infinity || h.size > MAX_HEADER_BOX_BYTES) return { t: 'bad', why: `MP4 box '${h.type}' of unknown or excessive size` }
    if (buf.length < h.size) return atEnd ? { t: 'bad', why: 'truncated MP4 box' } : { t: 'need', bytes: h.size }
    if (h.type === 'ftyp') this.sawMoof = false
    if (h.type === 'moov') {
      const m = parseMoov(buf.subarray(h.headBytes, h.size))
      this.tracks = m.tracks
      this.lead = m.tracks.find(t => t.handler === 'vide') ?? m.tracks[0]
      this.hasVideo = m.tracks.some(t => t.handler === 'vide')
    }
    return this.sawMoof ? { t: 'unit', len: h.size, durationUs: 0 } : { t: 'unit', len: h.size, durationUs: 0, header: true }
  }

  resync (buf: Buffer, from: number): number {
    for (let i = from + 4; i + 4 <= buf.length; i++) {
      const t = buf.toString('latin1', i, i + 4)
      if (t === 'moof' || t === 'ftyp' || t === 'styp') return i - 4
    }
    return Math.max(from, buf.length - 7)
  }

  desync (): void {}

  info (): StreamInfo | undefined {
    if (!this.tracks.length) return undefined
    return { kind: 'fmp4', video: this.hasVideo, codec: this.tracks.map(t => t.handler).join('+') }
  }
}
