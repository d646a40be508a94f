// pc-live's output: signed chunks that verify (and a forged one that does not), the
// directory served by nginx, streams and chunk files that ffmpeg decodes, stdin with a
// moving window and a recording, --pull from a real icecast2, the tracker announce.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { killChildren, run, start, tempDir, waitForOutput, withTimeout, sleep, MEDIA } from '../helpers.js'
import { get, startIcecast2, type Icecast2 } from './icecast-helpers.js'
import { startLive, ffmpegSource, exited, manifest, waitManifest, waitLog, decode, type Live } from './pc-live-helpers.js'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { verifyLiveChunk, verifyLiveHeader } from '../../lib/live/chunk-sign.js'
import { parseManifest, claimOf, type LiveManifest } from '../../lib/live/manifest.js'
import { claimFileName, LISTED_CHUNKS } from '../../lib/live/window.js'
import { readPublicKey } from '../../lib/hashing/sign.js'
import { scrape } from '../../lib/tracker/client.js'
import { freePort } from '../../scripts/free-port.js'

let live: Live | undefined
const cleanups: (() => Promise<unknown>)[] = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
  await live?.remove()
  live = undefined
})

async function chunkBytes (l: Live, m: LiveManifest, name: string): Promise<Buffer> { return await readFile(join(l.dir, 'live', name)) }

test('with --key every chunk verifies against the station key; a forged chunk does not', async () => {
  const keys = await tempDir()
  cleanups.push(keys.remove)
  const key = join(keys.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  live = await startLive(['--key', key])
  assert.is((await exited(ffmpegSource(live.port, { seconds: 4 }))).code, 0)
  const text = (await get(live.port, '/live.json')).body.toString()
  const m = parseManifest(text, 'live.json')
  const pk = await readPublicKey(key + '.pub')
  assert.is(m.publicKey, pk.toString('hex'))
  const opts = { streamId: Buffer.from(m.stream, 'hex'), publicKey: pk }
  assert.ok(m.chunks.length >= 3)
  for (const e of m.chunks) {
    const bytes = (await get(live.port, `/live/${e.name}`)).body
    assert.ok(bytes.equals(await chunkBytes(live, m, e.name)))
    assert.ok(verifyLiveChunk(bytes, claimOf(e), opts), `chunk ${e.seq} verifies`)
  }
  const e = m.chunks[1]
  const forged = Buffer.from(await chunkBytes(live, m, e.name))
  forged[forged.length >> 1] ^= 0x40
  assert.not.ok(verifyLiveChunk(forged, claimOf(e), opts), 'altered bytes')
  assert.not.ok(verifyLiveChunk(forged, { ...claimOf(e), hash: (await import('../../lib/live/chunk-sign.js')).blake2b(forged) }, opts), 'altered bytes with a matching hash')
  assert.not.ok(verifyLiveChunk(await chunkBytes(live, m, e.name), { ...claimOf(e), seq: e.seq + 1 }, opts), 'replayed under another number')
})

test('nginx serving --dir gives the manifest and chunks; --chunk-base names a CDN', async () => {
  live = await startLive(['--chunk-base', 'https://cdn.example/live/'])
  assert.is((await exited(ffmpegSource(live.port, { seconds: 3 }))).code, 0)
  await waitManifest(live.port, m => !m.source, 5000, 'the end of the source')
  const ngx: Nginx = await startNginx({ root: live.dir })
  cleanups.push(() => ngx.stop())
  const res = await fetch(ngx.url + 'live.json')
  assert.is(res.status, 200)
  const m = parseManifest(await res.text(), 'nginx live.json')
  assert.is(m.base, 'https://cdn.example/live/')
  const own = await manifest(live.port)
  assert.equal(m.chunks, own.chunks)
  for (const e of m.chunks) {
    const r = await fetch(ngx.url + 'live/' + e.name)
    assert.is(r.status, 200)
    assert.ok(verifyLiveChunk(Buffer.from(await r.arrayBuffer()), claimOf(e), { streamId: Buffer.from(m.stream, 'hex') }), `chunk ${e.seq} from nginx matches the manifest`)
  }
  const names = await readdir(join(live.dir, 'live'))
  assert.not.ok(names.some(n => n.endsWith('.tmp')), 'no temporary file left behind')
})

test('ffmpeg decodes the mount stream, and the chunk files joined, without an error', async () => {
  live = await startLive()
  const ff = ffmpegSource(live.port, { seconds: 6 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'a chunk')
  const head = await get(live.port, '/live', {}, { maxBody: 1 })
  assert.is(head.headers.get('content-type'), 'audio/mpeg')
  assert.is(head.headers.get('x-pc-live-manifest'), '/live.json')
  assert.match(head.head, /^HTTP\/1\.0 200 OK/)
  assert.ok(head.headers.has('icy-name'))
  const player = await decode(`http://127.0.0.1:${live.port}/live`, ['-t', '3'])
  assert.is(player.code, 0)
  assert.is(player.stderr, '')
  await exited(ff)
  const m = await waitManifest(live.port, m => !m.source, 5000, 'the end')
  const joined = join(live.dir, 'joined.mp3')
  await writeFile(joined, Buffer.concat(await Promise.all(m.chunks.map(e => chunkBytes(live!, m, e.name)))))
  const r = await decode(joined)
  assert.is(r.code, 0)
  assert.is(r.stderr, '')
})

test('players: beyond --max-listeners 403; one that stops reading is dropped, the other keeps up', async () => {
  // a fast source (bytes from stdin, unpaced) fills a stalled player's kernel buffers at once
  live = await startLive(['--max-listeners', '2', '--queue-size', '64k', '-'])
  const { connect } = await import('node:net')
  const stalled = connect({ host: '127.0.0.1', port: live.port })
  stalled.write('GET /live HTTP/1.0\r\n\r\n')
  stalled.pause()
  const reader = connect({ host: '127.0.0.1', port: live.port })
  reader.write('GET /live HTTP/1.0\r\n\r\n')
  let read = 0
  reader.on('data', (d: Buffer) => { read += d.length })
  cleanups.push(async () => { stalled.destroy(); reader.destroy() })
  live.c.stdin!.write(randomBytes(64_000))
  await waitLog(live, /joined \(2 now\)/, 15_000, 'two players')
  assert.is((await get(live.port, '/live')).status, 403)
  const chunk = randomBytes(1 << 20)
  for (let i = 0; i < 40 && !/dropped/.test(live.stderr()); i++) {
    if (!live.c.stdin!.write(chunk)) await new Promise(resolve => live!.c.stdin!.once('drain', resolve))
  }
  await waitLog(live, /listener .* dropped: more than 65536 bytes queued/, 20_000, 'the stalled player to be dropped')
  assert.ok(read > 1 << 20, `the reading player got ${read} bytes`)
  assert.not.ok(reader.destroyed, 'the reading player is still connected')
  assert.is((live.stderr().match(/dropped/g) ?? []).length, 1, 'only the stalled one was dropped')
})

test('Ogg: a player joining at a later chunk decodes it after the header blob', async () => {
  live = await startLive()
  assert.is((await exited(ffmpegSource(live.port, { seconds: 5, ogg: true }))).code, 0)
  const m = await waitManifest(live.port, m => !m.source, 5000, 'the end')
  assert.ok(m.chunks.length >= 3, `${m.chunks.length} chunks`)
  assert.is(m.headers.length, 1, JSON.stringify(m.headers))
  const h = m.headers[0]
  const header = await chunkBytes(live, m, h.name)
  assert.ok(verifyLiveHeader(header, Buffer.from(m.chunks[2].header!, 'hex')), 'the header blob matches the hash chunk 2 names')
  const joined = join(live.dir, 'late.ogg')
  await writeFile(joined, Buffer.concat([header, ...await Promise.all(m.chunks.slice(2).map(e => chunkBytes(live!, m, e.name)))]))
  const r = await decode(joined)
  assert.is(r.code, 0)
  assert.not.match(r.stderr, /error|invalid/i, r.stderr)
})

test('an Ogg source whose headers are over what listeners take (a 300 kB comment) is named on stderr', async () => {
  const tmp = await tempDir()
  cleanups.push(tmp.remove)
  const meta = join(tmp.path, 'meta.txt')
  await writeFile(meta, ';FFMETADATA1\ncomment=' + 'x'.repeat(300_000) + '\n')
  const opus = join(tmp.path, 'big.opus')
  const enc = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=d=3', '-i', meta, '-map_metadata', '1', '-c:a', 'libopus', opus])
  await withTimeout(new Promise(resolve => enc.on('close', resolve)), 30_000, 'the encoder')
  const r = await run('pc-live', ['--dir', join(tmp.path, 'www'), '-'], await readFile(opus))
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, /the source's headers from chunk 0 are 3\d{5} bytes, over the 256 KiB pc listeners take/)
  // a stream with ordinary headers says nothing of it
  const small = await run('pc-live', ['--dir', join(tmp.path, 'www2'), '-'], await readFile(join(MEDIA, 'tone.opus')))
  assert.is(small.code, 0, small.stderr)
  assert.not.match(small.stderr, /headers from chunk/)
})

test('stdin (-): a moving --window in the directory, the whole show in --record, the manifest ends', async () => {
  const tmp = await tempDir()
  cleanups.push(tmp.remove)
  const mp3 = join(tmp.path, 'in.mp3')
  const enc = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=330', '-t', '12', '-b:a', '64k', '-f', 'mp3', mp3])
  await withTimeout(new Promise(resolve => enc.on('close', resolve)), 30_000, 'the encoder')
  const input = await readFile(mp3)
  const dir = join(tmp.path, 'www')
  const rec = join(tmp.path, 'show.mp3')
  const r = await run('pc-live', ['--dir', dir, '--window', '3s', '--record', rec, '-'], input)
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stdout.length, 0)
  const m = parseManifest(await readFile(join(dir, 'live.json'), 'utf8'), 'live.json')
  assert.ok(m.ended)
  assert.not.ok(m.source)
  assert.ok(m.chunks.length <= LISTED_CHUNKS, `the manifest names the newest ${LISTED_CHUNKS}, not ${m.chunks.length}`)
  const files = (await readdir(join(dir, 'live'))).sort()
  // each chunk of the window with its claim file (pc-live(5)), and nothing that left it
  const seqs = files.flatMap(f => /^(\d+)\.json$/.exec(f) ? [Number(f.split('.')[0])] : []).sort((a, b) => a - b)
  assert.ok(seqs[0] >= 7, `old chunks left the window (first is ${seqs[0]})`)
  assert.ok(seqs.length >= m.chunks.length && seqs.length <= 4, `${seqs.length} chunks in a 3 s window`)
  assert.equal(seqs, seqs.map((_s, i) => seqs[0] + i), 'one run of chunks')
  assert.equal(seqs.slice(-m.chunks.length), m.chunks.map(e => e.seq), 'the manifest names the newest of them')
  assert.equal(files, seqs.flatMap(q => [`${q}.mp3`, claimFileName(q)]).sort(), 'the directory holds the window, each chunk with its claim')
  const show = await readFile(rec)
  assert.ok(show.length > input.length - 2000 && show.length <= input.length, `${show.length} of ${input.length} bytes recorded`)
  const last = await readFile(join(dir, 'live', m.chunks.at(-1)!.name))
  assert.ok(show.subarray(show.length - last.length).equals(last), 'the recording ends with the last chunk')
  const d = await decode(rec)
  assert.is(d.code, 0)
  assert.is(d.stderr, '')
})

test('--pull reads a real icecast2 mount, and comes back when the mount returns', async () => {
  const ice: Icecast2 = await startIcecast2({ sourcePassword: 'icepw' })
  cleanups.push(() => ice.stop())
  const push = (): ReturnType<typeof spawn> => spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=550', '-t', '4', '-b:a', '64k', '-f', 'mp3', `icecast://source:icepw@127.0.0.1:${ice.port}/src`], { stdio: 'ignore' })
  let feeder = push()
  cleanups.push(async () => { feeder.kill('SIGKILL') })
  await sleep(1000)
  live = await startLive(['--pull', `http://127.0.0.1:${ice.port}/src`])
  const first = await waitManifest(live.port, m => m.chunks.length >= 1 && m.source, 15_000, 'pulled chunks')
  assert.is(first.kind, 'mp3')
  await withTimeout(new Promise(resolve => feeder.once('close', resolve)), 15_000, 'the feeder')
  const gap = await waitManifest(live.port, m => !m.source, 15_000, 'the mount to drop')
  feeder = push()
  const back = await waitManifest(live.port, m => m.source && m.chunks.at(-1)!.seq > gap.chunks.at(-1)!.seq, 20_000, 'the pull to come back')
  assert.is(back.stream, first.stream)
  assert.match(live.stderr(), /pull http:\/\/127\.0\.0\.1:\d+\/src: connected \(audio\/mpeg\)[\s\S]*the mount dropped[\s\S]*connected/)
})

test('--tracker: the live swarm is announced under the stream\'s info-hash', async () => {
  const tr = start('pc-tracker', ['127.0.0.1:0'])
  const url = (await waitForOutput(tr.stdout!, t => t.endsWith('\n'), 10_000, 'the announce URL')).trim()
  live = await startLive(['--tracker', url])
  const m = await manifest(live.port)
  await waitForOutput(live.c.stderr!, t => /tracker .*: announced/.test(t), 10_000, 'the announce').catch(() => undefined)
  const st = await scrape(url, [Buffer.from(m.infoHash, 'hex')])
  const e = st.get(m.infoHash)
  assert.ok(e, 'the tracker knows the swarm')
  assert.is(e!.complete, 1, 'pc-live is its seed')
})

test('--tracker not up yet: pc-live announces again within seconds once it answers, not a minute later', async () => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/announce`
  live = await startLive(['--tracker', url])
  const m = await manifest(live.port)
  await waitLog(live, /tracker .*; retrying/, 10_000, 'the first announce to fail')
  // the tracker's URL said once (it was said twice: 'tracker URL: URL: cannot fetch: …')
  assert.match(live.stderr(), `pc-live: tracker ${url}: cannot fetch: ECONNREFUSED; retrying`)
  start('pc-tracker', [`127.0.0.1:${port}`])
  await waitLog(live, /tracker .*: answering again/, 20_000, 'the tracker to be announced to again')
  const e = (await scrape(url, [Buffer.from(m.infoHash, 'hex')])).get(m.infoHash)
  assert.ok(e, 'the tracker knows the swarm')
  assert.is(e!.complete, 1, 'pc-live is its seed')
})

test.run()
