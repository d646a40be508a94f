// The HTTP side of pc-icecast: one mount answered the way icecast2 2.4 answers it
// (HTTP/1.0, icy-* headers, ICY metadata on request), a burst from the scheduled
// present forward, a bounded queue per listener (overflow drops that listener, never
// slows the rest), and the status endpoints. Sockets are written directly: one
// shared buffer per segment for every listener.
import { createServer, type Server, type Socket } from 'node:net'
import { Timeline, type Segment, type ItemMeta } from './pacer.js'
import { IcyInterleaver, ICY_METAINT } from './icy.js'
import { statusJson, m3u, pls, xspf, nextJson, htmlPage, type StationStatus, type StationInfo, type ItemSummary } from './status-page.js'
import { formatSize } from '../core/units.js'
import { trimOggPage } from '../media/ogg-join.js'
import { listenOn } from '../core/listen.js'

export const SERVER_ID = 'Icecast 2.4.4'
/** a request head longer than this is refused (431) */
export const MAX_HEAD_BYTES = 8192
/** a client that has not finished its request head by then is disconnected */
export const HEAD_TIMEOUT_MS = 10_000
/** how often due segments are sent */
export const TICK_MS = 50
/** how long a request waits for the first media before the mount counts as absent (404) */
export const SOURCE_WAIT_MS = 10_000
/** past segments kept after they are due, for nobody in particular (a little slack) */
const KEEP_MS = 1000

export interface IcecastOptions extends StationInfo {
  host: string
  port: number
  burstBytes: number
  queueBytes: number
  maxListeners: number
  metaint?: number
  /** overrides icy-br when the media does not say */
  bitrateKbps?: number
  version: string
  now: () => number
  warn: (m: string) => void
  verbose?: (m: string) => void
}

/** Something that takes the paced stream as it becomes due (the relay). */
export interface StreamSink {
  write: (seg: Segment) => void
  end: () => void
  describe: () => { target: string, state: string }
}

interface Listener {
  id: number
  socket: Socket
  addr: string
  seq: number
  off: number
  leadMs: number
  icy?: IcyInterleaver
  ending: boolean
  /** connected, nothing sent yet: waiting for something to play */
  waiting: boolean
}

interface Request {
  method: string
  path: string
  query: string
  version: string
  headers: Map<string, string>
}

const COMMON_HEADERS = [
  'Cache-Control: no-cache, no-store',
  'Expires: Mon, 26 Jul 1997 05:00:00 GMT',
  'Pragma: no-cache',
]
const CORS = [
  'Access-Control-Allow-Origin: *',
  'Access-Control-Allow-Headers: Origin, Accept, X-Requested-With, Content-Type, Icy-MetaData, Range',
  'Access-Control-Allow-Methods: GET, OPTIONS, HEAD',
  'Access-Control-Expose-Headers: icy-br, icy-description, icy-genre, icy-metaint, icy-name, icy-pub, icy-url, ice-audio-info',
]

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 403: 'Forbidden', 404: 'File Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported',
}

/** Parse a request head (up to the blank line). Undefined when it is not HTTP. */
export function parseRequestHead (head: string): Request | undefined {
  const lines = head.split(/\r?\n/)
  const m = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0])
  if (!m) return undefined
  const headers = new Map<string, string>()
  for (const line of lines.slice(1)) {
    if (line === '') continue
    const i = line.indexOf(':')
    if (i <= 0 || /\s/.test(line.slice(0, i))) return undefined
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim())
  }
  const q = m[2].indexOf('?')
  let path: string
  try { path = decodeURIComponent(q < 0 ? m[2] : m[2].slice(0, q)) } catch { return undefined }
  return { method: m[1], path, query: q < 0 ? '' : m[2].slice(q + 1), version: m[3], headers }
}

export class IcecastServer {
  private server: Server | undefined
  private readonly listeners = new Set<Listener>()
  private nextId = 1
  private peak = 0
  private timer: NodeJS.Timeout | undefined
  private readonly serverStartMs: number
  private streamStartMs: number | undefined
  private sink: StreamSink | undefined
  private sinkSeq = -1
  private finished = false
  private resolveDone!: () => void
  /** resolves once the input has ended and every listener got the last byte */
  readonly done: Promise<void>
  private readonly sockets = new Set<Socket>()

  constructor (readonly timeline: Timeline, readonly opts: IcecastOptions) {
    this.serverStartMs = opts.now()
    this.done = new Promise(resolve => { this.resolveDone = resolve })
    timeline.onChange(() => this.tick())
  }

  attach (sink: StreamSink): void { this.sink = sink; this.sinkSeq = -1 }

  async listen (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true }, (s) => this.accept(s))
    this.server = server
    await listenOn(server, this.opts.port, this.opts.host)
    server.on('error', (e) => this.opts.warn(`server: ${e.message}`))
    this.timer = setInterval(() => this.tick(), TICK_MS)
    const a = server.address()
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.opts.host, port: this.opts.port }
  }

  /** Stop serving. `drainMs`: how long listeners already ended may take to receive what is queued. */
  async close (drainMs = 0): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.server?.close()
    const ending = [...this.listeners].filter(l => l.ending && !l.socket.destroyed)
    if (drainMs > 0 && ending.length) {
      let t: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(ending.map(l => new Promise(resolve => l.socket.once('close', resolve)))),
        new Promise(resolve => { t = setTimeout(resolve, drainMs) }),
      ])
      clearTimeout(t)
    }
    for (const l of this.listeners) l.socket.destroy()
    for (const s of this.sockets) s.destroy()
    this.sink?.end()
  }

  get listenerCount (): number { return this.listeners.size }

  // ---- requests ----

  private accept (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    const parts: Buffer[] = []
    let size = 0
    const timeout = setTimeout(() => this.reply(socket, 408, 'text/plain; charset=utf-8', 'request timeout\n'), HEAD_TIMEOUT_MS)
    const onData = (d: Buffer): void => {
      parts.push(d)
      size += d.length
      const all = parts.length === 1 ? parts[0] : Buffer.concat(parts)
      const end = all.indexOf('\r\n\r\n') >= 0 ? all.indexOf('\r\n\r\n') : all.indexOf('\n\n')
      if (end < 0) {
        if (size > MAX_HEAD_BYTES) { done(); this.reply(socket, 431, 'text/plain; charset=utf-8', 'request head too large\n') }
        return
      }
      if (end > MAX_HEAD_BYTES) { done(); this.reply(socket, 431, 'text/plain; charset=utf-8', 'request head too large\n'); return }
      done()
      const req = parseRequestHead(all.subarray(0, end).toString('latin1'))
      if (!req) { this.reply(socket, 400, 'text/plain; charset=utf-8', 'bad request\n'); return }
      this.route(socket, req)
    }
    const done = (): void => { clearTimeout(timeout); socket.off('data', onData) }
    socket.on('data', onData)
    socket.on('close', () => clearTimeout(timeout))
  }

  private route (socket: Socket, req: Request): void {
    if (!/^HTTP\/1\.[01]$/.test(req.version)) { this.reply(socket, 505, 'text/plain; charset=utf-8', 'HTTP version not supported\n'); return }
    if (req.method === 'OPTIONS') { this.reply(socket, 204, undefined, ''); return }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.reply(socket, 405, 'text/plain; charset=utf-8', 'method not allowed\n', ['Allow: GET, HEAD, OPTIONS']); return
    }
    const head = req.method === 'HEAD'
    const mount = this.opts.mount
    const p = req.path
    if (p === mount) { void this.mountRequest(socket, req, head); return }
    const st = this.status()
    const listenUrl = this.listenUrl(req)
    if (p === '/status-json.xsl' || p === '/status-json.json') this.reply(socket, 200, 'application/json; charset=utf-8', statusJson(st, listenUrl), [], head)
    else if (p === `${mount}.m3u`) this.reply(socket, 200, 'audio/x-mpegurl', m3u(listenUrl), [], head)
    else if (p === `${mount}.xspf`) this.reply(socket, 200, 'application/xspf+xml; charset=UTF-8', xspf(listenUrl, st), [], head)
    else if (p === `${mount}.pls` || p === '/listen.pls') this.reply(socket, 200, 'audio/x-scpls', pls(listenUrl, st), [], head)
    else if (p === '/next.json') this.reply(socket, 200, 'application/json; charset=utf-8', nextJson(st), [], head)
    else if (p === '/' || p === '/index.html') this.reply(socket, 200, 'text/html; charset=utf-8', htmlPage(st, mount), [], head)
    else this.reply(socket, 404, 'text/html; charset=utf-8', '<html><head><title>Error 404</title></head><body><b>404 - The file you requested could not be found</b></body></html>', [], head)
  }

  private listenUrl (req: Request): string {
    const fwd = req.headers.get('x-forwarded-proto')
    const scheme = fwd === 'https' ? 'https' : 'http'
    const host = /^[A-Za-z0-9.\-:[\]]+$/.test(req.headers.get('host') ?? '') ? req.headers.get('host') as string : `${this.opts.host}:${this.opts.port}`
    return `${scheme}://${host}${this.opts.mount}`
  }

  private head (status: number, contentType: string | undefined, extra: string[]): string {
    const lines = [`HTTP/1.0 ${status} ${REASONS[status] ?? ''}`, `Server: ${SERVER_ID} (pc-icecast ${this.opts.version})`, 'Connection: Close',
      `Date: ${new Date(this.opts.now()).toUTCString()}`]
    if (contentType) lines.push(`Content-Type: ${contentType}`)
    lines.push(...COMMON_HEADERS, ...CORS, ...extra)
    return lines.join('\r\n') + '\r\n\r\n'
  }

  private reply (socket: Socket, status: number, contentType: string | undefined, body: string, extra: string[] = [], headOnly = false): void {
    if (socket.destroyed) return
    const b = Buffer.from(body)
    socket.end(Buffer.concat([Buffer.from(this.head(status, contentType, [...extra, `Content-Length: ${b.length}`])), headOnly ? Buffer.alloc(0) : b]))
  }

  private async mountRequest (socket: Socket, req: Request, headOnly: boolean): Promise<void> {
    let type = this.timeline.contentType()
    if (type === undefined) {
      type = await this.waitForSource(socket)
      if (type === undefined) {
        this.reply(socket, 404, 'text/html; charset=utf-8', '<html><head><title>Error 404</title></head><body><b>404 - The file you requested could not be found</b></body></html>', [], headOnly)
        return
      }
    }
    if (socket.destroyed) return
    if (!headOnly && this.listeners.size >= this.opts.maxListeners) {
      // icecast2 2.4 answers exactly this
      this.reply(socket, 403, 'text/plain; charset=utf-8', 'max listeners reached')
      return
    }
    const wantsIcy = req.headers.get('icy-metadata') === '1'
    const metaint = this.opts.metaint ?? ICY_METAINT
    const st = this.status()
    const extra = [
      'Accept-Ranges: none',
      ...(st.bitrateKbps ? [`icy-br:${st.bitrateKbps}`] : []),
      ...(st.audioInfo ? [`ice-audio-info:${st.audioInfo}`] : []),
      `icy-description:${oneLine(this.opts.description)}`,
      `icy-genre:${oneLine(this.opts.genre)}`,
      `icy-name:${oneLine(this.opts.name)}`,
      `icy-pub:${this.opts.public ? 1 : 0}`,
      `icy-url:${oneLine(this.opts.url)}`,
      ...(wantsIcy ? ['icy-metadata:1', `icy-metaint:${metaint}`] : []),
    ]
    socket.write(this.head(200, type, extra))
    if (headOnly) { socket.end(); return }
    this.addListener(socket, wantsIcy ? new IcyInterleaver(metaint) : undefined)
  }

  private waitForSource (socket: Socket): Promise<string | undefined> {
    return new Promise(resolve => {
      const check = (): void => {
        const t = this.timeline.contentType()
        if (t !== undefined || this.timeline.ended || socket.destroyed) { finish(t) }
      }
      const timer = setTimeout(() => finish(undefined), SOURCE_WAIT_MS)
      const off = this.timeline.onChange(check)
      socket.once('close', check)
      function finish (t: string | undefined): void { clearTimeout(timer); off(); resolve(t) }
    })
  }

  // ---- listeners ----

  private addListener (socket: Socket, icy: IcyInterleaver | undefined): void {
    const now = this.opts.now()
    const l: Listener = { id: this.nextId++, socket, addr: `${socket.remoteAddress}:${socket.remotePort}`, seq: 0, off: 0, leadMs: 0, icy, ending: false, waiting: true }
    this.listeners.add(l)
    this.peak = Math.max(this.peak, this.listeners.size)
    socket.on('close', () => { this.listeners.delete(l); this.opts.verbose?.(`listener ${l.addr} left`) })
    socket.on('data', () => {}) // a player may send more; nothing to read
    this.opts.verbose?.(`listener ${l.addr} joined (${this.listeners.size} now)`)
    this.pump(l, now)
  }

  /**
   * A listener's first audio: the unit that plays now, then the burst forward. Until
   * something plays (before the first item's start, or while the input is dry) it
   * waits: a player plays what it gets at once, so a byte sent early is heard early.
   */
  private begin (l: Listener, now: number): boolean {
    const start = this.timeline.find(now)
    const seg = this.timeline.get(start.seq)
    if (!seg || seg.atMs > now) return false
    l.waiting = false
    l.seq = start.seq
    l.off = start.off
    // Ogg: the item's header pages first, then the page that covers now without the
    // packets already over
    if (seg.meta.headers.length && start.unit >= 0) {
      for (const h of seg.meta.headers) this.send(l, h, seg.meta.title)
      const u = start.unit
      l.off = seg.units[u]
      const end = u + 1 < seg.units.length ? seg.units[u + 1] : seg.bytes.length
      const endMs = u + 1 < seg.units.length ? seg.unitAt[u + 1] : seg.endMs
      const trimmed = trimOggPage(seg.bytes.subarray(seg.units[u], end), (now - seg.unitAt[u]) * 1000, (endMs - seg.unitAt[u]) * 1000, seg.meta.info?.codec)
      if (trimmed) {
        this.send(l, trimmed, seg.meta.title)
        if (end < seg.bytes.length) l.off = end; else { l.seq++; l.off = 0 }
      }
    }
    // the burst: from the present forward, whole segments, as long as they follow
    // each other without a pause in the schedule
    let sent = 0
    let lastEnd = now
    while (sent < this.opts.burstBytes && l.seq < this.timeline.nextSeq) {
      const s = this.timeline.get(l.seq)
      if (!s) { l.seq++; continue }
      if (s.atMs > lastEnd + 50) break
      sent += this.writeSeg(l, s)
      lastEnd = Math.max(lastEnd, s.endMs)
    }
    l.leadMs = Math.max(0, lastEnd - now)
    return true
  }

  private send (l: Listener, b: Buffer, title: string | undefined): void {
    if (l.icy) {
      const pieces = l.icy.split(b, title)
      if (pieces.length === 1) { l.socket.write(pieces[0]); return }
      l.socket.cork()
      for (const p of pieces) l.socket.write(p)
      l.socket.uncork()
    } else {
      l.socket.write(b)
    }
  }

  private writeSeg (l: Listener, s: Segment): number {
    const b = l.off ? s.bytes.subarray(l.off) : s.bytes
    l.seq = s.seq + 1
    l.off = 0
    this.send(l, b, s.meta.title)
    return b.length
  }

  /** Send a listener what is due for it; drop it if its queue overflows. */
  private pump (l: Listener, now: number): void {
    if (l.ending || l.socket.destroyed) return
    if (l.waiting && !this.begin(l, now)) {
      if (this.timeline.ended && this.timeline.find(now).seq >= this.timeline.nextSeq) { l.ending = true; l.socket.end() }
      return
    }
    while (l.seq < this.timeline.nextSeq) {
      const s = this.timeline.get(l.seq)
      if (!s) { l.seq = Math.max(l.seq + 1, this.timeline.firstSeq); continue }
      if (s.atMs - l.leadMs > now) break
      this.writeSeg(l, s)
    }
    if (l.socket.writableLength > this.opts.queueBytes) {
      this.opts.warn(`listener ${l.addr} dropped: more than ${formatSize(this.opts.queueBytes)} queued (too slow)`)
      this.listeners.delete(l)
      l.socket.destroy()
      return
    }
    if (this.timeline.ended && l.seq >= this.timeline.nextSeq) {
      l.ending = true
      l.socket.end()
    }
  }

  private tick (): void {
    const now = this.opts.now()
    const nextSeq = this.timeline.nextSeq
    if (this.streamStartMs === undefined && nextSeq > 0) this.streamStartMs = now
    for (const l of this.listeners) this.pump(l, now)
    if (this.sink) {
      if (this.sinkSeq < 0) this.sinkSeq = this.timeline.find(now).seq
      while (this.sinkSeq < nextSeq) {
        const s = this.timeline.get(this.sinkSeq)
        if (s && s.atMs > now) break
        if (s) this.sink.write(s)
        this.sinkSeq++
      }
    }
    // forget what every reader is past
    let min = this.sink ? this.sinkSeq : nextSeq
    for (const l of this.listeners) if (!l.waiting && l.seq < min) min = l.seq
    let k = this.timeline.firstSeq
    while (k < min) { const s = this.timeline.get(k); if (!s || s.endMs > now - KEEP_MS) break; k++ }
    this.timeline.trimBefore(k)
    if (this.timeline.ended && !this.finished) {
      const last = this.timeline.last
      const paced = !last || last.atMs <= now
      if (paced && [...this.listeners].every(l => l.ending) && (!this.sink || this.sinkSeq >= nextSeq)) {
        this.finished = true
        this.resolveDone()
      }
    }
  }

  // ---- status ----

  private current (now: number): ItemMeta | undefined {
    const pos = this.timeline.find(now)
    return this.timeline.get(pos.seq)?.meta ?? this.timeline.get(pos.seq - 1)?.meta
  }

  status (): StationStatus {
    const now = this.opts.now()
    const cur = this.current(now)
    const first = this.timeline.first
    const info = first?.info
    const bitrate = info?.bitrateKbps ?? this.opts.bitrateKbps
    const audioInfo = info
      ? [info.sampleRate ? `ice-samplerate=${info.sampleRate}` : '', info.bitrateKbps ? `ice-bitrate=${info.bitrateKbps}` : '', info.channels ? `ice-channels=${info.channels}` : ''].filter(Boolean).join(';')
      : undefined
    return {
      serverId: SERVER_ID,
      admin: 'icemaster@localhost',
      host: this.opts.host,
      location: 'Earth',
      serverStartMs: this.serverStartMs,
      streamStartMs: this.streamStartMs,
      mount: this.opts.mount,
      name: this.opts.name,
      description: this.opts.description,
      genre: this.opts.genre,
      url: this.opts.url,
      public: this.opts.public,
      contentType: this.timeline.contentType(),
      bitrateKbps: bitrate,
      audioInfo: audioInfo || undefined,
      listeners: this.listeners.size,
      peak: this.peak,
      maxListeners: this.opts.maxListeners,
      title: cur?.title,
      now: cur ? summary(cur) : undefined,
      next: this.timeline.upcoming(now).map(summary),
      warnings: [...this.timeline.warnings],
      relay: this.sink?.describe(),
      nowMs: now,
    }
  }
}

function summary (m: ItemMeta): ItemSummary {
  const out: ItemSummary = { title: m.title, url: m.url, start: new Date(m.startMs).toISOString() }
  if (m.durationMs !== undefined) { out.duration = m.durationMs; out.end = new Date(m.startMs + m.durationMs).toISOString() }
  return out
}

function oneLine (s: string): string { return s.replace(/[\r\n]+/g, ' ') }
