// The origin of a live show as a listener sees it: the manifest, and one chunk at a time
// through its claim file (pc-live(5): SEQ.json beside SEQ.EXT), so a listener asked to take
// a chunk from the origin never polls the whole manifest for it. The seam the live swarm
// fetches through: HttpLiveOrigin on the network, an in-memory one in tests.
import { fetchUrl } from '../core/http.js'
import { NoInputError } from '../core/errors.js'
import { checkChunkEntry, parseManifest, resolveChunkUrl, MAX_CLAIM_BYTES, MAX_MANIFEST_BYTES, type ChunkEntry, type LiveManifest } from '../live/manifest.js'
import { MAX_LIVE_CHUNK_BYTES, MAX_LIVE_HEADER_BYTES } from './wire.js'

export interface OriginChunk {
  entry: ChunkEntry
  bytes: Buffer
}

export interface LiveOriginSource {
  /** bytes received from the origin so far (bodies) */
  readonly counter: { bytes: number, requests: number }
  /** chunk `seq`'s claim as the origin lists it, or null when it has none (yet, or any more) */
  fetchClaim: (seq: number, signal?: AbortSignal) => Promise<ChunkEntry | null>
  /** the chunk a claim names, or null when it is gone */
  fetchChunk: (entry: ChunkEntry, signal?: AbortSignal) => Promise<Buffer | null>
  /** a header blob by its hash (the manifest names its file), or null */
  fetchHeader: (hashHex: string, signal?: AbortSignal) => Promise<Buffer | null>
  fetchManifest: (signal?: AbortSignal) => Promise<LiveManifest>
}

export class HttpLiveOrigin implements LiveOriginSource {
  readonly counter = { bytes: 0, requests: 0 }
  constructor (readonly manifestUrl: string, private manifest: LiveManifest, readonly userAgent = 'pc-fetch') {}

  private url (name: string): string { return resolveChunkUrl(this.manifestUrl, this.manifest, name) }

  private async get (url: string, max: number, signal?: AbortSignal): Promise<Buffer | null> {
    this.counter.requests++
    let res
    try {
      res = await fetchUrl(url, { signal, headers: { 'User-Agent': this.userAgent } })
    } catch (e) {
      if (e instanceof NoInputError) return null
      throw e
    }
    const len = Number(res.headers.get('content-length') ?? 0)
    if (len > max) { res.body?.resume?.(); throw new NoInputError(`${len} bytes, more than ${max}`, url) }
    const parts: Buffer[] = []
    let n = 0
    for await (const d of res.body as AsyncIterable<Buffer>) {
      n += d.length
      if (n > max) throw new NoInputError(`more than ${max} bytes`, url)
      parts.push(d)
    }
    this.counter.bytes += n
    return Buffer.concat(parts, n)
  }

  async fetchClaim (seq: number, signal?: AbortSignal): Promise<ChunkEntry | null> {
    const url = this.url(`${seq}.json`)
    const b = await this.get(url, MAX_CLAIM_BYTES, signal)
    if (!b) return null
    let e: ChunkEntry
    try { e = JSON.parse(b.toString('utf8')) as ChunkEntry } catch { return null }
    checkChunkEntry(e, url, this.manifest.publicKey !== undefined)
    return e.seq === seq ? e : null
  }

  async fetchChunk (entry: ChunkEntry, signal?: AbortSignal): Promise<Buffer | null> {
    return await this.get(this.url(entry.name), Math.min(entry.size, MAX_LIVE_CHUNK_BYTES), signal)
  }

  async fetchHeader (hashHex: string, signal?: AbortSignal): Promise<Buffer | null> {
    let h = this.manifest.headers.find(x => x.hash === hashHex)
    if (!h) { await this.fetchManifest(signal); h = this.manifest.headers.find(x => x.hash === hashHex) }
    return h ? await this.get(this.url(h.name), MAX_LIVE_HEADER_BYTES, signal) : null
  }

  async fetchManifest (signal?: AbortSignal): Promise<LiveManifest> {
    const b = await this.get(this.manifestUrl, MAX_MANIFEST_BYTES, signal)
    if (!b) throw new NoInputError('live manifest gone', this.manifestUrl)
    this.manifest = parseManifest(b.toString('utf8'), this.manifestUrl)
    return this.manifest
  }
}
