// pc-tracker's HTTP face: /announce and /scrape in the BitTorrent tracker protocol,
// /stats as JSON, / as a small status page, /hashtree from the gateway. Every request is
// bounded (URL length, header size, time); a malformed announce gets a bencoded
// `failure reason` with HTTP 200, as BitTorrent clients expect, never a crash.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { listenOn } from '../core/listen.js'
import { encode } from './bencode.js'
import { Swarms, TrackerFailure, DEFAULT_NUMWANT, MAX_NUMWANT, type Announce, type AnnounceEvent } from './swarms.js'
import { GatewayError, type Gateway } from './gateway.js'

/** Longest request target accepted; a scrape of 50 info-hashes fits. */
export const MAX_URL_CHARS = 4096
/** Request line plus headers (node's limit, lowered from 16 KiB). */
export const MAX_HEADER_BYTES = 8192
/** info-hashes one scrape may name */
export const MAX_SCRAPE_HASHES = 64
/** a request (headers included) must arrive within this */
export const REQUEST_TIMEOUT_MS = 10_000
export const MAX_CONNECTIONS = 4096

export interface TrackerServerOptions {
  swarms: Swarms
  gateway?: Gateway
  /** called for each announce/scrape when verbose */
  log?: (msg: string) => void
  now?: () => number
}

/** Decode a query string into raw bytes per key (info_hash and peer_id are binary). */
export function parseQuery (qs: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>()
  if (qs === '') return out
  for (const part of qs.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const k = unescapeBytes(eq < 0 ? part : part.slice(0, eq)).toString('latin1')
    const v = unescapeBytes(eq < 0 ? '' : part.slice(eq + 1))
    const list = out.get(k)
    if (list) list.push(v); else out.set(k, [v])
  }
  return out
}

function unescapeBytes (s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length)
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x25) { // %
      const h = s.slice(i + 1, i + 3)
      if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new TrackerFailure(`bad percent-encoding near '${s.slice(i, i + 3)}'`)
      out[n++] = parseInt(h, 16)
      i += 2
    } else if (c === 0x2b) out[n++] = 0x20 // + is a space in form encoding
    else if (c > 0x7e || c < 0x20) throw new TrackerFailure('unencoded byte in query')
    else out[n++] = c
  }
  return out.subarray(0, n)
}

function one (q: Map<string, Buffer[]>, key: string): Buffer | undefined {
  const v = q.get(key)
  if (v && v.length > 1) throw new TrackerFailure(`${key} given more than once`)
  return v?.[0]
}

function required (q: Map<string, Buffer[]>, key: string): Buffer {
  const v = one(q, key)
  if (v === undefined) throw new TrackerFailure(`missing ${key}`)
  return v
}

/** A non-negative decimal count of bytes, within the safe integer range. */
function count (q: Map<string, Buffer[]>, key: string): number {
  const s = required(q, key).toString('latin1')
  if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) throw new TrackerFailure(`${key} is not a byte count: '${s.slice(0, 24)}'`)
  return Number(s)
}

function isLoopback (ip: string): boolean { return ip === '::1' || ip.startsWith('127.') }

export function normalizeIp (ip: string): string {
  ip = ip.replace(/%.*$/, '') // a link-local zone (fe80::1%eth0) means nothing to other hosts
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  return m ? m[1] : ip
}

/**
 * Read an announce's parameters. `remoteIp` is the socket's peer address; an `ip`
 * parameter is believed only from loopback (a local proxy or a test), since from
 * anywhere else it would let one host list another's address.
 */
export function parseAnnounceQuery (q: Map<string, Buffer[]>, remoteIp: string): Announce {
  const infoHash = required(q, 'info_hash')
  if (infoHash.length !== 20) throw new TrackerFailure(`info_hash is ${infoHash.length} bytes, not 20`)
  const peerId = required(q, 'peer_id')
  if (peerId.length !== 20) throw new TrackerFailure(`peer_id is ${peerId.length} bytes, not 20`)
  const portText = required(q, 'port').toString('latin1')
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0
  if (port < 1 || port > 65535) throw new TrackerFailure(`port is not 1..65535: '${portText.slice(0, 24)}'`)
  const event = (one(q, 'event')?.toString('latin1') ?? '') as AnnounceEvent
  if (!['', 'started', 'completed', 'stopped', 'paused'].includes(event)) throw new TrackerFailure(`unknown event '${event.slice(0, 24)}'`)
  const nw = one(q, 'numwant')?.toString('latin1')
  // Clients send -1 or nothing for "the default"; anything large is capped, not refused.
  const numwant = nw === undefined || !/^\d+$/.test(nw) ? DEFAULT_NUMWANT : (nw.length > 6 ? MAX_NUMWANT : Math.min(MAX_NUMWANT, Number(nw)))
  let ip = normalizeIp(remoteIp)
  const asked = one(q, 'ip')?.toString('latin1')
  if (asked !== undefined && isLoopback(ip) && isIP(asked)) ip = normalizeIp(asked)
  return {
    infoHash, peerId, ip, port,
    uploaded: count(q, 'uploaded'), downloaded: count(q, 'downloaded'), left: count(q, 'left'),
    event, numwant,
    compact: one(q, 'compact')?.toString('latin1') !== '0',
    noPeerId: one(q, 'no_peer_id')?.toString('latin1') === '1',
  }
}

export function createTrackerServer (opts: TrackerServerOptions): Server {
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    handle(opts, req, res).catch((e: unknown) => {
      // A bug in a handler must not take the tracker down: answer 500 and go on.
      opts.log?.(`internal error: ${(e as Error)?.stack ?? String(e)}`)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('internal error\n')
    })
  })
  server.maxConnections = MAX_CONNECTIONS
  server.keepAliveTimeout = 5000
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`)
    else socket.destroy()
  })
  return server
}

function bencoded (res: ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'cache-control': 'no-store' })
  res.end(body)
}

function failure (res: ServerResponse, reason: string): void {
  bencoded(res, encode({ 'failure reason': reason }))
}

function text (res: ServerResponse, status: number, type: string, body: string): void {
  const b = Buffer.from(body, 'utf8')
  res.writeHead(status, { 'content-type': type, 'content-length': b.length, 'cache-control': 'no-store' })
  res.end(b)
}

async function handle (opts: TrackerServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { swarms } = opts
  const target = req.url ?? '/'
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  const qs = q < 0 ? '' : target.slice(q + 1)
  const tracker = path === '/announce' || path === '/scrape'
  if (req.method !== 'GET' && req.method !== 'HEAD') { text(res, 405, 'text/plain', 'only GET\n'); return }
  if (target.length > MAX_URL_CHARS) {
    if (tracker) { swarms.failures++; failure(res, `request longer than ${MAX_URL_CHARS} characters`) } else text(res, 414, 'text/plain', 'URI too long\n')
    return
  }
  const remote = req.socket.remoteAddress ?? ''
  if (path === '/announce') {
    try {
      const a = parseAnnounceQuery(parseQuery(qs), remote)
      const answer = swarms.announce(a)
      opts.log?.(`announce ${a.infoHash.toString('hex')} ${a.ip}:${a.port}${a.event ? ' ' + a.event : ''} left ${a.left}`)
      bencoded(res, encode(answer))
    } catch (e) {
      if (!(e instanceof TrackerFailure)) throw e
      swarms.failures++
      opts.log?.(`announce from ${normalizeIp(remote)}: ${e.message}`)
      failure(res, e.message)
    }
  } else if (path === '/scrape') {
    try {
      const hashes = parseQuery(qs).get('info_hash') ?? []
      if (hashes.length > MAX_SCRAPE_HASHES) throw new TrackerFailure(`more than ${MAX_SCRAPE_HASHES} info_hash values`)
      for (const h of hashes) if (h.length !== 20) throw new TrackerFailure(`info_hash is ${h.length} bytes, not 20`)
      bencoded(res, encode(swarms.scrape(hashes)))
    } catch (e) {
      if (!(e instanceof TrackerFailure)) throw e
      swarms.failures++
      failure(res, e.message)
    }
  } else if (path === '/stats') {
    text(res, 200, 'application/json', JSON.stringify(stats(opts)) + '\n')
  } else if (path === '/' || path === '/index.html') {
    text(res, 200, 'text/html; charset=utf-8', statusPage(stats(opts)))
  } else if (path === '/hashtree') {
    if (!opts.gateway) { text(res, 404, 'text/plain', 'this tracker is not a gateway (pc-tracker --gateway)\n'); return }
    let url: string | undefined
    try { url = new URLSearchParams(qs).get('url') ?? undefined } catch { url = undefined }
    if (!url) { text(res, 400, 'text/plain', 'missing url parameter\n'); return }
    try {
      const tree = await opts.gateway.tree(url)
      text(res, 200, 'text/plain; charset=utf-8', tree)
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e
      opts.log?.(`hashtree ${url}: ${e.message}`)
      text(res, e.status, 'text/plain', e.message + '\n')
    }
  } else {
    text(res, 404, 'text/plain', 'not found\n')
  }
}

export interface TrackerStats {
  intervalS: number
  peers: number
  announces: number
  scrapes: number
  failures: number
  limits: { maxSwarms: number, maxPeers: number, whitelist: number | null }
  swarms: ReturnType<Swarms['stats']>
  gateway?: ReturnType<Gateway['stats']>
}

export function stats (opts: TrackerServerOptions): TrackerStats {
  const s = opts.swarms
  const out: TrackerStats = {
    intervalS: s.limits.intervalS, peers: s.peerCount, announces: s.announces, scrapes: s.scrapes, failures: s.failures,
    limits: { maxSwarms: s.limits.maxSwarms, maxPeers: s.limits.maxPeers, whitelist: s.limits.whitelist?.size ?? null },
    swarms: s.stats(),
  }
  if (opts.gateway) out.gateway = opts.gateway.stats()
  return out
}

function esc (s: string): string {
  return s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
}

function bytes (n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ }
  return `${i ? n.toFixed(1) : n} ${u[i]}`
}

/** The status page: self-contained HTML (no scripts, no external assets), refreshed by the browser. */
export function statusPage (st: TrackerStats): string {
  const rows = st.swarms.map(s => `<tr><td><code>${esc(s.infoHash)}</code></td><td>${s.seeders}</td><td>${s.leechers}</td><td>${s.completed}</td><td>${esc(bytes(s.uploadedBytes))}</td><td>${esc(bytes(s.downloadedBytes))}</td></tr>`)
  const gw = st.gateway ? `<p>Gateway: ${st.gateway.entries} trees cached, ${st.gateway.fetches} fetched from origins, ${st.gateway.hits} served from cache, ${st.gateway.inFlight} fetching now.</p>` : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>pc-tracker</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ccc;text-align:right}td:first-child,th:first-child{text-align:left}</style>
</head><body>
<h1>pc-tracker</h1>
<p>${st.swarms.length} swarms, ${st.peers} peers; ${st.announces} announces, ${st.scrapes} scrapes, ${st.failures} refused. Interval ${st.intervalS} s. <a href="/stats">JSON</a></p>
<table><thead><tr><th>info-hash</th><th>seeders</th><th>leechers</th><th>completed</th><th>uploaded</th><th>downloaded</th></tr></thead>
<tbody>${rows.join('\n') || '<tr><td colspan="6">no swarms</td></tr>'}</tbody></table>
${gw}
</body></html>
`
}

/**
 * Listen on host:port; an empty host means every interface, IPv6 and IPv4 together
 * where the system allows it, else IPv4 only. EADDRINUSE and the like → UnavailableError.
 */
export async function listenTracker (server: Server, host: string, port: number): Promise<{ host: string, port: number }> {
  if (host !== '') return await listenOn(server, port, host)
  try { return await listenOn(server, port, '::', `*:${port}`) } catch (e) {
    const code = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e
    return await listenOn(server, port, '0.0.0.0', `*:${port}`)
  }
}

/** The announce URL to print: the bound address, or loopback for a wildcard bind. */
export function announceUrlFor (addr: { host: string, port: number }): string {
  const h = addr.host === '::' || addr.host === '0.0.0.0' ? '127.0.0.1' : addr.host
  return `http://${h.includes(':') ? `[${h}]` : h}:${addr.port}/announce`
}
