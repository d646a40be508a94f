// The hash-tree gateway (the role Alluvium's OCN gateway played): for media that has no
// published tree, fetch the URL once, build its tree and serve it to every listener who
// asks, so none of them has to download the whole item from the origin first.
// Only URLs under the configured prefixes are fetched: an open gateway would let anyone
// make this host request arbitrary addresses (server-side request forgery).
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fetchUrl } from '../core/http.js'
import { hashStream, formatTree, parseTree, CHUNK_BYTES } from '../hashing/hashtree.js'
import { DataError, NoInputError, PcError } from '../core/errors.js'

/** Origins fetched at once; further requests for other URLs wait in a queue of this many. */
export const MAX_CONCURRENT_FETCHES = 4
export const MAX_QUEUED_FETCHES = 256
export const MAX_REDIRECTS = 5
/** The whole item must arrive within this (a 1 GiB file at 2 MB/s). */
export const FETCH_TIMEOUT_MS = 10 * 60_000
export const MAX_URL_CHARS = 2048

export class GatewayError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

export interface GatewayOptions {
  /** URL prefixes allowed; see allowedBy() */
  allow: string[]
  /** trees kept in memory */
  maxEntries: number
  /** optional directory keeping trees across restarts */
  cacheDir?: string
  chunkSize?: number
  timeoutMs?: number
  signal?: AbortSignal
}

interface Prefix { origin: string, path: string }

function parsePrefix (p: string): Prefix {
  let u: URL
  try { u = new URL(p) } catch { throw new RangeError(`not a URL prefix: '${p}'`) }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`not an http(s) prefix: '${p}'`)
  if (u.username || u.password) throw new RangeError(`prefix with credentials: '${p}'`)
  return { origin: u.origin, path: u.pathname }
}

/**
 * Whether `url` is under one of the prefixes: the same scheme, host and port exactly,
 * and a path that starts with the prefix's path. Matching parsed URLs, not strings,
 * means `http://radio.example` does not admit `http://radio.example.evil.net/`.
 */
export function allowedBy (prefixes: string[], url: string): boolean {
  return matches(prefixes.map(parsePrefix), url)
}

function matches (prefixes: Prefix[], url: string): boolean {
  let u: URL
  try { u = new URL(url) } catch { return false }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password) return false
  return prefixes.some(p => p.origin === u.origin && u.pathname.startsWith(p.path))
}

export class Gateway {
  private readonly prefixes: Prefix[]
  private readonly cache = new Map<string, string>()
  private readonly inFlight = new Map<string, Promise<string>>()
  private running = 0
  private readonly queue: (() => void)[] = []
  private fetches = 0
  private hits = 0

  constructor (private readonly opts: GatewayOptions) {
    if (!opts.allow.length) throw new RangeError('a gateway needs at least one allowed URL prefix')
    this.prefixes = opts.allow.map(parsePrefix)
  }

  stats (): { entries: number, inFlight: number, fetches: number, hits: number, allow: string[] } {
    return { entries: this.cache.size, inFlight: this.inFlight.size, fetches: this.fetches, hits: this.hits, allow: this.opts.allow }
  }

  allowed (url: string): boolean { return matches(this.prefixes, url) }

  /** The tree text for `url`; concurrent requests for one URL share one fetch. Throws GatewayError. */
  async tree (url: string): Promise<string> {
    if (url.length > MAX_URL_CHARS) throw new GatewayError(414, `URL longer than ${MAX_URL_CHARS} characters`)
    let key: string
    try { key = new URL(url).href } catch { throw new GatewayError(400, `not a URL: ${url.slice(0, 100)}`) }
    if (!this.allowed(key)) throw new GatewayError(403, `not allowed by this gateway: ${key}`)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.hits++
      this.cache.delete(key); this.cache.set(key, hit) // most recently used last
      return hit
    }
    let p = this.inFlight.get(key)
    if (!p) {
      p = this.load(key).finally(() => this.inFlight.delete(key))
      this.inFlight.set(key, p)
    } else this.hits++
    return await p
  }

  private remember (key: string, text: string): void {
    this.cache.set(key, text)
    while (this.cache.size > this.opts.maxEntries) this.cache.delete(this.cache.keys().next().value as string)
  }

  private cacheFile (key: string): string | undefined {
    if (!this.opts.cacheDir) return undefined
    return join(this.opts.cacheDir, createHash('sha256').update(key).digest('hex') + '.hashtree')
  }

  private async load (key: string): Promise<string> {
    const file = this.cacheFile(key)
    if (file) {
      try {
        const text = await readFile(file, 'utf8')
        parseTree(text, file) // a damaged cache file is ignored and rebuilt
        this.hits++
        this.remember(key, text)
        return text
      } catch { /* not cached yet */ }
    }
    if (this.running < MAX_CONCURRENT_FETCHES) this.running++
    else {
      if (this.queue.length >= MAX_QUEUED_FETCHES) throw new GatewayError(503, 'gateway busy, try again later')
      await new Promise<void>(resolve => this.queue.push(resolve)) // the slot is handed over
    }
    let text: string
    try {
      this.fetches++
      text = formatTree(await this.build(key))
    } finally {
      const next = this.queue.shift()
      if (next) next(); else this.running--
    }
    this.remember(key, text)
    if (file) {
      try {
        await mkdir(this.opts.cacheDir as string, { recursive: true })
        const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
        await writeFile(tmp, text)
        await rename(tmp, file)
      } catch { /* the memory cache still serves it */ }
    }
    return text
  }

  /** Fetch and hash, following redirects only to allowed URLs. */
  private async build (url: string): Promise<ReturnType<typeof parseTree>> {
    const timeoutMs = this.opts.timeoutMs ?? FETCH_TIMEOUT_MS
    let at = url
    for (let hop = 0; ; hop++) {
      let res
      try {
        res = await fetchUrl(at, { signal: this.opts.signal, timeoutMs, redirect: 'manual', accept: [301, 302, 303, 307, 308] })
      } catch (e) {
        if (e instanceof NoInputError) throw new GatewayError(404, `origin: ${e.message}`)
        if (e instanceof PcError) throw new GatewayError(502, `origin: ${e.message}`)
        throw e
      }
      if (res.status >= 300 && res.status < 400) {
        res.body?.resume?.()
        const loc = res.headers.get('location')
        if (!loc || hop >= MAX_REDIRECTS) throw new GatewayError(502, `origin: too many or empty redirects at ${at}`)
        const next = new URL(loc, at).href
        if (!this.allowed(next)) throw new GatewayError(403, `origin redirects outside the allowed prefixes: ${next}`)
        at = next
        continue
      }
      try {
        return await hashStream(res.body as Readable, this.opts.chunkSize ?? CHUNK_BYTES)
      } catch (e) {
        if (e instanceof DataError) throw new GatewayError(502, `origin: ${e.message}`)
        if (this.opts.signal?.aborted) throw e
        throw new GatewayError(502, `origin: ${at}: ${(e as Error).message}`)
      }
    }
  }
}
