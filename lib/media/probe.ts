// Duration and MIME type of a media file or URL, reading only the bytes each format
// needs: the MP3 first frame (Xing/Info/VBRI, else CBR from the size), the last Ogg
// page's granule position, the MP4 'mvhd' box wherever 'moov' sits, the WAV 'data'
// chunk size, FLAC's STREAMINFO. AAC ADTS has no index, so its frames are counted over the whole file.
// Titles come from the tags through music-metadata, best effort.
import { DataError, PcError } from '../core/errors.js'
import { type ByteSource, HEAD_BYTES, openSource, type SourceOptions } from '../core/byte-source.js'
import { MPEG_FRAMES } from './mpeg.js'
import { ADTS_FRAMES, ADTS_HEADER_BYTES, parseAdtsHeader, sameAdtsStream, SAMPLES_PER_BLOCK, type AdtsHeader } from './adts.js'
import { findFrameRun } from './sync-frames.js'
import { isTsStart, TS_PACKET_BYTES, TS_SYNC } from './ts.js'
import { ID } from './matroska.js'
import { parseMoov } from './mp4.js'
import { probeFragments, probeMatroska, probeTs, type VideoInfo } from './probe-video.js'

export interface MediaInfo {
  /** the format, e.g. 'mp3', 'adts', 'vorbis', 'opus', 'mp4', 'wav' */
  format: string
  mime: string
  /** milliseconds, rounded */
  duration: number
  size: number
  title?: string
}

/** A bigger 'moov' (hours of video with many tracks) is refused rather than loaded. */
export const MAX_MOOV_BYTES = 64 * 1024 * 1024
/** How far from the end to look for the last Ogg page. */
const OGG_TAIL_BYTES = [16 * 1024, 1024 * 1024]
const MAX_TOP_BOXES = 10_000
/** An ID3v2 tag bigger than this (a huge cover) is skipped, not read for its title. */
const MAX_TAG_BYTES = 16 * 1024 * 1024

export async function probeMedia (spec: string, opts: SourceOptions = {}): Promise<MediaInfo> {
  const src = await openSource(spec, opts)
  try {
    const info = await probeSource(src)
    if (info.duration <= 0) throw new DataError('no audio (zero duration)', src.name)
    return info
  } catch (e) {
    if (e instanceof PcError || (e as Error).name === 'AbortError') throw e
    throw new DataError(`cannot probe: ${(e as Error).message}`, src.name)
  } finally {
    await src.close()
  }
}

export async function probeSource (src: ByteSource): Promise<MediaInfo> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  if (src.size === 0) fail('empty file')
  const head = await src.read(0, HEAD_BYTES)
  const ascii = (b: Buffer, at: number, n: number): string => b.toString('latin1', at, at + n)
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WAVE') return await probeWav(src, head)
  if (['ftyp', 'moov', 'wide', 'free', 'mdat'].includes(ascii(head, 4, 4))) return await probeMp4(src)
  if (ascii(head, 0, 4) === 'OggS') return await probeOgg(src, head)
  // containers come before any search for audio frames: their payloads hold bytes that look like frame headers
  if (isTsStart(head) || (src.size < 2 * TS_PACKET_BYTES && src.size % TS_PACKET_BYTES === 0 && head[0] === TS_SYNC)) return video(src, await probeTs(src, head))
  if (head.length >= 4 && head.readUInt32BE(0) === ID.EBML) return video(src, await probeMatroska(src, head))
  const audioStart = id3v2Length(head)
  if (head.toString('latin1', audioStart, audioStart + 4) === 'fLaC') return await probeFlac(src, head, audioStart)
  // The audio after any ID3v2 tag: from the head when enough of it is there, else one more read.
  const at = audioStart + 16 * 1024 <= head.length || head.length === src.size ? head.subarray(audioStart) : await src.read(audioStart, HEAD_BYTES)
  const whole = audioStart + at.length >= src.size
  if (findFrameRun(at, 0, 1, ADTS_FRAMES, PROBE_CONFIRM_FRAMES, whole)) return await probeAdts(src, head, audioStart)
  const mp3 = await probeMp3(src, head, audioStart, at)
  if (mp3) return mp3
  return fail(`unknown media format (not MP3 or AAC ADTS with ${PROBE_CONFIRM_FRAMES + 1} frames in a row that agree, Ogg Vorbis, Opus or Theora, MP4/M4A/MOV, fragmented MP4, MPEG-TS, Matroska/WebM, WAV or FLAC)`)
}

/** Audio frames are believed only when this many more follow the first, each where the one before ends, all alike. */
export const PROBE_CONFIRM_FRAMES = 3

function video (src: ByteSource, v: VideoInfo): MediaInfo {
  return { format: v.format, mime: v.mime, duration: ms(v.seconds), size: src.size }
}

/** Bytes taken by an ID3v2 tag at the start (header, syncsafe size, footer), else 0. */
function id3v2Length (b: Buffer): number {
  if (b.length < 10 || b.toString('latin1', 0, 3) !== 'ID3') return 0
  const size = ((b[6] & 0x7f) << 21) | ((b[7] & 0x7f) << 14) | ((b[8] & 0x7f) << 7) | (b[9] & 0x7f)
  return 10 + size + ((b[5] & 0x10) !== 0 ? 10 : 0)
}

async function tagTitle (bytes: Uint8Array, mimeType: string): Promise<string | undefined> {
  try {
    // Loaded on first use: it is most of pc-playlist's start-up time.
    const { parseBuffer } = await import('music-metadata')
    const m = await parseBuffer(bytes, { mimeType }, { skipCovers: true, duration: false })
    const t = m.common.title?.trim()
    return t === '' ? undefined : t
  } catch {
    return undefined
  }
}

const ms = (seconds: number): number => Math.round(seconds * 1000)

// ---- MP3 (ISO 11172-3 / 13818-3 frame header, mpeg.ts; Xing/Info and VBRI headers) ----

async function probeMp3 (src: ByteSource, head: Buffer, audioStart: number, at: Buffer): Promise<MediaInfo | undefined> {
  // The first frame is where a run of frames that agree begins (or the file ends within
  // it): lone 0xFFE patterns in junk or video prove nothing.
  const run = findFrameRun(at, 0, 64 * 1024, MPEG_FRAMES, PROBE_CONFIRM_FRAMES, audioStart + at.length >= src.size)
  if (!run) return undefined
  const first = run.at
  const h = run.h
  const f = { samples: h.samples, rate: h.sampleRate, kbps: h.bitrateKbps, v1: h.version === 1, mono: h.channels === 1 }
  const start = audioStart + first
  let seconds: number | undefined
  let v1Title: string | undefined
  // Xing/Info sits after the side information; VBRI at a fixed 32 bytes after the header.
  const side = f.v1 ? (f.mono ? 17 : 32) : (f.mono ? 9 : 17)
  const x = first + 4 + side
  const tag = at.toString('latin1', x, x + 4)
  if ((tag === 'Xing' || tag === 'Info') && x + 12 <= at.length && (at.readUInt32BE(x + 4) & 1) !== 0) {
    seconds = at.readUInt32BE(x + 8) * f.samples / f.rate
  } else if (at.toString('latin1', first + 36, first + 40) === 'VBRI' && first + 54 <= at.length) {
    seconds = at.readUInt32BE(first + 50) * f.samples / f.rate
  } else {
    // CBR without a header: the audio bytes (less any ID3v1 tag at the end) at the bitrate.
    let end = src.size
    if (src.size - start >= 128) {
      const v1 = await src.read(src.size - 128, 128)
      if (v1.toString('latin1', 0, 3) === 'TAG') { end -= 128; v1Title = v1.toString('latin1', 3, 33).replace(/[\0 ]+$/, '') || undefined }
    }
    seconds = (end - start) * 8 / (f.kbps * 1000)
  }
  // An ID3v2 tag longer than the head (cover art) is read whole for its title, up to a bound.
  const id3 = audioStart > head.length && audioStart <= MAX_TAG_BYTES ? await src.read(0, audioStart) : head
  return { format: 'mp3', mime: 'audio/mpeg', duration: ms(seconds), size: src.size, title: await tagTitle(id3, 'audio/mpeg') ?? v1Title }
}

// ---- AAC ADTS (ISO 14496-3 1.A.2): 7-byte headers, each giving its frame length ----

async function probeAdts (src: ByteSource, head: Buffer, audioStart: number): Promise<MediaInfo> {
  const hdr = Buffer.alloc(7)
  let fill = 0
  let skip = audioStart
  let pos = 0 // absolute offset of the next byte
  let frameAt = 0
  let samples = 0
  let ref: AdtsHeader | undefined
  for await (const chunk of src.stream()) {
    let i = 0
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i)
        i += n; pos += n; skip -= n
        continue
      }
      if (fill === 0) frameAt = pos
      const n = Math.min(7 - fill, chunk.length - i)
      chunk.copy(hdr, fill, i, i + n)
      fill += n; i += n; pos += n
      if (fill < 7) continue
      fill = 0
      const h = parseAdtsHeader(hdr)
      if (!h) {
        if (src.size - frameAt === 128 && hdr.toString('latin1', 0, 3) === 'TAG') { skip = 121; continue } // ID3v1
        throw new DataError(`lost ADTS frame sync at byte ${frameAt}`, src.name)
      }
      if (!ref) ref = h
      else if (!sameAdtsStream(ref, h)) throw new DataError(`ADTS frame at byte ${frameAt} does not match the first one`, src.name)
      samples += SAMPLES_PER_BLOCK * h.blocks
      skip = h.frameBytes - ADTS_HEADER_BYTES
    }
  }
  if (!ref) throw new DataError('no ADTS frame', src.name)
  return { format: 'adts', mime: 'audio/aac', duration: ms(samples / ref.sampleRate), size: src.size, title: await tagTitle(head, 'audio/aac') }
}

// ---- Ogg (RFC 3533) carrying Vorbis or Opus (RFC 7845) ----

interface OggStream { codec: string, rate: number, preSkip: number, shift: number, frameDen: number }

/** The codec of a BOS page's first packet: Vorbis and Opus give a sample rate; Theora a frame rate and the granule shift. */
function oggStream (p: Buffer): OggStream | undefined {
  if (p.toString('latin1', 0, 7) === '\x01vorbis' && p.length >= 16) return { codec: 'vorbis', rate: p.readUInt32LE(12), preSkip: 0, shift: 0, frameDen: 1 }
  if (p.toString('latin1', 0, 8) === 'OpusHead' && p.length >= 12) return { codec: 'opus', rate: 48000, preSkip: p.readUInt16LE(10), shift: 0, frameDen: 1 }
  // Theora I §6.2: FRN u32 at 22, FRD u32 at 26, KFGSHIFT in the 5 bits after QUAL at byte 40
  if (p.toString('latin1', 0, 7) === '\x80theora' && p.length >= 42) return { codec: 'theora', rate: p.readUInt32BE(22), preSkip: 0, shift: ((p[40] & 3) << 3) | (p[41] >> 5), frameDen: p.readUInt32BE(26) }
  return undefined
}

async function probeOgg (src: ByteSource, head: Buffer): Promise<MediaInfo> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  if (head.length < 28) fail('truncated Ogg page')
  // the BOS pages of every logical stream come first (RFC 3533 §4)
  const streams = new Map<number, OggStream>()
  for (let at = 0; at + 27 <= head.length && head.toString('latin1', at, at + 4) === 'OggS' && (head[at + 5] & 2); ) {
    const n = head[at + 26]
    let body = 0
    for (let i = 0; i < n; i++) body += head[at + 27 + i] ?? 0
    const s = oggStream(head.subarray(at + 27 + n, at + 27 + n + body))
    if (s && s.rate > 0 && s.frameDen > 0) streams.set(head.readUInt32LE(at + 14), s)
    at += 27 + n + body
  }
  if (streams.size === 0) fail('Ogg stream is neither Vorbis, Opus nor Theora')
  const ends = new Map<number, number>()
  for (const want of OGG_TAIL_BYTES) {
    const n = Math.min(src.size, want)
    const tail = await src.read(src.size - n, n)
    for (let i = tail.lastIndexOf('OggS'); i >= 0 && ends.size < streams.size; i = i > 0 ? tail.lastIndexOf('OggS', i - 1) : -1) {
      if (i + 27 > tail.length || tail[i + 4] !== 0) continue
      const serial = tail.readUInt32LE(i + 14)
      const s = streams.get(serial)
      const g = tail.readBigInt64LE(i + 6)
      if (!s || ends.has(serial) || g < 0n) continue
      // Theora: keyframe number above the shift plus frames since it below; the granule counts frames shown
      const units = s.codec === 'theora' ? Number(g >> BigInt(s.shift)) + Number(g & ((1n << BigInt(s.shift)) - 1n)) : Number(g)
      ends.set(serial, Math.max(0, units - s.preSkip) * s.frameDen / s.rate)
    }
    if (ends.size === streams.size || n === src.size) break
  }
  if (ends.size === 0) fail('no last Ogg page of its streams near the end (a chained Ogg file?)')
  const video = [...streams.values()].some(s => s.codec === 'theora')
  const format = video ? 'theora' : [...streams.values()][0].codec
  return { format, mime: video ? 'video/ogg' : 'audio/ogg', duration: ms(Math.max(...ends.values())), size: src.size, title: video ? undefined : await tagTitle(head, 'audio/ogg') }
}

// ---- MP4 / M4A (ISO 14496-12): top-level boxes walked to 'moov', then 'mvhd' ----

async function probeMp4 (src: ByteSource): Promise<MediaInfo> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  let off = 0
  let ftyp: Buffer | undefined
  let moov: Buffer | undefined
  for (let n = 0; off + 8 <= src.size && !moov; n++) {
    if (n > MAX_TOP_BOXES) fail(`more than ${MAX_TOP_BOXES} top-level boxes`)
    const h = await src.read(off, 16)
    let len = h.readUInt32BE(0)
    const type = h.toString('latin1', 4, 8)
    if (len === 1) {
      if (h.length < 16) fail(`truncated box header at byte ${off}`)
      len = Number(h.readBigUInt64BE(8))
    } else if (len === 0) len = src.size - off
    if (len < 8) fail(`bad box size ${len} at byte ${off}`)
    if (type === 'ftyp' && len <= 4096) ftyp = await src.read(off, len)
    if (type === 'moov') {
      if (len > MAX_MOOV_BYTES) fail(`'moov' box of ${len} bytes is over the ${MAX_MOOV_BYTES} limit`)
      moov = await src.read(off, len)
      if (moov.length < len) fail(`truncated 'moov' box at byte ${off}`)
    }
    off += len
  }
  if (!moov) return fail("no 'moov' box (not a complete MP4 file)")
  // moov's children follow its 8-byte header; mvhd is one of them.
  let mvhd: Buffer | undefined
  for (let i = 8; i + 8 <= moov.length;) {
    const len = moov.readUInt32BE(i)
    if (len < 8) break
    if (moov.toString('latin1', i + 4, i + 8) === 'mvhd') { mvhd = moov.subarray(i, i + len); break }
    i += len
  }
  if (!mvhd || mvhd.length < 32) return fail("no 'mvhd' box in 'moov'")
  const hasVideo = hasVideoTrack(moov)
  const qt = !ftyp || ftyp.toString('latin1', 8, 12) === 'qt  '
  const m = parseMoov(moov.subarray(8))
  if (m.fragmented) {
    // the samples are in the fragments; 'mvhd' says only what 'moov' itself holds
    const seconds = await probeFragments(src, m.tracks, off, m.timescale && m.fragmentDuration ? m.fragmentDuration / m.timescale : undefined)
    return { format: 'fmp4', mime: hasVideo ? 'video/mp4' : 'audio/mp4', duration: ms(seconds), size: src.size }
  }
  const v1 = mvhd[8] === 1
  if (v1 && mvhd.length < 44) fail("truncated 'mvhd' box")
  const timescale = mvhd.readUInt32BE(v1 ? 28 : 20)
  const duration = v1 ? Number(mvhd.readBigUInt64BE(32)) : mvhd.readUInt32BE(24)
  if (timescale === 0 || duration === 0 || (!v1 && duration === 0xffffffff)) fail("no duration in 'mvhd'")
  const mime = qt ? 'video/quicktime' : hasVideo ? 'video/mp4' : 'audio/mp4'
  const title = await tagTitle(Buffer.concat([ftyp ?? Buffer.alloc(0), moov]), mime)
  return { format: qt ? 'mov' : 'mp4', mime, duration: ms(duration / timescale), size: src.size, title }
}

/** Whether any 'hdlr' box names the 'vide' handler (size, type, version+flags, pre_defined, handler). */
function hasVideoTrack (moov: Buffer): boolean {
  for (let i = moov.indexOf('hdlr'); i >= 0; i = moov.indexOf('hdlr', i + 4)) {
    if (moov.toString('latin1', i + 12, i + 16) === 'vide') return true
  }
  return false
}

// ---- FLAC: STREAMINFO, the mandatory first metadata block, gives rate and sample count ----

async function probeFlac (src: ByteSource, head: Buffer, at: number): Promise<MediaInfo> {
  // 'fLaC', block header (type 0 = STREAMINFO, 24-bit length 34), then STREAMINFO:
  // min/max block u16 ×2, min/max frame u24 ×2, then 20 bits rate, 3 channels, 5 bits, 36 bits samples.
  const b = head.length >= at + 42 ? head.subarray(at) : await src.read(at, 42)
  if (b.length < 42 || (b[4] & 0x7f) !== 0) throw new DataError('FLAC without a STREAMINFO block', src.name)
  const rate = (b[18] << 12) | (b[19] << 4) | (b[20] >> 4)
  const samples = (b[21] & 0x0f) * 2 ** 32 + b.readUInt32BE(22)
  if (rate === 0 || samples === 0) throw new DataError('FLAC STREAMINFO gives no length', src.name)
  return { format: 'flac', mime: 'audio/flac', duration: ms(samples / rate), size: src.size, title: await tagTitle(head, 'audio/flac') }
}

// ---- WAV (RIFF): 'fmt ' gives the byte rate, 'data' the length ----

async function probeWav (src: ByteSource, head: Buffer): Promise<MediaInfo> {
  const fail = (what: string): never => { throw new DataError(what, src.name) }
  let byteRate = 0
  let off = 12
  for (let n = 0; off + 8 <= src.size; n++) {
    if (n > MAX_TOP_BOXES) fail(`more than ${MAX_TOP_BOXES} RIFF chunks`)
    const h = await src.read(off, 20)
    const id = h.toString('latin1', 0, 4)
    const len = h.readUInt32LE(4)
    if (id === 'fmt ') {
      // body: format u16, channels u16, sample rate u32, byte rate u32
      if (h.length < 20 || len < 16) fail("truncated 'fmt ' chunk")
      byteRate = h.readUInt32LE(16)
    }
    if (id === 'data') {
      if (byteRate === 0) fail("no usable 'fmt ' chunk before 'data'")
      // A writer that could not seek back leaves 0 or 0xFFFFFFFF: the data runs to the end.
      const body = off + 8
      const dataLen = len === 0 || len === 0xffffffff || body + len > src.size ? src.size - body : len
      return { format: 'wav', mime: 'audio/wav', duration: ms(dataLen / byteRate), size: src.size, title: await tagTitle(head, 'audio/wav') }
    }
    off += 8 + len + (len & 1)
  }
  return fail("no 'data' chunk")
}
