// One HTTP/1.x request head read from a socket, for the two servers that speak HTTP on raw
// sockets the way icecast2 does (pc-icecast to players, pc-live to source clients): bounded
// in size, in header lines and in time; the bytes after the head (a source's first body
// bytes) come back with it, never lost.
import type { Socket } from 'node:net'

/** a head longer than this is refused (431), as icecast2 refuses past its 8 KiB buffer */
export const MAX_HEAD_BYTES = 8192
export const MAX_HEADER_LINES = 64

/** what may come before the first space of a request line (a method is a token, RFC 9110 5.6.2) */
const METHOD_PREFIX = /^[-!#$%&'*+.^_`|~0-9A-Za-z]{0,32}$/

/**
 * Whether the first bytes of a connection can still begin an HTTP request line. A peer
 * dialling a server that is not a peer (the wire's handshake starts `PCWIRE\0`), a TLS
 * hello or a stray binary protocol is answered 400 at once instead of holding a socket
 * until the head timeout.
 */
export function mayBeRequestLine (buf: Buffer): boolean {
  const sp = buf.indexOf(32)
  return METHOD_PREFIX.test(buf.subarray(0, sp < 0 ? Math.min(buf.length, 33) : sp).toString('latin1'))
}

export interface RequestHead {
  method: string
  /** target as sent (`*` for OPTIONS *), percent-decoded, without the query */
  path: string
  query: URLSearchParams
  /** as sent, e.g. HTTP/1.0; the server decides which it takes */
  version: string
  /** header names in lower case */
  headers: Map<string, string>
}

export type HeadResult =
  | { ok: true, req: RequestHead, rest: Buffer }
  | { ok: false, status: 400 | 408 | 431, why: string }
  | { ok: false, status: 0, why: string }

/** Header lines (`Name: value`) into a map with lower-case names; undefined if one is malformed. */
export function parseHeaderLines (lines: string[]): Map<string, string> | undefined {
  const headers = new Map<string, string>()
  for (const line of lines) {
    if (line === '') continue
    const i = line.indexOf(':')
    if (i <= 0 || /\s/.test(line.slice(0, i))) return undefined
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim())
  }
  return headers
}

/** Parse a request head (up to the blank line). Undefined when it is not HTTP. */
export function parseRequestHead (head: string): RequestHead | undefined {
  const lines = head.split(/\r?\n/)
  const m = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0])
  if (!m) return undefined
  const headers = parseHeaderLines(lines.slice(1))
  if (headers === undefined) return undefined
  const q = m[2].indexOf('?')
  let path: string
  try { path = decodeURIComponent(q < 0 ? m[2] : m[2].slice(0, q)) } catch { return undefined }
  return { method: m[1], path, query: new URLSearchParams(q < 0 ? '' : m[2].slice(q + 1)), version: m[3], headers }
}

/**
 * Wait for a complete request head on a fresh socket; `status: 0` means the peer went
 * away first. On success the socket is paused, and `rest` holds what followed the head.
 */
export function readHead (socket: Socket, timeoutMs: number): Promise<HeadResult> {
  return new Promise(resolve => {
    let buf: Buffer = Buffer.alloc(0)
    const finish = (r: HeadResult): void => {
      clearTimeout(timer)
      socket.off('data', onData); socket.off('close', onClose)
      if (r.ok || r.status === 0) socket.pause()
      resolve(r)
    }
    const timer = setTimeout(() => finish({ ok: false, status: 408, why: 'request head timeout' }), timeoutMs)
    const onClose = (): void => finish({ ok: false, status: 0, why: 'closed' })
    const onData = (d: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, d]) : d
      let end = buf.indexOf('\r\n\r\n')
      let sep = 4
      const lf = buf.indexOf('\n\n')
      if (lf >= 0 && (end < 0 || lf < end)) { end = lf; sep = 2 }
      const headLen = end < 0 ? buf.length : end
      if (headLen > MAX_HEAD_BYTES) { finish({ ok: false, status: 431, why: 'request head too large' }); return }
      let lines = 0
      for (let i = buf.indexOf(10); i >= 0 && i < headLen; i = buf.indexOf(10, i + 1)) lines++
      if (lines > MAX_HEADER_LINES) { finish({ ok: false, status: 431, why: 'too many header lines' }); return }
      if (!mayBeRequestLine(buf)) { finish({ ok: false, status: 400, why: 'not an HTTP request' }); return }
      if (end < 0) return
      const req = parseRequestHead(buf.subarray(0, end).toString('latin1'))
      if (!req) { finish({ ok: false, status: 400, why: 'bad request' }); return }
      finish({ ok: true, req, rest: buf.subarray(end + sep) })
    }
    socket.on('data', onData)
    socket.on('close', onClose)
  })
}
