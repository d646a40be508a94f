import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { escapeXml, formatPlaylist, layout, type Medium } from '../../lib/playlist/write.js'
import { expandInputs, parseM3u, parsePls } from '../../lib/playlist/media-list.js'
import { Readable } from 'node:stream'
import { tempDir } from '../helpers.js'

const T0 = Date.parse('2026-11-22T18:00:00Z')
const media: Medium[] = [
  { url: 'https://r.example/a.mp3?x=1&y=2', title: 'A', mime: 'audio/mpeg', duration: 1000 },
  { url: 'https://r.example/b.ogg', title: 'B', mime: 'audio/ogg', duration: 2500, root: 'ab'.repeat(32) },
]

test('escapes markup and replaces what XML 1.0 cannot carry', () => {
  assert.is(escapeXml(`a&b<c>"d"'e'`), 'a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;')
  assert.is(escapeXml('bell\x07 nul\x00 ok\ttab\nline'), 'bell\uFFFD nul\uFFFD ok&#9;tab&#10;line')
  assert.is(escapeXml('lone \uD800 and \uDC00 pair \uD83C\uDFB5'), 'lone \uFFFD and \uFFFD pair \uD83C\uDFB5')
})

test('a playlist with hostile strings is still RDF that rapper parses without a word', async () => {
  const nasty = 'ctl\x01\x1F & <tag> "q" \'a\' \uD800 ümlaut \u{1F3B5} ]]> --> <!--'
  const items = layout(media.map(m => ({ ...m, title: nasty + m.title })), { start: T0 })
  const xml = formatPlaylist({ title: nasty, link: 'https://r.example/?a=1&b=2', description: nasty, date: T0 }, items)
  const dir = await tempDir()
  try {
    writeFileSync(join(dir.path, 'p.rss'), xml)
    const r = spawnSync('rapper', ['-q', '-i', 'rdfxml', '-c', join(dir.path, 'p.rss')], { encoding: 'utf8' })
    assert.is(r.status, 0)
    assert.is(r.stderr, '')
  } finally { await dir.remove() }
})

test('lays items back to back in epoch ms; --until repeats with #N identities; shuffle is a permutation per pass', () => {
  const items = layout(media, { start: T0, until: T0 + 7000 })
  assert.equal(items.map(i => [i.about, i.start - T0]), [
    ['https://r.example/a.mp3?x=1&y=2', 0], ['https://r.example/b.ogg', 1000],
    ['https://r.example/a.mp3?x=1&y=2#2', 3500], ['https://r.example/b.ogg#2', 4500]])
  let seed = 1
  const random = (): number => { seed = (seed * 16807) % 2147483647; return (seed - 1) / 2147483646 }
  const three: Medium[] = ['x', 'y', 'z'].map(n => ({ url: `https://r.example/${n}`, title: n, mime: 'audio/ogg', duration: 1000 }))
  const s = layout(three, { start: T0, until: T0 + 30_000, shuffle: true, random })
  assert.is(s.length, 30)
  for (let i = 0; i < 30; i += 3) assert.equal(s.slice(i, i + 3).map(x => x.title).sort(), ['x', 'y', 'z'])
  for (let i = 1; i < 30; i++) assert.is.not(s[i].title, s[i - 1].title)
  assert.throws(() => layout(three, { start: T0, until: T0 + 1e12 }), /more than/)
})

test('M3U: comments, #EXTINF titles, CRLF, a BOM; PLS: ordered by number, titles, and a located error', () => {
  const m = parseM3u('\uFEFF#EXTM3U\r\n#EXTINF:12,Hello & bye\r\nsub/a.mp3\r\n# note\r\nhttp://h/b c.mp3\r\n', 'l.m3u', '/srv/www')
  assert.equal(m, [
    { spec: '/srv/www/sub/a.mp3', name: 'sub/a.mp3', where: 'l.m3u:3', title: 'Hello & bye' },
    { spec: 'http://h/b%20c.mp3', name: 'http://h/b c.mp3', where: 'l.m3u:5' }])
  const p = parsePls('[playlist]\nFile2=two.ogg\nTitle2=Two\nFile1=http://h/one.ogg\nNumberOfEntries=2\n', 'l.pls', 'http://h/dir/')
  assert.equal(p.map(e => [e.spec, e.title]), [['http://h/one.ogg', undefined], ['http://h/dir/two.ogg', 'Two']])
  assert.throws(() => parsePls('File1=a.ogg\n', 'x.pls', '/'), /x\.pls:1: not a PLS file/)
  assert.throws(() => parsePls('[playlist]\ngarbage line\n', 'y.pls', '/'), /y\.pls:2: not a PLS line/)
  assert.throws(() => parseM3u('gopher://h/x.mp3\n', 'z.m3u', '/'), /z\.m3u:1: unsupported URL scheme/)
})

test('reads a Latin-1 list as Latin-1 and stdin lines relative to the working directory', async () => {
  const dir = await tempDir()
  try {
    writeFileSync(join(dir.path, 'old.m3u'), Buffer.from('#EXTINF:1,Caf\xe9\nx.mp3\n', 'latin1'))
    const e = await expandInputs(['-'], Readable.from([Buffer.from('old.m3u\ny.mp3\n')]), { cwd: dir.path })
    assert.equal(e.map(x => [x.spec, x.title, x.where]), [
      [join(dir.path, 'x.mp3'), 'Café', join(dir.path, 'old.m3u') + ':2'], [join(dir.path, 'y.mp3'), undefined, 'stdin:2']])
  } finally { await dir.remove() }
})

test.run()
