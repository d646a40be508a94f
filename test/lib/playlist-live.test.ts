// Live items in the playlist: written by the layout, read back, and scheduled as records
// that say "live": true (pc-alluvium(5), pc-records(5)).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { formatPlaylist, layout, type Medium } from '../../lib/playlist/write.js'
import { parsePlaylist } from '../../lib/playlist/read.js'
import { layOut, recordsAt } from '../../lib/playlist/schedule.js'
import { validateRecord } from '../../lib/core/records.js'
import { DataError } from '../../lib/core/errors.js'
import { tempDir } from '../helpers.js'

const T0 = Date.parse('2026-12-04T18:00:00Z')
const S = 1000
const music: Medium[] = [
  { url: 'https://r.example/a.mp3', title: 'A', mime: 'audio/mpeg', duration: 60 * S },
  { url: 'https://r.example/b.mp3', title: 'B', mime: 'audio/mpeg', duration: 90 * S },
]
const show = { url: 'http://dj.example:8000/live', title: 'The DJ', mime: 'audio/mpeg', start: T0 + 100 * S, duration: 120 * S }

test('a live slot cuts the item on air short, and the music resumes with the next item when it ends', () => {
  const items = layout(music, { start: T0, until: T0 + 400 * S, live: [show] })
  assert.equal(items.map(i => [i.url.split('/').pop(), (i.start - T0) / S, ((i.end ?? i.start + i.duration) - T0) / S, i.live === true]), [
    ['a.mp3', 0, 60, false], ['b.mp3', 60, 100, false], ['live', 100, 220, true],
    ['a.mp3', 220, 280, false], ['b.mp3', 280, 370, false], ['a.mp3', 370, 430, false]])
})

test('a live slot at the very start, and one after the music ran out, air at their own times', () => {
  const items = layout(music, { start: T0, live: [{ ...show, start: T0 }, { ...show, url: 'http://dj.example:8000/late', start: T0 + 1000 * S }] })
  assert.equal(items.map(i => [i.url.split('/').pop(), (i.start - T0) / S]), [['live', 0], ['a.mp3', 120], ['b.mp3', 180], ['late', 1000]])
  assert.throws(() => layout(music, { start: T0, live: [show, { ...show, start: show.start + S }] }), /overlap/)
})

test('written as dc:type Event without mm:duration, valid RDF, and read back as a live record', async () => {
  const items = layout(music, { start: T0, until: T0 + 300 * S, live: [show] })
  const xml = formatPlaylist({ title: 'R', link: 'https://r.example/', description: 'd', date: T0 }, items)
  assert.match(xml, /<dc:type rdf:resource="http:\/\/purl.org\/dc\/dcmitype\/Event"\/>/)
  const dir = await tempDir()
  try {
    writeFileSync(join(dir.path, 'p.rss'), xml)
    const r = spawnSync('rapper', ['-q', '-i', 'rdfxml', '-c', join(dir.path, 'p.rss')], { encoding: 'utf8' })
    assert.is(r.stderr, '')
    assert.is(r.status, 0)
  } finally { await dir.remove() }
  const pl = parsePlaylist(xml, { where: 'p.rss' })
  const recs = [...recordsAt(layOut(pl), T0 + 130 * S, 2)]
  assert.equal(recs[0], { url: show.url, title: 'The DJ', mime: 'audio/mpeg', start: '2026-12-04T18:01:40Z', end: '2026-12-04T18:03:40Z', duration: 120 * S, offset: 30 * S, live: true })
  assert.is(recs[1].url, 'https://r.example/a.mp3')
  assert.is(recs[1].live, undefined)
  assert.is(recs[1].start, '2026-12-04T18:03:40Z')
})

test('reads dc:type Event as a literal too, and no other dc:type as live', () => {
  const doc = (type: string): string => `<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:ev="http://purl.org/rss/1.0/modules/event/">
<channel rdf:about="http://x/"/>
<item rdf:about="http://x/live"><link>http://x/live</link>${type}<ev:startdate>2026-12-04T20:00:00+01:00</ev:startdate><ev:enddate>2026-12-04T22:00:00+01:00</ev:enddate></item>
</rdf:RDF>`
  assert.is(parsePlaylist(doc('<dc:type>Event</dc:type>'), { where: 'p' }).items[0].live, true)
  assert.is(parsePlaylist(doc('<dc:type>Sound</dc:type>'), { where: 'p' }).items[0].live, undefined)
  assert.is(parsePlaylist(doc('<dc:type rdf:resource="http://purl.org/dc/dcmitype/Sound"/>'), { where: 'p' }).items[0].live, undefined)
})

test('a record whose "live" is not a boolean is bad data', () => {
  assert.throws(() => validateRecord({ url: 'http://x/live', start: '2026-12-04T19:00:00Z', live: 'yes' }, 'stdin:1'),
    (e: Error) => e instanceof DataError && /stdin:1: schedule record: "live" must be true or false/.test(e.message))
  assert.is(validateRecord({ url: 'http://x/live', start: '2026-12-04T19:00:00Z', live: true }, 'stdin:1').live, true)
})

test.run()
