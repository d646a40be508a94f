// Cut a live byte stream into chunks of a fixed duration at codec frame boundaries
// (MPEG audio frames, ADTS frames, Ogg pages; anything else by bytes and wall time),
// each numbered and stamped with the source-clock time at which it starts. Ogg codec
// header pages are also kept apart as a header blob, so a player joining at any chunk
// can decode. One Chunker lives for the whole show: a source that reconnects
// continues the numbering.
import { MediaParser, detectKind, mimeOf, type MediaKind, type MediaUnit, type StreamInfo } from '../media/media.js'
import { parseMpegHeader } from '../media/mpeg.js'
import { parseAdtsHeader } from '../media/adts.js'
import { blake2b } from './chunk-sign.js'

/** bytes sniffed before the kind of a new source is decided */
export const SNIFF_BYTES = 4096
/** a source whose media time falls this far behind the wall clock is re-anchored (it stalled) */
export const REANCHOR_MS = 2000
/** 'other' media carries no timing: it is cut at this many bytes per second of --chunk (128 kbit/s) */
export const OTHER_BYTES_PER_S = 16_000

export interface HeaderBlob { bytes: Buffer, hash: Buffer, firstSeq: number }

export interface LiveChunk {
  seq: number
  startMs: number
  durationMs: number
  bytes: Buffer
  kind: MediaKind
  mime: string
  info: StreamInfo
  /** the Ogg codec headers this chunk needs */
  header?: HeaderBlob
  /** the chunk begins with those header pages itself */
  opensHeader: boolean
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
  // source clock of this connection
  private anchorMs = 0
  private mediaUs = 0
  private boundaryUs = 0
  private lastEndMs = 0
  // Ogg headers
  private headerParts: Buffer[] = []
  private inHeader = false
  private header?: HeaderBlob
  private format?: StreamInfo
  private formatChanged = false
  private title?: string
  private chunkTitle?: string

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

  /** The source went away: what is held becomes a (short) chunk. */
  end (): LiveChunk[] {
    const out = this.parser ? [] : this.startParser()
    if (this.parser) out.push(...this.units(this.parser.end()))
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
    this.parser = new MediaParser(kind, { warn: this.opts.warn })
    this.anchorMs = Math.max(this.opts.now(), this.lastEndMs)
    this.mediaUs = 0
    this.boundaryUs = this.opts.chunkMs * 1000
    if (kind === 'other') this.noteFormat({ kind })
    return this.units(this.parser.push(head))
  }

  private units (units: MediaUnit[]): LiveChunk[] {
    const out: LiveChunk[] = []
    const parser = this.parser as MediaParser
    for (const u of units) {
      if (u.header) {
        if (!this.inHeader) { this.cut(out); this.inHeader = true; this.headerParts = [] }
        this.headerParts.push(u.bytes)
        this.add(u)
        continue
      }
      if (this.inHeader) {
        this.inHeader = false
        const bytes = Buffer.concat(this.headerParts)
        this.header = { bytes, hash: blake2b(bytes), firstSeq: this.seq }
        this.chunkOpensHeader = true
        const info = parser.info()
        if (info) this.noteFormat(info, out)
      }
      const info = unitInfo(parser.kind, u)
      if (info) this.noteFormat(info, out)
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
      kind, mime: mimeOf(kind, info), info, opensHeader: this.chunkOpensHeader, change: this.formatChanged,
    }
    if (kind === 'ogg' && this.header) c.header = this.header
    if (this.chunkTitle) c.title = this.chunkTitle
    out.push(c)
    this.lastEndMs = c.startMs + durationMs
    this.parts = []; this.partBytes = 0; this.chunkUs = 0
    this.chunkOpensHeader = false; this.formatChanged = false
  }
}
