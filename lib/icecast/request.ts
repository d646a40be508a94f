// The HTTP/1.0 side of pc-icecast, the way icecast2 2.4 speaks it: read a request
// head from a socket (bounded in size and time), parse it, and write an answer head
// with icecast2's cache and CORS headers.
import type { Socket } from 'node:net'

export const SERVER_ID = 'Icecast 2.4.4'
/** a request head longer than this is refused (431) */
export const MAX_HEAD_BYTES = 8192
/** a client that has not finished its request head by then is disconnected */
export const HEAD_TIMEOUT_MS = 10_000

export interface Request {
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

/** Writes answers: the head every answer carries, and whole small answers. */
export class Responder {
  constructor (private readonly server: string, private readonly now: () => number) {}

  head (status: number, contentType: string | undefined, extra: string[]): string {
    const lines = [`HTTP/1.0 ${status} ${REASONS[status] ?? ''}`, `Server: ${this.server}`, 'Connection: Close',
      `Date: ${new Date(this.now()).toUTCString()}`]
    if (contentType) lines.push(`Content-Type: ${contentType}`)
    lines.push(...COMMON_HEADERS, ...CORS, ...extra)
    return lines.join('\r\n') + '\r\n\r\n'
  }

  reply (socket: Socket, status: number, contentType: string | undefined, body: string, extra: string[] = [], headOnly = false): void {
    if (socket.destroyed) return
    const b = Buffer.from(body)
    socket.end(Buffer.concat([Buffer.from(this.head(status, contentType, [...extra, `Content-Length: ${b.length}`])), headOnly ? Buffer.alloc(0) : b]))
  }

  /**
   * Read one request head from a fresh socket and hand it to `route`; answer 408,
   * 431 or 400 when it is late, too long or not HTTP.
   */
  readRequest (socket: Socket, route: (req: Request) => void): void {
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
      route(req)
    }
    const done = (): void => { clearTimeout(timeout); socket.off('data', onData) }
    socket.on('data', onData)
    socket.on('close', () => clearTimeout(timeout))
  }
}
