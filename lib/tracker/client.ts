// The tracker client pc-fetch uses: BitTorrent HTTP announce and scrape (BEP 3, compact
// peers BEP 23, IPv6 peers BEP 7, scrape convention BEP 48), against pc-tracker or any
// stock tracker such as opentracker; and the pc-tracker gateway's /hashtree.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIPv4, isIPv6 } from 'node:net'
import { DataError, NoInputError, UnavailableError } from '../core/errors.js'
import { decode, dictGet, getBytes, getInt, getString, type BValue } from './bencode.js'

export interface Peer { host: string, port: number }
export interface AnnounceParams {
  /** http://HOST:PORT/announce, as given to --tracker */
  announceUrl: string
  /** 20 bytes (lib/hashtree.ts infoHash(root)) */
  infoHash: Buffer
  /** 20 bytes */
  peerId: Buffer
  /** our listening port */
  port: number
  uploaded: number
  downloaded: number
  left: number
  event?: 'started' | 'completed' | 'stopped'
  numwant?: number
  signal?: AbortSignal
  /** default TIMEOUT_MS */
  timeoutMs?: number
}
export interface AnnounceResult {
  /** seconds */
  interval: number
  minInterval?: number
  peers: Peer[]
  complete?: number
  incomplete?: number
  warning?: string
}
export interface ScrapeEntry { complete: number, incomplete: number, downloaded: number }

export const TIMEOUT_MS = 10_000
/** Tracker answers larger than this are refused (200 compact peers take 1.2 kB). */
export const MAX_ANSWER_BYTES = 1024 * 1024
/** A tree text over this is refused: 2M leaves, 256 GiB at the default chunk size. */
export const MAX_TREE_TEXT_BYTES = 128 * 1024 * 1024
/** Used when a tracker names no interval; intervals are clamped to this range. */
export const DEFAULT_INTERVAL_S = 60
export const MIN_INTERVAL_S = 1
export const MAX_INTERVAL_S = 24 * 3600
/** A dictionary peer list longer than this is cut (a tracker caps numwant far lower). */
export const MAX_PEERS = 1000

/** Percent-encode raw bytes for a query string (BEP 3: info_hash and peer_id are binary). */
export function escapeBytes (b: Buffer): string {
  let s = ''
  for (const c of b) {
    // unreserved characters (RFC 3986 §2.3) stay as they are
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e) s += String.fromCharCode(c)
    else s += '%' + c.toString(16).toUpperCase().padStart(2, '0')
  }
  return s
}

function checkId (b: Buffer, what: string): void {
  if (!Buffer.isBuffer(b) || b.length !== 20) throw new RangeError(`${what} must be 20 bytes`)
}

function withQuery (base: string, query: string): string {
  return base + (base.includes('?') ? '&' : '?') + query
}

export function announceQuery (p: AnnounceParams): string {
  checkId(p.infoHash, 'infoHash')
  checkId(p.peerId, 'peerId')
  const q = [
    `info_hash=${escapeBytes(p.infoHash)}`, `peer_id=${escapeBytes(p.peerId)}`, `port=${p.port}`,
    `uploaded=${Math.max(0, Math.floor(p.uploaded))}`, `downloaded=${Math.max(0, Math.floor(p.downloaded))}`,
    `left=${Math.max(0, Math.floor(p.left))}`, 'compact=1',
  ]
  if (p.event) q.push(`event=${p.event}`)
  if (p.numwant !== undefined) q.push(`numwant=${Math.max(0, Math.floor(p.numwant))}`)
  return q.join('&')
}

export async function announce (p: AnnounceParams): Promise<AnnounceResult> {
  const url = withQuery(p.announceUrl, announceQuery(p))
  const { status, body } = await get(url, p.announceUrl, MAX_ANSWER_BYTES, p.timeoutMs ?? TIMEOUT_MS, p.signal)
  const d = trackerAnswer(status, body, p.announceUrl)
  return parseAnnounce(d, p.announceUrl)
}

/** Interpret a decoded announce answer (exported for the tests and the server's own checks). */
export function parseAnnounce (d: BValue, where: string): AnnounceResult {
  const clamp = (n: number): number => Math.min(MAX_INTERVAL_S, Math.max(MIN_INTERVAL_S, n))
  const interval = getInt(d, 'interval')
  const minInterval = getInt(d, 'min interval')
  const peers: Peer[] = []
  const compact = dictGet(d, 'peers')
  if (Buffer.isBuffer(compact)) {
    if (compact.length % 6 !== 0) throw new DataError(`compact peers are ${compact.length} bytes, not a multiple of 6`, where)
    for (let i = 0; i < compact.length && peers.length < MAX_PEERS; i += 6) {
      addPeer(peers, `${compact[i]}.${compact[i + 1]}.${compact[i + 2]}.${compact[i + 3]}`, compact.readUInt16BE(i + 4))
    }
  } else if (Array.isArray(compact)) {
    for (const e of compact) {
      if (peers.length >= MAX_PEERS) break
      const ip = getString(e, 'ip')
      const port = getInt(e, 'port')
      if (ip !== undefined && port !== undefined) addPeer(peers, ip, port)
    }
  } else if (compact !== undefined) {
    throw new DataError('peers is neither a string nor a list', where)
  }
  const peers6 = dictGet(d, 'peers6')
  if (Buffer.isBuffer(peers6)) {
    if (peers6.length % 18 !== 0) throw new DataError(`peers6 is ${peers6.length} bytes, not a multiple of 18`, where)
    for (let i = 0; i < peers6.length && peers.length < MAX_PEERS; i += 18) {
      addPeer(peers, formatIPv6(peers6.subarray(i, i + 16)), peers6.readUInt16BE(i + 16))
    }
  }
  const r: AnnounceResult = { interval: clamp(interval !== undefined && interval > 0 ? interval : DEFAULT_INTERVAL_S), peers }
  if (minInterval !== undefined && minInterval > 0) r.minInterval = clamp(minInterval)
  const complete = getInt(d, 'complete')
  const incomplete = getInt(d, 'incomplete')
  if (complete !== undefined && complete >= 0) r.complete = complete
  if (incomplete !== undefined && incomplete >= 0) r.incomplete = incomplete
  const warning = getString(d, 'warning message')
  if (warning !== undefined) r.warning = warning
  return r
}

function addPeer (peers: Peer[], host: string, port: number): void {
  // A port of 0 or a host that is not an address cannot be dialled: skip it.
  if (port < 1 || port > 65535) return
  if (!isIPv4(host) && !isIPv6(host)) return
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  peers.push({ host: v4 ? v4[1] : host, port })
}

/** 16 bytes → canonical IPv6 text (RFC 5952: longest zero run compressed). */
export function formatIPv6 (b: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i))
  let bestAt = -1; let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestAt = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestAt < 0) return hex.join(':')
  return hex.slice(0, bestAt).join(':') + '::' + hex.slice(bestAt + bestLen).join(':')
}

/** The scrape URL a tracker implies (BEP 48): the last `announce` in the path becomes `scrape`. */
export function scrapeUrl (announceUrl: string): string | undefined {
  const u = new URL(announceUrl)
  const i = u.pathname.lastIndexOf('/')
  const last = u.pathname.slice(i + 1)
  if (!last.startsWith('announce')) return undefined
  u.pathname = u.pathname.slice(0, i + 1) + 'scrape' + last.slice('announce'.length)
  return u.href
}

export async function scrape (announceUrl: string, infoHashes: Buffer[], opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Map<string, ScrapeEntry>> {
  const base = scrapeUrl(announceUrl)
  if (base === undefined) throw new UnavailableError('tracker does not support scrape (its path does not end in announce)', announceUrl)
  for (const h of infoHashes) checkId(h, 'infoHash')
  const url = infoHashes.length ? withQuery(base, infoHashes.map(h => `info_hash=${escapeBytes(h)}`).join('&')) : base
  const { status, body } = await get(url, announceUrl, MAX_ANSWER_BYTES, opts.timeoutMs ?? TIMEOUT_MS, opts.signal)
  const d = trackerAnswer(status, body, announceUrl)
  const files = dictGet(d, 'files')
  const out = new Map<string, ScrapeEntry>()
  if (files === undefined) return out
  if (!(files instanceof Map)) throw new DataError('scrape files is not a dictionary', announceUrl)
  for (const [k, v] of files) {
    const key = Buffer.from(k, 'latin1')
    if (key.length !== 20) continue
    const n = (f: string): number => Math.max(0, getInt(v, f) ?? 0)
    out.set(key.toString('hex'), { complete: n('complete'), incomplete: n('incomplete'), downloaded: n('downloaded') })
  }
  return out
}

/** The gateway's hash tree text for a media URL, from the tracker's origin (pc-tracker --gateway). */
export async function fetchGatewayTree (announceUrl: string, mediaUrl: string, opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<string> {
  let url: string
  try { url = new URL(`/hashtree?url=${encodeURIComponent(mediaUrl)}`, announceUrl).href } catch { throw new NoInputError('not a URL', announceUrl) }
  // The gateway may have to fetch the whole item first: allow it more time than an announce.
  const { status, body } = await get(url, url, MAX_TREE_TEXT_BYTES, opts.timeoutMs ?? 6 * TIMEOUT_MS, opts.signal)
  const text = body.toString('utf8')
  const why = text.split('\n')[0].slice(0, 200)
  if (status === 404 || status === 403 || status === 400) throw new NoInputError(`gateway: HTTP ${status}${why ? ': ' + why : ''}`, mediaUrl)
  if (status !== 200) throw new UnavailableError(`gateway: HTTP ${status}${why ? ': ' + why : ''}`, mediaUrl)
  return text
}

/** A bencoded answer: a failure reason is the tracker refusing (69), garbage is bad data (65). */
function trackerAnswer (status: number, body: Buffer, where: string): BValue {
  let d: BValue
  try {
    d = decode(body, where)
  } catch (e) {
    if (status !== 200) throw new UnavailableError(`tracker: HTTP ${status}`, where)
    throw e
  }
  if (!(d instanceof Map)) {
    if (status !== 200) throw new UnavailableError(`tracker: HTTP ${status}`, where)
    throw new DataError('tracker answer is not a dictionary', where)
  }
  const failure = getBytes(d, 'failure reason')
  if (failure !== undefined) throw new UnavailableError(`tracker: ${failure.toString('utf8')}`, where)
  if (status !== 200) throw new UnavailableError(`tracker: HTTP ${status}`, where)
  return d
}

/**
 * A GET with a whole-request deadline and a body cap. node:http rather than fetch:
 * the cap is enforced while reading, and no redirect is followed to another host.
 */
function get (url: string, where: string, maxBytes: number, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number, body: Buffer }> {
  let u: URL
  try { u = new URL(url) } catch { return Promise.reject(new UnavailableError('not a URL', where)) }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new UnavailableError(`unsupported tracker scheme ${u.protocol}`, where))
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    let done = false
    const finish = (e: unknown, v?: { status: number, body: Buffer }): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (e) { req.destroy(); reject(e) } else resolve(v as { status: number, body: Buffer })
    }
    const onAbort = (): void => finish(signal?.reason ?? new Error('aborted'))
    const timer = setTimeout(() => finish(new UnavailableError(`no answer within ${timeoutMs} ms`, where)), timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', agent: false, headers: { 'user-agent': 'pc', accept: '*/*', connection: 'close' } }, (res: IncomingMessage) => {
      const parts: Buffer[] = []
      let n = 0
      res.on('data', (d: Buffer) => {
        n += d.length
        if (n > maxBytes) { finish(new DataError(`answer larger than ${maxBytes} bytes`, where)); return }
        parts.push(d)
      })
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
      res.on('error', (e) => finish(new UnavailableError(`cannot fetch: ${(e as NodeJS.ErrnoException).code ?? e.message}`, where)))
    })
    req.on('error', (e) => finish(new UnavailableError(`cannot fetch: ${(e as NodeJS.ErrnoException).code ?? e.message}`, where)))
    req.end()
  })
}
