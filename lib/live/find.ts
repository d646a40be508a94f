// Where a live show's manifest is: beside the mount (MOUNT.json), or named by the mount's
// X-Pc-Live-Manifest header. Used by pc-fetch to tell a live item from a file, and by
// pc-playlist to type a live slot; it needs only the web, not the swarm.
import { DataError, NoInputError } from '../core/errors.js'
import { fetchUrl, linkedSignal } from '../core/http.js'
import type { ScheduleRecord } from '../core/records.js'
import { manifestUrlOf, parseManifest, MANIFEST_HEADER, MAX_MANIFEST_BYTES, type LiveManifest } from './manifest.js'

export interface LiveFound {
  manifestUrl: string
  manifest: LiveManifest
  /** how long the manifest took to come (ms): the web server's pace for a listener tuning in */
  manifestMs?: number
}

async function manifestAt (url: string, signal?: AbortSignal): Promise<LiveManifest | undefined> {
  let res
  try { res = await fetchUrl(url, { signal }) } catch (e) { if (e instanceof NoInputError) return undefined; throw e }
  const text = await res.text()
  if (text.length > MAX_MANIFEST_BYTES) return undefined
  try { return parseManifest(text, url) } catch (e) { if (e instanceof DataError && !/^\s*\{\s*"pcLive"/.test(text)) return undefined; throw e }
}

/**
 * The live manifest of a mount URL: MOUNT.json first, else the X-Pc-Live-Manifest header of
 * a GET of the mount (whose body is not read). undefined when the URL is not a live mount.
 */
export async function findLiveManifest (url: string, signal?: AbortSignal): Promise<LiveFound | undefined> {
  const guess = manifestUrlOf(url)
  let t0 = performance.now()
  const m = await manifestAt(guess, signal)
  if (m) return { manifestUrl: guess, manifest: m, manifestMs: performance.now() - t0 }
  // the body (the stream itself, for a plain Icecast mount) is not read: aborted once the head is in
  const link = linkedSignal(signal)
  let named: string | null = null
  try {
    const res = await fetchUrl(url, { signal: link.signal })
    named = res.headers.get(MANIFEST_HEADER)
  } catch (e) { if (!(e instanceof NoInputError)) throw e } finally { link.abort(); link.release() }
  if (!named) return undefined
  const at = new URL(named, url).toString()
  t0 = performance.now()
  const m2 = await manifestAt(at, signal)
  return m2 ? { manifestUrl: at, manifest: m2, manifestMs: performance.now() - t0 } : undefined
}

/** Whether a URL may be a live mount worth probing: a record says so, or its last segment has no file extension. */
export function mayBeLive (rec: ScheduleRecord): boolean {
  if (rec.live) return true
  try { return !/\.[A-Za-z0-9]{1,5}$/.test(new URL(rec.url).pathname) } catch { return false }
}
