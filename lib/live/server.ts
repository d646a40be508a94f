// pc-live's HTTP port: an Icecast 2 server to source clients (source.ts), the mount
// for plain players (listeners.ts), the metadata update, and the window directory
// served as static files (the manifest at MOUNT.json, chunks under MOUNT/), for a
// station without a web server of its own.
import { createServer, type Server, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UnavailableError } from '../core/errors.js'
import { readHead, type RequestHead } from '../core/http-head.js'
import { checkBasicAuth, ChunkedDecoder, REALM, SourceSlot, sourceInfo, SOURCE_USER, type SourceInfo } from './source.js'
import { MANIFEST_HEADER, MANIFEST_SUFFIX } from './manifest.js'
import type { LiveStation } from './station.js'
import { isVideoKind } from './chunker.js'
import type { LiveListeners } from './listeners.js'

export const SERVER_ID = 'Icecast 2.4.4'
/** connections that have not finished their request head: more are closed at once (a flood) */
export const MAX_PENDING_HEADS = 128
/** a source idle this long may be taken over by a new one with the credentials (capped at the source timeout) */
export const TAKEOVER_IDLE_MS = 2000
/** a player asking before the first chunk waits this long for it, then gets 404 */
export const FIRST_CHUNK_WAIT_MS = 10_000
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const FILE_TYPES: Record<string, string> = { mp3: 'audio/mpeg', aac: 'audio/aac', ogg: 'audio/ogg', ts: 'video/mp2t', webm: 'video/webm', mp4: 'video/mp4', bin: 'application/octet-stream', json: 'application/json' }

const REASONS: Record<number, string> = {
  200: 'OK', 204: 'No Content', 400: 'Bad Request', 401: 'Authentication Required', 403: 'Forbidden', 404: 'File Not Found',
  405: 'Method Not Allowed', 408: 'Request Timeout', 431: 'Request Header Fields Too Large',
}

export interface LiveServerOptions {
  host: string
  port: number
  mount: string
  /** undefined: source clients are refused (the show comes from stdin or --pull) */
  password?: string
  sourceTimeoutMs: number
  headerTimeoutMs: number
  station: LiveStation
  listeners: LiveListeners
  version: string
  now: () => number
  warn: (m: string) => void
  verbose?: (m: string) => void
}

class SourceSession {
  lastDataMs: number
  ended = false
  constructor (readonly socket: Socket, readonly addr: string, readonly info: SourceInfo, now: number, private readonly onEnd: (s: SourceSession, why: string) => void) { this.lastDataMs = now }
  drop (why: string): void {
    this.finish(why)
    this.socket.destroy()
  }

  finish (why: string): void {
    if (this.ended) return
    this.ended = true
    this.onEnd(this, why)
  }
}

export class LiveServer {
  private server?: Server
  private readonly sockets = new Set<Socket>()
  private pendingHeads = 0
  private readonly slot: SourceSlot<SourceSession>
  private timer?: NodeJS.Timeout
  /** what the current (or last) source said about itself */
  sourceInfo: SourceInfo = {}

  constructor (readonly opts: LiveServerOptions) {
    this.slot = new SourceSlot(Math.min(TAKEOVER_IDLE_MS, opts.sourceTimeoutMs), opts.now)
  }

  async listen (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true }, s => this.accept(s))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new UnavailableError(`cannot listen: ${e.code ?? e.message}`, `${this.opts.host}:${this.opts.port}`)))
      server.listen(this.opts.port, this.opts.host, () => resolve())
    })
    server.on('error', e => this.opts.warn(`server: ${e.message}`))
    this.timer = setInterval(() => this.checkSource(), 250)
    const a = server.address()
    return typeof a === 'object' && a ? { host: a.address, port: a.port } : { host: this.opts.host, port: this.opts.port }
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    this.server?.close()
    this.slot.holder?.drop('server closing')
    this.opts.listeners.closeAll()
    await new Promise(resolve => setTimeout(resolve, 50))
    for (const s of this.sockets) s.destroy()
  }

  get sourceConnected (): boolean { return this.slot.holder !== undefined }

  private checkSource (): void {
    const h = this.slot.holder
    if (h && this.opts.now() - h.lastDataMs > this.opts.sourceTimeoutMs) {
      this.opts.warn(`source ${h.addr}: nothing received for ${this.opts.sourceTimeoutMs} ms, disconnected`)
      h.drop('timeout')
    }
  }

  private accept (socket: Socket): void {
    if (this.pendingHeads >= MAX_PENDING_HEADS) { socket.destroy(); return }
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    this.pendingHeads++
    void readHead(socket, this.opts.headerTimeoutMs).then(r => {
      this.pendingHeads--
      if (r.ok) { this.route(socket, r.req, r.rest); return }
      if (r.status !== 0) this.reply(socket, r.status, `${r.why}\n`)
    })
  }

  private route (socket: Socket, req: RequestHead, rest: Buffer): void {
    if (!/^HTTP\/1\.[01]$/.test(req.version)) { this.reply(socket, 400, 'bad request\n'); return }
    const mount = this.opts.mount
    const m = req.method
    this.opts.verbose?.(`${socket.remoteAddress}:${socket.remotePort} ${m} ${req.path}${req.headers.has('authorization') ? ' (with credentials)' : ''}`)
    if (m === 'OPTIONS') {
      // libshout's TLS upgrade probe: icecast 2.4 answers 400, and libshout goes on in plain HTTP
      if (req.path === '*') this.reply(socket, 400, 'Bad Request\n')
      else this.reply(socket, 204, '', ['Access-Control-Allow-Methods: GET, HEAD, OPTIONS'])
      return
    }
    if (m === 'SOURCE' || m === 'PUT') {
      if (req.path !== mount) { this.reply(socket, 404, 'no such mount\n'); return }
      this.source(socket, req, rest)
      return
    }
    if (m !== 'GET' && m !== 'HEAD') { this.reply(socket, 405, 'method not allowed\n', ['Allow: GET, HEAD, OPTIONS, SOURCE, PUT']); return }
    const head = m === 'HEAD'
    if (req.path === '/admin/metadata' || req.path === '/admin/metadata.xsl') { this.metadata(socket, req); return }
    if (req.path === mount) { void this.listener(socket, req, head); return }
    if (req.path === mount + MANIFEST_SUFFIX) { void this.file(socket, this.opts.station.window.manifestPath, 'application/json', head, 'no-cache'); return }
    if (req.path.startsWith(mount + '/')) {
      const name = req.path.slice(mount.length + 1)
      if (FILE_NAME.test(name)) {
        void this.file(socket, join(this.opts.station.window.chunkDir, name), FILE_TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream', head, 'max-age=3600, immutable')
        return
      }
    }
    if (req.path === '/status-json.xsl') { this.reply(socket, 200, JSON.stringify(this.status(req)) + '\n', ['Content-Type: application/json; charset=utf-8'], head); return }
    this.reply(socket, 404, 'not found\n', [], head)
  }

  // ---- sources ----

  private source (socket: Socket, req: RequestHead, rest: Buffer): void {
    const addr = `${socket.remoteAddress}:${socket.remotePort}`
    if (this.opts.password === undefined) { this.reply(socket, 403, 'this show takes no source clients\n'); return }
    const auth = checkBasicAuth(req.headers.get('authorization'), this.opts.password)
    if (auth !== 'ok') {
      if (auth === 'wrong') this.opts.warn(`source ${addr}: wrong credentials`)
      this.reply(socket, 401, 'You need to authenticate\n', [`WWW-Authenticate: Basic realm="${REALM}"`])
      return
    }
    const info = sourceInfo(req)
    if (req.method === 'PUT' && !info.contentType) { this.reply(socket, 403, 'No Content-type given\n'); return }
    const session = new SourceSession(socket, addr, info, this.opts.now(), (s, why) => this.sourceEnded(s, why))
    const claim = this.slot.claim(session)
    if (claim === 'busy') {
      this.opts.warn(`source ${addr}: refused, the mount is in use`)
      this.reply(socket, 403, 'Mountpoint in use\n')
      return
    }
    if (claim === 'takeover') this.opts.warn(`source ${addr}: took the mount over from a silent source`)
    if (/100-continue/i.test(req.headers.get('expect') ?? '')) socket.write('HTTP/1.1 100 Continue\r\n\r\n')
    socket.write(`HTTP/1.0 200 OK\r\nServer: ${SERVER_ID} (pc-live ${this.opts.version})\r\nConnection: Close\r\nAllow: GET, SOURCE\r\nCache-Control: no-cache\r\nExpires: Mon, 26 Jul 1997 05:00:00 GMT\r\nPragma: no-cache\r\n\r\n`)
    this.sourceInfo = info
    this.opts.warn(`source ${addr} connected (${req.method}${info.contentType ? ', ' + info.contentType : ''}${info.userAgent ? ', ' + info.userAgent : ''})`)
    const station = this.opts.station
    station.sourceBegin(info.contentType)
    const chunked = /chunked/i.test(req.headers.get('transfer-encoding') ?? '') ? new ChunkedDecoder() : undefined
    const feed = (d: Buffer): void => {
      if (session.ended || !d.length) return
      session.lastDataMs = this.opts.now()
      const wait = station.push(d)
      if (wait) { socket.pause(); void wait.then(() => { if (!socket.destroyed) socket.resume() }) }
    }
    const onData = (d: Buffer): void => {
      if (!chunked) { feed(d); return }
      let parts: Buffer[]
      try { parts = chunked.push(d) } catch (e) { this.opts.warn(`source ${addr}: ${(e as Error).message}`); session.drop('bad chunked body'); return }
      for (const p of parts) feed(p)
      if (chunked.done) session.drop('end of chunked body')
    }
    socket.on('data', onData)
    socket.on('close', () => session.finish('disconnected'))
    socket.on('end', () => session.finish('disconnected'))
    if (rest.length) onData(rest)
    socket.resume()
  }

  private sourceEnded (s: SourceSession, why: string): void {
    this.slot.release(s)
    this.opts.station.sourceEnd()
    this.opts.warn(`source ${s.addr} gone (${why}); chunks continue from ${this.opts.station.nextSeq} when a source returns`)
  }

  private metadata (socket: Socket, req: RequestHead): void {
    const q = req.query
    const auth = this.opts.password === undefined ? 'wrong' : checkBasicAuth(req.headers.get('authorization'), this.opts.password, [SOURCE_USER, 'admin'])
    if (auth !== 'ok') { this.reply(socket, 401, 'You need to authenticate\n', [`WWW-Authenticate: Basic realm="${REALM}"`]); return }
    if (q.get('mode') !== 'updinfo' || q.get('mount') !== this.opts.mount) {
      this.reply(socket, 400, '<?xml version="1.0"?>\n<iceresponse><message>No such mount or mode</message><return>0</return></iceresponse>\n', ['Content-Type: text/xml'])
      return
    }
    const song = q.get('song') ?? [q.get('artist'), q.get('title')].filter(Boolean).join(' - ')
    this.opts.station.setTitle(song.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 1024))
    this.reply(socket, 200, '<?xml version="1.0"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n', ['Content-Type: text/xml'])
  }

  // ---- players and files ----

  private async listener (socket: Socket, req: RequestHead, head: boolean): Promise<void> {
    const station = this.opts.station
    for (let waited = 0; !station.latest && waited < FIRST_CHUNK_WAIT_MS && !socket.destroyed; waited += 100) await new Promise(resolve => setTimeout(resolve, 100))
    const start = station.latest
    if (!start) { this.reply(socket, 404, 'the show has not started\n', [], head); return }
    if (socket.destroyed) return
    if (!head && this.opts.listeners.full) { this.reply(socket, 403, 'max listeners reached\n'); return }
    // as Icecast 2 does for WebM and Ogg: no ICY metadata inside a video container
    const wantsIcy = req.headers.get('icy-metadata') === '1' && !isVideoKind(start.kind)
    const i = this.sourceInfo
    const one = (s: string | undefined): string => (s ?? '').replace(/[\r\n]/g, ' ')
    const fmt = start.info
    const audio = [fmt.bitrateKbps ? `bitrate=${fmt.bitrateKbps}` : '', fmt.channels ? `channels=${fmt.channels}` : '', fmt.sampleRate ? `samplerate=${fmt.sampleRate}` : ''].filter(Boolean).join(';')
    const lines = [
      'HTTP/1.0 200 OK', `Server: ${SERVER_ID} (pc-live ${this.opts.version})`, 'Connection: Close', `Content-Type: ${start.mime}`,
      'Cache-Control: no-cache, no-store', 'Expires: Mon, 26 Jul 1997 05:00:00 GMT', 'Pragma: no-cache',
      'Access-Control-Allow-Origin: *', `Access-Control-Expose-Headers: icy-br, icy-description, icy-genre, icy-metaint, icy-name, icy-pub, icy-url, ice-audio-info, ${MANIFEST_HEADER}`,
      `${MANIFEST_HEADER}: ${this.opts.mount}${MANIFEST_SUFFIX}`,
      ...(fmt.bitrateKbps ?? i.bitrateKbps ? [`icy-br:${fmt.bitrateKbps ?? i.bitrateKbps}`] : []),
      ...(audio ? [`ice-audio-info:${audio}`] : []),
      `icy-description:${one(i.description)}`, `icy-genre:${one(i.genre)}`, `icy-name:${one(i.name ?? 'pc-live')}`, 'icy-pub:0', `icy-url:${one(i.url)}`,
      ...(wantsIcy ? ['icy-metadata:1', `icy-metaint:${this.opts.listeners.metaint}`] : []),
    ]
    socket.write(lines.join('\r\n') + '\r\n\r\n')
    if (head) { socket.end(); return }
    this.opts.listeners.add(socket, wantsIcy, start)
  }

  private async file (socket: Socket, path: string, type: string, head: boolean, cache: string): Promise<void> {
    let data: Buffer
    try { data = await readFile(path) } catch { this.reply(socket, 404, 'not found\n', [], head); return }
    this.replyBytes(socket, 200, data, [`Content-Type: ${type}`, `Cache-Control: ${cache}`], head)
  }

  private status (req: RequestHead): unknown {
    const host = /^[A-Za-z0-9.\-:[\]]+$/.test(req.headers.get('host') ?? '') ? req.headers.get('host') as string : `${this.opts.host}:${this.opts.port}`
    const st = this.opts.station
    const i = this.sourceInfo
    return {
      icestats: {
        admin: '', host: host.replace(/:\d+$/, ''), location: '', server_id: `${SERVER_ID} (pc-live ${this.opts.version})`,
        source: st.latest ? {
          listenurl: `http://${host}${this.opts.mount}`, listeners: this.opts.listeners.count, listener_peak: this.opts.listeners.peak,
          server_name: i.name ?? 'pc-live', server_description: i.description ?? '', genre: i.genre ?? '', server_type: st.contentType,
          title: st.title ?? '', bitrate: st.latest.info.bitrateKbps, audio_samplerate: st.latest.info.sampleRate, audio_channels: st.latest.info.channels,
          source_connected: this.sourceConnected, manifest: `${this.opts.mount}${MANIFEST_SUFFIX}`,
        } : undefined,
      },
    }
  }

  private reply (socket: Socket, status: number, body: string, extra: string[] = [], head = false): void {
    this.replyBytes(socket, status, Buffer.from(body), extra.some(h => /^content-type:/i.test(h)) ? extra : ['Content-Type: text/plain; charset=utf-8', ...extra], head)
  }

  private replyBytes (socket: Socket, status: number, body: Buffer, extra: string[], head: boolean): void {
    if (socket.destroyed) return
    const lines = [`HTTP/1.0 ${status} ${REASONS[status] ?? ''}`, `Server: ${SERVER_ID} (pc-live ${this.opts.version})`, 'Connection: Close', 'Access-Control-Allow-Origin: *', ...extra, `Content-Length: ${body.length}`]
    socket.end(head ? Buffer.from(lines.join('\r\n') + '\r\n\r\n') : Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]))
  }
}
