import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server, type IncomingHttpHeaders } from 'node:http'
import { readFileSync } from 'node:fs'
import { writeFile, rename, copyFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { run, start, finish, killChildren, tempDir, waitForOutput, sleep, FIXTURES, MEDIA, waitUntil } from '../helpers.js'
import { generateKeyPair, writeKeyPair, sign } from '../../lib/hashing/sign.js'
import type { ScheduleRecord } from '../../lib/core/records.js'

const FIX = join(FIXTURES, 'schedule')
const ACTLAB = join(FIX, 'actlab-guide.rss')
const STRICT = join(FIX, 'strict.rss')
const records = (out: Buffer | string): ScheduleRecord[] => out.toString().split('\n').filter(Boolean).map(l => JSON.parse(l) as ScheduleRecord)

/** A tiny origin whose playlist the test can replace; honours If-None-Match / If-Modified-Since. */
interface Origin { url: string, set: (path: string, body: string | Buffer) => void, requests: Array<{ path: string, status: number, headers: IncomingHttpHeaders }>, close: () => Promise<void> }
async function origin (): Promise<Origin> {
  const files = new Map<string, { body: Buffer, etag: string, modified: string }>()
  const requests: Origin['requests'] = []
  let version = 0
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const f = files.get(path)
    let status = 200
    if (!f) status = 404
    else if (req.headers['if-none-match'] === f.etag) status = 304
    requests.push({ path, status, headers: req.headers })
    if (!f) { res.writeHead(404).end('not found'); return }
    if (status === 304) { res.writeHead(304, { ETag: f.etag }).end(); return }
    res.writeHead(200, { 'Content-Type': 'application/x-alluvium', ETag: f.etag, 'Last-Modified': f.modified, 'Content-Length': f.body.length }).end(f.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    set: (path, body) => {
      const b = Buffer.from(body)
      files.set(path, { body: b, etag: `"${++version}-${createHash('sha256').update(b).digest('hex').slice(0, 8)}"`, modified: new Date().toUTCString() })
    },
    close: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

/** A timed playlist of `n` items of `ms` each from `t0`, URLs named `${name}N`. */
function timed (name: string, t0: number, n: number, ms: number): string {
  const items = Array.from({ length: n }, (_, i) => `<item rdf:about="http://m/${name}${i}.mp3"><link>http://m/${name}${i}.mp3</link><ev:startdate>${new Date(t0 + i * ms).toISOString()}</ev:startdate><mm:duration>${ms}</mm:duration></item>`)
  return `<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:ev="http://purl.org/rss/1.0/modules/event/" xmlns:mm="http://musicbrainz.org/mm/mm-2.0#">\n<channel rdf:about="http://m/"><title>${name}</title></channel>\n${items.join('\n')}\n</rdf:RDF>\n`
}

const cleanups: Array<() => Promise<void>> = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

test('prints the item on air at --at with its offset, then the rest of the schedule', async () => {
  const r = await run('pc-schedule', ['--at', '2026-11-22T19:00:10+01:00', STRICT])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
  const recs = records(r.stdout)
  assert.equal(recs.map(x => [x.url.split('/').pop(), x.offset]), [['one.mp3', 10000], ['two.ogg', 0], ['three.opus', 0]])
  assert.is(recs[0].hashtree, 'http://radio.example/media/one.mp3.hashtree')
  assert.ok(r.stdout.toString().endsWith('}\n'))
})

test('the ACTLab guide playlist is an epoch-anchored loop: --count items, same answer everywhere', async () => {
  const a = await run('pc-schedule', ['--at', '2026-11-22T18:00:40Z', '-n', '6', ACTLAB], undefined, { env: { ...process.env, TZ: 'Pacific/Auckland' } })
  const b = await run('pc-schedule', ['--at', '2026-11-22T18:00:40Z', '--count', '6', '-'], readFileSync(ACTLAB), { env: { ...process.env, TZ: 'UTC' } })
  assert.is(a.code, 0, a.stderr)
  assert.is(b.code, 0, b.stderr)
  assert.is(a.stdout.toString(), b.stdout.toString())
  const recs = records(a.stdout)
  assert.is(recs.length, 6)
  const cycle = 188600 + 183400 + 202600 + 95966
  assert.is(Date.parse(recs[0].start) % cycle, 188600 + 183400, 'cycles counted from the epoch')
  assert.match(recs[0].url, /crazy_moments\.mov$/)
  assert.is(recs[0].offset, Date.parse('2026-11-22T18:00:40Z') - Date.parse(recs[0].start))
  const once = await run('pc-schedule', ['--at', '2026-11-22T18:00:40Z', ACTLAB])
  assert.is(records(once.stdout).length, 4, 'without --count: one full cycle')
})

test('a schedule across a daylight-saving change, read in a DST zone, neither gains nor loses an hour', async () => {
  const r = await run('pc-schedule', ['--at', '2026-03-29T01:59:00+01:00', join(FIX, 'dst.rss')], undefined, { env: { ...process.env, TZ: 'Europe/Berlin' } })
  assert.is(r.code, 0, r.stderr)
  const recs = records(r.stdout)
  assert.equal(recs.map(x => [x.start, x.end]), [
    ['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z'],
    ['2026-03-29T01:00:00Z', '2026-03-29T02:00:00Z'],
    ['2026-03-29T02:00:00Z', '2026-03-29T03:00:00Z'],
  ])
  assert.is(recs[0].offset, 59 * 60_000)
})

test('--at takes a wall time in a named zone, and refuses one the clocks skip', async () => {
  const zoned = await run('pc-schedule', ['--at', '2026-03-29T03:30:00[Europe/Berlin]', '-n', '1', join(FIX, 'dst.rss')])
  const offset = await run('pc-schedule', ['--at', '2026-03-29T03:30:00+02:00', '-n', '1', join(FIX, 'dst.rss')])
  assert.is(zoned.code, 0, zoned.stderr)
  assert.is(zoned.stdout.toString(), offset.stdout.toString())
  assert.is(records(zoned.stdout)[0].offset, 1800000)
  const gap = await run('pc-schedule', ['--at', '2026-03-29T02:30:00[Europe/Berlin]', join(FIX, 'dst.rss')])
  assert.is(gap.code, 64, gap.stderr)
  assert.match(gap.stderr, /--at: 2026-03-29T02:30:00 does not exist in Europe\/Berlin/)
})

test('timeshift: --at in the past replays from then', async () => {
  const r = await run('pc-schedule', ['--at', '2026-11-22T18:01:00Z', '--count', '1', STRICT])
  assert.equal(records(r.stdout).map(x => [x.url.split('/').pop(), x.offset]), [['two.ogg', 30000]])
})

test('malformed playlist: exit 65 with file:line:column; on stdin the place is stdin', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  const bad = join(dir.path, 'bad.rss')
  await writeFile(bad, '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n<item>\n  <link>x</lnk>\n</rdf:RDF>\n')
  const r = await run('pc-schedule', [bad])
  assert.is(r.code, 65, r.stderr)
  assert.match(r.stderr, new RegExp(`^pc-schedule: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: malformed XML: `))
  assert.is(r.stdout.length, 0)
  const s = await run('pc-schedule', ['-'], readFileSync(STRICT).subarray(0, 700))
  assert.is(s.code, 65, s.stderr)
  assert.match(s.stderr, /^pc-schedule: stdin:\d+:\d+: malformed XML/)
  assert.ok(!/\n\s+at /.test(s.stderr), 'no stack trace')
})

test('an item that cannot be placed: exit 65 naming it', async () => {
  const r = await run('pc-schedule', ['-'], '<rss><channel><item><link>a</link></item><item><link>b</link><mm:duration>1</mm:duration></item></channel></rss>')
  assert.is(r.code, 65, r.stderr)
  assert.match(r.stderr, /^pc-schedule: stdin:1:\d+: item has no mm:duration/)
})

test('missing file exits 66; bad option values exit 64', async () => {
  const r = await run('pc-schedule', [join(FIX, 'no-such.rss')])
  assert.is(r.code, 66, r.stderr)
  assert.match(r.stderr, /no-such\.rss: cannot open: ENOENT/)
  assert.is((await run('pc-schedule', ['--at', '2026-11-22T18:00:00', STRICT])).code, 64, 'a time without offset is refused')
  assert.is((await run('pc-schedule', ['--count', '0', STRICT])).code, 64)
  assert.is((await run('pc-schedule', ['--lead', 'soon', STRICT])).code, 64)
})

test('URL input: fetched over HTTP; 404 exits 66; an unreachable origin exits 69', async () => {
  const o = await origin(); cleanups.push(o.close)
  o.set('/list.rss', readFileSync(STRICT))
  const r = await run('pc-schedule', ['--at', '2026-11-22T18:00:00Z', `${o.url}/list.rss`])
  assert.is(r.code, 0, r.stderr)
  assert.is(records(r.stdout).length, 3)
  const missing = await run('pc-schedule', [`${o.url}/gone.rss`])
  assert.is(missing.code, 66, missing.stderr)
  assert.match(missing.stderr, /gone\.rss: HTTP 404/)
  const url = o.url
  await o.close(); cleanups.pop()
  const down = await run('pc-schedule', [`${url}/list.rss`])
  assert.is(down.code, 69, down.stderr)
  assert.match(down.stderr, /cannot fetch: ECONNREFUSED/)
})

test('closed stdout: exit 0 and nothing on stderr', async () => {
  const c = start('pc-schedule', ['--count', '1000000', ACTLAB])
  const done = finish(c)
  c.stdout?.once('data', () => c.stdout?.destroy())
  const r = await done
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
})

test('--key: accepts a good signature, refuses a missing one, a tampered playlist, a wrong key', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  const keyName = join(dir.path, 'station')
  const kp = generateKeyPair()
  await writeKeyPair(keyName, kp)
  const list = join(dir.path, 'list.rss')
  const bytes = readFileSync(STRICT)
  await writeFile(list, bytes)
  const at = ['--at', '2026-11-22T18:00:00Z']

  const missing = await run('pc-schedule', [...at, '--key', keyName + '.pub', list])
  assert.is(missing.code, 65, missing.stderr)
  assert.match(missing.stderr, /signature missing/)

  await writeFile(list + '.sig', sign(bytes, kp.secretKey).toString('hex') + '\n')
  const good = await run('pc-schedule', [...at, '--key', keyName + '.pub', list])
  assert.is(good.code, 0, good.stderr)
  assert.is(records(good.stdout).length, 3)
  const hexKey = await run('pc-schedule', [...at, '-k', kp.publicKey.toString('hex'), '--sig', list + '.sig', '-'], bytes)
  assert.is(hexKey.code, 0, hexKey.stderr)

  const tampered = Buffer.from(bytes.toString().replace('18:00:30Z</ev:startdate>', '18:00:31Z</ev:startdate>'))
  assert.ok(!tampered.equals(bytes))
  await writeFile(list, tampered)
  const bad = await run('pc-schedule', [...at, '--key', keyName + '.pub', list])
  assert.is(bad.code, 65, bad.stderr)
  assert.match(bad.stderr, /does not verify/)
  assert.is(bad.stdout.length, 0)

  await writeFile(list, bytes)
  const other = generateKeyPair().publicKey.toString('hex')
  const wrong = await run('pc-schedule', [...at, '--key', other, list])
  assert.is(wrong.code, 65, wrong.stderr)
  assert.match(wrong.stderr, /does not verify/)

  const stdinNoSig = await run('pc-schedule', ['--key', other, '-'], bytes)
  assert.is(stdinNoSig.code, 64, stdinNoSig.stderr)
})

test('--follow over HTTP: conditional GET, picks up a replaced playlist, keeps the last good one over a broken one, ends on SIGTERM', async () => {
  const o = await origin(); cleanups.push(o.close)
  const t0 = Date.now() - 500
  o.set('/list.rss', timed('a', t0, 100, 1500))
  const c = start('pc-schedule', ['--follow', '--lead', '400ms', '--poll', '150ms', '--announce', '0', `${o.url}/list.rss`])
  const out = finish(c, 60_000)
  const lines = (t: string, re: RegExp): number => t.split('\n').filter(l => re.test(l)).length
  let text = await waitForOutput(c.stdout!, t => lines(t, /"http:\/\/m\/a\d+\.mp3"/) >= 2, 20_000, 'two items to be printed')
  await waitUntil(() => o.requests.some(r => r.status === 304 && r.headers['if-none-match'] !== undefined && r.headers['if-modified-since'] !== undefined), 15_000, 'a conditional GET answered 304')

  o.set('/list.rss', timed('b', t0, 100, 1500))
  text = await waitForOutput(c.stdout!, t => /b\d+\.mp3/.test(t), 15_000, 'an item of the replaced playlist')

  o.set('/list.rss', timed('c', t0, 100, 1500).slice(0, 600)) // half-written
  await waitForOutput(c.stderr!, t => /malformed XML.*keeping the last good schedule/.test(t), 15_000, 'a warning about the broken playlist')
  const before = text.length
  text = await waitForOutput(c.stdout!, t => t.length > before && /b\d+\.mp3"[^\n]*\n$/.test(t), 15_000, 'the old schedule to go on')

  c.kill('SIGTERM')
  const r = await out
  assert.is(r.code, 143, r.stderr)
  const recs = records(r.stdout)
  assert.not.ok(recs.some(x => x.announce), '--announce 0: none')
  const urls = recs.map(x => x.url.split('/').pop() as string)
  const firstB = urls.findIndex(u => u.startsWith('b'))
  assert.ok(firstB > 0 && urls.slice(0, firstB).every(u => u.startsWith('a')) && urls.slice(firstB).every(u => u.startsWith('b')), urls.join(' '))
  assert.ok(!urls.some(u => u.startsWith('c')))
  // printed ahead of time, each item follows the last; a process stalled past an item's
  // start (a loaded machine) prints it with the offset it is at by then
  for (let i = 1; i < recs.length; i++) {
    assert.is(recs[i].start, recs[i - 1].end, 'items follow one another without gaps')
    assert.ok(recs[i].offset < (recs[i].duration as number), `offset ${recs[i].offset} within the item`)
  }
})

test('--follow announces the slots within --announce once each, marked "announce", and again only what a new playlist changed', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  const list = join(dir.path, 'list.rss')
  const t0 = Date.now() - 500
  await writeFile(list, timed('a', t0, 40, 1000))
  const c = start('pc-schedule', ['-f', '--lead', '300ms', '--poll', '100ms', '--announce', '20s', list])
  const out = finish(c, 60_000)
  await waitForOutput(c.stdout!, t => /a3\.mp3"(?![^\n]*announce)/.test(t), 20_000, 'the fourth item printed for fetching')
  await writeFile(list + '.tmp', timed('a', t0, 40, 1000).replace('http://m/a30.mp3</link>', 'http://m/x30.mp3</link>'))
  await rename(list + '.tmp', list)
  await waitForOutput(c.stdout!, t => /x30\.mp3/.test(t), 15_000, 'the changed slot announced')
  await sleep(500) // several more polls
  c.kill('SIGTERM')
  const r = await out
  assert.is(r.code, 143, r.stderr)
  const recs = records(r.stdout)
  const fetched = recs.filter(x => !x.announce)
  const announced = recs.filter(x => x.announce === true)
  const urlsOf = (rs: ScheduleRecord[]): string[] => rs.map(x => x.url.split('/').pop() as string)
  // announced ahead: everything after the item on air within 20 s, each slot once (x30 replaces a30 in its slot)
  const bySlot = new Map<string, string[]>()
  for (const a of announced) bySlot.set(a.start, [...(bySlot.get(a.start) ?? []), a.url.split('/').pop() as string])
  for (const [start, urls] of bySlot) assert.ok(urls.length === 1 || (urls.join() === 'a30.mp3,x30.mp3'), `${start}: ${urls.join()}`)
  assert.ok(announced.every(a => a.offset === 0 && Date.parse(a.start) >= Date.parse(fetched[0].end as string)))
  // right after the item on air: the whole horizon (20 s of 1 s slots), from the next slot on
  assert.is(recs[1].announce, true)
  assert.is(recs[1].start, recs[0].end)
  const before = recs.slice(1, recs.indexOf(fetched[1]))
  assert.ok(before.length >= 18 && before.every(x => x.announce), `${before.length} announced before the second item`)
  assert.ok(urlsOf(fetched).every(u => u.startsWith('a')), 'announcements are not fetched')
})

test('--follow on a file: a replacement renamed into place is picked up', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  const list = join(dir.path, 'list.rss')
  const t0 = Date.now() - 500
  await writeFile(list, timed('a', t0, 100, 1500))
  const c = start('pc-schedule', ['-f', '--lead', '400ms', '--poll', '100ms', '-v', list])
  const out = finish(c, 60_000)
  await waitForOutput(c.stdout!, t => /a\d+\.mp3/.test(t), 20_000, 'the item on air')
  await writeFile(list + '.tmp', timed('b', t0, 100, 1500))
  await rename(list + '.tmp', list)
  await waitForOutput(c.stdout!, t => /b\d+\.mp3/.test(t), 15_000, 'an item of the new playlist')
  c.kill('SIGINT')
  const r = await out
  assert.is(r.code, 130, r.stderr)
  assert.match(r.stderr, /new playlist loaded/)
})

test('--follow --key: a replacement whose signature is not yet updated waits until it is', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  const kp = generateKeyPair()
  const list = join(dir.path, 'list.rss')
  const t0 = Date.now() - 500
  const put = async (text: string, signed: boolean): Promise<void> => {
    await writeFile(list + '.tmp', text); await rename(list + '.tmp', list)
    if (signed) await writeFile(list + '.sig', sign(Buffer.from(text), kp.secretKey).toString('hex'))
  }
  await put(timed('a', t0, 100, 1500), true)
  const c = start('pc-schedule', ['-f', '--lead', '400ms', '--poll', '100ms', '--key', kp.publicKey.toString('hex'), list])
  const out = finish(c, 60_000)
  await waitForOutput(c.stdout!, t => /a\d+\.mp3/.test(t), 20_000, 'the item on air')
  const b = timed('b', t0, 100, 1500)
  await put(b, false)
  await waitForOutput(c.stderr!, t => /does not verify.*keeping the last good schedule/.test(t), 20_000, 'the refusal')
  await sleep(300) // several polls of the same unsigned file
  await writeFile(list + '.sig', sign(Buffer.from(b), kp.secretKey).toString('hex'))
  await waitForOutput(c.stdout!, t => /b\d+\.mp3/.test(t), 20_000, 'the newly signed playlist')
  c.kill('SIGTERM')
  const r = await out
  assert.is(r.code, 143, r.stderr)
  assert.is((r.stderr.match(/does not verify/g) ?? []).length, 1, 'warned once, not at every poll')
})

/** `pc-playlist ARGS | pc-schedule SARGS -` as two real processes joined by a pipe. */
async function pipeline (plArgs: string[], schedArgs: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ playlist: Awaited<ReturnType<typeof finish>>, schedule: Awaited<ReturnType<typeof finish>> }> {
  const p = start('pc-playlist', plArgs, { env })
  const s = start('pc-schedule', [...schedArgs, '-'], { env })
  p.stdout!.pipe(s.stdin!)
  p.stdin!.end()
  const [playlist, schedule] = await Promise.all([finish(p), finish(s)])
  return { playlist, schedule }
}

test('pipeline: pc-playlist media | pc-schedule --at … -', async () => {
  const media = ['tone-cbr.mp3', 'tone.ogg', 'tone.opus'].map(f => join(MEDIA, f))
  const { playlist, schedule } = await pipeline(['--start', '2026-11-22T18:00:00Z', '-b', 'http://radio.example/', '--root', MEDIA, ...media], ['--at', '2026-11-22T18:00:01Z'])
  assert.is(playlist.code, 0, playlist.stderr)
  assert.is(schedule.code, 0, schedule.stderr)
  const recs = records(schedule.stdout)
  assert.equal(recs.map(r => r.url), ['http://radio.example/tone-cbr.mp3', 'http://radio.example/tone.ogg', 'http://radio.example/tone.opus'])
  assert.is(recs[0].start, '2026-11-22T18:00:00Z')
  assert.is(recs[0].offset, 1000)
  assert.equal(recs.map(r => r.mime), ['audio/mpeg', 'audio/ogg', 'audio/ogg'])
  for (let i = 1; i < recs.length; i++) assert.is(recs[i].start, recs[i - 1].end)
})

test('pipeline across the clock change: pc-playlist --until in Berlin time, read in Berlin, covers exactly one UTC hour', async () => {
  const env = { ...process.env, TZ: 'Europe/Berlin' }
  const { playlist, schedule } = await pipeline(
    ['--start', '2026-03-29T01:30:00+01:00', '--until', '2026-03-29T03:30:00+02:00', '-b', 'http://radio.example/', '--root', MEDIA, join(MEDIA, 'tone.ogg')],
    ['--at', '2026-03-29T01:30:00+01:00'], env)
  assert.is(playlist.code, 0, playlist.stderr)
  assert.is(schedule.code, 0, schedule.stderr)
  const recs = records(schedule.stdout)
  assert.is(recs[0].start, '2026-03-29T00:30:00Z')
  assert.is(recs.length, 240, 'an hour of 15-second items, not two hours and not none')
  assert.is(recs[recs.length - 1].end, '2026-03-29T01:30:00Z')
  for (let i = 1; i < recs.length; i++) assert.is(recs[i].start, recs[i - 1].end)
})

test('pc-playlist --hash --sign, then pc-schedule --key: roots and tree URLs match the files written', async () => {
  const dir = await tempDir(); cleanups.push(dir.remove)
  for (const f of ['tone-cbr.mp3', 'tone.ogg']) await copyFile(join(MEDIA, f), join(dir.path, f))
  const key = join(dir.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  const list = join(dir.path, 'list.rss')
  const pl = await run('pc-playlist', ['--start', '2026-11-22T18:00:00Z', '--until', '2026-11-22T18:01:00Z', '--hash', '--sign', key, '-o', list, '-b', 'http://radio.example/', '--root', dir.path, join(dir.path, 'tone-cbr.mp3'), join(dir.path, 'tone.ogg')])
  assert.is(pl.code, 0, pl.stderr)
  const r = await run('pc-schedule', ['--key', key + '.pub', '--at', '2026-11-22T18:00:00Z', list])
  assert.is(r.code, 0, r.stderr)
  const recs = records(r.stdout)
  assert.is(recs.length, 4, 'the list repeated: two airings of each, in rdf:Seq order')
  assert.equal(recs.map(x => x.url.split('/').pop()), ['tone-cbr.mp3', 'tone.ogg', 'tone-cbr.mp3', 'tone.ogg'])
  for (const rec of recs) {
    const file = join(dir.path, (rec.url as string).replace('http://radio.example/', ''))
    assert.is(rec.hashtree, rec.url + '.hashtree')
    const root = await run('pc-hash', ['--root', file])
    assert.is(rec.root, root.stdout.toString().trim(), root.stderr)
    await readFile(file + '.hashtree') // published beside the media, where the record points
  }
  await writeFile(list, (await readFile(list, 'utf8')).replace('18:00:00Z</ev:startdate>', '18:00:01Z</ev:startdate>'))
  const tampered = await run('pc-schedule', ['--key', key + '.pub', list])
  assert.is(tampered.code, 65, tampered.stderr)
  assert.match(tampered.stderr, /does not verify/)
})

test.run()
