// pc-playlist --live: a DJ's show between the music, through pc-schedule as a listener sees it.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { MEDIA, run, tempDir } from '../helpers.js'
import { startLive, waitManifest } from './pc-live-helpers.js'

const A = join(MEDIA, 'timeline-a.mp3')
const B = join(MEDIA, 'tone.ogg')
// nothing listens there: pc-playlist's question for the manifest of a mount with no type in its name is refused at once
const SHOW = 'http://127.0.0.1:9/live'

test('a live show cuts the music, airs as a live record, and the music resumes after it', async () => {
  const pl = await run('pc-playlist', ['-b', 'https://radio.example/', '--root', MEDIA, '--start', '2026-12-04T19:00:00Z', '--until', '+40m',
    '--live', `${SHOW}@2026-12-04T20:15:00+01:00/10m/Friday Mix`, A, B])
  assert.is(pl.code, 0, pl.stderr)
  const xml = pl.stdout.toString()
  // no type in the mount's name and no manifest to ask: no dc:format (not a guess)
  assert.match(xml, /<link>http:\/\/127\.0\.0\.1:9\/live<\/link>\s*<dc:title>Friday Mix<\/dc:title>\s*<dc:type rdf:resource="http:\/\/purl\.org\/dc\/dcmitype\/Event"\/>/)
  const sc = await run('pc-schedule', ['--at', '2026-12-04T19:17:00Z', '-n', '3', '-'], xml)
  assert.is(sc.code, 0, sc.stderr)
  const recs = sc.stdout.toString().trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  assert.equal(recs[0], { url: SHOW, title: 'Friday Mix', start: '2026-12-04T19:15:00Z', end: '2026-12-04T19:25:00Z', duration: 600_000, offset: 120_000, live: true })
  assert.is(recs[1].start, '2026-12-04T19:25:00Z')
  assert.is(recs[1].live, undefined)
  assert.match(String(recs[1].url), /^https:\/\/radio\.example\//)
  // the item on air at 19:15 (tone.ogg from 19:14:55.936, 35.036 s a pass) ends when the show begins,
  // in the playlist itself (any reader of ev:enddate) and as pc-schedule tells it
  assert.match(xml, /<ev:startdate>2026-12-04T19:14:55\.936Z<\/ev:startdate>\s*<ev:enddate>2026-12-04T19:15:00Z<\/ev:enddate>/)
  const before = await run('pc-schedule', ['--at', '2026-12-04T19:14:59Z', '-n', '2', '-'], xml)
  const [cut, show] = before.stdout.toString().trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  assert.equal([cut.url, cut.end, show.url, show.start], ['https://radio.example/tone.ogg', '2026-12-04T19:15:00Z', SHOW, '2026-12-04T19:15:00Z'])
  assert.ok(Number(cut.duration) < 15_000, `the cut item lasts ${String(cut.duration)} ms, less than tone.ogg's 15 s`)
})

test('a mount with no type in its name that is on air: its manifest gives dc:format', async () => {
  const live = await startLive(['-'])
  try {
    // before any source: its manifest knows no type, and none is written
    const early = await run('pc-playlist', ['-v', '--start', '2026-12-04T19:00:00Z', '--live', `http://127.0.0.1:${live.port}/live@+1h/30m/Ogg Show`], undefined, { stdio: ['pipe', 'pipe', 'pipe'] })
    assert.is(early.code, 0, early.stderr)
    assert.not.match(early.stdout.toString(), /dc:format/)
    assert.match(early.stderr, /knows no type yet/)
    live.c.stdin!.write(await readFile(B)) // kept open: the show stays on air
    await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'a chunk')
    const pl = await run('pc-playlist', ['-v', '--start', '2026-12-04T19:00:00Z', '--live', `http://127.0.0.1:${live.port}/live@+1h/30m/Ogg Show`], undefined, { stdio: ['pipe', 'pipe', 'pipe'] })
    assert.is(pl.code, 0, pl.stderr)
    assert.match(pl.stdout.toString(), /<dc:title>Ogg Show<\/dc:title>\s*<dc:format>audio\/ogg<\/dc:format>/)
    assert.match(pl.stderr, /audio\/ogg, from its manifest/)
  } finally { live.c.kill(); await live.remove() }
})

test('shows alone make a playlist without reading standard input', async () => {
  const pl = await run('pc-playlist', ['--start', '2026-12-04T19:00:00Z', '--live', `${SHOW}.ogg@+1h/30m`], undefined, { stdio: ['pipe', 'pipe', 'pipe'] })
  assert.is(pl.code, 0, pl.stderr)
  const sc = await run('pc-schedule', ['--at', '2026-12-04T19:00:00Z', '-'], pl.stdout)
  const rec = JSON.parse(sc.stdout.toString()) as Record<string, unknown>
  assert.equal([rec.url, rec.mime, rec.start, rec.duration, rec.live], [`${SHOW}.ogg`, 'audio/ogg', '2026-12-04T20:00:00Z', 1_800_000, true])
})

test('pc-schedule --key STATION.pub: live records carry the station key as "publicKey", other records do not', async () => {
  const dir = await tempDir()
  try {
    const key = join(dir.path, 'station')
    assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
    const list = join(dir.path, 'list.rss')
    const pl = await run('pc-playlist', ['-b', 'https://radio.example/', '--root', MEDIA, '--start', '2026-12-04T19:00:00Z', '--until', '+40m',
      '--live', `${SHOW}@2026-12-04T19:10:00Z/10m/Friday Mix`, '--sign', key, '-o', list, A])
    assert.is(pl.code, 0, pl.stderr)
    const sc = await run('pc-schedule', ['--at', '2026-12-04T19:09:59Z', '-n', '3', '--key', `${key}.pub`, list])
    assert.is(sc.code, 0, sc.stderr)
    const recs = sc.stdout.toString().trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    const pub = (await readFile(`${key}.pub`, 'utf8')).trim()
    assert.match(pub, /^[0-9a-f]{64}$/)
    assert.equal(recs.map(r => r.publicKey), [undefined, pub, undefined])
    assert.is(recs[1].live, true)
  } finally { await dir.remove() }
})

test('a malformed --live is a usage error naming the option', async () => {
  for (const bad of [`${SHOW}@+1h`, `${SHOW}@tomorrow/1h`, `ftp://x/live@+1h/1h`, `${SHOW}@+1h/0s`]) {
    const r = await run('pc-playlist', ['--live', bad])
    assert.is(r.code, 64, bad)
    assert.match(r.stderr, /^pc-playlist: --live: /, bad)
  }
})

test.run()
