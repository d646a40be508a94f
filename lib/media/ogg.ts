// Ogg pages (RFC 3533) with Vorbis (Vorbis I spec §4.2) and Opus (RFC 7845) timing:
// a page is the unit, its play time the granule delta of its logical stream, and
// the codec header pages are flagged so a listener joining mid-stream gets them first.
//
//   offset  width  field (little-endian)
//   0       4      capture pattern 'OggS'
//   4       1      version (0)
//   5       1      flags: 1 continued packet, 2 first page (BOS), 4 last page (EOS)
//   6       8      granule position (-1: no packet ends on this page)
//   14      4      serial number of the logical stream
//   18      4      page sequence number
//   22      4      CRC-32 (poly 0x04c11db7, MSB first, init 0, over the page with this field zeroed)
//   26      1      number of segments n
//   27      n      lacing values; a packet ends at a value below 255
//   27+n    …      body: the sum of the lacing values
import type { Step, StreamInfo, UnitFormat } from './format.js'

export const OGG_HEADER_BYTES = 27
/** 27 + 255 lacing values of 255 bytes each */
export const MAX_OGG_PAGE_BYTES = 27 + 255 + 255 * 255
export const OPUS_RATE = 48000

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let r = i << 24
    for (let k = 0; k < 8; k++) r = (r & 0x80000000) ? ((r << 1) ^ 0x04c11db7) : (r << 1)
    t[i] = r >>> 0
  }
  return t
})()

/** The Ogg CRC of a whole page, computed as if its CRC field were zero. */
export function oggCrc (page: Buffer): number {
  let crc = 0
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i]
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0
  }
  return crc
}

export interface OggPage {
  flags: number
  /** -1 when no packet ends on the page */
  granule: number
  serial: number
  seq: number
  lacing: Buffer
  body: Buffer
  length: number
}

export const OGG_CONTINUED = 1
export const OGG_BOS = 2
export const OGG_EOS = 4

/**
 * Look at a page at buf[0]: the page, 'need' with the bytes required, or a reason
 * it is not a valid page.
 */
export function readOggPage (buf: Buffer): OggPage | { need: number } | { bad: string } {
  if (buf.length < 4) return 'OggS'.startsWith(buf.toString('latin1')) ? { need: OGG_HEADER_BYTES } : { bad: 'no Ogg capture pattern' }
  if (buf.readUInt32BE(0) !== 0x4f676753) return { bad: 'no Ogg capture pattern' }
  if (buf.length < OGG_HEADER_BYTES) return { need: OGG_HEADER_BYTES }
  if (buf[4] !== 0) return { bad: `Ogg page version ${buf[4]}` }
  const n = buf[26]
  if (buf.length < OGG_HEADER_BYTES + n) return { need: OGG_HEADER_BYTES + n }
  let body = 0
  for (let i = 0; i < n; i++) body += buf[OGG_HEADER_BYTES + i]
  const length = OGG_HEADER_BYTES + n + body
  if (buf.length < length) return { need: length }
  const page = buf.subarray(0, length)
  if (oggCrc(page) !== buf.readUInt32LE(22)) return { bad: 'Ogg page with a bad CRC' }
  const g = buf.readBigInt64LE(6)
  return {
    flags: buf[5],
    granule: g < 0n ? -1 : Number(g),
    serial: buf.readUInt32LE(14),
    seq: buf.readUInt32LE(18),
    lacing: buf.subarray(OGG_HEADER_BYTES, OGG_HEADER_BYTES + n),
    body: buf.subarray(OGG_HEADER_BYTES + n, length),
    length,
  }
}

interface LogicalStream {
  codec?: string
  rate?: number
  channels?: number
  bitrateKbps?: number
  /** granule at which media time 0 falls: Opus pre-skip, else 0 */
  base: number
  /** header packets still to come (Vorbis 3, Opus 2, others just the BOS page) */
  headersLeft: number
  /** granule at the end of the last page seen; undefined when unknown (start, or after a skip) */
  granule?: number
  ended: boolean
}

/** Identify a logical stream from the first packet of its BOS page. */
function identify (packet: Buffer): Omit<LogicalStream, 'ended' | 'granule'> {
  if (packet.length >= 30 && packet[0] === 1 && packet.subarray(1, 7).toString('latin1') === 'vorbis') {
    const nominal = packet.readInt32LE(20)
    return { codec: 'vorbis', channels: packet[11], rate: packet.readUInt32LE(12), bitrateKbps: nominal > 0 ? Math.round(nominal / 1000) : undefined, base: 0, headersLeft: 3 }
  }
  if (packet.length >= 19 && packet.subarray(0, 8).toString('latin1') === 'OpusHead') {
    return { codec: 'opus', channels: packet[9], rate: OPUS_RATE, base: packet.readUInt16LE(10), headersLeft: 2 }
  }
  // Theora I spec §6.1: identification, comment and setup headers, the first 0x80 'theora'
  if (packet.length >= 7 && packet[0] === 0x80 && packet.subarray(1, 7).toString('latin1') === 'theora') return { codec: 'theora', base: 0, headersLeft: 3 }
  return { base: 0, headersLeft: 1 }
}

/**
 * Ogg pages as media units; keeps per-stream state across pages and chain links. The
 * media time runs on across the links of a chained stream (each link's granules
 * start again from zero): a link starts where the one before ended.
 */
export class OggFormat implements UnitFormat {
  private streams = new Map<number, LogicalStream>()
  /** the stream whose granules pace the output: the first Vorbis/Opus stream of the chain link */
  private primary?: number
  /** media time where the current link starts, and the end of the last timed page (µs) */
  private linkUs = 0
  private endUs = 0

  step (buf: Buffer): Step {
    const p = readOggPage(buf)
    if ('need' in p) return { t: 'need', bytes: p.need }
    if ('bad' in p) return { t: 'bad', why: p.bad }
    let st = this.streams.get(p.serial)
    if (p.flags & OGG_BOS) {
      // a BOS after every stream has ended starts a new link of a chained stream
      if ([...this.streams.values()].every(s => s.ended)) { this.streams.clear(); this.primary = undefined; this.linkUs = this.endUs }
      let first = 0
      for (const v of p.lacing) { first += v; if (v < 255) break }
      st = { ...identify(p.body.subarray(0, first)), ended: false }
      this.streams.set(p.serial, st)
      // Theora granules count frames from keyframes, not time: an audio stream paces
      if (this.primary === undefined && st.codec && st.rate) this.primary = p.serial
    }
    if (!st) return { t: 'unit', len: p.length, durationUs: 0 }
    const header = st.headersLeft > 0
    if (header) {
      for (const v of p.lacing) if (v < 255) st.headersLeft--
      if (st.headersLeft <= 0) { st.headersLeft = 0; st.granule = st.base }
    }
    if (p.flags & OGG_EOS) st.ended = true
    if (header || p.serial !== this.primary || !st.rate) {
      if (!header && p.granule >= 0) st.granule = p.granule
      // another stream's page (Theora beside Vorbis) plays with the primary's latest
      if (!header && p.serial !== this.primary) return { t: 'unit', len: p.length, durationUs: 0, timeUs: this.endUs }
      return { t: 'unit', len: p.length, durationUs: 0, header }
    }
    if (p.granule < 0) {
      return { t: 'unit', len: p.length, durationUs: 0, timeUs: st.granule === undefined ? undefined : this.linkUs + (st.granule - st.base) / st.rate * 1e6 }
    }
    const prev = st.granule
    st.granule = p.granule
    // after a gap the page's start is unknown (its granule says only where it ends):
    // duration 0 and no time, which a sink recognises and times from the next page
    if (prev === undefined) return { t: 'unit', len: p.length, durationUs: 0 }
    const from = Math.max(prev, st.base)
    const timeUs = this.linkUs + (from - st.base) / st.rate * 1e6
    const durationUs = Math.max(0, p.granule - from) / st.rate * 1e6
    this.endUs = Math.max(this.endUs, timeUs + durationUs)
    return { t: 'unit', len: p.length, durationUs, timeUs }
  }

  resync (buf: Buffer, from: number): number {
    const i = buf.indexOf(0x4f, from) // 'O'
    return i < 0 ? buf.length : i
  }

  /** after a gap: pages were lost, so the next granule delta is unknown */
  desync (): void {
    for (const s of this.streams.values()) s.granule = undefined
  }

  info (): StreamInfo | undefined {
    const s = this.primary === undefined ? undefined : this.streams.get(this.primary)
    if (!s) return undefined
    const video = [...this.streams.values()].some(x => x.codec === 'theora')
    return { kind: 'ogg', codec: s.codec, sampleRate: s.rate, channels: s.channels, bitrateKbps: s.bitrateKbps, ...(video ? { video } : {}) }
  }
}
