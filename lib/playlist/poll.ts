// Loading a playlist from a path, URL or stdin, and loading it again cheaply:
// conditional GET (ETag / Last-Modified) for URLs, mtime for files. With a key, the
// detached ed25519 signature over the exact bytes is checked on every load.
import { readFile, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { DataError, NoInputError, PcError, UsageError } from '../core/errors.js'
import { decodePlaylist, parsePlaylist, MAX_PLAYLIST_BYTES } from './read.js'
import { layOut, type LayoutOptions, type Schedule } from './schedule.js'

// node-fetch and sodium-native are loaded only when a URL or a key needs them: most runs
// read one local file, and start-up is most of their time.
const http = async (): Promise<typeof import('../core/http.js')> => await import('../core/http.js')
const signing = async (): Promise<typeof import('../hashing/sign.js')> => await import('../hashing/sign.js')

export interface SourceOptions {
  stdin: Readable
  signal: AbortSignal
  /** public key: refuse a playlist whose signature is missing or does not verify */
  key?: Buffer
  /** where the signature is (path or URL); default the playlist's path or URL + `.sig` */
  sig?: string
  timeoutMs?: number
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s)

/** Read a stream whole, refusing more than `max` bytes. */
export async function readBounded (input: AsyncIterable<Uint8Array | string>, max: number, where: string): Promise<Buffer> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    n += b.length
    if (n > max) throw new DataError(`playlist larger than ${max} bytes`, where)
    parts.push(b)
  }
  return Buffer.concat(parts)
}

export class PlaylistSource {
  /** name used in messages: the path, the URL, or `stdin` */
  readonly where: string
  /** what relative item links resolve against (the playlist URL) */
  readonly base?: string
  /** stdin is read once; paths and URLs can be loaded again */
  readonly pollable: boolean
  private etag?: string
  private lastModified?: string
  private stamp?: string

  constructor (readonly spec: string, private readonly o: SourceOptions) {
    this.where = spec === '-' ? 'stdin' : spec
    if (isUrl(spec)) this.base = spec
    this.pollable = spec !== '-'
    if (o.key && spec === '-' && o.sig === undefined) throw new UsageError('--key with a playlist on stdin needs --sig FILE|URL')
  }

  /** The playlist bytes (signature checked), or undefined when unchanged since the last load. */
  async load (): Promise<Buffer | undefined> {
    const bytes = await this.fetchBytes()
    if (bytes === undefined) return undefined
    if (this.o.key) await this.checkSignature(bytes, this.o.key)
    return bytes
  }

  /** Forget what we saw, so the next load reads the playlist whole again. */
  forget (): void { this.etag = undefined; this.lastModified = undefined; this.stamp = undefined }

  private async fetchBytes (): Promise<Buffer | undefined> {
    if (this.spec === '-') return await readBounded(this.o.stdin, MAX_PLAYLIST_BYTES, this.where)
    if (isUrl(this.spec)) {
      const headers: Record<string, string> = {}
      if (this.etag) headers['If-None-Match'] = this.etag
      if (this.lastModified) headers['If-Modified-Since'] = this.lastModified
      const res = await (await http()).fetchUrl(this.spec, { headers, signal: this.o.signal, timeoutMs: this.o.timeoutMs, accept: [304] })
      if (res.status === 304) { res.body?.resume(); return undefined }
      const body = await readBounded(res.body as AsyncIterable<Buffer>, MAX_PLAYLIST_BYTES, this.where)
      this.etag = res.headers.get('etag') ?? undefined
      this.lastModified = res.headers.get('last-modified') ?? undefined
      return body
    }
    let stamp: string
    try {
      const st = await stat(this.spec, { bigint: true })
      if (st.isDirectory()) throw new NoInputError('is a directory', this.spec)
      if (st.size > BigInt(MAX_PLAYLIST_BYTES)) throw new DataError(`playlist larger than ${MAX_PLAYLIST_BYTES} bytes`, this.spec)
      stamp = `${st.ino}:${st.size}:${st.mtimeNs}`
    } catch (e) {
      if (e instanceof PcError) throw e
      throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, this.spec)
    }
    if (stamp === this.stamp) return undefined
    let bytes: Buffer
    try { bytes = await readFile(this.spec) } catch (e) {
      throw new NoInputError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, this.spec)
    }
    this.stamp = stamp
    return bytes
  }

  private async checkSignature (bytes: Buffer, key: Buffer): Promise<void> {
    const at = this.o.sig ?? this.spec + '.sig'
    let text: string
    if (isUrl(at)) {
      try {
        const res = await (await http()).fetchUrl(at, { signal: this.o.signal, timeoutMs: this.o.timeoutMs })
        text = (await readBounded(res.body as AsyncIterable<Buffer>, 4096, at)).toString('utf8')
      } catch (e) {
        if (e instanceof NoInputError) throw new DataError(`signature missing (${e.message}); refusing the playlist`, this.where)
        throw e
      }
    } else {
      try { text = await readFile(at, 'utf8') } catch (e) {
        throw new DataError(`signature missing: cannot read ${at} (${(e as NodeJS.ErrnoException).code ?? ''}); refusing the playlist`, this.where)
      }
    }
    const { parseSignature, verify } = await signing()
    const sig = parseSignature(text, at)
    if (!verify(sig, bytes, key)) throw new DataError(`signature ${at} does not verify with the given key; refusing the playlist`, this.where)
  }
}

/** Bytes → schedule: decode, parse, apply the timing rule. */
export function scheduleOf (bytes: Buffer, source: { where: string, base?: string }, layout: LayoutOptions = {}): Schedule {
  const pl = parsePlaylist(decodePlaylist(bytes, source.where), { where: source.where, base: source.base })
  for (const w of pl.warnings) layout.warn?.(w)
  return layOut(pl, layout)
}

const digestOf = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')

/**
 * The schedule, kept up to date: `reload` returns a newer schedule, or undefined to keep
 * the last good one (unchanged, or broken: then it warns once per distinct problem).
 */
export class SchedulePoller {
  private lastProblem?: string
  /** of the bytes the current schedule came from: an origin without ETag or
   * Last-Modified sends the same playlist whole at every poll, and parsing 7,200 items
   * anew each time churns megabytes of heap for nothing */
  private lastDigest?: string
  private readonly layout: LayoutOptions
  constructor (private readonly source: PlaylistSource, private readonly o: { layout: LayoutOptions, warn: (m: string) => void, note?: (m: string) => void }) {
    // a playlist re-read every minute should not repeat the same remark every minute
    const said = new Set<string>()
    const warn = o.layout.warn
    this.layout = { ...o.layout, warn: warn && ((m: string) => { if (!said.has(m)) { said.add(m); warn(m) } }) }
  }

  async first (): Promise<Schedule> {
    const bytes = await this.source.load() as Buffer
    const s = scheduleOf(bytes, this.source, this.layout)
    this.lastDigest = digestOf(bytes)
    return s
  }

  async reload (): Promise<Schedule | undefined> {
    if (!this.source.pollable) return undefined
    let bytes: Buffer | undefined
    try {
      bytes = await this.source.load()
      if (bytes === undefined) return undefined
      const digest = digestOf(bytes)
      if (digest === this.lastDigest) { this.lastProblem = undefined; return undefined }
      const s = scheduleOf(bytes, this.source, this.layout)
      this.lastDigest = digest
      this.lastProblem = undefined
      this.o.note?.(`${this.source.where}: new playlist loaded`)
      return s
    } catch (e) {
      if (!(e instanceof PcError) || e instanceof UsageError) throw e
      // read it whole next time: a half-written file or a stale .sig may be fixed by then
      this.source.forget()
      const problem = `${e.message}\0${bytes ? digestOf(bytes) : ''}`
      if (problem !== this.lastProblem) this.o.warn(`${e.message}; keeping the last good schedule`)
      this.lastProblem = problem
      return undefined
    }
  }
}
