// Read one HTTP/1.x request head from a socket with bounds on its size, its number of
// header lines and the time it may take; the bytes after the head (a source's first
// body bytes) come back with it, never lost.
import type { Socket } from 'node:net'
import { parseRequestHead } from '../icecast/request.js'

/** a head longer than this is refused (431), as icecast2 refuses past its 8 KiB buffer */
export const MAX_HEAD_BYTES = 8192
export const MAX_HEADER_LINES = 64

export interface LiveRequest {
  method: string
  /** target as sent (`*` for OPTIONS *), percent-decoded, without the query */
  path: string
  query: URLSearchParams
  version: string
  headers: Map<string, string>
}

export type HeadResult =
  | { ok: true, req: LiveRequest, rest: Buffer }
  | { ok: false, status: 400 | 408 | 431, why: string }
  | { ok: false, status: 0, why: string }

/** The head parser pc-icecast uses; the query comes back parsed, and only HTTP/1.x is taken. */
export function parseHead (head: string): LiveRequest | undefined {
  const r = parseRequestHead(head)
  if (!r || !/^HTTP\/1\.[01]$/.test(r.version)) return undefined
  return { ...r, query: new URLSearchParams(r.query) }
}

/** Wait for a complete head; `status: 0` means the peer went away first. */
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
      if (end < 0) return
      const req = parseHead(buf.subarray(0, end).toString('latin1'))
      if (!req) { finish({ ok: false, status: 400, why: 'bad request' }); return }
      finish({ ok: true, req, rest: buf.subarray(end + sep) })
    }
    socket.on('data', onData)
    socket.on('close', onClose)
  })
}
