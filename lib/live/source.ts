// The Icecast 2 source protocol as real clients speak it (shared/LIVE.md): PUT with
// Expect: 100-continue (ffmpeg, butt), SOURCE (Liquidsoap, libshout, ffmpeg
// -legacy_icecast), libshout's first request without credentials, bodies raw or
// chunked, ice-* headers with or without the ice- prefix in ice-audio-info.
import { timingSafeEqual } from 'node:crypto'
import type { RequestHead as RequestHead } from '../core/http-head.js'

/** the user name every client sends by default, and the only one accepted */
export const SOURCE_USER = 'source'
export const REALM = 'Icecast2 Server'
/** a chunk-size line longer than this is bad data (hex digits and extensions) */
export const MAX_CHUNK_LINE_BYTES = 1024
/** a single chunk of a chunked body larger than this is refused */
export const MAX_BODY_CHUNK_BYTES = 16 * 1024 * 1024

export type Credentials = 'ok' | 'missing' | 'wrong'

/** `users`: the names accepted (the metadata update also takes `admin`) */
export function checkBasicAuth (header: string | undefined, password: string, users: readonly string[] = [SOURCE_USER]): Credentials {
  if (!header) return 'missing'
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!m) return 'wrong'
  const text = Buffer.from(m[1], 'base64').toString('utf8')
  const i = text.indexOf(':')
  if (i < 0) return 'wrong'
  const user = text.slice(0, i)
  const a = Buffer.from(text.slice(i + 1))
  const b = Buffer.from(password)
  const same = a.length === b.length && timingSafeEqual(a, b)
  return users.includes(user) && same ? 'ok' : 'wrong'
}

export interface SourceInfo {
  contentType?: string
  name?: string
  description?: string
  genre?: string
  url?: string
  bitrateKbps?: number
  sampleRate?: number
  channels?: number
  userAgent?: string
}

/** `ice-bitrate=128;ice-channels=2;ice-samplerate=44100` or `bitrate=128;samplerate=44100;channels=2` */
export function parseAudioInfo (v: string | undefined): Pick<SourceInfo, 'bitrateKbps' | 'sampleRate' | 'channels'> {
  const out: Pick<SourceInfo, 'bitrateKbps' | 'sampleRate' | 'channels'> = {}
  if (!v) return out
  for (const part of v.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const key = part.slice(0, eq).trim().toLowerCase().replace(/^ice-/, '')
    const n = Number(decodeURIComponentSafe(part.slice(eq + 1).trim()))
    if (!Number.isFinite(n) || n <= 0) continue
    if (key === 'bitrate') out.bitrateKbps = Math.round(n)
    else if (key === 'samplerate') out.sampleRate = Math.round(n)
    else if (key === 'channels') out.channels = Math.round(n)
  }
  return out
}

function decodeURIComponentSafe (s: string): string { try { return decodeURIComponent(s) } catch { return s } }

export function sourceInfo (req: RequestHead): SourceInfo {
  const h = req.headers
  const pick = (...names: string[]): string | undefined => { for (const n of names) { const v = h.get(n); if (v) return v } return undefined }
  const info: SourceInfo = {
    contentType: pick('content-type'),
    name: pick('ice-name', 'icy-name'),
    description: pick('ice-description', 'icy-description'),
    genre: pick('ice-genre', 'icy-genre'),
    url: pick('ice-url', 'icy-url'),
    userAgent: pick('user-agent'),
    ...parseAudioInfo(pick('ice-audio-info', 'icy-audio-info')),
  }
  const br = Number(pick('ice-bitrate', 'icy-br'))
  if (info.bitrateKbps === undefined && Number.isFinite(br) && br > 0) info.bitrateKbps = Math.round(br)
  for (const k of Object.keys(info) as (keyof SourceInfo)[]) if (info[k] === undefined) delete info[k]
  return info
}

/**
 * Decode `Transfer-Encoding: chunked` incrementally (RFC 9112 §7.1). Trailers are
 * read and dropped. Throws on malformed input.
 */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size'
  private line = ''
  private left = 0
  get done (): boolean { return this.state === 'done' }

  push (d: Buffer): Buffer[] {
    const out: Buffer[] = []
    let i = 0
    while (i < d.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, d.length - i)
        out.push(d.subarray(i, i + n))
        i += n; this.left -= n
        if (this.left === 0) this.state = 'crlf'
        continue
      }
      const nl = d.indexOf(10, i)
      const piece = d.subarray(i, nl < 0 ? d.length : nl).toString('latin1')
      this.line += piece
      if (this.line.length > MAX_CHUNK_LINE_BYTES) throw new Error('chunk-size line too long')
      if (nl < 0) { i = d.length; continue }
      i = nl + 1
      const line = this.line.replace(/\r$/, '')
      this.line = ''
      if (this.state === 'crlf') {
        if (line !== '') throw new Error('no CRLF after chunk data')
        this.state = 'size'
      } else if (this.state === 'size') {
        const m = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(line.trim())
        if (!m) throw new Error(`bad chunk size '${line.slice(0, 20)}'`)
        this.left = parseInt(m[1], 16)
        if (this.left > MAX_BODY_CHUNK_BYTES) throw new Error(`chunk of ${this.left} bytes`)
        this.state = this.left === 0 ? 'trailer' : 'data'
      } else if (this.state === 'trailer') {
        if (line === '') this.state = 'done'
      }
    }
    return out
  }
}

/**
 * Who holds the mount. A second source is refused (403, what butt retries on) unless
 * the one holding it has sent nothing for `takeoverIdleMs`: a DJ whose line dropped
 * and who reconnects at once (same credentials: only the DJ has them) takes the mount
 * over instead of waiting out the source timeout.
 */
export class SourceSlot<S extends { lastDataMs: number, drop: (why: string) => void }> {
  holder?: S
  constructor (private readonly takeoverIdleMs: number, private readonly now: () => number) {}

  claim (s: S): 'ok' | 'busy' | 'takeover' {
    const h = this.holder
    if (h && this.now() - h.lastDataMs < this.takeoverIdleMs) return 'busy'
    this.holder = s
    if (h) { h.drop('taken over by a new source connection'); return 'takeover' }
    return 'ok'
  }

  release (s: S): boolean {
    if (this.holder !== s) return false
    this.holder = undefined
    return true
  }
}
