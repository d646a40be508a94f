// A source client for a real Icecast server: pushes the paced stream with HTTP PUT
// and ice-* headers (Icecast ≥ 2.4.0), falling back to the older SOURCE method, and
// reconnects with backoff. The password never leaves the Authorization header: every
// message names the target as icecast://HOST:PORT/MOUNT.
import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import { UsageError } from '../core/errors.js'
import type { Segment } from './timeline.js'
import type { StreamSink } from './server.js'

export const BACKOFF_MIN_MS = 1000
export const BACKOFF_MAX_MS = 30_000
/** queued bytes toward the server before we give up on the connection */
export const RELAY_QUEUE_BYTES = 1024 * 1024
const ANSWER_TIMEOUT_MS = 10_000

export interface RelayTarget {
  host: string
  port: number
  mount: string
  user: string
  password: string
}

/** Parse icecast://USER:PASS@HOST:PORT/MOUNT (user defaults to `source`). */
export function parseRelayUrl (s: string): RelayTarget {
  let u: URL
  try { u = new URL(s) } catch { throw new UsageError('--relay: not a URL (icecast://USER:PASS@HOST:PORT/MOUNT)') }
  if (u.protocol !== 'icecast:' && u.protocol !== 'http:') throw new UsageError('--relay: the scheme must be icecast://')
  if (!u.hostname || u.pathname === '' || u.pathname === '/') throw new UsageError('--relay: needs HOST and /MOUNT (icecast://USER:PASS@HOST:PORT/MOUNT)')
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 8000,
    mount: decodeURIComponent(u.pathname),
    user: decodeURIComponent(u.username) || 'source',
    password: decodeURIComponent(u.password),
  }
}

export function describeTarget (t: RelayTarget): string {
  return `icecast://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${t.mount}`
}

export interface RelayOptions {
  target: RelayTarget
  contentType: () => string | undefined
  /** ice-name, ice-description, ice-genre, ice-url, ice-public, ice-audio-info values */
  ice: () => Record<string, string>
  version: string
  warn: (m: string) => void
  verbose?: (m: string) => void
}

type State = 'connecting' | 'streaming' | 'waiting' | 'closed'

export class Relay implements StreamSink {
  private socket: Socket | undefined
  private state: State = 'waiting'
  private backoff = BACKOFF_MIN_MS
  private retry: NodeJS.Timeout | undefined
  private closed = false
  private method: 'PUT' | 'SOURCE' = 'PUT'
  private title: string | undefined
  private sentTitle: string | undefined
  private lastError = ''
  private readonly name: string

  constructor (readonly opts: RelayOptions) {
    this.name = describeTarget(opts.target)
  }

  describe (): { target: string, state: string } {
    return { target: this.name, state: this.state + (this.lastError && this.state !== 'streaming' ? ` (${this.lastError})` : '') }
  }

  start (): void { this.connect() }

  write (seg: Segment): void {
    if (this.closed) return
    if (this.state === 'waiting' && !this.retry) this.connect()
    if (this.state !== 'streaming' || !this.socket) return
    // a relay joining mid-item needs the Ogg headers first
    if (this.needHeaders && seg.headers.length && seg.headerBytes === 0) for (const h of seg.headers) this.socket.write(h)
    this.needHeaders = false
    this.socket.write(seg.bytes)
    if (this.socket.writableLength > RELAY_QUEUE_BYTES) this.fail('server too slow, queue full')
    if (seg.title !== this.title) { this.title = seg.title; this.sendTitle() }
  }

  private needHeaders = true

  end (): void {
    this.closed = true
    this.state = 'closed'
    if (this.retry) clearTimeout(this.retry)
    this.socket?.end()
  }

  private auth (): string {
    const t = this.opts.target
    return 'Basic ' + Buffer.from(`${t.user}:${t.password}`).toString('base64')
  }

  private connect (): void {
    if (this.closed) return
    this.retry = undefined
    const type = this.opts.contentType()
    if (!type) { this.schedule('no media yet'); return }
    const t = this.opts.target
    this.state = 'connecting'
    const s = connect({ host: t.host, port: t.port })
    this.socket = s
    s.setNoDelay(true)
    const ice = this.opts.ice()
    const lines = this.method === 'PUT'
      ? [`PUT ${encodeURI(t.mount)} HTTP/1.1`, `Host: ${t.host}:${t.port}`, `Authorization: ${this.auth()}`, `User-Agent: pc-icecast/${this.opts.version}`,
          `Content-Type: ${type}`, ...Object.entries(ice).map(([k, v]) => `${k}: ${v.replace(/[\r\n]+/g, ' ')}`), 'Expect: 100-continue']
      : [`SOURCE ${encodeURI(t.mount)} HTTP/1.0`, `Authorization: ${this.auth()}`, `User-Agent: pc-icecast/${this.opts.version}`,
          `Content-Type: ${type}`, ...Object.entries(ice).map(([k, v]) => `${k}: ${v.replace(/[\r\n]+/g, ' ')}`)]
    let answer = ''
    const timer = setTimeout(() => this.fail('no answer'), ANSWER_TIMEOUT_MS)
    const onData = (d: Buffer): void => {
      answer += d.toString('latin1')
      if (answer.length > 8192) { clearTimeout(timer); s.off('data', onData); this.fail('answer too long'); return }
      if (!/\r?\n\r?\n/.test(answer)) return
      clearTimeout(timer)
      s.off('data', onData)
      s.on('data', () => {})
      const m = /^(?:HTTP|ICE)\/\d\.\d (\d{3})/.exec(answer)
      const status = m ? Number(m[1]) : 0
      if (status === 100 || status === 200) {
        this.state = 'streaming'
        this.backoff = BACKOFF_MIN_MS
        this.lastError = ''
        this.needHeaders = true
        this.sentTitle = undefined
        this.opts.verbose?.(`relay: streaming to ${this.name} (${this.method})`)
        this.sendTitle()
        return
      }
      if (this.method === 'PUT' && (status === 405 || status === 400 || status === 501 || status === 0)) {
        this.method = 'SOURCE'
        this.lastError = `PUT refused (${status || 'no HTTP answer'}), trying SOURCE`
        s.destroy()
        return
      }
      this.fail(status === 401 ? 'authentication failed (401)' : status === 403 ? 'refused (403: mount in use or too many sources)' : `answered ${status || 'garbage'}`)
    }
    s.on('data', onData)
    s.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); this.fail(e.code ?? 'socket error') })
    s.on('close', () => {
      clearTimeout(timer)
      if (this.socket !== s) return
      this.socket = undefined
      if (this.closed) return
      if (this.state === 'streaming') this.opts.warn(`relay: ${this.name}: connection closed; reconnecting`)
      this.state = 'waiting'
      this.schedule(this.lastError || 'closed')
    })
    s.write(lines.join('\r\n') + '\r\n\r\n')
  }

  private fail (why: string): void {
    if (this.lastError !== why) this.opts.warn(`relay: ${this.name}: ${why}`)
    this.lastError = why
    this.socket?.destroy()
  }

  private schedule (why: string): void {
    if (this.closed || this.retry) return
    this.state = 'waiting'
    this.lastError = why
    const wait = this.backoff
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS)
    this.retry = setTimeout(() => this.connect(), wait)
    this.retry.unref()
  }

  /** Titles go to Icecast's admin metadata call, as source clients do (MP3/AAC mounts). */
  private sendTitle (): void {
    if (this.state !== 'streaming' || this.title === undefined || this.title === this.sentTitle) return
    const t = this.opts.target
    const title = this.title
    this.sentTitle = title
    const path = `/admin/metadata?mode=updinfo&mount=${encodeURIComponent(t.mount)}&song=${encodeURIComponent(title)}&charset=UTF-8`
    const req = request({ host: t.host, port: t.port, path, method: 'GET', headers: { Authorization: this.auth(), 'User-Agent': `pc-icecast/${this.opts.version}` }, timeout: ANSWER_TIMEOUT_MS })
    req.on('response', (res) => { res.resume(); if (res.statusCode !== 200) this.opts.verbose?.(`relay: ${this.name}: title update answered ${res.statusCode}`) })
    req.on('timeout', () => req.destroy())
    req.on('error', () => {})
    req.end()
  }
}
