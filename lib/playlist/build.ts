// pc-playlist's work, short of writing: expand the inputs, probe each medium (a few
// at a time, order kept), map local paths to the URLs listeners will fetch, hash
// when asked, lay the items out in time and format the document.
import { randomBytes } from 'node:crypto'
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, extname, isAbsolute, join, relative, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { DataError, IOError, NoInputError, PcError, UsageError } from '../core/errors.js'
import { formatTree, infoHash, parseTree } from '../hashing/hashtree.js'
import { hashFile } from '../hashing/hash-parallel.js'
import { fetchAll, isUrl } from '../core/byte-source.js'
import { expandInputs, type MediaEntry } from './media-list.js'
import { probeMedia } from '../media/probe.js'
import { needsRemux, remux, remuxCommand } from '../media/remux.js'
import { formatPlaylist, layout, MAX_ITEMS, type LiveSlot, type Medium, type ScheduledItem } from './write.js'
import { formatTime, parseDuration, parseTime } from '../core/units.js'

/** Probes in flight at once: enough to hide URL round trips, few enough to be polite. */
export const PROBE_CONCURRENCY = 4
/** A published tree for a 1 TiB item at 128 KiB chunks is about 530 MB; far beyond this is not one. */
export const MAX_TREE_BYTES = 64 * 1024 * 1024

export interface BuildOptions {
  args: string[]
  stdin: Readable
  cwd: string
  /** what local paths map to: a URL ending in '/' */
  baseUrl?: string
  /** the local directory baseUrl stands for */
  root: string
  title: string
  link?: string
  description?: string
  start: number
  until?: number
  shuffle?: boolean
  random?: () => number
  /** copy a plain MP4/MOV with video into fragmented MP4 beside it (ffmpeg -c copy) and list the copy */
  remux?: boolean
  /** live shows to put on air between the media (--live) */
  live?: LiveSlot[]
  /** write/reuse FILE.hashtree and put roots in dc:identifier */
  hash?: boolean
  chunkSize?: number
  signal?: AbortSignal
  /** progress lines (-v) */
  log?: (msg: string) => void
  /** warnings (silenced by -q) */
  warn?: (msg: string) => void
}

export interface Built {
  xml: string
  items: ScheduledItem[]
  /** hex BitTorrent info-hashes of the hashed media, each once, in order */
  infoHashes: string[]
}

export async function buildPlaylist (o: BuildOptions): Promise<Built> {
  // a schedule of live shows alone reads no list from stdin unless told to with '-'
  const liveOnly = o.args.length === 0 && (o.live?.length ?? 0) > 0
  const entries = liveOnly ? [] : await expandInputs(o.args, o.stdin, { cwd: o.cwd, signal: o.signal, log: o.log })
  if (entries.length === 0 && !liveOnly) throw new DataError('no items', o.args.length === 0 || o.args.includes('-') ? 'stdin' : 'arguments')
  const cache = new Map<string, Promise<Medium>>()
  const media = await mapLimit(entries, PROBE_CONCURRENCY, async (e) => {
    let p = cache.get(e.spec)
    if (!p) { p = describe(e, o); cache.set(e.spec, p) }
    const m = await p
    return e.title !== undefined ? { ...m, title: e.title } : m
  })
  let items: ScheduledItem[]
  try {
    items = liveOnly ? layout([], { start: o.start, live: o.live }) : layout(media, { start: o.start, until: o.until, shuffle: o.shuffle, random: o.random, live: o.live })
  } catch (e) {
    if (!/^more than/.test((e as Error).message)) throw e
    throw new UsageError(`--until: the schedule would have more than ${MAX_ITEMS} items`)
  }
  const recorded = items.filter(i => !i.live).length
  if (recorded < media.length) o.warn?.(`--until comes before the list ends: ${media.length - recorded} of ${media.length} items left out`)
  const end = Math.max(...items.map(i => i.end ?? i.start + i.duration))
  const xml = formatPlaylist({
    title: o.title,
    // never an item's own URL: the channel and an item would be one RDF resource
    link: o.link ?? o.baseUrl ?? new URL('./', items[0].url).href,
    description: o.description ?? `${items.length} item${items.length === 1 ? '' : 's'} from ${formatTime(o.start)} to ${formatTime(end)}`,
    date: o.start,
  }, items)
  const infoHashes = [...new Set(media.filter(m => m.root).map(m => infoHash(Buffer.from(m.root as string, 'hex')).toString('hex')))]
  return { xml, items, infoHashes }
}

/** Probe one entry (and hash it with --hash) into what the playlist says of it. */
async function describe (e: MediaEntry, o: BuildOptions): Promise<Medium> {
  try {
    return await describeMedium(e, o)
  } catch (err) {
    // Name the list line too when the medium came from a list or stdin.
    if (!(err instanceof PcError) || e.where.startsWith('argument')) throw err
    const Class = err.constructor as new (m: string, w?: string) => PcError
    throw new Class(err.message, e.where)
  }
}

async function describeMedium (entry: MediaEntry, o: BuildOptions): Promise<Medium> {
  let e = entry
  let info = await probeMedia(e.spec, { signal: o.signal, name: e.name })
  if (needsRemux(info)) {
    // a viewer tuning in mid-item could not decode it: only a fragmented copy goes on air
    const kind = info.format === 'mov' ? 'MOV' : 'MP4'
    if (isUrl(e.spec)) throw new DataError(`a plain ${kind} with video cannot be joined mid-item; on its server, copy it into fragmented MP4 without re-encoding: ${remuxCommand(basename(new URL(e.spec).pathname))}`, e.name)
    if (!o.remux) throw new DataError(`a plain ${kind} with video cannot be joined mid-item; copy it into fragmented MP4 without re-encoding: ${remuxCommand(e.spec)} (or pass --remux)`, e.name)
    const r = await remux(e.spec, o.signal)
    o.log?.(`${e.name}: ${r.written ? 'remuxed into' : 'reusing'} ${r.path}`)
    const title = info.title
    e = { ...e, spec: r.path, name: r.path }
    info = { ...await probeMedia(e.spec, { signal: o.signal, name: e.name }), ...(title !== undefined ? { title } : {}) }
  }
  const url = isUrl(e.spec) ? e.spec : localUrl(e.spec, o, e.name)
  let root: string | undefined
  if (o.hash) root = isUrl(e.spec) ? await publishedRoot(e.spec, info.size, o.signal) : await localRoot(e.spec, o.chunkSize, o.signal, o.log)
  o.log?.(`${e.name}: ${info.format}, ${info.mime}, ${info.duration} ms${root ? `, root ${root}` : ''}`)
  return { url, title: info.title ?? fallbackTitle(entry.spec), mime: info.mime, duration: info.duration, ...(root ? { root } : {}) }
}

/** Where a local file will be on the web: its path below `root`, under `baseUrl`. */
export function localUrl (path: string, o: { baseUrl?: string, root: string }, name = path): string {
  if (!o.baseUrl) throw new UsageError(`${name}: a local file needs --base-url (the URL listeners fetch it from)`)
  const rel = relative(o.root, path)
  if (rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) {
    throw new UsageError(`${name} is outside ${o.root}, the directory --base-url stands for (see --root)`)
  }
  return new URL(rel.split(sep).map(encodeURIComponent).join('/'), o.baseUrl).href
}

function fallbackTitle (spec: string): string {
  let name = isUrl(spec) ? new URL(spec).pathname.split('/').pop() ?? '' : basename(spec)
  try { name = isUrl(spec) ? decodeURIComponent(name) : name } catch { /* keep it encoded */ }
  return name.replace(/\.[A-Za-z0-9]{1,5}$/, '') || spec
}

/**
 * The root of FILE.hashtree (built as pc-hash builds it, on worker threads when big): reused when it is no older than FILE and matches its size
 * and the chunk size asked for (a nightly cron job then hashes only new media), else
 * built and written beside the file.
 */
async function localRoot (path: string, chunkSize: number | undefined, signal?: AbortSignal, log?: (msg: string) => void): Promise<string> {
  const treePath = path + '.hashtree'
  const media = await stat(path)
  try {
    const ts = await stat(treePath)
    if (ts.mtimeMs >= media.mtimeMs) {
      const t = parseTree(await readFile(treePath, 'utf8'), treePath)
      if (t.size === media.size && (chunkSize === undefined || t.chunkSize === chunkSize)) return t.root.toString('hex')
    }
  } catch { /* absent, stale or unreadable: build it again */ }
  const tree = await hashFile(path, { chunkSize, signal })
  await writeFileAtomic(treePath, formatTree(tree))
  log?.(`wrote ${treePath}`)
  return tree.root.toString('hex')
}

/** For a URL, the tree must already be published at URL.hashtree (pc-hash on the origin). */
async function publishedRoot (url: string, size: number, signal?: AbortSignal): Promise<string> {
  const treeUrl = url + '.hashtree'
  let text: string
  try {
    text = (await fetchAll(treeUrl, MAX_TREE_BYTES, signal)).toString('utf8')
  } catch (e) {
    if (e instanceof NoInputError) throw new NoInputError(`${e.message}; --hash needs the tree published beside each URL (pc-hash)`)
    throw e
  }
  const t = parseTree(text, treeUrl)
  if (t.size !== size) throw new DataError(`tree is for ${t.size} bytes, the medium has ${size}`, treeUrl)
  return t.root.toString('hex')
}

/** Write beside the target and rename over it, so a reader never sees half a file. */
export async function writeFileAtomic (path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writeFile(tmp, data)
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw new IOError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path)
  }
}

async function mapLimit<T, R> (xs: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length)
  let next = 0
  const failed: Array<{ e: unknown, i: number }> = []
  const worker = async (): Promise<void> => {
    while (next < xs.length && failed.length === 0) {
      const i = next++
      try { out[i] = await f(xs[i]) } catch (e) { failed.push({ e, i }) }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker))
  // The error of the earliest failing entry among those tried, whatever order probes end in.
  if (failed.length > 0) throw failed.sort((a, b) => a.i - b.i)[0].e
  return out
}

/**
 * --live URL@START/DURATION[/TITLE]: a pc-live mount on air from START for DURATION.
 * START and DURATION as every option takes them (ISO 8601 with an offset, now, +2h; 2h, 90m).
 * The MIME type follows the mount's extension (.ogg, .opus, .aac, .webm, .ts, .mp3); a
 * mount without one is left without (liveSlotTypes asks its manifest).
 */
export function parseLiveSlot (spec: string, now: number): LiveSlot {
  const at = spec.lastIndexOf('@')
  if (at <= 0) throw new UsageError(`--live: expected URL@START/DURATION, got '${spec}'`)
  const url = spec.slice(0, at)
  const [start, duration, ...title] = spec.slice(at + 1).split('/')
  let u: URL
  try { u = new URL(url) } catch { throw new UsageError(`--live: not an absolute URL: '${url}'`) }
  if (!/^https?:$/.test(u.protocol)) throw new UsageError(`--live: listeners reach a mount over http or https, not '${u.protocol}'`)
  if (duration === undefined) throw new UsageError(`--live: expected URL@START/DURATION, got '${spec}'`)
  let slot: LiveSlot
  try {
    slot = { url: u.href, start: parseTime(start, now), duration: parseDuration(duration) }
    const mime = LIVE_MIME[extname(u.pathname).toLowerCase()]
    if (mime) slot.mime = mime
  } catch (e) { throw new UsageError(`--live: ${(e as Error).message} in '${spec}'`) }
  if (!(slot.duration > 0)) throw new UsageError(`--live: the duration must be positive in '${spec}'`)
  if (title.length > 0 && title.join('/') !== '') slot.title = title.join('/')
  return slot
}

/** What liveSlotTypes reads of a show's manifest (pc-live(5)). */
export interface ShowType { mime: string, kind: string, chunks: unknown[] }

/**
 * Give each --live slot whose mount says no type the type its show's manifest says, when
 * `lookup` finds one that a source has fed (a manifest written before any source knows
 * none); the others stay without, and are written without dc:format rather than a guess.
 */
export async function liveSlotTypes (slots: LiveSlot[], lookup: (url: string) => Promise<ShowType | undefined>, log?: (m: string) => void): Promise<void> {
  for (const slot of slots) {
    if (slot.mime !== undefined) continue
    const m = await lookup(slot.url)
    const known = m !== undefined && m.chunks.length > 0 && m.kind !== 'other'
    if (known) slot.mime = m.mime
    log?.(`--live ${slot.url}: ${known ? `${m.mime}, from its manifest` : m ? 'its manifest knows no type yet; dc:format left out' : 'no manifest yet; dc:format left out'}`)
  }
}

const LIVE_MIME: Record<string, string> = {
  '.ogg': 'audio/ogg', '.opus': 'audio/ogg', '.oga': 'audio/ogg', '.aac': 'audio/aac', '.webm': 'video/webm', '.ts': 'video/mp2t', '.mp3': 'audio/mpeg',
}
