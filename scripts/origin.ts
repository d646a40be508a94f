// A static web server for tests and demos: serves DIR with HTTP Range (RFC 9110 §14),
// counts the body bytes it sends, and can misbehave the ways real servers do.
//
//   node dist/scripts/origin.js DIR [HOST:]PORT [MODE]
//
// Modes: range (correct), no-range (ignores Range: 200 and the whole body, no
// Accept-Ranges), whole (says Accept-Ranges but answers 200 with the whole body),
// wrong-range (206 whose Content-Range and body start one byte late), corrupt (flips
// one byte in every media body that covers the middle of the file; trees are left intact), slow (at most 256 KiB/s
// per response), flaky (every other request is a 503).
import { createServer, type Server, type ServerResponse } from 'node:http'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join, normalize, sep, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

export type OriginMode = 'range' | 'no-range' | 'whole' | 'wrong-range' | 'corrupt' | 'slow' | 'flaky'
export const MODES: OriginMode[] = ['range', 'no-range', 'whole', 'wrong-range', 'corrupt', 'slow', 'flaky']
const SLOW_BYTES_PER_S = 256 * 1024

export interface OriginServer {
  url: string
  port: number
  /** body bytes sent, in all or for one path (e.g. '/item.bin') */
  bytesSent: (path?: string) => number
  requests: () => number
  setMode: (m: OriginMode) => void
  close: () => Promise<void>
}

export async function startOrigin (o: { dir: string, host?: string, port?: number, mode?: OriginMode, log?: (line: string) => void }): Promise<OriginServer> {
  const root = resolve(o.dir)
  let mode: OriginMode = o.mode ?? 'range'
  let sent = 0
  const perPath = new Map<string, number>()
  let count = 0
  const server: Server = createServer((req, res) => {
    count++
    o.log?.(`${req.method ?? 'GET'} ${req.url ?? '/'} ${String(req.headers.range ?? '')}`)
    void handle(req.method ?? 'GET', req.url ?? '/', String(req.headers.range ?? ''), res).catch(() => res.destroy())
  })
  async function handle (method: string, url: string, range: string, res: ServerResponse): Promise<void> {
    if (mode === 'flaky' && count % 2 === 0) { res.writeHead(503, { 'content-length': 0 }); res.end(); return }
    const urlPath = decodeURIComponent(new URL(url, 'http://x').pathname)
    const path = normalize(join(root, urlPath))
    if (!path.startsWith(root + sep)) { res.writeHead(403, { 'content-length': 0 }); res.end(); return }
    let size: number
    try { const st = await stat(path); if (!st.isFile()) throw new Error('not a file'); size = st.size } catch {
      res.writeHead(404, { 'content-length': 0 }); res.end(); return
    }
    let start = 0; let end = size
    let status = 200
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' }
    if (mode !== 'no-range') headers['accept-ranges'] = 'bytes'
    const m = /^bytes=(\d*)-(\d*)$/.exec(range)
    if (m && mode !== 'no-range' && mode !== 'whole') {
      if (m[1] === '') { start = Math.max(0, size - Number(m[2])) } else { start = Number(m[1]); if (m[2] !== '') end = Math.min(size, Number(m[2]) + 1) }
      if (start >= size || start >= end) {
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': 0 }); res.end(); return
      }
      if (mode === 'wrong-range' && end < size) { start++; end++ }
      status = 206
      headers['content-range'] = `bytes ${start}-${end - 1}/${size}`
    }
    headers['content-length'] = end - start
    res.writeHead(status, headers)
    if (method === 'HEAD' || end === start) { res.end(); return }
    const flip = Math.floor(size / 2)
    let pos = start
    const stream = createReadStream(path, { start, end: end - 1, highWaterMark: mode === 'slow' ? 16 * 1024 : 64 * 1024 })
    for await (const d of stream as AsyncIterable<Buffer>) {
      if (mode === 'corrupt' && !path.endsWith('.hashtree') && flip >= pos && flip < pos + d.length) d[flip - pos] ^= 0xff
      pos += d.length
      sent += d.length
      perPath.set(urlPath, (perPath.get(urlPath) ?? 0) + d.length)
      if (!res.write(d)) await new Promise(resolve => res.once('drain', resolve))
      if (mode === 'slow') await new Promise(resolve => setTimeout(resolve, d.length * 1000 / SLOW_BYTES_PER_S))
      if (res.destroyed) { stream.destroy(); return }
    }
    res.end()
  }
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve) })
  const a = server.address()
  const port = typeof a === 'object' && a ? a.port : 0
  const host = o.host ?? '127.0.0.1'
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    port,
    bytesSent: (p?: string) => p === undefined ? sent : perPath.get(p) ?? 0,
    requests: () => count,
    setMode: (m) => { mode = m },
    close: () => new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() }),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [dir, hp, m] = process.argv.slice(2)
  if (!dir || !hp || (m && !MODES.includes(m as OriginMode))) {
    process.stderr.write(`usage: origin.js DIR [HOST:]PORT [${MODES.join('|')}]\n`)
    process.exitCode = 64
  } else {
    const mm = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(hp)
    const s = await startOrigin({ dir, host: mm?.[1] || '127.0.0.1', port: Number(mm?.[2] ?? 0), mode: (m as OriginMode) ?? 'range' })
    process.stderr.write(`origin: serving ${dir} at ${s.url} (${m ?? 'range'})\n`)
    const stop = (): void => { process.stderr.write(`origin: sent ${s.bytesSent()} bytes in ${s.requests()} requests\n`); void s.close() }
    process.on('SIGINT', stop); process.on('SIGTERM', stop)
  }
}
