// One live show: the source bytes (from whichever input) go through the chunker; each
// chunk is hashed and signed, written to the window directory, sent to plain players
// and appended to the recording. Sources come and go; the stream, its numbering and
// its players stay.
import { randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'
import { publicKeyOf } from '../hashing/sign.js'
import { Chunker, type LiveChunk } from './chunker.js'
import { blake2b, liveInfoHash, signChunk, streamIdOf } from './chunk-sign.js'
import { LiveWindow } from './window.js'
import type { LiveListeners } from './listeners.js'
import type { Resumed } from './resume.js'

/** more chunks than this waiting to be written: the source is paused until they are */
export const MAX_PENDING_WRITES = 4
/** how often media without timing is checked for a chunk due by the wall clock */
export const TICK_MS = 100

export interface StationOptions {
  chunkMs: number
  windowMs: number
  dir: string
  mount: string
  chunkBase?: string
  secretKey?: Buffer
  listeners: LiveListeners
  record?: Writable
  now: () => number
  warn: (m: string) => void
  verbose?: (m: string) => void
  /** the stream an earlier run left in `dir`, taken up again (lib/live/resume.ts) */
  resume?: Resumed
}

export class LiveStation {
  readonly nonce: Buffer
  readonly publicKey?: Buffer
  readonly streamId: Buffer
  readonly infoHash: Buffer
  readonly window: LiveWindow
  private readonly chunker: Chunker
  /** the newest complete chunk: where a new player starts */
  latest?: LiveChunk
  title?: string
  sourceConnected = false
  bytesIn = 0
  private timer?: NodeJS.Timeout
  private failure?: Error

  constructor (readonly opts: StationOptions) {
    this.publicKey = opts.secretKey ? publicKeyOf(opts.secretKey) : undefined
    this.nonce = opts.resume?.nonce ?? randomBytes(16)
    this.streamId = streamIdOf(this.nonce, this.publicKey)
    this.infoHash = liveInfoHash(this.streamId)
    this.chunker = new Chunker({ chunkMs: opts.chunkMs, now: opts.now, warn: opts.warn, firstSeq: opts.resume?.nextSeq })
    this.window = new LiveWindow({
      dir: opts.dir, mount: opts.mount, windowMs: opts.windowMs, chunkMs: opts.chunkMs, chunkBase: opts.chunkBase, now: opts.now,
      stream: { id: this.streamId, nonce: this.nonce, publicKey: this.publicKey, infoHash: this.infoHash },
      previous: opts.resume,
    })
  }

  async init (): Promise<void> {
    await this.window.init()
    this.timer = setInterval(() => this.emit(this.chunker.tick()), TICK_MS)
  }

  /** a write to the directory failed: the show cannot go on */
  get error (): Error | undefined { return this.failure }
  get contentType (): string | undefined { return this.latest?.mime }
  get nextSeq (): number { return this.chunker.nextSeq }

  sourceBegin (contentType: string | undefined): void {
    this.chunker.begin(contentType)
    this.sourceConnected = true
    this.track(this.window.setSource(true))
  }

  /** Feed source bytes; a promise when the caller should wait before sending more. */
  push (data: Buffer): Promise<void> | undefined {
    this.bytesIn += data.length
    this.emit(this.chunker.push(data))
    return this.window.pending > MAX_PENDING_WRITES ? this.window.flushed().catch(() => {}) : undefined
  }

  sourceEnd (): void {
    this.emit(this.chunker.end())
    this.sourceConnected = false
    this.track(this.window.setSource(false))
  }

  setTitle (title: string | undefined): void {
    if (title === this.title) return
    this.title = title || undefined
    this.chunker.setTitle(this.title)
    this.opts.verbose?.(`title: ${title ?? ''}`)
    this.track(this.window.setTitle(this.title))
  }

  /** The show is over: the manifest says so; resolves when everything is on disk. */
  async end (): Promise<void> {
    clearInterval(this.timer)
    if (this.sourceConnected) this.sourceEnd()
    await this.window.end().catch(() => {})
    await this.window.flushed().catch(() => {})
    if (this.failure) throw this.failure
  }

  private emit (chunks: LiveChunk[]): void {
    for (const c of chunks) {
      const hash = blake2b(c.bytes)
      const sig = this.opts.secretKey ? signChunk(this.streamId, { seq: c.seq, startMs: c.startMs, durationMs: c.durationMs, hash, headerHash: c.header?.hash, title: c.title }, this.opts.secretKey) : undefined
      this.track(this.window.add(c, hash, sig))
      this.latest = c
      this.opts.listeners.broadcast(c)
      this.opts.record?.write(c.bytes)
      this.opts.verbose?.(`chunk ${c.seq}: ${c.durationMs} ms, ${c.bytes.length} bytes`)
    }
  }

  private track (p: Promise<void>): void {
    p.catch((e: Error) => { if (!this.failure) { this.failure = e; this.opts.warn(e.message) } })
  }
}
