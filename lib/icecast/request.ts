// The HTTP/1.0 side of pc-icecast, the way icecast2 2.4 speaks it: read a request
// head from a socket (lib/core/http-head.ts), and write an answer head
// with icecast2's cache and CORS headers.
import type { Socket } from 'node:net'
import { readHead, type RequestHead } from '../core/http-head.js'

export const SERVER_ID = 'Icecast 2.4.4'
/** a client that has not finished its request head by then is disconnected */
export const HEAD_TIMEOUT_MS = 10_000

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
   * 431 or 400 when it is late, too long or not HTTP. A player sends no body: what
   * follows its head is read and dropped, so that its closing is seen.
   */
  readRequest (socket: Socket, route: (req: RequestHead) => void): void {
    void readHead(socket, HEAD_TIMEOUT_MS).then(r => {
      if (r.ok) { socket.resume(); route(r.req); return }
      if (r.status !== 0) this.reply(socket, r.status, 'text/plain; charset=utf-8', `${r.why}\n`)
    })
  }
}
