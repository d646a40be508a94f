import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parsePlaylist, decodePlaylist, parsePlaylistTime } from '../../lib/playlist/read.js'
import { DataError } from '../../lib/core/cli.js'
import { FIXTURES } from '../helpers.js'

const fixture = (name: string): string => readFileSync(join(FIXTURES, 'schedule', name), 'utf8')
const fails = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: Error) => e instanceof DataError && re.test(e.message))
}

const rss = (items: string, channel = ''): string => `<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:ev="http://purl.org/rss/1.0/modules/event/" xmlns:mm="http://musicbrainz.org/mm/mm-2.0#">
<channel rdf:about="http://x/">${channel}</channel>
${items}
</rdf:RDF>
`

test('reads the ACTLab TV guide example: items nested in channel, only link and mm:duration', () => {
  const pl = parsePlaylist(fixture('actlab-guide.rss'), { where: 'actlab-guide.rss' })
  assert.equal(pl.title, 'BlackBox TV Station')
  assert.is(pl.date, undefined)
  assert.equal(pl.items.map(i => i.duration), [188600, 183400, 202600, 95966])
  assert.is(pl.items[0].url, 'http://www.blackbox.jtlopez.com/blackbox_TV/video/Trailer_DV_DSL.mov')
  assert.ok(pl.items.every(i => i.start === undefined && i.end === undefined && i.title === undefined))
  assert.match(pl.items[0].where, /^actlab-guide\.rss:20:\d+$/)
})

test('reads strict RSS 1.0 in rdf:Seq order, with every field', () => {
  const pl = parsePlaylist(fixture('strict.rss'), { where: 'strict.rss' })
  assert.equal(pl.warnings, [])
  assert.equal(pl.items.map(i => i.url.split('/').pop()), ['one.mp3', 'two.ogg', 'three.opus'])
  const one = pl.items[0]
  assert.is(one.title, 'One & Only')
  assert.is(one.mime, 'audio/mpeg')
  assert.is(one.root, '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff')
  assert.is(one.start, Date.parse('2026-11-22T18:00:00Z'))
  assert.is(one.end, Date.parse('2026-11-22T18:00:30Z'))
  assert.is(one.duration, 30000)
  assert.is(pl.date, Date.parse('2026-11-22T18:00:00Z'))
  assert.is(pl.items[2].end, Date.parse('2026-11-22T18:02:15.500Z'))
})

test('a repeated media URL in the Seq takes the items in turn', () => {
  const item = (d: number): string => `<item rdf:about="http://m/a.mp3"><link>http://m/a.mp3</link><mm:duration>${d}</mm:duration></item>`
  const seq = '<items><rdf:Seq><rdf:li rdf:resource="http://m/a.mp3"/><rdf:li rdf:resource="http://m/a.mp3"/></rdf:Seq></items>'
  const pl = parsePlaylist(rss(item(1) + item(2), seq), { where: 'x' })
  assert.equal(pl.items.map(i => i.duration), [1, 2])
})

test('accepts undeclared dc/ev/mm prefixes, CDATA, and enclosure as a last resort', () => {
  const text = `<rss><channel><item><title><![CDATA[A <b>]]></title><enclosure url="http://m/e.ogg"/><mm:duration>5</mm:duration><ev:startdate>2026-01-01T00:00:00Z</ev:startdate></item></channel></rss>`
  const pl = parsePlaylist(text, { where: 'x' })
  assert.is(pl.items[0].url, 'http://m/e.ogg')
  assert.is(pl.items[0].title, 'A <b>')
  assert.is(pl.items[0].duration, 5)
  assert.is(pl.items[0].start, Date.parse('2026-01-01T00:00:00Z'))
})

test('resolves relative links against the playlist URL', () => {
  const pl = parsePlaylist(rss('<item><link>media/a.mp3</link><mm:duration>1</mm:duration></item>'), { where: 'u', base: 'http://radio.example/lists/list.rss' })
  assert.is(pl.items[0].url, 'http://radio.example/lists/media/a.mp3')
})

test('malformed XML names file:line:column', () => {
  fails(() => parsePlaylist('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<item>\n<link>x</lnk>\n</rdf:RDF>', { where: 'bad.rss' }), /^bad\.rss:3:\d+: malformed XML: /)
  fails(() => parsePlaylist(fixture('strict.rss').slice(0, 900), { where: 'half.rss' }), /^half\.rss:\d+:\d+: malformed XML/)
  fails(() => parsePlaylist('', { where: 'stdin' }), /^stdin:/)
})

test('refuses a document that is not a playlist, or has no items', () => {
  fails(() => parsePlaylist('<html><body/></html>', { where: 'p' }), /p:1:\d+: not an RSS playlist/)
  fails(() => parsePlaylist(rss(''), { where: 'p' }), /^p: the playlist has no <item>/)
})

test('bad field values name the element', () => {
  fails(() => parsePlaylist(rss('<item><link>a</link>\n<mm:duration>3 min</mm:duration></item>'), { where: 'p' }), /^p:6:\d+: mm:duration must be milliseconds/)
  fails(() => parsePlaylist(rss('<item><link>a</link><ev:startdate>2026-01-01T10:00:00</ev:startdate></item>'), { where: 'p' }), /has no UTC offset/)
  fails(() => parsePlaylist(rss('<item><link>a</link><dc:identifier>urn:blake2b:abc</dc:identifier></item>'), { where: 'p' }), /urn:blake2b: needs 64 hex/)
  fails(() => parsePlaylist(rss('<item><title>no link</title></item>'), { where: 'p' }), /neither <link> nor rdf:about/)
})

test('ignores other identifiers', () => {
  const pl = parsePlaylist(rss('<item><link>a</link><dc:identifier>urn:uuid:1234</dc:identifier><mm:duration>1</mm:duration></item>'), { where: 'p' })
  assert.is(pl.items[0].root, undefined)
})

test('decodes Latin-1 when declared, refuses bad UTF-8 with a position', () => {
  const latin = Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?>\n<rss><channel><item><link>a</link><title>Caf\xe9</title><mm:duration>1</mm:duration></item></channel></rss>', 'latin1')
  assert.is(parsePlaylist(decodePlaylist(latin, 'l'), { where: 'l' }).items[0].title, 'Café')
  const bad = Buffer.concat([Buffer.from('<rss>\n<channel>ab'), Buffer.from([0xff]), Buffer.from('</channel></rss>')])
  fails(() => decodePlaylist(bad, 'b'), /^b:2:12: not valid UTF-8/)
  fails(() => decodePlaylist(Buffer.from('<?xml version="1.0" encoding="EBCDIC"?><rss/>'), 'e'), /unsupported encoding/)
})

test('times: offsets and Z agree; a bare date is midnight UTC', () => {
  assert.is(parsePlaylistTime('2026-03-29T03:30:00+02:00', 'w'), parsePlaylistTime('2026-03-29T01:30:00Z', 'w'))
  assert.is(parsePlaylistTime('2026-03-29T03:30:00+0200', 'w'), Date.parse('2026-03-29T01:30:00Z'))
  assert.is(parsePlaylistTime('2026-03-29', 'w'), Date.parse('2026-03-29T00:00:00Z'))
  fails(() => parsePlaylistTime('yesterday', 'w'), /not an ISO 8601 time/)
})

test.run()
