// MPEG transport stream (ISO/IEC 13818-1 §2.4.3): 188-byte packets, the tables that
// name the streams (PAT, PMT) and the timestamps of PES packets. Units are groups of
// packets from one PES start of the leading stream (video if any) to the next, so a
// unit's time is that PES's decode time.
//
//   offset  bits  field (big-endian)
//   0       8     sync byte 0x47
//   1       1+1+1 transport_error, payload_unit_start (PUSI), priority
//   1       13    PID
//   3       2+2+4 scrambling, adaptation_field_control (1 payload, 2 field, 3 both), continuity
//   4       8     adaptation_field_length, then flags: 0x80 discontinuity,
//                 0x40 random_access, 0x10 PCR (33-bit base at 90 kHz, 6 reserved, 9-bit extension)
//
// A PES header (payload of a PUSI packet): 00 00 01, stream_id, length u16, flags u8,
// PTS_DTS_flags in the top 2 bits of the next byte, header length u8, then PTS and DTS,
// 5 bytes each holding 33 bits at 90 kHz.
import type { Step, StreamInfo, UnitFormat } from './format.js'

export const TS_PACKET_BYTES = 188
export const TS_SYNC = 0x47
/** PTS, DTS and PCR base count at 90 kHz and wrap at 2^33 */
export const TS_CLOCK_HZ = 90000
export const TS_WRAP = 2 ** 33
/** a unit is cut here even without the next PES start (a stream with no leading PES) */
export const MAX_TS_UNIT_BYTES = 4 * 1024 * 1024

export interface TsPacket {
  pid: number
  /** payload_unit_start_indicator: a PES or a PSI section starts in this packet */
  pusi: boolean
  /** random_access_indicator: a decoder can start here (ffmpeg sets it on keyframes) */
  rai: boolean
  /** PCR base, 90 kHz */
  pcr?: number
  payload: Buffer
}

/** The packet at b[0] (188 bytes there); null when it has no sync byte or a bad adaptation field. */
export function readTsPacket (b: Buffer): TsPacket | null {
  if (b.length < TS_PACKET_BYTES || b[0] !== TS_SYNC) return null
  const pid = ((b[1] & 0x1f) << 8) | b[2]
  const afc = (b[3] >> 4) & 3
  if (afc === 0) return null
  let at = 4
  let rai = false
  let pcr: number | undefined
  if (afc & 2) {
    const len = b[4]
    if (len > 183) return null
    if (len > 0) {
      rai = (b[5] & 0x40) !== 0
      if ((b[5] & 0x10) && len >= 7) pcr = b.readUInt32BE(6) * 2 + (b[10] >> 7)
    }
    at = 5 + len
  }
  return { pid, pusi: (b[1] & 0x40) !== 0, rai, pcr, payload: (afc & 1) ? b.subarray(at, TS_PACKET_BYTES) : b.subarray(TS_PACKET_BYTES) }
}

const ts33 = (b: Buffer, i: number): number => ((b[i] >> 1) & 7) * 2 ** 30 + (b[i + 1] << 22) + ((b[i + 2] >> 1) << 15) + (b[i + 3] << 7) + (b[i + 4] >> 1)

/** PTS and DTS of a PES header at p[0], when it has them. */
export function pesTimes (p: Buffer): { pts?: number, dts?: number } | undefined {
  if (p.length < 9 || p[0] !== 0 || p[1] !== 0 || p[2] !== 1 || (p[6] & 0xc0) !== 0x80) return undefined
  const flags = p[7] >> 6
  if (flags < 2 || p.length < 14) return {}
  const pts = ts33(p, 9)
  return flags === 3 && p.length >= 19 ? { pts, dts: ts33(p, 14) } : { pts }
}

/** Whether b starts a transport stream: the sync byte at every packet start that is there (at least two). */
export function isTsStart (b: Buffer): boolean {
  if (b.length < 2 * TS_PACKET_BYTES) return false
  for (let i = 0; i < Math.min(b.length, 8 * TS_PACKET_BYTES); i += TS_PACKET_BYTES) if (b[i] !== TS_SYNC) return false
  return true
}

/** The first packet boundary at or after `from`: a sync byte followed by two more a packet apart (or the end). */
export function tsAlign (b: Buffer, from: number): number {
  for (let i = from; i < b.length; i++) {
    if (b[i] !== TS_SYNC) continue
    let ok = true
    for (let k = 1; k <= 2 && i + k * TS_PACKET_BYTES < b.length; k++) if (b[i + k * TS_PACKET_BYTES] !== TS_SYNC) ok = false
    if (ok) return i
  }
  return b.length
}

/** The section of a PSI payload that starts in this packet (after its pointer_field). */
function section (p: TsPacket): Buffer | undefined {
  if (!p.pusi || p.payload.length < 1) return undefined
  const s = p.payload.subarray(1 + p.payload[0])
  if (s.length < 8) return undefined
  const len = ((s[1] & 0x0f) << 8) | s[2]
  return s.subarray(0, Math.min(s.length, 3 + len - 4)) // less the CRC
}

/** PMT PIDs named by a PAT packet (program 0 is the network PID, left out). */
export function parsePat (p: TsPacket): number[] {
  const s = section(p)
  if (!s || s[0] !== 0) return []
  const out: number[] = []
  for (let i = 8; i + 4 <= s.length; i += 4) if (s.readUInt16BE(i) !== 0) out.push(s.readUInt16BE(i + 2) & 0x1fff)
  return out
}

export interface TsStream { pid: number, type: number, video: boolean, codec: string }

const STREAM_TYPES: Record<number, [string, boolean]> = {
  0x01: ['mpeg1video', true], 0x02: ['mpeg2video', true], 0x10: ['mpeg4', true], 0x1b: ['h264', true], 0x24: ['hevc', true],
  0x03: ['mp2', false], 0x04: ['mp2', false], 0x0f: ['aac', false], 0x11: ['aac_latm', false], 0x81: ['ac3', false], 0x06: ['private', false],
}

/** Elementary streams listed by a PMT packet; undefined when it is not one. */
export function parsePmt (p: TsPacket): TsStream[] | undefined {
  const s = section(p)
  if (!s || s[0] !== 2) return undefined
  const out: TsStream[] = []
  let i = 12 + (s.readUInt16BE(10) & 0x0fff)
  while (i + 5 <= s.length) {
    const type = s[i]
    const [codec, video] = STREAM_TYPES[type] ?? ['unknown', false]
    out.push({ pid: s.readUInt16BE(i + 1) & 0x1fff, type, video, codec })
    i += 5 + (s.readUInt16BE(i + 3) & 0x0fff)
  }
  return out
}

/** The PTS of every PES start in the whole packets of b from `from`, by PID. */
export function tsPts (b: Buffer, from: number): Map<number, number[]> {
  const out = new Map<number, number[]>()
  for (let i = tsAlign(b, from); i + TS_PACKET_BYTES <= b.length; i += TS_PACKET_BYTES) {
    const p = readTsPacket(b.subarray(i))
    if (!p) { i = tsAlign(b, i + 1) - TS_PACKET_BYTES; continue }
    if (!p.pusi) continue
    const t = pesTimes(p.payload)
    if (t?.pts === undefined) continue
    let l = out.get(p.pid)
    if (!l) out.set(p.pid, l = [])
    l.push(t.pts)
  }
  return out
}

/** The last PES of `pid` that starts in the whole packets of b: its PTS and the ES bytes after its header. */
export function lastPes (b: Buffer, pid: number): { pts: number, es: Buffer } | undefined {
  let parts: Buffer[] | undefined
  let pts: number | undefined
  for (let i = tsAlign(b, 0); i + TS_PACKET_BYTES <= b.length; i += TS_PACKET_BYTES) {
    const p = readTsPacket(b.subarray(i))
    if (!p || p.pid !== pid) continue
    if (p.pusi) {
      const t = pesTimes(p.payload)
      if (t?.pts === undefined || p.payload.length < 9) { parts = undefined; continue }
      pts = t.pts
      parts = [p.payload.subarray(9 + p.payload[8])]
    } else parts?.push(p.payload)
  }
  return parts && pts !== undefined ? { pts, es: Buffer.concat(parts) } : undefined
}

/**
 * Transport stream packets as media units (see the file comment). Header units: the
 * first PAT and PMT, and any later one whose content changes; repeats travel inside
 * ordinary units. A unit is `key` when its first packet carries the random-access
 * indicator. timeUs is the decode time of the unit's PES from the first one seen;
 * durationUs the decode-time step to the next unit's PES (the last unit repeats the one before).
 */
export class TsFormat implements UnitFormat {
  private pmtPids: number[] = []
  private streams?: TsStream[]
  private lead?: number
  private pat?: Buffer
  private pmt?: Buffer
  private base?: number
  private lastStep = 0

  step (buf: Buffer, atEnd: boolean): Step {
    if (buf.length < TS_PACKET_BYTES) return atEnd || buf[0] !== TS_SYNC ? { t: 'bad', why: 'no transport stream sync' } : { t: 'need', bytes: TS_PACKET_BYTES }
    const p = readTsPacket(buf)
    if (!p) return { t: 'bad', why: 'no transport stream sync' }
    const one = buf.subarray(0, TS_PACKET_BYTES)
    if (p.pid === 0 && p.pusi && !(this.pat?.equals(one.subarray(4)))) {
      const pmts = parsePat(p)
      if (pmts.length) { this.pat = Buffer.from(one.subarray(4)); this.pmtPids = pmts; return { t: 'unit', len: TS_PACKET_BYTES, durationUs: 0, header: true } }
    }
    if (this.pmtPids.includes(p.pid) && p.pusi && !(this.pmt?.equals(one.subarray(4)))) {
      const streams = parsePmt(p)
      if (streams) {
        this.pmt = Buffer.from(one.subarray(4)); this.streams = streams
        this.lead = (streams.find(s => s.video) ?? streams[0])?.pid
        return { t: 'unit', len: TS_PACKET_BYTES, durationUs: 0, header: true }
      }
    }
    if (this.lead === undefined) return { t: 'unit', len: TS_PACKET_BYTES, durationUs: 0 }
    // the group runs to the next PES start of the leading stream
    const here = p.pid === this.lead && p.pusi ? pesTimes(p.payload) : undefined
    let end = TS_PACKET_BYTES
    let next: { pts?: number, dts?: number } | undefined
    for (;;) {
      if (end >= MAX_TS_UNIT_BYTES) break
      if (buf.length < end + TS_PACKET_BYTES) {
        if (atEnd) break
        return { t: 'need', bytes: end + TS_PACKET_BYTES }
      }
      const q = readTsPacket(buf.subarray(end))
      if (!q) break
      if (q.pid === this.lead && q.pusi) { next = pesTimes(q.payload); break }
      end += TS_PACKET_BYTES
    }
    const t = here?.dts ?? here?.pts
    if (t === undefined) return { t: 'unit', len: end, durationUs: 0 }
    if (this.base === undefined) this.base = t
    const tn = next?.dts ?? next?.pts
    if (tn !== undefined) this.lastStep = ((tn - t + TS_WRAP) % TS_WRAP) / TS_CLOCK_HZ * 1e6
    const s: Step = { t: 'unit', len: end, durationUs: this.lastStep, timeUs: ((t - this.base + TS_WRAP) % TS_WRAP) / TS_CLOCK_HZ * 1e6 }
    if (p.rai) s.key = true
    return s
  }

  resync (buf: Buffer, from: number): number { return tsAlign(buf, from) }
  desync (): void { this.lastStep = 0 }

  info (): StreamInfo | undefined {
    if (!this.streams) return undefined
    const lead = this.streams.find(s => s.pid === this.lead)
    return { kind: 'ts', codec: this.streams.map(s => s.codec).join('+'), video: lead?.video ?? false }
  }
}
