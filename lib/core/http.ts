// HTTP GET with a bounded wait, mapping failures to the error types commands exit on.
import fetch, { type Response, type RequestInit } from 'node-fetch'
import { NoInputError, UnavailableError } from './errors.js'

export const CONNECT_TIMEOUT_MS = 10_000

export interface Linked { signal: AbortSignal, abort: () => void, release: () => void }

/**
 * A signal that aborts when `parent` does or when `abort()` is called; `release()` undoes
 * the link. AbortSignal.any() links the same way, but Node 20 keeps a WeakRef in the
 * parent for every call until the parent aborts (about 60 bytes each): with a command's
 * lifetime signal, a fetch per playlist poll or per live chunk adds up all day.
 */
export function linkedSignal (parent?: AbortSignal): Linked {
  const ac = new AbortController()
  const follow = (): void => ac.abort(parent?.reason)
  if (parent?.aborted) follow(); else parent?.addEventListener('abort', follow, { once: true })
  return { signal: ac.signal, abort: () => ac.abort(), release: () => parent?.removeEventListener('abort', follow) }
}

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
  const link = linkedSignal(opts.signal)
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; link.abort() }, opts.timeoutMs ?? CONNECT_TIMEOUT_MS)
  let res: Response
  try {
    res = await fetch(url, { ...opts, signal: link.signal as RequestInit['signal'] })
  } catch (e) {
    link.release()
    if (opts.signal?.aborted) throw e
    const err = e as NodeJS.ErrnoException & { type?: string }
    const why = timedOut ? `no answer within ${opts.timeoutMs ?? CONNECT_TIMEOUT_MS} ms` : (err.code ?? err.message)
    throw new UnavailableError(`cannot fetch: ${why}`, url)
  } finally {
    clearTimeout(timer)
  }
  if (res.ok || opts.accept?.includes(res.status)) {
    // the caller's signal aborts the body too, until the body is read or let go
    const body = res.body as unknown as NodeJS.EventEmitter | null
    if (body) body.once('close', link.release); else link.release()
    return res
  }
  link.release()
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
  const link = linkedSignal(opts.signal)
  let timedOut = ''
  const idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS
  let res: Response
  try {
    res = await fetchUrl(url, { signal: link.signal, headers: opts.headers, accept: opts.accept, timeoutMs: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS })
  } catch (e) { link.release(); throw e }
  const timer = setTimeout(() => { timedOut = `no data for ${idleMs} ms`; link.abort() }, idleMs)
  const body = res.body as unknown as NodeJS.ReadableStream & { destroy: () => void }
  const cancel = (): void => { clearTimeout(timer); link.release(); body.destroy() }
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
