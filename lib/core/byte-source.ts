// Random access to the bytes of a local file or a URL, so a prober reads only what it
// needs: for a URL, one Range request for the head (which also tells the size through
// Content-Range) and a few more for whatever else a format keeps elsewhere (a tail page,
// an index at the end). A server without Range support still works, more slowly.
import { open, type FileHandle } from 'node:fs/promises'
import { DataError, NoInputError, UnavailableError } from './errors.js'
import { IDLE_TIMEOUT_MS, getBody, type Body, type BodyOptions } from './http.js'

/** How much of a URL the first request asks for; most formats need no more. */
export const HEAD_BYTES = 64 * 1024

export interface ByteSource {
  /** the path or URL, for messages */
  readonly name: string
  readonly size: number
  /** up to `length` bytes from `offset` (fewer only at the end) */
  read: (offset: number, length: number) => Promise<Buffer>
  /** every byte, in order, with bounded memory */
  stream: () => AsyncIterable<Buffer>
  close: () => Promise<void>
}

export function isUrl (spec: string): boolean { return /^https?:\/\//i.test(spec) }

export interface SourceOptions {
  signal?: AbortSignal
  headBytes?: number
  /** what messages call it (default: the path or URL) */
  name?: string
}

export async function openSource (spec: string, opts: SourceOptions = {}): Promise<ByteSource> {
  return isUrl(spec) ? await openUrlSource(spec, opts) : await openFileSource(spec, opts.name)
}

export async function openFileSource (path: string, name = path): Promise<ByteSource> {
  let fh: FileHandle
  let size: number
  try {
    fh = await open(path, 'r')
  } catch (e) {
    throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, name)
  }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw new NoInputError('is a directory', name)
    size = st.size
  } catch (e) {
    await fh.close()
    throw e
  }
  return {
    name,
    size,
    async read (offset, length) {
      const n = Math.max(0, Math.min(length, size - offset))
      const buf = Buffer.allocUnsafe(n)
      let got = 0
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, offset + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      return buf.subarray(0, got)
    },
    stream: () => fh.createReadStream({ start: 0, autoClose: false }) as AsyncIterable<Buffer>,
    close: () => fh.close(),
  }
}

export { IDLE_TIMEOUT_MS, getBody, type Body, type BodyOptions }

/** At most `max` bytes of a body, then let go of the connection. */
async function readBody (b: Body, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let n = 0
  if (max > 0) {
    for await (const d of b.chunks) {
      parts.push(d.subarray(0, max - n))
      n += Math.min(d.length, max - n)
      if (n >= max) break
    }
  }
  b.cancel()
  return Buffer.concat(parts)
}

/** A whole body, refused past `max` bytes (lists, hash trees). */
export async function fetchAll (url: string, max: number, signal?: AbortSignal): Promise<Buffer> {
  const b = await getBody(url, { signal })
  const parts: Buffer[] = []
  let n = 0
  for await (const d of b.chunks) {
    n += d.length
    if (n > max) { b.cancel(); throw new DataError(`larger than ${max} bytes`, url) }
    parts.push(d)
  }
  return Buffer.concat(parts)
}

// identity: byte ranges and sizes are of the file itself, never of a compressed form
const IDENTITY = { 'accept-encoding': 'identity' }

export async function openUrlSource (url: string, opts: SourceOptions = {}): Promise<ByteSource> {
  const headBytes = opts.headBytes ?? HEAD_BYTES
  const signal = opts.signal
  const first = await getBody(url, { signal, headers: { range: `bytes=0-${headBytes - 1}`, ...IDENTITY }, accept: [206, 416] })
  let size: number
  let ranges: boolean
  if (first.status === 416) {
    first.cancel()
    throw new DataError('empty file', url)
  }
  if (first.status === 206) {
    const m = /^bytes \d+-\d+\/(\d+)$/.exec(first.header('content-range') ?? '')
    if (!m) { first.cancel(); throw new UnavailableError(`206 answer without a usable Content-Range: '${first.header('content-range') ?? ''}'`, url) }
    size = Number(m[1])
    ranges = true
  } else {
    const len = first.header('content-length')
    if (len === null || !/^\d+$/.test(len)) { first.cancel(); throw new UnavailableError('the server tells neither Content-Range nor Content-Length', url) }
    size = Number(len)
    ranges = false
  }
  const head = await readBody(first, Math.min(headBytes, size))

  return {
    name: opts.name ?? url,
    size,
    async read (offset, length) {
      const end = Math.min(size, offset + length)
      if (end <= offset) return Buffer.alloc(0)
      if (end <= head.length) return head.subarray(offset, end)
      if (ranges) {
        const b = await getBody(url, { signal, headers: { range: `bytes=${offset}-${end - 1}`, ...IDENTITY }, accept: [206] })
        if (b.status !== 206) { b.cancel(); throw new UnavailableError(`asked for a range, got HTTP ${b.status}`, url) }
        return await readBody(b, end - offset)
      }
      // No Range support: stream from the start and keep only the window asked for.
      const b = await getBody(url, { signal, headers: IDENTITY })
      const parts: Buffer[] = []
      let pos = 0
      for await (const d of b.chunks) {
        const lo = Math.max(offset, pos); const hi = Math.min(end, pos + d.length)
        if (hi > lo) parts.push(d.subarray(lo - pos, hi - pos))
        pos += d.length
        if (pos >= end) break
      }
      b.cancel()
      return Buffer.concat(parts)
    },
    async * stream () {
      const b = await getBody(url, { signal, headers: IDENTITY })
      yield * b.chunks
    },
    close: async () => {},
  }
}
