// --pull: read an existing Icecast or Shoutcast mount as a listener would, titles
// included (ICY metadata), and feed the show; reconnect with backoff when it drops.
// Raw sockets, because a Shoutcast 1 server answers `ICY 200 OK`, which an HTTP
// client refuses.
import { connect as tcpConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { IcyReader } from '../icecast/icy.js'
import { parseHeaderLines } from '../core/http-head.js'
import type { LiveStation } from './station.js'

export const PULL_BACKOFF_MIN_MS = 1000
export const PULL_BACKOFF_MAX_MS = 30_000
export const MAX_REDIRECTS = 5
const MAX_REPLY_HEAD_BYTES = 16 * 1024

export interface PullOptions {
  station: LiveStation
  signal: AbortSignal
  /** no byte for this long: the connection is dropped and made again */
  idleTimeoutMs: number
  userAgent: string
  warn: (m: string) => void
  verbose?: (m: string) => void
}

interface Reply { status: number, headers: Map<string, string>, socket: Socket, rest: Buffer }

function open (url: URL, userAgent: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80))
    const socket = url.protocol === 'https:' ? tlsConnect({ host: url.hostname, port, servername: url.hostname }) : tcpConnect({ host: url.hostname, port })
    const auth = url.username ? `Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n` : ''
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${url.host}\r\nUser-Agent: ${userAgent}\r\nIcy-MetaData: 1\r\nAccept: */*\r\n${auth}\r\n`)
    let buf: Buffer = Buffer.alloc(0)
    const fail = (e: Error): void => { socket.destroy(); reject(e) }
    const timer = setTimeout(() => fail(new Error('no answer within 10 s')), 10_000)
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) { if (buf.length > MAX_REPLY_HEAD_BYTES) fail(new Error('answer head too large')); return }
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
      const text = buf.subarray(0, end).toString('latin1')
      const m = /^(?:HTTP\/1\.[01]|ICY) (\d{3})/.exec(text)
      const headers = parseHeaderLines(text.split('\r\n').slice(1))
      if (!m || !headers) { fail(new Error('not an HTTP or ICY answer')); return }
      resolve({ status: Number(m[1]), headers, socket, rest: buf.subarray(end + 4) })
    }
    socket.on('data', onData)
    socket.on('error', e => { clearTimeout(timer); reject(e) })
    socket.on('close', () => { clearTimeout(timer); reject(new Error('closed before answering')) })
  })
}

/** Follow the mount until the signal aborts. */
export async function pullLoop (spec: string, opts: PullOptions): Promise<void> {
  let backoff = PULL_BACKOFF_MIN_MS
  while (!opts.signal.aborted) {
    const began = Date.now()
    try {
      await pullOnce(spec, opts)
    } catch (e) {
      opts.warn(`pull ${spec}: ${(e as Error).message}`)
    }
    if (opts.signal.aborted) break
    if (Date.now() - began > 10_000) backoff = PULL_BACKOFF_MIN_MS
    opts.verbose?.(`pull ${spec}: reconnecting in ${backoff} ms`)
    await new Promise<void>(resolve => {
      const t = setTimeout(resolve, backoff)
      opts.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
    })
    backoff = Math.min(PULL_BACKOFF_MAX_MS, backoff * 2)
  }
}

async function pullOnce (spec: string, opts: PullOptions): Promise<void> {
  let url = new URL(spec)
  let r: Reply
  for (let hops = 0; ; hops++) {
    r = await open(url, opts.userAgent)
    const loc = r.headers.get('location')
    if (r.status >= 300 && r.status < 400 && loc && hops < MAX_REDIRECTS) { r.socket.destroy(); url = new URL(loc, url); continue }
    break
  }
  const { socket } = r
  if (r.status !== 200) { socket.destroy(); throw new Error(`HTTP ${r.status}`) }
  const station = opts.station
  const metaint = Number(r.headers.get('icy-metaint'))
  const icy = Number.isInteger(metaint) && metaint > 0 ? new IcyReader(metaint, m => { if ('StreamTitle' in m) station.setTitle(m.StreamTitle) }) : undefined
  opts.verbose?.(`pull ${spec}: connected (${r.headers.get('content-type') ?? 'no content type'})`)
  station.sourceBegin(r.headers.get('content-type'))
  let last = Date.now()
  await new Promise<void>((resolve) => {
    const idle = setInterval(() => { if (Date.now() - last > opts.idleTimeoutMs) { opts.warn(`pull ${spec}: nothing for ${opts.idleTimeoutMs} ms`); socket.destroy() } }, 250)
    const feed = (d: Buffer): void => {
      last = Date.now()
      for (const p of icy ? icy.push(d) : [d]) {
        const wait = station.push(p)
        if (wait) { socket.pause(); void wait.then(() => socket.resume()) }
      }
    }
    const stop = (): void => { socket.destroy() }
    opts.signal.addEventListener('abort', stop, { once: true })
    socket.on('data', feed)
    socket.once('close', () => { clearInterval(idle); opts.signal.removeEventListener('abort', stop); resolve() })
    if (r.rest.length) feed(r.rest)
    socket.resume()
  })
  station.sourceEnd()
  if (!opts.signal.aborted) opts.warn(`pull ${spec}: the mount dropped`)
}
