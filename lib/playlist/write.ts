// The Alluvium playlist writer (man pc-alluvium.5): items laid out back to back in epoch
// milliseconds, so no daylight-saving change can gain or lose time, then written as
// strictly valid RSS 1.0 RDF/XML — items listed in the channel's rdf:Seq and described
// beside the channel, every string escaped.
import { formatTime } from '../core/units.js'

export const NS = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  rss: 'http://purl.org/rss/1.0/',
  dc: 'http://purl.org/dc/elements/1.1/',
  ev: 'http://purl.org/rss/1.0/modules/event/',
  mm: 'http://musicbrainz.org/mm/mm-2.1#',
} as const

/** The DCMI Type for a non-persistent, time-based occurrence: what marks a live item. */
export const DCMI_EVENT = 'http://purl.org/dc/dcmitype/Event'

/** A cron job laying out a day of one-second jingles should not build a gigabyte. */
export const MAX_ITEMS = 100_000

export interface Medium {
  url: string
  title: string
  /** absent only for a live show whose type is not known when the playlist is written */
  mime?: string
  /** ms, > 0 */
  duration: number
  /** hash-tree root, lowercase hex */
  root?: string
  /** a live show (a pc-live mount): written as dc:type Event, with no mm:duration */
  live?: boolean
}

export interface ScheduledItem extends Medium {
  /** the RDF identity: the URL, with `#N` on its Nth occurrence (N ≥ 2) */
  about: string
  /** ms since the epoch */
  start: number
  /** ms since the epoch, when a live slot cuts the item short (else start + duration) */
  end?: number
}

/** A live show's slot (pc-playlist --live URL@START/DURATION). */
export interface LiveSlot {
  url: string
  title?: string
  mime?: string
  /** ms since the epoch */
  start: number
  /** ms, > 0 */
  duration: number
}

export interface Channel {
  title: string
  link: string
  description: string
  /** ms since the epoch: the schedule's start */
  date: number
}

export interface LayoutOptions {
  start: number
  /** repeat the list until an item would start at or after this time */
  until?: number
  shuffle?: boolean
  /** [0, 1), for --shuffle; Math.random by default */
  random?: () => number
  /** live shows: the item on air when one begins is cut short, and the music resumes
   *  with the next item when it ends */
  live?: LiveSlot[]
}

/**
 * Lay media out back to back from `start`. With `until` the list repeats (reshuffled
 * each time round when shuffling) until the next item would start at or after `until`;
 * the last item may run past it, so the air is covered up to `until`.
 */
export function layout (media: Medium[], opts: LayoutOptions): ScheduledItem[] {
  if (media.length === 0 && (opts.live?.length ?? 0) === 0) return []
  for (const m of media) if (!(m.duration > 0)) throw new RangeError(`${m.url}: duration must be positive`)
  const random = opts.random ?? Math.random
  const out: ScheduledItem[] = []
  const seen = new Map<string, number>()
  const about = (url: string): string => {
    const n = (seen.get(url) ?? 0) + 1
    seen.set(url, n)
    return n === 1 || url.includes('#') ? url : `${url}#${n}`
  }
  const live = [...(opts.live ?? [])].sort((a, b) => a.start - b.start)
  for (let i = 1; i < live.length; i++) {
    if (live[i].start < live[i - 1].start + live[i - 1].duration) throw new RangeError(`live slots overlap: ${live[i - 1].url} and ${live[i].url}`)
  }
  let t = opts.start
  // a live slot that begins before t (or at it) goes on air now, cut to what is left of it
  const airLive = (): void => {
    const s = live.shift() as LiveSlot
    const end = s.start + s.duration
    if (end <= t) return
    const start = Math.max(s.start, t)
    out.push({ url: s.url, title: s.title ?? s.url, ...(s.mime ? { mime: s.mime } : {}), duration: end - start, live: true, about: about(s.url), start })
    t = end
  }
  let last: Medium | undefined
  if (media.length > 0) do {
    const pass = opts.shuffle ? shuffled(media, random) : media
    // Do not play the same item twice in a row where a pass begins.
    if (opts.shuffle && pass.length > 1 && pass[0] === last) [pass[0], pass[1]] = [pass[1], pass[0]]
    for (const m of pass) {
      while (live.length > 0 && live[0].start <= t) airLive()
      if (opts.until !== undefined && t >= opts.until) break
      if (out.length >= MAX_ITEMS) throw new RangeError(`more than ${MAX_ITEMS} items`)
      const item: ScheduledItem = { ...m, about: about(m.url), start: t }
      out.push(item)
      t += m.duration
      last = m
      if (live.length > 0 && live[0].start < t) { item.end = live[0].start; t = live[0].start }
    }
  } while (opts.until !== undefined && t < opts.until)
  // live shows after the music has run out still air, at their own times
  while (live.length > 0) { t = Math.max(t, live[0].start); airLive() }
  return out
}

function shuffled<T> (xs: T[], random: () => number): T[] {
  const a = xs.slice()
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

/**
 * Text for XML 1.0 character data or a quoted attribute: markup characters escaped,
 * characters XML 1.0 forbids (C0 controls but tab, CR, LF; U+FFFE/FFFF; lone
 * surrogates) replaced by U+FFFD, line ends kept as entities so attributes keep them.
 */
export function escapeXml (s: string): string {
  return s
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/[&<>"'\r\n\t]/g, c => ENTITIES[c])
}
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;', '\n': '&#10;', '\t': '&#9;' }

/** The playlist document. Deterministic: the same input gives the same bytes. */
export function formatPlaylist (channel: Channel, items: ScheduledItem[]): string {
  const x = escapeXml
  const el = (indent: string, name: string, text: string): string => `${indent}<${name}>${x(text)}</${name}>\n`
  let s = '<?xml version="1.0" encoding="utf-8"?>\n'
  s += `<rdf:RDF xmlns:rdf="${NS.rdf}"\n  xmlns="${NS.rss}"\n  xmlns:dc="${NS.dc}"\n  xmlns:ev="${NS.ev}"\n  xmlns:mm="${NS.mm}">\n`
  s += `  <channel rdf:about="${x(channel.link)}">\n`
  s += el('    ', 'title', channel.title)
  s += el('    ', 'link', channel.link)
  s += el('    ', 'description', channel.description)
  s += el('    ', 'dc:date', formatTime(channel.date))
  s += '    <items>\n      <rdf:Seq>\n'
  for (const it of items) s += `        <rdf:li rdf:resource="${x(it.about)}"/>\n`
  s += '      </rdf:Seq>\n    </items>\n  </channel>\n'
  for (const it of items) {
    s += `  <item rdf:about="${x(it.about)}">\n`
    s += el('    ', 'title', it.title)
    s += el('    ', 'link', it.url)
    s += el('    ', 'dc:title', it.title)
    if (it.mime) s += el('    ', 'dc:format', it.mime)
    if (it.root) s += el('    ', 'dc:identifier', `urn:blake2b:${it.root}`)
    if (it.live) s += `    <dc:type rdf:resource="${DCMI_EVENT}"/>\n`
    s += el('    ', 'ev:startdate', formatTime(it.start))
    s += el('    ', 'ev:enddate', formatTime(it.end ?? it.start + it.duration))
    // mm:duration is the length of a recording; a live slot has none
    if (!it.live) s += el('    ', 'mm:duration', String(it.duration))
    s += '  </item>\n'
  }
  s += '</rdf:RDF>\n'
  return s
}
