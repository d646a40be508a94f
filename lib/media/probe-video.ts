// Duration and MIME type of video containers, from a head and a tail read: MPEG-TS
// (first and last PES timestamps), Matroska/WebM (Info's Duration, else the last
// Cluster's blocks), fragmented MP4 (mehd, else the last fragment's tfdt and samples).
import { DataError } from '../core/errors.js'
import type { ByteSource } from '../core/byte-source.js'
import { lastPes, parsePat, parsePmt, readTsPacket, tsAlign, tsPts, TS_CLOCK_HZ, TS_PACKET_BYTES, TS_WRAP } from './ts.js'
import { MPEG_FRAMES } from './mpeg.js'
import { ADTS_FRAMES } from './adts.js'
import { framesUs } from './sync-frames.js'
import { children, clusterEnd, ID, parseDocType, parseInfo, parseTracks, readElementHead, TRACK_VIDEO, UNKNOWN_SIZE, type SegmentInfo, type Track } from './matroska.js'
import { parseMoof, readBoxHead, type Mp4Track } from './mp4.js'

export interface VideoInfo { format: string, mime: string, seconds: number }

/** How far from the end to look for the last timestamps or fragment. */
export const VIDEO_TAIL_BYTES = [64 * 1024, 1024 * 1024, 8 * 1024 * 1024]
const MAX_TOP_ELEMENTS = 10_000
/** the fragments walked one box head at a time when the last one is not in the tail */
const MAX_FRAGMENT_BOXES = 100_000

/** Read a tail window that grows until `found` returns a value. */
async function fromTail<T> (src: ByteSource, found: (tail: Buffer, at: number) => T | undefined): Promise<T | undefined> {
  for (const want of VIDEO_TAIL_BYTES) {
    const n = Math.min(src.size, want)
    const r = found(await src.read(src.size - n, n), src.size - n)
    if (r !== undefined || n === src.size) return r
  }
  return undefined
}

// ---- MPEG-TS: from the earliest PTS at the start to the last one at the end, plus a frame ----

export async function probeTs (src: ByteSource, head: Buffer): Promise<VideoInfo> {
  // the video streams end it: an audio PES holds several frames, so its last timestamp says less
  const pmtPids = new Set<number>()
  const videoPids = new Set<number>()
  const audio = new Map<number, (es: Buffer) => number>()
  for (let i = 0; i + TS_PACKET_BYTES <= head.length; i += TS_PACKET_BYTES) {
    const p = readTsPacket(head.subarray(i))
    if (!p) break
    if (p.pid === 0) for (const x of parsePat(p)) pmtPids.add(x)
    else if (pmtPids.has(p.pid)) {
      for (const st of parsePmt(p) ?? []) {
        if (st.video) videoPids.add(st.pid)
        if (st.codec === 'mp2') audio.set(st.pid, es => framesUs(es, MPEG_FRAMES))
        if (st.codec === 'aac') audio.set(st.pid, es => framesUs(es, ADTS_FRAMES))
      }
    }
  }
  const first = tsPts(head, 0)
  if (first.size === 0) throw new DataError('no timestamps in the first packets of the transport stream', src.name)
  const start = Math.min(...[...first.values()].flat())
  let tail: Buffer = Buffer.alloc(0)
  const last = await fromTail(src, (t) => { tail = t; const m = tsPts(t, tsAlign(t, 0)); return m.size ? m : undefined })
  if (!last) throw new DataError('no timestamps near the end of the transport stream', src.name)
  let end = -Infinity
  for (const [pid, pts] of last) {
    if (videoPids.size && !videoPids.has(pid)) continue
    const count = audio.get(pid)
    const pes = count && lastPes(tail, pid)
    if (count && pes) {
      // audio without video: the frames of its last PES, counted, end it
      const us = count(pes.es)
      end = Math.max(end, (pes.pts < start - TS_WRAP / 2 ? pes.pts + TS_WRAP : pes.pts) + us * TS_CLOCK_HZ / 1e6)
      continue
    }
    const t = pts.map(x => x < start - TS_WRAP / 2 ? x + TS_WRAP : x)
    // the stream's last frame lasts as long as the smallest step between its timestamps
    const sorted = [...new Set(t)].sort((a, b) => a - b)
    let frame = Infinity
    for (let i = 1; i < sorted.length; i++) frame = Math.min(frame, sorted[i] - sorted[i - 1])
    end = Math.max(end, sorted[sorted.length - 1] + (Number.isFinite(frame) ? frame : 0))
  }
  return { format: 'mpegts', mime: 'video/mp2t', seconds: (end - start) / TS_CLOCK_HZ }
}

// ---- Matroska / WebM: EBML header, then the Segment's top-level elements up to the first Cluster ----

export async function probeMatroska (src: ByteSource, head: Buffer): Promise<VideoInfo> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  const read = async (at: number, n: number): Promise<Buffer> => at + n <= head.length ? head.subarray(at, at + n) : await src.read(at, n)
  const ebml = readElementHead(head)
  if (ebml === null || ebml === 'need' || ebml.size === UNKNOWN_SIZE) return fail('bad EBML header')
  const docType = parseDocType(await read(ebml.headBytes, ebml.size)) ?? 'matroska'
  let off = ebml.headBytes + ebml.size
  const seg = readElementHead(await read(off, 12))
  if (seg === null || seg === 'need' || seg.id !== ID.Segment) return fail('no Matroska Segment after the EBML header')
  off += seg.headBytes
  let info: SegmentInfo | undefined
  let tracks: Track[] | undefined
  for (let n = 0; off < src.size && !(info && tracks); n++) {
    if (n > MAX_TOP_ELEMENTS) fail(`more than ${MAX_TOP_ELEMENTS} top-level Matroska elements`)
    const h = readElementHead(await read(off, 12))
    if (h === null || h === 'need' || h.size === UNKNOWN_SIZE || h.id === ID.Cluster) break
    if (h.id === ID.Info) info = parseInfo(await read(off + h.headBytes, h.size))
    if (h.id === ID.Tracks) tracks = parseTracks(await read(off + h.headBytes, h.size))
    off += h.headBytes + h.size
  }
  if (!info) return fail('no Matroska Info before the first Cluster')
  const scale = info.timecodeScale
  let ticks = info.durationTicks
  if (ticks === undefined || !(ticks > 0)) {
    // no Duration (written live): the latest block of the last Cluster that is whole in the tail
    ticks = await fromTail(src, (tail) => {
      for (let i = tail.lastIndexOf(Buffer.from('1f43b675', 'hex')); i >= 0; i = i > 0 ? tail.lastIndexOf(Buffer.from('1f43b675', 'hex'), i - 1) : -1) {
        const h = readElementHead(tail, i)
        if (h === null || h === 'need') continue
        const body = tail.subarray(i + h.headBytes, h.size === UNKNOWN_SIZE ? tail.length : i + h.headBytes + h.size)
        const e = children(body).length ? clusterEnd(body) : undefined
        if (e !== undefined) return e
      }
      return undefined
    })
    if (ticks === undefined) return fail('no Duration in Matroska Info and no Cluster near the end')
  }
  const video = tracks?.some(t => t.type === TRACK_VIDEO) ?? true
  const webm = docType === 'webm'
  return { format: docType, mime: `${video ? 'video' : 'audio'}/${webm ? 'webm' : 'x-matroska'}`, seconds: ticks * scale / 1e9 }
}

// ---- fragmented MP4: 'mehd' when the muxer wrote it, else the end of the last fragment ----

export async function probeFragments (src: ByteSource, tracks: Mp4Track[], firstMoofAt: number | undefined, fragmentSeconds: number | undefined): Promise<number> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  if (fragmentSeconds !== undefined && fragmentSeconds > 0) return fragmentSeconds
  const seconds = (runs: ReturnType<typeof parseMoof>, end: boolean): number | undefined => {
    const xs = runs.map(r => {
      const ts = tracks.find(t => t.id === r.track)?.timescale
      return ts ? (r.start + (end ? r.duration : 0)) / ts : undefined
    }).filter((x): x is number => x !== undefined)
    return xs.length ? (end ? Math.max(...xs) : Math.min(...xs)) : undefined
  }
  let start = 0
  if (firstMoofAt !== undefined) {
    const h = readBoxHead(await src.read(firstMoofAt, 16))
    if (h && h !== 'need' && h.size < 64 * 1024 * 1024) start = seconds(parseMoof((await src.read(firstMoofAt, h.size)).subarray(h.headBytes), tracks), false) ?? 0
  }
  let end = await fromTail(src, (tail) => {
    // the last 'moof' whose 'mdat' follows it and runs to the end or to another box
    for (let i = tail.lastIndexOf('moof'); i >= 4; i = tail.lastIndexOf('moof', i - 1)) {
      const h = readBoxHead(tail, i - 4)
      if (h === null || h === 'need' || i - 4 + h.size > tail.length) continue
      const m = readBoxHead(tail, i - 4 + h.size)
      if (m === null || m === 'need' || m.type !== 'mdat') continue
      const e = seconds(parseMoof(tail.subarray(i - 4 + h.headBytes, i - 4 + h.size), tracks), true)
      if (e !== undefined) return e
    }
    return undefined
  })
  if (end === undefined && firstMoofAt !== undefined) {
    // a last fragment bigger than the tail: walk the box heads to the last 'moof'
    let last: number | undefined
    for (let at = firstMoofAt, n = 0; at + 8 <= src.size && n < MAX_FRAGMENT_BOXES; n++) {
      const h = readBoxHead(await src.read(at, 16))
      if (h === null || h === 'need' || !Number.isFinite(h.size)) break
      if (h.type === 'moof') last = at
      at += h.size
    }
    if (last !== undefined) {
      const h = readBoxHead(await src.read(last, 16))
      if (h && h !== 'need' && h.size < 64 * 1024 * 1024) end = seconds(parseMoof((await src.read(last, h.size)).subarray(h.headBytes), tracks), true)
    }
  }
  if (end === undefined) return fail("no complete 'moof' near the end of the fragmented MP4")
  return end - start
}
