// The origin's moving window: chunk files and the live manifest in a directory that
// any static web server can serve. Every file is written to a temporary name and
// renamed, so a reader never sees half a chunk or half a manifest; the manifest names
// only the newest chunks (LISTED_CHUNKS), and chunks that fell out of the window are
// deleted with their claim files.
//
//   DIR/NAME.json          the manifest (mount /NAME → NAME.json, /a/b → a/b.json)
//   DIR/NAME/SEQ.EXT       chunk SEQ (decimal); EXT mp3, aac, ogg, ts, webm, mp4 or bin
//   DIR/NAME/SEQ.json      chunk SEQ's manifest entry alone (its claim), written after the
//                          chunk: a listener fetches one chunk without the whole manifest
//   DIR/NAME/header-SEQ.EXT  the header blob first used by chunk SEQ (Ogg codec headers;
//                          TS PAT+PMT; Matroska EBML header to Tracks; MP4 ftyp+moov)
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'
import { IOError } from '../core/errors.js'
import { formatTime } from '../core/units.js'
import type { LiveChunk } from './chunker.js'
import { checkChunkEntry, encodeManifest, isoMs, MAX_CLAIM_BYTES, MANIFEST_SUFFIX, MANIFEST_VERSION, type ChunkEntry, type FormatChange, type HeaderEntry, type LiveManifest } from './manifest.js'

const EXT: Record<string, string> = { mp3: 'mp3', aac: 'aac', ogg: 'ogg', ts: 'ts', matroska: 'webm', fmp4: 'mp4', other: 'bin' }

/**
 * The manifest names the newest this many chunks; every chunk in the window keeps its claim
 * file (SEQ.json), which is what a listener fetching an older one reads. Every listener
 * reads the manifest once as it tunes in and takes only the newest chunk from it: listing
 * the whole 30 s window made it ~10 kB, and in a simulated home swarm (bench/sim live, 100
 * listeners tuning in over a 4-minute show) those reads were 0.40 x the stream the web
 * server sent, growing with the audience.
 */
export const LISTED_CHUNKS = 3

export function chunkFileName (seq: number, kind: string): string { return `${seq}.${EXT[kind] ?? 'bin'}` }
export function claimFileName (seq: number): string { return `${seq}.json` }
export function headerFileName (firstSeq: number, kind: string): string { return `header-${firstSeq}.${EXT[kind] ?? 'bin'}` }

/**
 * The claims (SEQ.json) in a chunk directory, oldest first, up to chunk `upTo`: every chunk
 * of the window, where the manifest names only the newest (a restarted pc-live takes them
 * up, resume.ts; bench/live.ts measures them). A file that cannot be read, is over
 * MAX_CLAIM_BYTES, is not a chunk entry (unsigned in a `signed` stream too), or names
 * another chunk than its file name is left out; a directory that cannot be read has none.
 */
export async function readClaims (chunkDir: string, signed: boolean, upTo = Infinity): Promise<ChunkEntry[]> {
  const out: ChunkEntry[] = []
  let names: string[] = []
  try { names = await readdir(chunkDir) } catch {}
  for (const name of names) {
    const seq = /^(\d+)\.json$/.exec(name)?.[1]
    if (seq === undefined || Number(seq) > upTo) continue
    try {
      const text = await readFile(join(chunkDir, name), 'utf8')
      if (text.length > MAX_CLAIM_BYTES) continue
      const e = checkChunkEntry(JSON.parse(text) as ChunkEntry, join(chunkDir, name), signed)
      if (e.seq === Number(seq)) out.push(e)
    } catch {}
  }
  return out.sort((a, b) => a.seq - b.seq)
}

export interface WindowOptions {
  dir: string
  mount: string
  windowMs: number
  chunkMs: number
  /** absolute base URL for the chunks (a CDN); default: relative, next to the manifest */
  chunkBase?: string
  stream: { id: Buffer, nonce: Buffer, publicKey?: Buffer, infoHash: Buffer }
  now: () => number
  /** what an earlier run of the same stream left on disk: listed until it falls out of the window */
  previous?: { chunks: ChunkEntry[], headers: HeaderEntry[], changes: FormatChange[] }
}

export class LiveWindow {
  readonly manifestPath: string
  readonly chunkDir: string
  private readonly entries: ChunkEntry[] = []
  private readonly headers: HeaderEntry[] = []
  private readonly changes: FormatChange[] = []
  private format: Pick<LiveManifest, 'mime' | 'kind' | 'codec' | 'sampleRate' | 'channels' | 'bitrateKbps'> = { mime: 'application/octet-stream', kind: 'other' }
  private source = false
  private ended = false
  private title?: string
  private queue: Promise<void> = Promise.resolve()
  private failed?: Error

  constructor (readonly opts: WindowOptions) {
    this.manifestPath = LiveWindow.manifestPathOf(opts.dir, opts.mount)
    this.chunkDir = join(opts.dir, opts.mount.replace(/^\/+/, ''))
    if (opts.previous) {
      this.entries.push(...opts.previous.chunks)
      this.headers.push(...opts.previous.headers)
      this.changes.push(...opts.previous.changes)
    }
  }

  /** where the manifest of `mount` is under `dir` */
  static manifestPathOf (dir: string, mount: string): string { return join(dir, mount.replace(/^\/+/, '') + MANIFEST_SUFFIX) }

  /** base URL written in the manifest: the chunk directory relative to the manifest's URL */
  get base (): string { return this.opts.chunkBase ?? posix.basename(this.opts.mount) + '/' }

  async init (): Promise<void> {
    try {
      await mkdir(this.chunkDir, { recursive: true })
      await mkdir(dirname(this.manifestPath), { recursive: true })
    } catch (e) { throw new IOError(`cannot create: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, this.chunkDir) }
    await this.writeManifest()
  }

  /** chunks in the window now, oldest first (the manifest names the newest LISTED_CHUNKS) */
  get chunks (): readonly ChunkEntry[] { return this.entries }

  /** `hash`: BLAKE2b-256 of the bytes (the signer computed it already) */
  add (c: LiveChunk, hash: Buffer, sig?: Buffer): Promise<void> {
    const name = chunkFileName(c.seq, c.kind)
    const e: ChunkEntry = { seq: c.seq, name, start: isoMs(c.startMs), duration: c.durationMs, size: c.bytes.length, hash: '' }
    return this.enqueue(async () => {
      e.hash = hash.toString('hex')
      if (c.header) {
        e.header = c.header.hash.toString('hex')
        if (!this.headers.some(h => h.hash === e.header)) {
          const hname = headerFileName(c.header.firstSeq, c.kind)
          await this.atomic(join(this.chunkDir, hname), c.header.bytes)
          this.headers.push({ name: hname, hash: e.header })
        }
      }
      if (c.title) e.title = c.title
      if (!c.key) e.key = false
      if (sig) e.sig = sig.toString('hex')
      const i = c.info
      this.format = { mime: c.mime, kind: c.kind }
      if (i.codec) this.format.codec = i.codec
      if (i.sampleRate) this.format.sampleRate = i.sampleRate
      if (i.channels) this.format.channels = i.channels
      if (i.bitrateKbps) this.format.bitrateKbps = i.bitrateKbps
      if (c.change || !this.changes.length) this.changes.push({ seq: c.seq, start: e.start, kind: c.kind, codec: i.codec, sampleRate: i.sampleRate, channels: i.channels })
      await this.atomic(join(this.chunkDir, name), c.bytes)
      await this.atomic(join(this.chunkDir, claimFileName(c.seq)), Buffer.from(JSON.stringify(e) + '\n'))
      this.entries.push(e)
      const gone = this.prune()
      await this.writeManifest()
      for (const f of gone) await rm(join(this.chunkDir, f), { force: true })
    })
  }

  setSource (connected: boolean): Promise<void> { this.source = connected; return this.enqueue(() => this.writeManifest()) }
  setTitle (title: string | undefined): Promise<void> { this.title = title; return this.enqueue(() => this.writeManifest()) }
  end (): Promise<void> { this.ended = true; this.source = false; return this.enqueue(() => this.writeManifest()) }

  /** resolves when every write so far is on disk */
  flushed (): Promise<void> { return this.queue }
  /** writes not yet done */
  pending = 0

  manifest (): LiveManifest {
    const s = this.opts.stream
    const m: LiveManifest = {
      pcLive: MANIFEST_VERSION, stream: s.id.toString('hex'), nonce: s.nonce.toString('hex'),
      infoHash: s.infoHash.toString('hex'), mount: this.opts.mount, ...this.format,
      chunkMs: this.opts.chunkMs, windowMs: this.opts.windowMs, base: this.base,
      source: this.source, ended: this.ended, updated: formatTime(this.opts.now()),
      headers: this.headers, changes: this.changes.slice(-16), chunks: this.entries.slice(-LISTED_CHUNKS),
    }
    if (s.publicKey) m.publicKey = s.publicKey.toString('hex')
    if (this.title) m.title = this.title
    return m
  }

  private enqueue (f: () => Promise<void>): Promise<void> {
    this.pending++
    this.queue = this.queue.then(async () => {
      if (this.failed) throw this.failed
      try { await f() } catch (e) { this.failed = e instanceof IOError ? e : new IOError(`write failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, this.opts.dir); throw this.failed }
    }).finally(() => { this.pending-- })
    return this.queue
  }

  /** drop entries older than the window; returns the files to delete once the manifest is written */
  private prune (): string[] {
    const newest = this.entries[this.entries.length - 1]
    const horizon = Date.parse(newest.start) + newest.duration - this.opts.windowMs
    const gone: string[] = []
    while (this.entries.length > 1 && Date.parse(this.entries[0].start) + this.entries[0].duration <= horizon) {
      const e = this.entries.shift() as ChunkEntry
      gone.push(e.name, claimFileName(e.seq))
    }
    const used = new Set(this.entries.map(e => e.header))
    for (let i = this.headers.length - 1; i >= 0; i--) {
      if (!used.has(this.headers[i].hash)) { gone.push(this.headers[i].name); this.headers.splice(i, 1) }
    }
    return gone
  }

  private async writeManifest (): Promise<void> {
    await this.atomic(this.manifestPath, Buffer.from(encodeManifest(this.manifest())))
  }

  private async atomic (path: string, data: Buffer): Promise<void> {
    const tmp = `${path}.tmp`
    await writeFile(tmp, data)
    await rename(tmp, path)
  }
}
