// HTTP GET with a bounded wait, mapping failures to the error types commands exit on.
import fetch, { type Response, type RequestInit } from 'node-fetch'
import { NoInputError, UnavailableError } from './errors.js'

export const CONNECT_TIMEOUT_MS = 10_000

export interface FetchOptions extends Omit<RequestInit, 'signal'> {
  signal?: AbortSignal
  timeoutMs?: number
  /** statuses to return instead of throwing (e.g. 304, 206) */
  accept?: number[]
}

/**
 * Fetch a URL; 404/410 → NoInputError (66), network/5xx/timeout → UnavailableError (69).
 * The timeout bounds the wait for the response head only: a body may take as long
 * as it needs (the caller's signal still aborts it).
 */
export async function fetchUrl (url: string, opts: FetchOptions = {}): Promise<Response> {
  const headWait = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; headWait.abort() }, opts.timeoutMs ?? CONNECT_TIMEOUT_MS)
  const signal = opts.signal ? AbortSignal.any([opts.signal, headWait.signal]) : headWait.signal
  let res: Response
  try {
    res = await fetch(url, { ...opts, signal: signal as RequestInit['signal'] })
  } catch (e) {
    if (opts.signal?.aborted) throw e
    const err = e as NodeJS.ErrnoException & { type?: string }
    const why = timedOut ? `no answer within ${opts.timeoutMs ?? CONNECT_TIMEOUT_MS} ms` : (err.code ?? err.message)
    throw new UnavailableError(`cannot fetch: ${why}`, url)
  } finally {
    clearTimeout(timer)
  }
  if (res.ok || opts.accept?.includes(res.status)) return res
  if (res.status === 404 || res.status === 410 || res.status === 403) throw new NoInputError(`HTTP ${res.status}`, url)
  throw new UnavailableError(`HTTP ${res.status}`, url)
}

/** A response body that sends nothing for this long is given up on (69). */
export const IDLE_TIMEOUT_MS = 30_000

export interface BodyOptions {
  signal?: AbortSignal
  headers?: Record<string, string>
  /** statuses to take besides 2xx */
  accept?: number[]
  connectTimeoutMs?: number
  idleTimeoutMs?: number
}

export interface Body {
  status: number
  header: (name: string) => string | null
  /** the body; errors come as UnavailableError (or the caller's AbortError) */
  chunks: AsyncIterable<Buffer>
  /** let go of a body not read to its end */
  cancel: () => void
}

/**
 * GET with the response head due within the connect timeout, then a body that may
 * take as long as it needs while data keeps coming: a body idle for idleTimeoutMs is
 * given up on (UnavailableError).
 */
export async function getBody (url: string, opts: BodyOptions = {}): Promise<Body> {
  const ac = new AbortController()
  let timedOut = ''
  const idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS
  const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal
  const res = await fetchUrl(url, { signal, headers: opts.headers, accept: opts.accept, timeoutMs: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS })
  const timer = setTimeout(() => { timedOut = `no data for ${idleMs} ms`; ac.abort() }, idleMs)
  const body = res.body as unknown as NodeJS.ReadableStream & { destroy: () => void }
  const cancel = (): void => { clearTimeout(timer); body.destroy() }
  async function * chunks (): AsyncGenerator<Buffer> {
    try {
      for await (const d of body as AsyncIterable<Buffer>) { timer.refresh(); yield d }
    } catch (e) {
      if (timedOut) throw new UnavailableError(`cannot fetch: ${timedOut}`, url)
      if (opts.signal?.aborted) throw e
      throw new UnavailableError(`transfer failed: ${(e as Error).message}`, url)
    } finally {
      cancel()
    }
  }
  return { status: res.status, header: (n) => res.headers.get(n), chunks: chunks(), cancel }
}
