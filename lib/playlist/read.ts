// Alluvium playlist reader (man pc-alluvium.5): the strict RSS 1.0 that pc-playlist
// writes, and the lenient forms real stations wrote (items nested in <channel>, items
// with only <link> and <mm:duration>, no times). Timing lives in lib/schedule.ts.
import { SaxesParser, type SaxesTagNS } from 'saxes'
import { DataError } from '../core/errors.js'

export const NS = {
  rss: 'http://purl.org/rss/1.0/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  ev: 'http://purl.org/rss/1.0/modules/event/',
  mm: 'http://musicbrainz.org/mm/mm-2.0#',
} as const

/** A week of three-minute items is about 2 MB; anything far beyond is not a playlist. */
export const MAX_PLAYLIST_BYTES = 32 * 1024 * 1024

export interface PlaylistItem {
  /** media URL: <link>, else rdf:about */
  url: string
  about?: string
  title?: string
  mime?: string
  /** ms since the epoch (ev:startdate) */
  start?: number
  /** ms since the epoch (ev:enddate) */
  end?: number
  /** ms (mm:duration) */
  duration?: number
  /** hash-tree root, lowercase hex, from dc:identifier urn:blake2b:… */
  root?: string
  /** a live show (dc:type Event, the DCMI type for a non-persistent, time-based
   *  occurrence): its link is a pc-live mount, it has no file, size or hash tree */
  live?: boolean
  /** file:line:column of the <item>, for messages */
  where: string
}

export interface Playlist {
  title?: string
  /** channel dc:date, ms since the epoch */
  date?: number
  items: PlaylistItem[]
  /** things a station got wrong that we could read past */
  warnings: string[]
}

export interface ReadOptions {
  /** file name, URL or `stdin`, prefixed to every location */
  where: string
  /** absolute URL that relative links are resolved against (the playlist's own URL) */
  base?: string
}

// Prefixes stations used without declaring them; an unbound prefix is otherwise an error.
const WELL_KNOWN: Record<string, string> = { rdf: NS.rdf, dc: NS.dc, ev: NS.ev, mm: NS.mm }

type Kind = 'rss' | 'rdf' | 'dc' | 'ev' | 'mm' | 'other'
function kindOf (uri: string): Kind {
  if (uri === NS.rss || uri === '' || uri === 'http://purl.org/rss/1.0') return 'rss'
  if (uri === NS.rdf) return 'rdf'
  if (uri === NS.dc) return 'dc'
  if (uri === NS.ev) return 'ev'
  if (uri.startsWith('http://musicbrainz.org/mm/')) return 'mm'
  return 'other'
}

/** An open element; position and text kept as cheaply as possible (a week of items is 300k elements). */
interface Open { kind: Kind, local: string, line: number, column: number, text: string, keepText: boolean, url?: string, resource?: string }
interface RawItem { fields: Map<string, Open[]>, about?: string, where: string }

/** Decode the bytes as UTF-8, or as the Latin-1 family when the XML declaration says so. */
export function decodePlaylist (bytes: Uint8Array, where: string): string {
  const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1')
  const m = /^(?:\uFEFF|\xEF\xBB\xBF)?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)
  const enc = (m?.[1] ?? 'utf-8').toLowerCase()
  const label = enc === 'utf8' ? 'utf-8' : enc
  if (!['utf-8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1', 'iso-8859-15', 'windows-1252'].includes(label)) {
    throw new DataError(`unsupported encoding '${m?.[1] ?? ''}' (UTF-8, ISO-8859-1, ISO-8859-15 or windows-1252)`, `${where}:1:1`)
  }
  try {
    const text = new TextDecoder(label === 'ascii' ? 'us-ascii' : label, { fatal: true }).decode(bytes)
    return text.startsWith('\uFEFF') ? text.slice(1) : text
  } catch {
    const bad = firstBadUtf8(bytes)
    throw new DataError(`not valid ${label.toUpperCase()}`, `${where}:${bad.line}:${bad.column}`)
  }
}

function firstBadUtf8 (bytes: Uint8Array): { line: number, column: number } {
  let line = 1; let column = 1; let i = 0
  while (i < bytes.length) {
    const b = bytes[i]
    const n = b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 0
    if (n === 0 || i + n > bytes.length) return { line, column }
    try { new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(i, i + n)) } catch { return { line, column } }
    if (b === 0x0a) { line++; column = 1 } else column++
    i += n
  }
  return { line, column }
}

/**
 * An ISO 8601 time that names its offset (`Z`, `+02:00`), or a bare date (taken as
 * midnight UTC). A date-time without an offset is refused: it would depend on the
 * reader's zone.
 */
export function parsePlaylistTime (text: string, where: string): number {
  const t = text.trim()
  let ms = NaN
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) ms = Date.parse(t + 'T00:00:00Z')
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/i.test(t)) throw new DataError(`time '${t}' has no UTC offset (add Z or +HH:MM)`, where)
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(t)) ms = Date.parse(t.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  if (Number.isNaN(ms)) throw new DataError(`not an ISO 8601 time: '${t}'`, where)
  return ms
}

function parseDurationMs (text: string, where: string): number {
  const t = text.trim()
  if (!/^\d+(\.\d+)?$/.test(t)) throw new DataError(`mm:duration must be milliseconds, got '${t}'`, where)
  const n = Math.round(Number(t))
  if (!Number.isSafeInteger(n)) throw new DataError(`mm:duration out of range: '${t}'`, where)
  return n
}

/** Parse a playlist's text. Throws DataError naming file:line:column. */
export function parsePlaylist (text: string, opts: ReadOptions): Playlist {
  const { where } = opts
  const parser = new SaxesParser({
    xmlns: true,
    position: true,
    fileName: where,
    resolvePrefix: (p: string) => p === '' ? undefined : (WELL_KNOWN[p] ?? `urn:x-unbound:${p}`),
  })
  const stack: Open[] = []
  const seq: string[] = []
  const items: PlaylistItem[] = []
  let current: RawItem | undefined
  let itemDepth = -1
  let rootSeen = false
  let channelTitle: string | undefined
  let channelDate: Open | undefined
  const warnings: string[] = []
  const at = (el: Open): string => `${where}:${el.line}:${el.column}`
  const attr = (tag: SaxesTagNS, local: string): string | undefined => {
    for (const a of Object.values(tag.attributes)) if (a.local === local && (a.uri === NS.rdf || a.uri === '')) return a.value
    return undefined
  }

  parser.on('opentag', (tag: SaxesTagNS) => {
    const kind = kindOf(tag.uri)
    const local = tag.local.toLowerCase()
    const parent = stack[stack.length - 1]
    const keepText = (current !== undefined && stack.length === itemDepth + 1) || (parent?.kind === 'rss' && parent.local === 'channel')
    const el: Open = { kind, local, line: parser.line, column: parser.column, text: '', keepText }
    if (!rootSeen) {
      rootSeen = true
      if (!((kind === 'rdf' && local === 'rdf') || (kind === 'rss' && (local === 'rss' || local === 'channel')))) {
        throw new DataError(`not an RSS playlist: the root element is <${tag.name}>`, at(el))
      }
    }
    if (current === undefined && kind === 'rss' && local === 'item') {
      current = { fields: new Map(), about: attr(tag, 'about'), where: at(el) }
      itemDepth = stack.length
    } else if (current !== undefined && keepText && kind === 'rss' && local === 'enclosure') {
      el.url = attr(tag, 'url')
    } else if (current !== undefined && keepText && kind === 'dc' && local === 'type') {
      el.resource = attr(tag, 'resource')
    } else if (current === undefined && kind === 'rdf' && local === 'li' && stack.some(s => s.kind === 'rdf' && s.local === 'seq')) {
      const r = attr(tag, 'resource') ?? attr(tag, 'about')
      if (r !== undefined) seq.push(r)
    }
    stack.push(el)
  })
  const onText = (t: string): void => { const top = stack[stack.length - 1]; if (top?.keepText) top.text += t }
  parser.on('text', onText)
  parser.on('cdata', onText)
  parser.on('closetag', () => {
    const el = stack.pop()
    if (!el) return
    const parent = stack[stack.length - 1]
    if (current !== undefined && stack.length === itemDepth) {
      items.push(toItem(current, opts))
      current = undefined
      itemDepth = -1
    } else if (current !== undefined && stack.length === itemDepth + 1) {
      const key = `${el.kind}:${el.local}`
      if (!WANTED.has(key)) return
      const list = current.fields.get(key)
      if (list) list.push(el); else current.fields.set(key, [el])
    } else if (parent?.kind === 'rss' && parent.local === 'channel') {
      if (el.kind === 'rss' && el.local === 'title') channelTitle = el.text.trim()
      if (el.kind === 'dc' && el.local === 'date') channelDate = el
    }
  })

  try {
    parser.write(text).close()
  } catch (e) {
    if (e instanceof DataError) throw e
    // saxes already formats "where:line:column: message"; strip its trailing full stop
    const msg = (e as Error).message.replace(/\.$/, '')
    const m = /^(.*?:\d+:\d+): (.*)$/s.exec(msg)
    throw new DataError(`malformed XML: ${m ? m[2] : msg}`, m ? m[1] : where)
  }

  if (items.length === 0) throw new DataError('the playlist has no <item> elements', where)
  return {
    title: channelTitle,
    date: channelDate ? parsePlaylistTime(channelDate.text, at(channelDate)) : undefined,
    items: orderBySeq(items, seq, warnings),
    warnings,
  }
}

const WANTED = new Set(['rss:link', 'rss:enclosure', 'rss:title', 'dc:title', 'dc:format', 'dc:identifier', 'dc:type', 'ev:startdate', 'ev:enddate', 'mm:duration'])

function toItem (r: RawItem, opts: ReadOptions): PlaylistItem {
  const where = opts.where
  const at = (el: Open): string => `${where}:${el.line}:${el.column}`
  const one = (key: string): Open | undefined => r.fields.get(key)?.[0]
  const text = (key: string): string | undefined => { const v = one(key)?.text.trim(); return v === '' ? undefined : v }
  const link = text('rss:link') ?? one('rss:enclosure')?.url ?? r.about
  if (link === undefined) throw new DataError('item has neither <link> nor rdf:about', r.where)
  let url = link
  if (opts.base !== undefined) {
    try { url = new URL(link, opts.base).href } catch { throw new DataError(`item link is not a URL: '${link}'`, (one('rss:link') ? at(one('rss:link') as Open) : r.where)) }
  }
  const item: PlaylistItem = { url, where: r.where }
  if (r.about !== undefined) item.about = r.about
  const title = text('dc:title') ?? text('rss:title')
  if (title !== undefined) item.title = title
  const mime = text('dc:format')
  if (mime !== undefined) item.mime = mime
  const s = one('ev:startdate'); if (s) item.start = parsePlaylistTime(s.text, at(s))
  const e = one('ev:enddate'); if (e) item.end = parsePlaylistTime(e.text, at(e))
  const d = one('mm:duration'); if (d) item.duration = parseDurationMs(d.text, at(d))
  for (const id of r.fields.get('dc:identifier') ?? []) {
    const v = id.text.trim()
    if (!/^urn:blake2b:/i.test(v)) continue // other identifiers (ISRC, urn:uuid…) are allowed and ignored
    const hex = v.slice('urn:blake2b:'.length)
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new DataError(`dc:identifier: urn:blake2b: needs 64 hex digits, got '${hex}'`, at(id))
    item.root = hex.toLowerCase()
  }
  if ((r.fields.get('dc:type') ?? []).some(isLiveType)) item.live = true
  return item
}

/** dc:type Event, as a literal or the DCMI Type Vocabulary URI (rdf:resource). */
const LIVE_TYPE = /^(?:https?:\/\/purl\.org\/dc\/dcmitype\/)?event$/i
function isLiveType (el: Open): boolean {
  return LIVE_TYPE.test(el.text.trim()) || (el.resource !== undefined && LIVE_TYPE.test(el.resource.trim()))
}

/** RSS 1.0 orders items by the channel's rdf:Seq; without one, document order. */
function orderBySeq (items: PlaylistItem[], seq: string[], warnings: string[]): PlaylistItem[] {
  if (seq.length === 0) return items
  // each resource names the items with that rdf:about (else link), taken in turn
  const byName = new Map<string, PlaylistItem[]>()
  const add = (k: string, it: PlaylistItem): void => { const q = byName.get(k); if (q) q.push(it); else byName.set(k, [it]) }
  for (const it of items) { add(it.about ?? it.url, it); if (it.about !== undefined && it.about !== it.url) add('\0' + it.url, it) }
  const used = new Set<PlaylistItem>()
  const take = (k: string): PlaylistItem | undefined => {
    const q = byName.get(k)
    while (q && q.length > 0) { const it = q.shift() as PlaylistItem; if (!used.has(it)) return it }
    return undefined
  }
  const out: PlaylistItem[] = []
  for (const res of seq) {
    const it = take(res) ?? take('\0' + res)
    if (!it) { warnings.push(`rdf:Seq lists '${res}' but no <item> has it; skipped`); continue }
    used.add(it)
    out.push(it)
  }
  for (const it of items) {
    if (!used.has(it)) { warnings.push(`${it.where}: item not listed in the channel's rdf:Seq; played after the listed ones`); out.push(it) }
  }
  return out
}
