// HTTP GET with a bounded wait, mapping failures to the error types commands exit on.
import fetch, { type Response, type RequestInit } from 'node-fetch'
import { NoInputError, UnavailableError } from './cli.js'

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
