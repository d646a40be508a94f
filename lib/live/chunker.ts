// Cut a live byte stream into chunks of a fixed duration at codec frame boundaries
// (MPEG audio frames, ADTS frames, Ogg pages; anything else by bytes and wall time),
// each numbered and stamped with the source-clock time at which it starts. Video
// containers (MPEG-TS, Matroska/WebM, fragmented MP4) are cut where the container
// allows (a TS packet group, a Cluster, a fragment), at a random-access point when one
// comes in the second half of a chunk. Codec and container headers (Ogg header pages;
// TS PAT+PMT; EBML header to Tracks; ftyp+moov) are also kept apart as a header blob,
// so a player joining at any chunk can decode. One Chunker lives for the whole show: a
// source that reconnects continues the numbering.
import { MediaParser, detectKind, mimeOf, type MediaKind, type MediaUnit, type StreamInfo } from '../media/media.js'
import { parseMpegHeader } from '../media/mpeg.js'
import { parseAdtsHeader } from '../media/adts.js'
import { blake2b } from './chunk-sign.js'
import { MAX_HEADER_BLOB_BYTES } from './manifest.js'

/** bytes sniffed before the kind of a new source is decided */
export const SNIFF_BYTES = 4096
/** a source whose media time falls this far behind the wall clock is re-anchored (it stalled) */
export const REANCHOR_MS = 2000
/** 'other' media carries no timing: it is cut at this many bytes per second of --chunk (128 kbit/s) */
export const OTHER_BYTES_PER_S = 16_000
/** a video chunk is cut at the next container boundary past this size (the peer wire carries up to 8 MiB) */
export const MAX_VIDEO_CHUNK_BYTES = 4 * 1024 * 1024

/** containers with random-access points: chunks are cut at their boundaries, preferably at a keyframe */
export function isVideoKind (kind: MediaKind): boolean { return kind === 'ts' || kind === 'matroska' || kind === 'fmp4' }

export interface HeaderBlob { bytes: Buffer, hash: Buffer, firstSeq: number }

export interface LiveChunk {
  seq: number
  startMs: number
  durationMs: number
  bytes: Buffer
  kind: MediaKind
  mime: string
  info: StreamInfo
  /** the headers this chunk needs (Ogg codec header pages; the video container's header) */
  header?: HeaderBlob
  /** the chunk begins with those header bytes itself */
  opensHeader: boolean
  /** a player given the header can start decoding at this chunk: always for audio; for
   * video, when its first unit after any header is a random-access point */
  key: boolean
  title?: string
  /** the format differs from the previous chunk's (codec, sample rate, channels) */
  change: boolean
}

export interface ChunkerOptions {
  chunkMs: number
  now: () => number
  warn: (m: string) => void
  firstSeq?: number
}

function formatKey (i: StreamInfo): string { return `${i.kind}/${i.codec ?? ''}/${i.sampleRate ?? ''}/${i.channels ?? ''}` }

export function describeFormat (i: StreamInfo): string {
  return [i.codec ?? i.kind, i.sampleRate ? `${i.sampleRate} Hz` : '', i.channels ? `${i.channels} ch` : ''].filter(Boolean).join(', ')
}

/** The format one unit says by itself (MPEG and ADTS headers carry it in every frame). */
function unitInfo (kind: MediaKind, u: MediaUnit): StreamInfo | undefined {
  if (kind === 'mp3') {
    const h = parseMpegHeader(u.bytes)
    return h ? { kind, codec: h.layer === 3 ? 'mp3' : `mp${h.layer}`, sampleRate: h.sampleRate, channels: h.channels, bitrateKbps: h.bitrateKbps } : undefined
  }
  if (kind === 'aac') {
    const h = parseAdtsHeader(u.bytes)
    return h ? { kind, codec: 'aac', sampleRate: h.sampleRate, channels: h.channels } : undefined
  }
  return undefined
}

export class Chunker {
  private seq: number
  private parser?: MediaParser
  private contentType?: string
  private sniff: Buffer[] = []
  private sniffBytes = 0
  // the chunk being filled
  private parts: Buffer[] = []
  private partBytes = 0
  private chunkUs = 0
  private chunkStartMs = 0
  private chunkOpenWall = 0
  private chunkOpensHeader = false
  /** whether the chunk's first media unit (after any header) is a random-access point; undefined before it */
  private chunkKey?: boolean
  // source clock of this connection
  private anchorMs = 0
  private mediaUs = 0
  private boundaryUs = 0
  /** video: the media time at the last container boundary */
  private boundaryAtUs = 0
  private lastEndMs = 0
  // Ogg headers
  private headerParts: Buffer[] = []
  private inHeader = false
  private header?: HeaderBlob
  private format?: StreamInfo
  private formatChanged = false
  private title?: string
  private chunkTitle?: string
  private lastKind?: MediaKind

  constructor (readonly opts: ChunkerOptions) { this.seq = opts.firstSeq ?? 0 }

  get nextSeq (): number { return this.seq }
  get kind (): MediaKind | undefined { return this.parser?.kind }
  get currentFormat (): StreamInfo | undefined { return this.format }

  /** A new source connection (or the first): its kind is sniffed from the first bytes. */
  begin (contentType?: string): void {
    this.parser = undefined
    this.contentType = contentType
    this.sniff = []; this.sniffBytes = 0
    this.inHeader = false; this.headerParts = []
  }

  setTitle (title: string | undefined): void { this.title = title || undefined }

  push (data: Buffer): LiveChunk[] {
    if (!this.parser) {
      this.sniff.push(data); this.sniffBytes += data.length
      if (this.sniffBytes < SNIFF_BYTES) return []
      return this.startParser()
    }
    return this.units(this.parser.push(data))
  }

  /**
   * The source went away: what is held becomes a (short) chunk. A unit cut short by its
   * going is dropped, quietly: an encoder stopping or a DJ's connection closing ends
   * wherever its last write ended (pc-live said 'truncated final unit of 289 bytes
   * dropped' each time a Liquidsoap source was stopped), and that is not damage.
   */
  end (): LiveChunk[] {
    const out = this.parser ? [] : this.startParser()
    if (this.parser) out.push(...this.units(this.parser.end({ cut: true })))
    this.cut(out)
    this.parser = undefined
    return out
  }

  /** For media without timing: cut by wall clock. Call every few hundred ms. */
  tick (): LiveChunk[] {
    const out: LiveChunk[] = []
    if (this.parser?.kind === 'other' && this.partBytes && this.opts.now() - this.chunkOpenWall >= this.opts.chunkMs) this.cut(out)
    return out
  }

  private startParser (): LiveChunk[] {
    const head = Buffer.concat(this.sniff)
    this.sniff = []; this.sniffBytes = 0
    if (!head.length) return []
    const kind = detectKind(head, this.contentType)
    // another kind's header blob means nothing to this one
    if (this.lastKind !== undefined && this.lastKind !== kind) this.header = undefined
    this.lastKind = kind
    this.parser = new MediaParser(kind, { warn: this.opts.warn })
    // a connection may begin mid-frame (a pulled Icecast mount starts its burst anywhere): finding the first frame is no fault
    this.parser.resyncAt(0)
    this.anchorMs = Math.max(this.opts.now(), this.lastEndMs)
    this.mediaUs = 0
    this.boundaryAtUs = 0
    this.boundaryUs = this.opts.chunkMs * 1000
    if (kind === 'other') this.noteFormat({ kind })
    return this.units(this.parser.push(head))
  }

  private units (units: MediaUnit[]): LiveChunk[] {
    const out: LiveChunk[] = []
    const parser = this.parser as MediaParser
    for (const u of units) {
      if (u.header) {
        if (!this.inHeader) {
          // video: what came before the header with no time of its own (a TS SDT) stays in its chunk
          if (!isVideoKind(parser.kind) || this.chunkUs > 0) this.cut(out)
          this.inHeader = true; this.headerParts = []
        }
        // a Matroska Segment head goes into the blob with its size unknown: a joiner's stream runs on
        this.headerParts.push(u.joinBytes ?? u.bytes)
        this.add(u)
        continue
      }
      if (this.inHeader) {
        this.inHeader = false
        const bytes = Buffer.concat(this.headerParts)
        this.header = { bytes, hash: blake2b(bytes), firstSeq: this.seq }
        if (bytes.length > MAX_HEADER_BLOB_BYTES) {
          this.opts.warn(`the source's headers from chunk ${this.seq} are ${bytes.length} bytes, over the ${MAX_HEADER_BLOB_BYTES / 1024} KiB pc listeners take: ` +
            'only plain players of the mount can join this stream (a picture or long text in Ogg comments does this: leave it out of the stream)')
        }
        this.chunkOpensHeader = true
        const info = parser.info()
        if (info) this.noteFormat(info, out)
      }
      const info = unitInfo(parser.kind, u)
      if (info) this.noteFormat(info, out)
      if (isVideoKind(parser.kind)) {
        this.videoUnit(u, out)
        continue
      }
      if (parser.kind === 'other') {
        const max = Math.round(OTHER_BYTES_PER_S * this.opts.chunkMs / 1000)
        for (let b = u.bytes; b.length;) {
          const n = Math.min(b.length, max - this.partBytes)
          this.add({ ...u, bytes: b.subarray(0, n) })
          b = b.subarray(n)
          if (this.partBytes >= max) this.cut(out)
        }
        continue
      }
      if (this.partBytes && this.mediaUs + u.durationUs / 2 >= this.boundaryUs) {
        this.cut(out)
        while (this.boundaryUs <= this.mediaUs + u.durationUs / 2) this.boundaryUs += this.opts.chunkMs * 1000
      }
      this.add(u)
      this.mediaUs += u.durationUs
      this.chunkUs += u.durationUs
    }
    return out
  }

  /**
   * A video container's unit. A chunk may end before any unit but a Matroska block: at a
   * random-access point once it holds half of --chunk (or at once when it did not open at
   * one, so the next chunk does), else at the boundary nearest to --chunk, judged by the
   * span between the last two boundaries (or past MAX_VIDEO_CHUNK_BYTES). Chunks so stay
   * about --chunk long, reaching listeners within the live delay, and open at a keyframe
   * whenever the encoder's keyframe interval allows.
   */
  private videoUnit (u: MediaUnit, out: LiveChunk[]): void {
    if (!u.inner) {
      const chunkUs = this.opts.chunkMs * 1000
      const span = this.mediaUs - this.boundaryAtUs
      this.boundaryAtUs = this.mediaUs
      if (this.partBytes && this.chunkKey !== undefined && (
        (u.key && (this.chunkUs >= chunkUs / 2 || !this.chunkKey)) ||
        this.chunkUs + span / 2 >= chunkUs || this.partBytes >= MAX_VIDEO_CHUNK_BYTES)) this.cut(out)
    }
    this.add(u)
    this.mediaUs += u.durationUs
    this.chunkUs += u.durationUs
  }

  private noteFormat (info: StreamInfo, out?: LiveChunk[]): void {
    if (this.format && formatKey(this.format) === formatKey(info)) {
      if (info.bitrateKbps !== undefined && this.format.bitrateKbps !== info.bitrateKbps) this.format = { ...this.format, bitrateKbps: undefined } // VBR: no one rate
      return
    }
    if (this.format) {
      this.opts.warn(`format changed at chunk ${this.seq}: ${describeFormat(this.format)} → ${describeFormat(info)}`)
      if (out && this.partBytes && !this.inHeader) this.cut(out)
      this.formatChanged = true
    }
    this.format = info
  }

  private add (u: MediaUnit): void {
    if (!this.partBytes) {
      const now = this.opts.now()
      this.chunkOpenWall = now
      let start = this.parser?.kind === 'other' ? now : this.anchorMs + Math.round(this.mediaUs / 1000)
      if (now - start > REANCHOR_MS) { this.anchorMs += now - start; start = now }
      this.chunkStartMs = Math.max(start, this.lastEndMs)
      this.chunkTitle = this.title
    }
    const video = isVideoKind(this.parser?.kind ?? 'other')
    // video: the first unit with a time of its own says (TS packets before the first PES do not)
    if (!u.header && this.chunkKey === undefined && (!video || u.timeUs !== undefined)) this.chunkKey = u.key === true || !video
    this.parts.push(u.bytes)
    this.partBytes += u.bytes.length
  }

  private cut (out: LiveChunk[]): void {
    if (!this.partBytes || this.inHeader) return
    const kind = this.parser?.kind ?? 'other'
    const durationMs = kind === 'other' ? Math.max(1, this.opts.now() - this.chunkOpenWall) : Math.round(this.chunkUs / 1000)
    const info = this.format ?? { kind }
    const c: LiveChunk = {
      seq: this.seq++, startMs: this.chunkStartMs, durationMs, bytes: Buffer.concat(this.parts, this.partBytes),
      kind, mime: mimeOf(kind, info), info, opensHeader: this.chunkOpensHeader, change: this.formatChanged, key: this.chunkKey ?? !isVideoKind(kind),
    }
    if ((kind === 'ogg' || isVideoKind(kind)) && this.header) c.header = this.header
    if (this.chunkTitle) c.title = this.chunkTitle
    out.push(c)
    this.lastEndMs = c.startMs + durationMs
    this.parts = []; this.partBytes = 0; this.chunkUs = 0
    this.chunkOpensHeader = false; this.formatChanged = false; this.chunkKey = undefined
  }
}
