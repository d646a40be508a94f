// The origin client: HTTP Range requests over keep-alive connections to the plain
// web server that publishes the media. Real servers get Range wrong, so every answer
// is classified: a 206 whose Content-Range names exactly what was asked is used; a
// 200 (whole body), a wrong Content-Range or a server that ignores Range switches
// the item to one sequential read. The caller verifies every chunk against the tree.
import http from 'node:http'
import https from 'node:https'
import type { IncomingMessage } from 'node:http'
import { NoInputError, UnavailableError, DataError } from '../core/errors.js'
import { RangeConnection, StaleConnection, type ResponseHead } from './range-client.js'
import { BufferPool } from '../core/buffer-pool.js'

export const ORIGIN_SOCKETS = 4
export const ORIGIN_TIMEOUT_MS = 15_000

/** Receives each whole chunk; the buffer is reused once the returned promise resolves, so keep a copy if needed later. */
export type ChunkSink = (index: number, data: Buffer) => Promise<void> | void

export class OriginError extends Error {
  constructor (message: string, readonly permanent = false) { super(message) }
}

/** Thrown when the server does not honour Range; `response` is the open body, from byte 0 when whole. */
export class NoRangeError extends Error {
  constructor (message: string, readonly response?: IncomingMessage) { super(message) }
}

/**
 * Where a swarm's origin chunks come from: Origin (HTTP Range requests) or a simulated
 * server. Each chunk goes to `sink` whole, `counter.bytes` grows with every byte
 * received, `received` is called once the body is in (the request no longer counts
 * against the swarm's limit); the promise settles after the sink's last call. Failures
 * throw OriginError (permanent: the item is gone) or NoRangeError (read it sequentially).
 */
export interface OriginSource {
  fetchChunks: (first: number, count: number, chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, signal?: AbortSignal, received?: () => void) => Promise<void>
  /** the whole body from byte 0; `res` is the body a NoRangeError carried, when it did */
  fetchSequential: (chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, signal?: AbortSignal, res?: IncomingMessage) => Promise<void>
  /** receive into these buffers (the verifier's shared ones), when the source reads bytes itself */
  useBuffers?: (pool: BufferPool) => void
  close: () => void
}

export class Origin implements OriginSource {
  private readonly agent: http.Agent
  private readonly mod: typeof http | typeof https
  /** plain http goes through RangeConnection (no per-read allocations); https through node:https */
  private readonly lean: boolean
  private readonly idle: RangeConnection[] = []
  private buffers?: BufferPool
  constructor (readonly url: string, readonly userAgent = 'pc-fetch') {
    const u = new URL(url)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OriginError(`not an http(s) URL: ${url}`, true)
    this.mod = u.protocol === 'https:' ? https : http
    this.agent = new this.mod.Agent({ keepAlive: true, maxSockets: ORIGIN_SOCKETS })
    this.lean = u.protocol === 'http:'
  }

  private get (headers: Record<string, string>, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.mod.get(this.url, { agent: this.agent, headers: { 'user-agent': this.userAgent, ...headers }, signal }, resolve)
      req.setTimeout(ORIGIN_TIMEOUT_MS, () => req.destroy(new OriginError(`no answer within ${ORIGIN_TIMEOUT_MS} ms`)))
      req.on('error', (e) => reject(e instanceof OriginError || signal?.aborted ? e : new OriginError((e as NodeJS.ErrnoException).code ?? e.message)))
    })
  }

  /**
   * Fetch chunks [first, first+count) with one Range request, handing each whole chunk
   * to `sink` as it arrives. Throws NoRangeError when the server will not do ranges.
   */
  /**
   * `received` is called once the whole body is in (the connection is free for another
   * request) although chunks may still be in the sink; the promise resolves after those.
   */
  async fetchChunks (first: number, count: number, chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, signal?: AbortSignal, received?: () => void): Promise<void> {
    const start = first * chunkSize
    const end = Math.min(size, (first + count) * chunkSize)
    if (this.lean) return await this.fetchLean(first, start, end, chunkSize, size, sink, counter, received)
    const res = await this.get({ range: `bytes=${start}-${end - 1}` }, signal)
    if (res.statusCode === 200) throw new NoRangeError('answers Range with 200 and the whole body', res)
    if (res.statusCode !== 206) {
      res.resume()
      const permanent = res.statusCode === 404 || res.statusCode === 410 || res.statusCode === 403
      throw new OriginError(`HTTP ${res.statusCode ?? '?'}`, permanent)
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''))
    if (!cr || Number(cr[1]) !== start || Number(cr[2]) !== end - 1 || (cr[3] !== '*' && Number(cr[3]) !== size)) {
      res.destroy()
      throw new NoRangeError(`wrong Content-Range '${String(res.headers['content-range'] ?? '')}' for bytes ${start}-${end - 1}/${size}`)
    }
    await this.slice(res, first, start, end, chunkSize, sink, counter)
  }

  /** Read the whole body from byte 0 (reusing `res` when given) and hand over every chunk. */
  async fetchSequential (chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, signal?: AbortSignal, res?: IncomingMessage): Promise<void> {
    if (!res) {
      res = await this.get({}, signal)
      if (res.statusCode !== 200) {
        res.resume()
        throw new OriginError(`HTTP ${res.statusCode ?? '?'}`, res.statusCode === 404 || res.statusCode === 410)
      }
    }
    await this.slice(res, 0, 0, size, chunkSize, sink, counter)
  }

  private async slice (res: IncomingMessage, first: number, start: number, end: number, chunkSize: number, sink: ChunkSink, counter: { bytes: number }): Promise<void> {
    let index = first
    let buf = Buffer.allocUnsafe(Math.min(chunkSize, end - start))
    let fill = 0
    let pos = start
    try {
      for await (const d of res as AsyncIterable<Buffer>) {
        counter.bytes += d.length
        let o = 0
        while (o < d.length) {
          if (pos >= end) throw new OriginError(`body longer than the ${end - start} bytes asked for`)
          const n = Math.min(buf.length - fill, d.length - o, end - pos)
          d.copy(buf, fill, o, o + n)
          fill += n; o += n; pos += n
          if (fill === buf.length) {
            await sink(index++, buf)
            // the sink is done with it once it resolves: reuse the memory for the next chunk
            buf = buf.subarray(0, Math.min(chunkSize, end - pos))
            fill = 0
          }
        }
      }
    } finally {
      if (!res.complete) res.destroy()
    }
    if (pos < end) throw new OriginError(`body ended after ${pos - start} of ${end - start} bytes`)
    if (end - start === 0) await sink(index, Buffer.alloc(0))
  }

  private async fetchLean (first: number, start: number, end: number, chunkSize: number, size: number, sink: ChunkSink, counter: { bytes: number }, received?: () => void): Promise<void> {
    const u = new URL(this.url)
    const path = u.pathname + u.search
    let conn: RangeConnection | undefined
    let head: ResponseHead | undefined
    for (let attempt = 0; attempt < 2 && !head; attempt++) {
      conn = this.idle.pop()
      while (conn && !conn.usable) conn = this.idle.pop()
      conn ??= new RangeConnection(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80))
      try {
        head = await conn.request(path, u.host, `bytes=${start}-${end - 1}`)
      } catch (e) {
        if (e instanceof StaleConnection && attempt === 0) continue
        throw new OriginError((e as Error).message)
      }
    }
    if (!conn || !head) throw new OriginError('no connection')
    const h = head.headers
    if (head.status === 200) { conn.close(); throw new NoRangeError('answers Range with 200 and the whole body') }
    if (head.status !== 206) {
      conn.close()
      const st = head.status
      throw new OriginError(`HTTP ${st}`, st === 404 || st === 410 || st === 403)
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(h.get('content-range') ?? '')
    if (!cr || Number(cr[1]) !== start || Number(cr[2]) !== end - 1 || (cr[3] !== '*' && Number(cr[3]) !== size)) {
      conn.close()
      throw new NoRangeError(`wrong Content-Range '${h.get('content-range') ?? ''}' for bytes ${start}-${end - 1}/${size}`)
    }
    const len = Number(h.get('content-length'))
    if (h.has('transfer-encoding') || !Number.isSafeInteger(len) || len !== end - start) {
      conn.close()
      throw new NoRangeError(`a ${h.has('transfer-encoding') ? 'chunked' : `${String(h.get('content-length'))}-byte`} body for ${end - start} bytes`)
    }
    let index = first
    let pos = start
    const pool = this.pool(chunkSize)
    let full = pool.tryTake() ?? await pool.take()
    let buf: Buffer = full.subarray(0, Math.min(chunkSize, end - start))
    let fill = 0
    // each whole chunk goes to the sink in its own buffer, back to the pool once the sink
    // is done; meanwhile the next chunk is received into another (or the socket waits for one)
    const sinking = new Set<Promise<void>>()
    let sinkError: Error | undefined
    const hand = (i: number, b: Buffer, owner: Buffer): void => {
      const p: Promise<void> = Promise.resolve().then(() => sink(i, b)).catch((e: Error) => { sinkError ??= e })
        .finally(() => { sinking.delete(p); pool.give(owner) })
      sinking.add(p)
    }
    let holding = true
    let finished = false
    try {
      const next = (): Promise<void> | undefined => {
        const b = pool.tryTake()
        const use = (nb: Buffer): void => {
          if (finished) { pool.give(nb); return } // the request failed while it waited for a buffer
          full = nb; holding = true; buf = nb.subarray(0, Math.min(chunkSize, end - pos)); fill = 0
        }
        if (b) { use(b); return undefined }
        holding = false
        return pool.take().then(use)
      }
      const take = (seg: Buffer, inPlace = false): Promise<void> | undefined => {
        let o = 0
        while (o < seg.length) {
          const n = Math.min(buf.length - fill, seg.length - o)
          // in place: the kernel read it into buf at fill (space() below), nothing to copy
          if (!inPlace) seg.copy(buf, fill, o, o + n)
          fill += n; o += n; pos += n
          if (fill === buf.length) {
            hand(index++, buf, full)
            holding = false
            if (pos >= end) return undefined
            const wait = next()
            if (wait) {
              const rest = seg.subarray(o)
              return wait.then(() => rest.length ? take(rest) : undefined)
            }
          }
        }
        return undefined
      }
      const space = (): Buffer | undefined => holding && fill < buf.length ? buf.subarray(fill) : undefined
      await conn.body(len, (seg: Buffer, inPlace: boolean) => { counter.bytes += seg.length; return take(seg, inPlace) }, space)
      // free for the next request while the last chunks are still being verified
      if (conn.usable && this.idle.length < ORIGIN_SOCKETS) this.idle.push(conn); else conn.close()
      received?.()
    } catch (e) {
      conn.close()
      throw e instanceof OriginError ? e : new OriginError((e as Error).message)
    } finally {
      finished = true
      if (holding) pool.give(full)
      // the request is over when every chunk it brought has been through the sink
      while (sinking.size) await Promise.all([...sinking])
    }
    if (sinkError) throw sinkError
    if (end === start) await sink(first, Buffer.alloc(0))
  }

  /**
   * Receive chunks into `pool`'s buffers (the verifier's shared ones) instead of this
   * origin's own. Without it, a few chunk buffers of our own are kept between requests:
   * a fresh 128 KiB per chunk is garbage V8 collects late (an item of 2 GiB made 128 MB of it).
   */
  useBuffers (pool: BufferPool): void { this.buffers = pool }

  private pool (chunkSize: number): BufferPool {
    if (!this.buffers || this.buffers.size !== chunkSize) this.buffers = new BufferPool(2 * ORIGIN_SOCKETS, chunkSize)
    return this.buffers
  }

  close (): void {
    this.agent.destroy()
    for (const c of this.idle) c.close()
    this.idle.length = 0
  }
}

/**
 * GET a whole URL with node:http (no redirects), for hash trees and whole-item reads:
 * 404/403/410 → NoInputError, other failures → UnavailableError. Yields the body.
 */
export async function * getBody (url: string, signal?: AbortSignal, maxBytes = Infinity, timeoutMs = ORIGIN_TIMEOUT_MS): AsyncGenerator<Buffer> {
  let u: URL
  try { u = new URL(url) } catch { throw new DataError('not a URL', url) }
  const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined
  if (!mod) throw new DataError(`not an http(s) URL`, url)
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = mod.get(u, { headers: { 'user-agent': 'pc-fetch' }, signal }, resolve)
    req.setTimeout(timeoutMs, () => req.destroy(new UnavailableError(`no answer within ${timeoutMs} ms`, url)))
    req.on('error', (e) => reject(e instanceof UnavailableError || signal?.aborted ? e : new UnavailableError(`cannot fetch: ${(e as NodeJS.ErrnoException).code ?? e.message}`, url)))
  })
  if (res.statusCode !== 200) {
    res.resume()
    const st = res.statusCode ?? 0
    if (st === 404 || st === 403 || st === 410) throw new NoInputError(`HTTP ${st}`, url)
    throw new UnavailableError(`HTTP ${st}`, url)
  }
  let n = 0
  try {
    for await (const d of res as AsyncIterable<Buffer>) {
      n += d.length
      if (n > maxBytes) throw new DataError(`longer than ${maxBytes} bytes`, url)
      yield d
    }
  } finally { if (!res.complete) res.destroy() }
  if (!res.complete) throw new UnavailableError('connection closed before the end of the body', url)
}
