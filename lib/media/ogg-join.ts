// Joining an Ogg stream mid-page. Encoders put up to a second of audio in one page,
// so "start at the page that covers now" can start a listener up to a second early.
// For the first page a listener gets, drop the packets that are already over and
// rewrite the page (same granule, serial and sequence; not continued; new CRC).
// And joining the links of a chained stream: a link that reuses a serial number of
// the link before gets another one, which players need to see that a new link begins.
import { readOggPage, oggCrc, OGG_HEADER_BYTES, OGG_CONTINUED, OGG_BOS } from './ogg.js'

/** Play time of one Opus packet from its TOC byte (RFC 6716 §3.1), µs; 0 if unreadable. */
export function opusPacketUs (p: Buffer): number {
  if (p.length < 1) return 0
  const config = p[0] >> 3
  let frameUs: number
  if (config < 12) frameUs = [10_000, 20_000, 40_000, 60_000][config & 3]
  else if (config < 16) frameUs = [10_000, 20_000][config & 1]
  else frameUs = [2500, 5000, 10_000, 20_000][config & 3]
  const code = p[0] & 3
  const frames = code === 0 ? 1 : code < 3 ? 2 : (p.length > 1 ? p[1] & 0x3f : 0)
  return frameUs * frames
}

/**
 * The page with the packets that end before `skipUs` (µs into the page) left out, or
 * undefined when nothing can be dropped. Opus packets are timed by their TOC; other
 * codecs share the page's time in proportion to packet bytes.
 */
export function trimOggPage (page: Buffer, skipUs: number, pageUs: number, codec?: string): Buffer | undefined {
  const p = readOggPage(page)
  if (!('body' in p) || skipUs <= 0) return undefined
  // packets on this page: [lacing index, body offset, bytes, complete?]
  const packets: Array<{ li: number, off: number, len: number, complete: boolean }> = []
  let li = 0; let off = 0
  while (li < p.lacing.length) {
    const start = li; const startOff = off
    let len = 0
    while (li < p.lacing.length) { const v = p.lacing[li++]; len += v; if (v < 255) break }
    packets.push({ li: start, off: startOff, len, complete: p.lacing[li - 1] < 255 })
    off += len
  }
  const continued = (p.flags & OGG_CONTINUED) !== 0
  const durs = packets.map((k, i) => {
    if (i === 0 && continued) return 0 // the tail of a packet begun on the page before
    if (codec === 'opus') return k.complete ? opusPacketUs(p.body.subarray(k.off, k.off + k.len)) : 0
    return k.len / Math.max(1, p.body.length) * pageUs
  })
  if (codec === 'opus') {
    // Opus granules are exact, so the durations must add up to the page's; if not, do not guess
    const sum = durs.reduce((a, b) => a + b, 0)
    if (Math.abs(sum - pageUs) > 1000) return undefined
  }
  let t = 0; let k = 0
  while (k < packets.length - 1 && t + durs[k] <= skipUs) { t += durs[k]; k++ }
  if (k === 0) return undefined
  const keep = packets.slice(k)
  const lacing = p.lacing.subarray(keep[0].li)
  const body = p.body.subarray(keep[0].off)
  const out = Buffer.allocUnsafe(OGG_HEADER_BYTES + lacing.length + body.length)
  page.copy(out, 0, 0, OGG_HEADER_BYTES)
  out[5] = p.flags & ~OGG_CONTINUED
  out[26] = lacing.length
  lacing.copy(out, OGG_HEADER_BYTES)
  body.copy(out, OGG_HEADER_BYTES + lacing.length)
  out.writeUInt32LE(oggCrc(out), 22)
  return out
}

/**
 * Play time of the packets that end on a page, when its granule delta is unknown
 * (the first page after a GAP). Opus: from the TOC bytes, a packet continued from
 * the page before counted like the next one; undefined for other codecs.
 */
export function oggPageUs (page: Buffer, codec?: string): number | undefined {
  if (codec !== 'opus') return undefined
  const p = readOggPage(page)
  if (!('body' in p)) return undefined
  let li = 0; let off = 0; let total = 0; let first = true; let missing = 0
  while (li < p.lacing.length) {
    let len = 0; let v = 255
    while (li < p.lacing.length) { v = p.lacing[li++]; len += v; if (v < 255) break }
    if (v === 255) break // ends on a later page
    if (first && (p.flags & OGG_CONTINUED)) missing++
    else total += opusPacketUs(p.body.subarray(off, off + len))
    first = false
    off += len
  }
  const n = countComplete(p.lacing) - missing
  return n > 0 ? total + missing * total / n : undefined
}

function countComplete (lacing: Buffer): number {
  let n = 0
  for (const v of lacing) if (v < 255) n++
  return n
}

/**
 * Renumbers the logical streams of a chained Ogg stream, page by page in input
 * order, so that no link reuses a serial number of the link before (ffmpeg, for
 * one, takes the second link's header packets for audio otherwise). Pages that need
 * no change are returned as they are.
 */
export class OggSerials {
  /** input serial → output serial, for the current link */
  private link = new Map<number, number>()
  /** output serials of the link before */
  private before = new Set<number>()
  /** the BOS pages of a link come first, together: a BOS after any other page starts a new link */
  private inBos = false

  page (page: Buffer): Buffer {
    if (page.length < OGG_HEADER_BYTES) return page
    const serial = page.readUInt32LE(14)
    const flags = page[5]
    if (flags & OGG_BOS) {
      if (!this.inBos) {
        this.before = new Set(this.link.values())
        this.link.clear()
      }
      let out = serial
      while (this.before.has(out) || [...this.link.values()].includes(out)) out = (out + 1) >>> 0
      this.link.set(serial, out)
    }
    this.inBos = (flags & OGG_BOS) !== 0
    const out = this.link.get(serial)
    if (out === undefined || out === serial) return page
    const copy = Buffer.from(page)
    copy.writeUInt32LE(out, 14)
    copy.writeUInt32LE(oggCrc(copy), 22)
    return copy
  }
}
