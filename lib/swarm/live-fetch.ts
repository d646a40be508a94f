// pc-fetch at the live edge (pc-fetch(1) LIVE MODE): find a show's manifest from its mount
// URL, join its swarm (tracker, PEX, --peer), and write its chunks in order as frames of an
// item of no known size (a MARK before each chunk) or as plain bytes, until the slot ends
// or the show does.
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import type { Writable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { DataError, NoInputError, UnavailableError } from '../core/errors.js'
import { writeAll } from '../core/ndjson.js'
import type { ScheduleRecord } from '../core/records.js'
import { encodeFrame, encodeMagic } from '../frames/frame.js'
import { streamIdOf } from '../live/chunk-sign.js'
import type { LiveFound } from '../live/find.js'
import { Announcer } from './announce.js'
import { realClock } from './clock.js'
import { HttpLiveOrigin } from './live-origin.js'
import { LiveSwarm, DROP_POLL_DESIGNATED_MS } from './live-swarm.js'
import { Peer } from './peer.js'
import { MAX_LIVE_CHUNK_BYTES, type LivePiece, type PeerAddress } from './wire.js'

/** listeners designated per chunk to take it from the origin */
export const LIVE_FETCHERS = 1
export const LIVE_KEEP_CHUNKS = 30
const MAX_LIVE_CONNECTIONS = 128

export interface LiveFetchOptions {
  trackers: string[]
  peers: PeerAddress[]
  host: string
  port: number
  raw: boolean
  /** the station's key (record's publicKey or --key); without it the origin's manifest is trusted */
  publicKey?: Buffer
  deadlineMs: number
  /** write the frame magic first (a stream of this item alone) */
  magic: boolean
  item: number
}

export interface LiveIo {
  warn: (m: string) => void
  info: (m: string) => void
  debug: (m: string) => void
  signal: AbortSignal
}

/** Frames (or bytes) of one live item: START, then per chunk [header DATA] MARK DATA, then END. */
class LiveWriter {
  private offset = 0
  private lastHeader?: string
  constructor (readonly out: Writable, readonly item: number, readonly raw: boolean) {}

  async start (rec: ScheduleRecord, magic: boolean): Promise<void> {
    if (this.raw) return
    if (magic) await writeAll(this.out, encodeMagic())
    await writeAll(this.out, encodeFrame({ type: 'start', item: this.item, header: { ...rec, live: true, size: null, chunkSize: MAX_LIVE_CHUNK_BYTES } }))
  }

  async chunk (p: LivePiece): Promise<void> {
    const h = p.headerHash?.toString('hex')
    if (p.header && h !== this.lastHeader) {
      // an Ogg chunk's codec headers, whenever they differ from the last ones written
      await this.data(p.header)
      this.lastHeader = h
    }
    if (!this.raw) {
      const mark: { time: string, seq: number, title?: string } = { time: new Date(p.startMs).toISOString(), seq: p.seq }
      if (p.title) mark.title = p.title
      await writeAll(this.out, encodeFrame({ type: 'mark', item: this.item, offset: this.offset, mark }))
    }
    await this.data(p.data)
  }

  private async data (b: Buffer): Promise<void> {
    await writeAll(this.out, this.raw ? b : encodeFrame({ type: 'data', item: this.item, offset: this.offset, data: b }))
    this.offset += b.length
  }

  async end (): Promise<void> { if (!this.raw) await writeAll(this.out, encodeFrame({ type: 'end', item: this.item })) }
}

function keyOf (rec: ScheduleRecord, key: Buffer | undefined): Buffer | undefined {
  const k = (rec as unknown as Record<string, unknown>).publicKey
  if (k === undefined) return key
  if (typeof k !== 'string' || !/^[0-9a-f]{64}$/i.test(k)) throw new DataError('"publicKey" is not 64 hex digits', rec.url)
  return Buffer.from(k, 'hex')
}

/**
 * Follow one live show: resolves at the end of the record's slot, when the show ended,
 * or when `io.signal` aborts. Returns the counters.
 */
export async function fetchLive (rec: ScheduleRecord, found: LiveFound, out: Writable, opts: LiveFetchOptions, io: LiveIo): Promise<LiveSwarm['stats'] & { originRequests: number }> {
  const m = found.manifest
  const held = keyOf(rec, opts.publicKey)
  if (held && m.publicKey && m.publicKey !== held.toString('hex')) throw new DataError('the manifest names another station key than ours', found.manifestUrl)
  if (held && !m.publicKey) throw new DataError('the show is not signed, but a station key was given', found.manifestUrl)
  const publicKey = held ?? (m.publicKey ? Buffer.from(m.publicKey, 'hex') : undefined)
  const streamId = Buffer.from(m.stream, 'hex')
  if (!streamIdOf(Buffer.from(m.nonce, 'hex'), publicKey).equals(streamId)) throw new DataError('stream id does not match its key and nonce', found.manifestUrl)
  if (!m.chunks.length && m.ended) throw new NoInputError('the show is over', rec.url)
  const origin = new HttpLiveOrigin(found.manifestUrl, m)
  const sockets = new Set<Socket>()
  const server: Server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new UnavailableError(`cannot listen: ${e.code ?? e.message}`, `${opts.host}:${opts.port}`)))
    server.listen(opts.port, opts.host, () => resolve())
  })
  const a = server.address()
  const port = typeof a === 'object' && a ? a.port : opts.port
  io.info(`live: listening on ${opts.host}:${port}`)
  const track = (s: Socket): Socket => { sockets.add(s); s.on('close', () => sockets.delete(s)); return s }
  const swarm = new LiveSwarm({
    infoHash: Buffer.from(m.infoHash, 'hex'), peerId: randomBytes(20), port, streamId, publicKey,
    chunkMs: Math.max(100, m.chunkMs), deadlineMs: opts.deadlineMs, fetchers: LIVE_FETCHERS, keepChunks: LIVE_KEEP_CHUNKS, tracked: opts.trackers.length > 0,
    clock: realClock, origin, warn: io.warn, debug: io.debug,
    connect: (to) => new Peer(track(tcpConnect({ host: to.host, port: to.port })), true, `${to.host}:${to.port}`),
  })
  server.on('connection', (s: Socket) => {
    if (sockets.size >= MAX_LIVE_CONNECTIONS) { s.destroy(); return }
    const p = new Peer(track(s), false, `${(s.remoteAddress ?? '?').replace(/^::ffff:/, '')}:${s.remotePort ?? 0}`)
    p.on('dropped', (why: string) => { if (!p.remote) io.debug(`peer ${p.address}: ${why}`) })
    p.once('handshake', () => swarm.attach(p))
  })
  const writer = new LiveWriter(out, opts.item, opts.raw)
  const anns = opts.trackers.map(u => new Announcer(u, swarm, { port, io }))
  try {
    await writer.start(rec, opts.magic)
    for (const p of opts.peers) swarm.addAddress(p, true)
    void Promise.all(anns.map(x => x.start()))
    let failed: unknown
    const done = new Promise<void>(resolve => {
      const endMs = rec.end ? Date.parse(rec.end) : NaN
      const t = Number.isFinite(endMs) ? setTimeout(resolve, Math.max(0, endMs - Date.now())) : undefined
      swarm.once('ended', () => { clearTimeout(t); resolve() })
      io.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
      // frames go out in order; a slow reader holds the swarm's play position back, not its relaying
      swarm.on('chunk', (p: LivePiece) => writer.chunk(p).catch((e: unknown) => { failed = e; clearTimeout(t); resolve() }))
    })
    swarm.on('skip', (seq: number) => io.info(`live chunk ${seq}: given up`))
    const first = m.chunks[m.chunks.length - 1]
    if (first) swarm.start(first, found.manifestMs)
    else {
      // the show has not produced a chunk yet: wait for the first one's claim
      // (every half chunk at first, then less often the longer the DJ is late: a crowd waiting at the top of the hour is no flood)
      const firstSeq = 0
      const t0 = Date.now()
      for (;;) {
        if (io.signal.aborted) break
        const e = await origin.fetchClaim(firstSeq)
        if (e) { swarm.start(e); break }
        await new Promise(resolve => setTimeout(resolve, Math.max(200, m.chunkMs / 2, Math.min(DROP_POLL_DESIGNATED_MS, (Date.now() - t0) / 8))))
      }
    }
    await done
    if (failed) throw failed
    await writer.end()
  } finally {
    swarm.close(!io.signal.aborted)
    await Promise.all(anns.map(x => x.stop().catch(() => {})))
    server.close()
    for (const s of sockets) s.destroy()
  }
  return { ...swarm.stats, originRequests: origin.counter.requests }
}
