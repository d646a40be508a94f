// pc-icecast's one mount, answered the way icecast2 2.4 answers it: routes requests
// (request.ts reads and answers HTTP), opens the stream to a player with the icy-*
// headers and ICY metadata on request (fanout.ts then feeds it), serves the status
// endpoints, and forgets what no reader needs any more.
import { createServer, type Server, type Socket } from 'node:net'
import type { Timeline, ItemMeta, Segment } from './timeline.js'
import { IcyInterleaver, ICY_METAINT } from './icy.js'
import { statusJson, m3u, pls, xspf, nextJson, htmlPage, type StationStatus, type StationInfo, type ItemSummary } from './status-page.js'
import { Responder, SERVER_ID } from './request.js'
import type { RequestHead } from '../core/http-head.js'
import { Fanout } from './fanout.js'
import { listenOn } from '../core/listen.js'

/** how often due segments are sent */
export const TICK_MS = 50
/** how long a request waits for the first media before the mount counts as absent (404) */
export const SOURCE_WAIT_MS = 10_000
/** past segments kept after they are due, for nobody in particular (a little slack) */
const KEEP_MS = 1000
/** icecast2's 404 page */
const NOT_FOUND = '<html><head><title>Error 404</title></head><body><b>404 - The file you requested could not be found</b></body></html>'

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

export class IcecastServer {
  private server: Server | undefined
  private readonly listeners: Fanout
  private readonly http: Responder
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
    this.listeners = new Fanout(timeline, opts)
    this.http = new Responder(`${SERVER_ID} (pc-icecast ${opts.version})`, opts.now)
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
    await this.listeners.close(drainMs)
    for (const s of this.sockets) s.destroy()
    this.sink?.end()
  }

  get listenerCount (): number { return this.listeners.size }

  // ---- requests ----

  private accept (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    this.http.readRequest(socket, (req) => this.route(socket, req))
  }

  private route (socket: Socket, req: RequestHead): void {
    if (!/^HTTP\/1\.[01]$/.test(req.version)) { this.http.reply(socket, 505, 'text/plain; charset=utf-8', 'HTTP version not supported\n'); return }
    if (req.method === 'OPTIONS') { this.http.reply(socket, 204, undefined, ''); return }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.http.reply(socket, 405, 'text/plain; charset=utf-8', 'method not allowed\n', ['Allow: GET, HEAD, OPTIONS']); return
    }
    const head = req.method === 'HEAD'
    const mount = this.opts.mount
    const p = req.path
    if (p === mount) { void this.mountRequest(socket, req, head); return }
    const st = this.status()
    const listenUrl = this.listenUrl(req)
    if (p === '/status-json.xsl' || p === '/status-json.json') this.http.reply(socket, 200, 'application/json; charset=utf-8', statusJson(st, listenUrl), [], head)
    else if (p === `${mount}.m3u`) this.http.reply(socket, 200, 'audio/x-mpegurl', m3u(listenUrl), [], head)
    else if (p === `${mount}.xspf`) this.http.reply(socket, 200, 'application/xspf+xml; charset=UTF-8', xspf(listenUrl, st), [], head)
    else if (p === `${mount}.pls` || p === '/listen.pls') this.http.reply(socket, 200, 'audio/x-scpls', pls(listenUrl, st), [], head)
    else if (p === '/next.json') this.http.reply(socket, 200, 'application/json; charset=utf-8', nextJson(st), [], head)
    else if (p === '/' || p === '/index.html') this.http.reply(socket, 200, 'text/html; charset=utf-8', htmlPage(st, mount), [], head)
    // browsers ask for it with every page: no icon, rather than an error in their console
    else if (p === '/favicon.ico') this.http.reply(socket, 204, undefined, '', [], head)
    else this.http.reply(socket, 404, 'text/html; charset=utf-8', NOT_FOUND, [], head)
  }

  private listenUrl (req: RequestHead): string {
    const fwd = req.headers.get('x-forwarded-proto')
    const scheme = fwd === 'https' ? 'https' : 'http'
    const host = /^[A-Za-z0-9.\-:[\]]+$/.test(req.headers.get('host') ?? '') ? req.headers.get('host') as string : `${this.opts.host}:${this.opts.port}`
    return `${scheme}://${host}${this.opts.mount}`
  }

  private async mountRequest (socket: Socket, req: RequestHead, headOnly: boolean): Promise<void> {
    let type = this.timeline.contentType()
    if (type === undefined) {
      type = await this.waitForSource(socket)
      if (type === undefined) {
        this.http.reply(socket, 404, 'text/html; charset=utf-8', NOT_FOUND, [], headOnly)
        return
      }
    }
    if (socket.destroyed) return
    if (!headOnly && this.listeners.size >= this.opts.maxListeners) {
      // icecast2 2.4 answers exactly this
      this.http.reply(socket, 403, 'text/plain; charset=utf-8', 'max listeners reached')
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
    socket.write(this.http.head(200, type, extra))
    if (headOnly) { socket.end(); return }
    this.listeners.add(socket, wantsIcy ? new IcyInterleaver(metaint) : undefined, this.opts.now())
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

  private tick (): void {
    const now = this.opts.now()
    const nextSeq = this.timeline.nextSeq
    if (this.streamStartMs === undefined && nextSeq > 0) this.streamStartMs = now
    this.listeners.pumpAll(now)
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
    // and keep what a joiner needs: video back to the last random-access unit
    const min = Math.min(this.listeners.minSeq(this.sink ? this.sinkSeq : nextSeq), this.timeline.find(now).seq)
    let k = this.timeline.firstSeq
    while (k < min) { const s = this.timeline.get(k); if (!s || s.endMs > now - KEEP_MS) break; k++ }
    this.timeline.trimBefore(k)
    if (this.timeline.ended && !this.finished) {
      const last = this.timeline.last
      const paced = !last || last.atMs <= now
      if (paced && this.listeners.allEnding() && (!this.sink || this.sinkSeq >= nextSeq)) {
        this.finished = true
        this.resolveDone()
      }
    }
  }

  // ---- status ----

  private current (now: number): Segment | undefined {
    const pos = this.timeline.find(now)
    return this.timeline.get(pos.seq) ?? this.timeline.get(pos.seq - 1)
  }

  status (): StationStatus {
    const now = this.opts.now()
    const seg = this.current(now)
    const cur = seg?.meta
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
      peak: this.listeners.peak,
      maxListeners: this.opts.maxListeners,
      title: seg?.title,
      now: cur ? { ...summary(cur), title: seg?.title } : undefined,
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
