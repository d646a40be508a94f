import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { copyFileSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { run, start, finish, killChildren, tempDir, withTimeout, waitForOutput, MEDIA, FIXTURES, ROOT } from '../helpers.js'
import { parseTree, infoHash } from '../../lib/hashing/hashtree.js'
import { generateKeyPair, writeKeyPair, verify, parseSignature } from '../../lib/hashing/sign.js'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { freePort } from '../../scripts/free-port.js'

const PL = join(FIXTURES, 'playlist')
const RSS = 'http://purl.org/rss/1.0/'
const DC = 'http://purl.org/dc/elements/1.1/'
const EV = 'http://purl.org/rss/1.0/modules/event/'
const MM = 'http://musicbrainz.org/mm/mm-2.1#'
const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'
const BASE = 'https://radio.example/station/'
const START = '2026-11-22T18:00:00Z'

let cleanup: Array<() => Promise<void>> = []
test.after.each(async () => {
  killChildren()
  for (const f of cleanup) await f()
  cleanup = []
})

async function temp (): Promise<string> {
  const d = await tempDir('pc-playlist-')
  cleanup.push(d.remove)
  return d.path
}

interface Triple { s: string, p: string, o: string }

/** N-Triples as rapper writes them: IRIs in <>, blank nodes _:x, literals with \-escapes. */
function parseNTriples (text: string): Triple[] {
  const unq = (t: string): string => t.startsWith('<') ? t.slice(1, -1)
    : t.startsWith('"') ? JSON.parse(t.replace(/"(\^\^<[^>]*>|@[a-z-]+)?$/i, '"').replace(/\\U([0-9A-F]{8})/g, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)).split('').map(c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join(''))) as string
      : t
  return text.split('\n').filter(l => l !== '').map(l => {
    const m = /^(\S+) (\S+) (.*) \.$/.exec(l)
    if (!m) throw new Error(`not an N-Triples line: ${l}`)
    return { s: unq(m[1]), p: unq(m[2]), o: unq(m[3]) }
  })
}

/** Parse with rapper, which must say nothing at all on stderr, and return the triples. */
function rapper (file: string): Triple[] {
  const r = spawnSync('rapper', ['-q', '-i', 'rdfxml', '-o', 'ntriples', file], { encoding: 'utf8' })
  assert.is(r.stderr, '', `rapper on ${file}: ${r.stderr}`)
  assert.is(r.status, 0)
  return parseNTriples(r.stdout)
}

interface Item { about: string, link: string, title: string, dcTitle: string, mime: string, start: number, end: number, duration: number, id?: string }

/** The items in rdf:Seq order, from the triples alone. */
function itemsOf (ts: Triple[]): { channel: Record<string, string>, items: Item[] } {
  const get = (s: string, p: string): string | undefined => ts.find(t => t.s === s && t.p === p)?.o
  const chan = ts.find(t => t.p === RDF + 'type' && t.o === RSS + 'channel')
  assert.ok(chan, 'no rss:channel')
  const ch = (chan as Triple).s
  const seq = get(ch, RSS + 'items') as string
  const lis = ts.filter(t => t.s === seq && /_\d+$/.test(t.p)).sort((a, b) => Number(a.p.split('_').pop()) - Number(b.p.split('_').pop()))
  const items = lis.map(li => {
    const a = li.o
    assert.is(get(a, RDF + 'type'), RSS + 'item')
    const it: Item = {
      about: a,
      link: get(a, RSS + 'link') as string,
      title: get(a, RSS + 'title') as string,
      dcTitle: get(a, DC + 'title') as string,
      mime: get(a, DC + 'format') as string,
      start: Date.parse(get(a, EV + 'startdate') as string),
      end: Date.parse(get(a, EV + 'enddate') as string),
      duration: Number(get(a, MM + 'duration')),
    }
    const id = get(a, DC + 'identifier'); if (id) it.id = id
    return it
  })
  return { channel: { title: get(ch, RSS + 'title') as string, link: get(ch, RSS + 'link') as string, description: get(ch, RSS + 'description') as string, date: get(ch, DC + 'date') as string }, items }
}

async function playlist (args: string[], input?: string, cwd = ROOT): Promise<{ file: string, xml: string, items: Item[], channel: Record<string, string> }> {
  const r = await run('pc-playlist', args, input, { cwd })
  assert.is(r.stderr, '')
  assert.is(r.code, 0)
  const file = join(await temp(), 'list.rss')
  writeFileSync(file, r.stdout)
  return { file, xml: r.stdout.toString(), ...itemsOf(rapper(file)) }
}

function contiguous (items: Item[]): void {
  for (let i = 0; i < items.length; i++) {
    assert.is(items[i].end - items[i].start, items[i].duration, `item ${i}`)
    if (i > 0) assert.is(items[i].start, items[i - 1].end, `item ${i} starts when item ${i - 1} ends`)
  }
}

test('writes RSS 1.0 that rapper parses without a warning, with every field a reader needs', async () => {
  const files = ['media/tone-cbr.mp3', 'media/chirp-vbr.mp3', 'media/tone.ogg', 'media/tone.opus', 'media/tone.aac', 'media/tone.m4a', 'media/tone.wav', 'test/fixtures/playlist/a b&c #1.mp3', 'test/fixtures/playlist/clip.mp4']
  const title = 'Rock & <Roll> "live" — Ünïcödé ✓ \u{1F3B5}'
  const p = await playlist(['-b', BASE, '--start', START, '-t', title, '--description', "it's <b>bold</b> & more", '--link', 'https://radio.example/?a=1&b=2', ...files])
  assert.equal(p.channel, { title, link: 'https://radio.example/?a=1&b=2', description: "it's <b>bold</b> & more", date: START })
  assert.equal(p.items.map(i => i.link), [
    BASE + 'media/tone-cbr.mp3', BASE + 'media/chirp-vbr.mp3', BASE + 'media/tone.ogg', BASE + 'media/tone.opus', BASE + 'media/tone.aac',
    BASE + 'media/tone.m4a', BASE + 'media/tone.wav', BASE + 'test/fixtures/playlist/a%20b%26c%20%231.mp3', BASE + 'test/fixtures/playlist/clip.mp4'])
  assert.equal(p.items.map(i => i.mime), ['audio/mpeg', 'audio/mpeg', 'audio/ogg', 'audio/ogg', 'audio/aac', 'audio/mp4', 'audio/wav', 'audio/mpeg', 'video/mp4'])
  assert.equal(p.items.map(i => i.duration), [20036, 20036, 15000, 15000, 15023, 10000, 5000, 6061, 2000])
  assert.equal(p.items.map(i => i.title).slice(0, 3), ['A 440 Hz tone (MP3 CBR)', 'A rising chirp (MP3 VBR)', 'A 330 Hz tone (Ogg Vorbis)'])
  assert.is(p.items[4].title, 'tone', 'a file without a title tag is named by its file name')
  for (const it of p.items) { assert.is(it.about, it.link); assert.is(it.dcTitle, it.title); assert.is(it.id, undefined) }
  assert.is(p.items[0].start, Date.parse(START))
  contiguous(p.items)
})

test('reads paths from stdin (as M3U) and expands .m3u and .pls lists relative to themselves', async () => {
  const input = '#EXTM3U\n#EXTINF:5,Hörspiel: <Akt 1> & 2\nmedia/tone.wav\n\n' + join(PL, 'lists', 'show.m3u') + '\r\n'
  const p = await playlist(['-b', BASE, '--start', START], input)
  assert.equal(p.items.map(i => i.link), [
    BASE + 'media/tone.wav', BASE + 'test/fixtures/playlist/cbr-noxing.mp3', BASE + 'media/tone.ogg',
    BASE + 'test/fixtures/playlist/clip.mp4', BASE + 'test/fixtures/playlist/fast.m4a'])
  assert.equal(p.items.map(i => i.title), ['Hörspiel: <Akt 1> & 2', 'Station ident & jingle', 'A 330 Hz tone (Ogg Vorbis)', 'clip', 'Zweite Nummer ä'])
  contiguous(p.items)
})

test('a layout across a daylight-saving change neither gains nor loses an hour', async () => {
  // Europe's clocks go forward at 01:00Z on 2026-03-29; 00:30+01:00 is 23:30Z the day before.
  const p = await playlist(['-b', BASE, '--start', '2026-03-29T00:30:00+01:00', '--until', '2026-03-29T01:30:00Z', 'media/tone-cbr.mp3', 'media/tone.ogg'])
  assert.is(p.items[0].start, Date.parse('2026-03-28T23:30:00Z'))
  contiguous(p.items)
  const last = p.items[p.items.length - 1]
  assert.ok(last.start < Date.parse('2026-03-29T01:30:00Z') && last.end >= Date.parse('2026-03-29T01:30:00Z'))
  // two hours of wall-clock span in UTC, exactly the sum of the durations
  assert.is(last.end - p.items[0].start, p.items.reduce((n, i) => n + i.duration, 0))
  assert.ok(last.end - p.items[0].start < 2 * 3600_000 + 20036)
})

test('--until repeats the list, --shuffle reshuffles each pass, and each occurrence is its own RDF resource', async () => {
  const files = ['media/tone.wav', 'media/tone.m4a', 'media/tone.ogg', 'test/fixtures/playlist/clip.mp4']
  const p = await playlist(['-b', BASE, '--start', START, '--until', '2026-11-22T18:10:00Z', '--shuffle', ...files])
  contiguous(p.items)
  const until = Date.parse('2026-11-22T18:10:00Z')
  const last = p.items[p.items.length - 1]
  assert.ok(last.start < until && last.end >= until, 'covers the air up to --until and no further item')
  assert.is(new Set(p.items.map(i => i.about)).size, p.items.length)
  for (let i = 0; i + 4 <= p.items.length; i += 4) {
    assert.equal(p.items.slice(i, i + 4).map(x => x.link).sort(), files.map(f => BASE + f).sort(), `pass ${i / 4} is a permutation`)
  }
  for (let i = 1; i < p.items.length; i++) assert.is.not(p.items[i].link, p.items[i - 1].link, 'never the same item twice in a row')
  const short = await run('pc-playlist', ['-b', BASE, '--start', START, '--until', '+12s', ...files], undefined, { cwd: ROOT })
  assert.is(short.code, 0)
  assert.is(short.stderr, 'pc-playlist: --until comes before the list ends: 2 of 4 items left out\n')
  const quiet = await run('pc-playlist', ['-q', '-b', BASE, '--start', START, '--until', '+12s', ...files], undefined, { cwd: ROOT })
  assert.is(quiet.code, 0); assert.is(quiet.stderr, '')
  assert.equal(quiet.stdout, short.stdout)
  const seen = new Map<string, number>()
  for (const it of p.items) {
    const n = (seen.get(it.link) ?? 0) + 1
    seen.set(it.link, n)
    assert.is(it.about, n === 1 ? it.link : `${it.link}#${n}`)
  }
})

test('--hash writes FILE.hashtree beside each file, puts the root in dc:identifier, reuses fresh trees; --whitelist lists info-hashes', async () => {
  const dir = await temp()
  for (const f of ['tone.ogg', 'tone.wav']) copyFileSync(join(MEDIA, f), join(dir, f))
  const args = ['-b', BASE, '--start', START, '--hash', '--chunk-size', '16k', '--whitelist', join(dir, 'whitelist'), '-o', join(dir, 'list.rss'), 'tone.ogg', 'tone.wav']
  const r = await run('pc-playlist', args, undefined, { cwd: dir })
  assert.is(r.stderr, ''); assert.is(r.code, 0); assert.is(r.stdout.length, 0)
  const { items } = itemsOf(rapper(join(dir, 'list.rss')))
  const wl: string[] = []
  for (const [i, f] of ['tone.ogg', 'tone.wav'].entries()) {
    const tree = parseTree(readFileSync(join(dir, f + '.hashtree'), 'utf8'), f)
    assert.is(tree.chunkSize, 16384)
    assert.is(tree.size, statSync(join(dir, f)).size)
    assert.is(items[i].id, `urn:blake2b:${tree.root.toString('hex')}`)
    assert.is(items[i].link, BASE + f)
    const byPcHash = await run('pc-hash', ['--root', '--chunk-size', '16k', join(dir, f)])
    assert.is(byPcHash.stdout.toString().trim(), tree.root.toString('hex'), 'the same root as pc-hash')
    wl.push(infoHash(tree.root).toString('hex'))
  }
  assert.is(readFileSync(join(dir, 'whitelist'), 'utf8'), wl.join('\n') + '\n')
  const before = statSync(join(dir, 'tone.ogg.hashtree')).mtimeMs
  const again = await run('pc-playlist', ['-v', ...args], undefined, { cwd: dir })
  assert.is(again.code, 0, again.stderr)
  assert.match(again.stderr, /^pc-playlist: tone\.ogg: vorbis, audio\/ogg, 15000 ms, root [0-9a-f]{64}$/m)
  assert.not.match(again.stderr, /wrote/, 'nothing rewritten')
  assert.match(again.stderr, /^pc-playlist: 2 items$/m)
  assert.is(statSync(join(dir, 'tone.ogg.hashtree')).mtimeMs, before, 'a fresh tree is reused, not rewritten')
  const w = await run('pc-playlist', ['-b', BASE, '--whitelist', join(dir, 'wl2'), 'tone.ogg'], undefined, { cwd: dir })
  assert.is(w.code, 64); assert.match(w.stderr, /--whitelist needs --hash/)
})

test('--sign writes a detached ed25519 signature of the exact bytes, beside -o or at --sig-out', async () => {
  const dir = await temp()
  const kp = generateKeyPair()
  await writeKeyPair(join(dir, 'station.key'), kp)
  const r = await run('pc-playlist', ['-b', BASE, '--root', ROOT, '--sign', join(dir, 'station.key'), '-o', join(dir, 'list.rss'), join(MEDIA, 'tone.ogg')])
  assert.is(r.code, 0, r.stderr)
  const bytes = readFileSync(join(dir, 'list.rss'))
  const sig = parseSignature(readFileSync(join(dir, 'list.rss.sig'), 'utf8'), 'sig')
  assert.ok(verify(sig, bytes, kp.publicKey))
  const tampered = Buffer.from(bytes); tampered[tampered.length - 3] ^= 1
  assert.not.ok(verify(sig, tampered, kp.publicKey))
  const s = await run('pc-playlist', ['-b', BASE, '--root', ROOT, '--sign', join(dir, 'station.key'), '--sig-out', join(dir, 'out.sig'), join(MEDIA, 'tone.ogg')])
  assert.is(s.code, 0, s.stderr)
  assert.ok(verify(parseSignature(readFileSync(join(dir, 'out.sig'), 'utf8'), 'sig'), s.stdout, kp.publicKey))
  const u = await run('pc-playlist', ['-b', BASE, '--root', ROOT, '--sign', join(dir, 'station.key'), join(MEDIA, 'tone.ogg')])
  assert.is(u.code, 64); assert.match(u.stderr, /--sign needs -o FILE or --sig-out/)
})

test('bad input: unknown format 65, missing file 66, no items 65, each naming where', async () => {
  const junk = await run('pc-playlist', ['-b', BASE, 'media/tone.ogg', 'test/fixtures/playlist/junk.mp3'], undefined, { cwd: ROOT })
  assert.is(junk.code, 65); assert.is(junk.stdout.length, 0)
  assert.match(junk.stderr, /^pc-playlist: test\/fixtures\/playlist\/junk\.mp3: unknown media format/)
  const empty = await run('pc-playlist', ['-b', BASE, 'test/fixtures/playlist/empty.ogg'], undefined, { cwd: ROOT })
  assert.is(empty.code, 65); assert.match(empty.stderr, /empty\.ogg: empty file/)
  const missing = await run('pc-playlist', ['-b', BASE, 'media/nope.mp3'], undefined, { cwd: ROOT })
  assert.is(missing.code, 66); assert.match(missing.stderr, /media\/nope\.mp3: cannot open: ENOENT/)
  const inList = await run('pc-playlist', ['-b', BASE, join(PL, 'lists', 'missing.m3u')])
  assert.is(inList.code, 66); assert.match(inList.stderr, /missing\.m3u:2: .*missing\.mp3: cannot open/)
  const loop = await run('pc-playlist', ['-b', BASE, join(PL, 'lists', 'self.m3u')])
  assert.is(loop.code, 65); assert.match(loop.stderr, /self\.m3u:2: lists nested more than/)
  const none = await run('pc-playlist', ['-b', BASE], '# only a comment\n\n')
  assert.is(none.code, 65); assert.match(none.stderr, /^pc-playlist: stdin: no items\n$/)
  const noBase = await run('pc-playlist', ['media/tone.ogg'], undefined, { cwd: ROOT })
  assert.is(noBase.code, 64); assert.match(noBase.stderr, /needs --base-url/)
  const outside = await run('pc-playlist', ['-b', BASE, '--root', join(ROOT, 'test'), 'media/tone.ogg'], undefined, { cwd: ROOT })
  assert.is(outside.code, 64); assert.match(outside.stderr, /is outside .*--root/)
  const badTime = await run('pc-playlist', ['-b', BASE, '--start', '2026-11-22 18:00', 'media/tone.ogg'], undefined, { cwd: ROOT })
  assert.is(badTime.code, 64); assert.match(badTime.stderr, /--start: not a time/)
})

test('closed stdout: exits 0 with nothing on stderr', async () => {
  const c = start('pc-playlist', ['-b', BASE, '--start', START, '--until', '+3h', 'media/tone.wav'], { cwd: ROOT })
  c.stdout?.destroy()
  c.stdin?.end()
  const r = await finish(c)
  assert.is(r.stderr, '')
  assert.is(r.code, 0)
})

test('SIGTERM while waiting for paths on stdin: exits 143, writes nothing', async () => {
  const c = start('pc-playlist', ['-v', '-b', BASE], { cwd: ROOT })
  c.stdin?.write('media/tone.wav\n')
  const done = finish(c, 10_000)
  await waitForOutput(c.stderr as NodeJS.ReadableStream, t => t.includes('reading paths from stdin'), 10_000, 'pc-playlist to wait on stdin')
  c.kill('SIGTERM')
  const r = await done
  assert.is(r.code, 143)
  assert.is(r.stdout.length, 0)
})

let nginx: Nginx | undefined
test('URL inputs are probed over HTTP and kept as given; --hash takes the root of the tree published beside them', async () => {
  const dir = await temp()
  for (const f of ['tone-cbr.mp3', 'tone.opus']) copyFileSync(join(MEDIA, f), join(dir, f))
  execFileSync(process.execPath, ['-e', `
    import('${join(ROOT, 'dist', 'lib', 'hashing', 'hashtree.js')}').then(async h => {
      const fs = await import('node:fs')
      const t = await h.hashStream(fs.createReadStream('${join(dir, 'tone-cbr.mp3')}'))
      fs.writeFileSync('${join(dir, 'tone-cbr.mp3.hashtree')}', h.formatTree(t))
    })`])
  nginx = await startNginx({ root: dir })
  cleanup.push(async () => { await nginx?.stop(); nginx = undefined })
  const u1 = nginx.url + 'tone-cbr.mp3'; const u2 = nginx.url + 'tone.opus'
  writeFileSync(join(dir, 'remote.m3u'), 'tone.opus\n')
  const p = await playlist(['--start', START, u1, nginx.url + 'remote.m3u'])
  assert.equal(p.items.map(i => [i.link, i.mime, i.duration]), [[u1, 'audio/mpeg', 20036], [u2, 'audio/ogg', 15000]])
  assert.is(p.channel.link, nginx.url, "the channel's link defaults to the first item's directory, never the item itself")
  const h = await playlist(['--start', START, '--hash', u1])
  const tree = parseTree(readFileSync(join(dir, 'tone-cbr.mp3.hashtree'), 'utf8'), 'tree')
  assert.is(h.items[0].id, `urn:blake2b:${tree.root.toString('hex')}`)
  const noTree = await run('pc-playlist', ['--hash', u2])
  assert.is(noTree.code, 66); assert.match(noTree.stderr, /tone\.opus\.hashtree: HTTP 404; --hash needs the tree published/)
  const gone = await run('pc-playlist', [nginx.url + 'gone.mp3'])
  assert.is(gone.code, 66); assert.match(gone.stderr, /gone\.mp3: HTTP 404/)
  const port = await freePort()
  const down = await withTimeout(run('pc-playlist', [`http://127.0.0.1:${port}/a.mp3`]), 20_000, 'an unreachable origin')
  assert.is(down.code, 69); assert.match(down.stderr, /127\.0\.0\.1:\d+\/a\.mp3: cannot fetch/)
  assert.not.ok(existsSync(join(dir, 'tone.opus.hashtree')))
})

/** The literal displays (.Bd -literal … .Ed) of a man page, with roff escapes undone. */
function displays (page: string): string[] {
  const text = readFileSync(join(ROOT, 'man', page), 'utf8')
  return [...text.matchAll(/^\.Bd -literal[^\n]*\n([\s\S]*?)^\.Ed$/gm)].map(m => m[1].replace(/\\e/g, '\\'))
}

test('the examples of pc-alluvium(5): the strict one is valid RDF, and pc-schedule reads both', async () => {
  const [strict, loop] = displays('pc-alluvium.5').filter(d => d.startsWith('<?xml'))
  const dir = await temp()
  writeFileSync(join(dir, 'strict.rss'), strict)
  const { items } = itemsOf(rapper(join(dir, 'strict.rss')))
  assert.equal(items.map(i => [i.link, i.duration]), [['https://radio.example/ident.mp3', 20036], ['https://radio.example/show.ogg', 3600000]])
  contiguous(items)
  const s = await run('pc-schedule', ['--at', '2026-11-22T18:00:30Z', '-'], strict)
  assert.is(s.code, 0, s.stderr)
  const rec = JSON.parse(s.stdout.toString().split('\n')[0]) as Record<string, unknown>
  assert.is(rec.url, 'https://radio.example/show.ogg')
  assert.is(rec.offset, 30000 - 20036)
  assert.is(rec.root, '1f9e0c6d2b3a48e5a07c4d9b8e6f5a3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a')
  // the loop is anchored at the epoch: 420 s a cycle, so 200 s in is b.mp3 at 20 s
  const l = await run('pc-schedule', ['--at', '1970-01-01T00:03:20Z', '--count', '1', '-'], loop)
  assert.is(l.code, 0, l.stderr)
  const r2 = JSON.parse(l.stdout.toString()) as Record<string, unknown>
  assert.is(r2.url, 'https://radio.example/b.mp3')
  assert.is(r2.offset, 20000)
})

test('pc-playlist | pc-schedule: the reader gets url, title, mime, times, duration and root', async () => {
  const dir = await temp()
  copyFileSync(join(MEDIA, 'tone.ogg'), join(dir, 'tone.ogg'))
  copyFileSync(join(MEDIA, 'tone.wav'), join(dir, 'tone.wav'))
  const p = await run('pc-playlist', ['-b', BASE, '--start', START, '--hash', 'tone.ogg', 'tone.wav'], undefined, { cwd: dir })
  assert.is(p.code, 0, p.stderr)
  const s = await run('pc-schedule', ['--at', '2026-11-22T18:00:16Z', '-'], p.stdout)
  assert.is(s.code, 0, s.stderr)
  const recs = s.stdout.toString().trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  const tree = parseTree(readFileSync(join(dir, 'tone.wav.hashtree'), 'utf8'), 'tree')
  assert.equal(recs, [{
    url: BASE + 'tone.wav', title: 'A 220 Hz tone (WAV)', mime: 'audio/wav', start: '2026-11-22T18:00:15Z', end: '2026-11-22T18:00:20Z',
    duration: 5000, offset: 1000, root: tree.root.toString('hex'), hashtree: BASE + 'tone.wav.hashtree',
  }])
})

test('pc-playlist --until | pc-schedule: repeated items keep their plain media URL and contiguous times', async () => {
  const p = await run('pc-playlist', ['-b', BASE, '--start', START, '--until', '+40s', 'media/tone.wav', 'media/tone.m4a'], undefined, { cwd: ROOT })
  assert.is(p.code, 0, p.stderr)
  const s = await run('pc-schedule', ['--at', START, '-'], p.stdout)
  assert.is(s.code, 0, s.stderr)
  const recs = s.stdout.toString().trim().split('\n').map(l => JSON.parse(l) as { url: string, start: string, end: string })
  assert.equal(recs.map(r => r.url), [1, 2, 3].flatMap(() => [BASE + 'media/tone.wav', BASE + 'media/tone.m4a']))
  for (let i = 1; i < recs.length; i++) assert.is(recs[i].start, recs[i - 1].end)
  assert.is(recs[5].end, '2026-11-22T18:00:45Z')
})

test.run()
