// NDJSON in and out: a strict line reader that names where a bad line is, and a
// backpressure-aware writer.
import split2 from 'split2'
import { pipeline, type Readable, type Writable } from 'node:stream'
import { DataError } from './errors.js'

export const MAX_LINE_BYTES = 1024 * 1024

/** Yield one object per line; `where` (e.g. `stdin`) prefixes errors as `stdin:12`. */
export async function * readNdjson (input: Readable, where = 'stdin'): AsyncGenerator<Record<string, unknown>> {
  const lines = split2({ maxLength: MAX_LINE_BYTES })
  // an error on either side ends the loop below, through `lines`; leaving the loop early tears down both
  pipeline(input, lines, () => {})
  let n = 0
  try {
    for await (const raw of lines as AsyncIterable<string>) {
      n++
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
      if (line.trim() === '') continue
      let v: unknown
      try { v = JSON.parse(line) } catch (e) { throw new DataError(`not JSON: ${(e as Error).message}`, `${where}:${n}`) }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DataError('not a JSON object', `${where}:${n}`)
      yield v as Record<string, unknown>
    }
  } catch (e) {
    if (e instanceof DataError) throw e
    if (/maxLength|maximum buffer/i.test((e as Error).message)) throw new DataError(`line longer than ${MAX_LINE_BYTES} bytes`, `${where}:${n + 1}`)
    throw e
  }
}

function epipe (message: string): Error {
  const e = new Error(message) as NodeJS.ErrnoException
  e.code = 'EPIPE'
  return e
}

/** Resolve on the stream's next 'drain'; reject on 'error', or as EPIPE on 'close' first. */
export function drained (out: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => { out.off('drain', onDrain); out.off('error', onErr); out.off('close', onClose); err ? reject(err) : resolve() }
    const onDrain = (): void => done()
    const onErr = (e: Error): void => done(e)
    const onClose = (): void => done(epipe('closed'))
    out.once('drain', onDrain); out.once('error', onErr); out.once('close', onClose)
  })
}

/** Write a buffer or string, waiting for 'drain' when the stream asks us to. */
export async function writeAll (out: Writable, data: string | Uint8Array): Promise<void> {
  if (out.destroyed) throw epipe('write after destroy')
  if (!out.write(data)) await drained(out)
}

export async function writeRecord (out: Writable, rec: object): Promise<void> {
  await writeAll(out, JSON.stringify(rec) + '\n')
}
