// pc-live as an Icecast 2 server to real source clients: ffmpeg (PUT with Expect, and
// SOURCE), Liquidsoap, libshout's shout; the challenge flow, wrong credentials, a busy
// mount, a takeover, bad heads, a silent source, a flood; titles; a source that drops.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { killChildren, run, start, sleep, withTimeout, tempDir, waitForOutput, MEDIA } from '../helpers.js'
import { get, rawRequest } from './icecast-helpers.js'
import { startLive, ffmpegSource, exited, waitManifest, decode, PASSWORD, type Live } from './pc-live-helpers.js'
import { readFile, writeFile } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { ChildProcess } from 'node:child_process'
import { freePort } from '../../scripts/free-port.js'
import { encodeHandshake, WIRE_VERSION_LIVE } from '../../lib/swarm/wire.js'

let live: Live | undefined
const sockets: Socket[] = []
test.after.each(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  killChildren()
  await live?.remove()
  live = undefined
})

const auth = (pw = PASSWORD): string => 'Basic ' + Buffer.from(`source:${pw}`).toString('base64')
const MP3 = readFileSync(join(MEDIA, 'tone-cbr.mp3'))

/** a raw source connection that got its 200 and may then send bytes */
function rawSource (port: number, head: string): Promise<{ s: Socket, answer: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    sockets.push(s)
    let got = ''
    s.on('data', d => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) resolve({ s, answer: got }) })
    s.on('error', reject)
    s.on('close', () => resolve({ s, answer: got }))
    s.write(head)
  }), 10_000, 'a source answer')
}

test('usage errors exit 64, a missing password file 66, an unwritable directory 74', async () => {
  assert.is((await run('pc-live', [])).code, 64)
  const nopw = await run('pc-live', ['127.0.0.1:0'])
  assert.is(nopw.code, 64)
  assert.match(nopw.stderr, /--password-file/)
  assert.is((await run('pc-live', ['--chunk', '10ms', '-'])).code, 64)
  assert.is((await run('pc-live', ['--mount', '/a b', '-'])).code, 64)
  const missing = await run('pc-live', ['127.0.0.1:0', '--password-file', '/nonexistent/pw'])
  assert.is(missing.code, 66)
  assert.match(missing.stderr, /\/nonexistent\/pw: cannot read/)
  const unwritable = await run('pc-live', ['--dir', '/etc/passwd/pc-live-test', '-'], MP3.subarray(0, 1000))
  assert.is(unwritable.code, 74, unwritable.stderr)
})

test('ffmpeg icecast:// (PUT, Expect: 100-continue) goes on air; chunks and manifest follow', async () => {
  live = await startLive()
  const ff = ffmpegSource(live.port, { seconds: 4 })
  const m = await waitManifest(live.port, m => m.chunks.length >= 2 && m.source, 15_000, 'two chunks')
  assert.is(m.kind, 'mp3')
  assert.is(m.mime, 'audio/mpeg')
  assert.is(m.sampleRate, 44100)
  const r = await exited(ff)
  assert.is(r.code, 0, r.stderr)
  const after = await waitManifest(live.port, m => !m.source, 5000, 'the source to be gone')
  assert.ok(after.chunks.length >= 3)
  assert.match(live.stderr(), /source 127\.0\.0\.1:\d+ connected \(PUT, audio\/mpeg, Lavf/)
})

test('ffmpeg -legacy_icecast 1 (SOURCE) with Ogg Vorbis; the manifest names the header blob', async () => {
  live = await startLive()
  const ff = ffmpegSource(live.port, { seconds: 3, legacy: true, ogg: true })
  assert.is((await exited(ff)).code, 0)
  const m = await waitManifest(live.port, m => !m.source && m.chunks.length >= 2, 5000, 'chunks')
  assert.is(m.kind, 'ogg')
  assert.is(m.codec, 'vorbis')
  assert.is(m.headers.length, 1)
  for (const c of m.chunks) assert.is(c.header, m.headers[0].hash)
  assert.match(live.stderr(), /connected \(SOURCE, application\/ogg/)
})

test('Liquidsoap output.icecast (SOURCE, HTTP/1.0) goes on air', async () => {
  live = await startLive()
  const liq = start('liquidsoap', [`settings.init.allow_root.set(true) output.icecast(%mp3, host="127.0.0.1", port=${live.port}, password="${PASSWORD}", mount="/live", sine())`])
  liq.stdout?.resume(); liq.stderr?.resume()
  const m = await waitManifest(live.port, m => m.chunks.length >= 2, 40_000, 'chunks from Liquidsoap')
  assert.is(m.kind, 'mp3')
  assert.match(live.stderr(), /connected \(SOURCE, audio\/mpeg, Liquidsoap/)
})

test('butt (PUT), headless: on air, and a title sent with butt -u reaches the chunks', async () => {
  live = await startLive()
  const tmp = await tempDir('pc-live-butt-')
  const procs: ChildProcess[] = []
  try {
    // no sound card: ALSA's null device is the input (silence, read as fast as butt asks: it streams ahead of real time)
    await writeFile(join(tmp.path, '.asoundrc'), 'pcm.!default { type null }\n')
    const cfg = join(tmp.path, 'buttrc')
    await writeFile(cfg, [
      '[main]', 'server = pc', 'srv_ent = pc', 'num_of_srv = 1', 'icy =', 'icy_ent =', 'num_of_icy = 0', 'connect_at_startup = 1', '',
      '[audio]', 'device = default', 'samplerate = 44100', 'bitrate = 128', 'channel = 2', 'codec = mp3', '',
      '[pc]', 'address = 127.0.0.1', `port = ${live.port}`, `password = ${PASSWORD}`, 'type = 1', 'tls = 0', 'mount = live', 'usr = source', '',
    ].join('\n'))
    // a display for its window: Xvfb picks a free one and says which on fd 3
    const x = start('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] })
    procs.push(x)
    x.stderr?.resume()
    const display = (await waitForOutput(x.stdio[3] as Readable, t => /^\d+\n/.test(t), 15_000, 'Xvfb to pick a display')).trim()
    const control = String(await freePort())
    const env = { ...process.env, HOME: tmp.path, DISPLAY: `:${display}` }
    const butt = start('butt', ['-c', cfg, '-p', control], { env })
    procs.push(butt)
    butt.stdout?.resume(); butt.stderr?.resume()
    await waitManifest(live.port, m => m.chunks.length >= 2, 30_000, 'chunks from butt')
    assert.match(live.stderr(), /connected \(PUT, audio\/mpeg, butt /)
    const u = await run('butt', ['-p', control, '-u', 'Night Drive'], undefined, { env })
    assert.is(u.code, 0, u.stderr)
    const m = await waitManifest(live.port, m => m.chunks.some(c => c.title === 'Night Drive'), 15_000, 'the title from butt -u')
    assert.is(m.kind, 'mp3')
    const r = await decode(`http://127.0.0.1:${live.port}/live`, ['-t', '2'])
    assert.is(r.code, 0, r.stderr)
  } finally {
    await Promise.all(procs.map(c => new Promise(resolve => { if (c.exitCode !== null || c.signalCode !== null) resolve(null); else { c.once('exit', resolve); c.kill('SIGKILL') } })))
    await tmp.remove()
  }
})

test('libshout (shout, TLS mode auto): the OPTIONS probe and the 401 challenge, then on air', async () => {
  live = await startLive()
  const ogg = await readFile(join(MEDIA, 'tone.ogg'))
  const sh = start('shout', ['-H', '127.0.0.1', '-P', String(live.port), '--mount', '/live', '--user', 'source', '--pass', PASSWORD, '--tls-mode', 'auto'])
  sh.stdin?.end(ogg.subarray(0, 40_000))
  const r = await exited(sh)
  assert.is(r.code, 0, r.stderr)
  const m = await waitManifest(live.port, m => m.chunks.length >= 1 && !m.source, 10_000, 'chunks from shout')
  assert.is(m.kind, 'ogg')
  // what libshout sent, in order: the upgrade probe, the challenge, then with credentials
  assert.match(live.stderr(), /\d OPTIONS \*\n[\s\S]*\d SOURCE \/live\n[\s\S]*\d SOURCE \/live \(with credentials\)\n[\s\S]*connected \(SOURCE, application\/ogg, libshout/)
})

test('the challenge flow by hand: OPTIONS * is 400, SOURCE without credentials 401 with the Icecast realm', async () => {
  live = await startLive()
  const o = await rawRequest(live.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: TLS/1.0, HTTP/1.1\r\n\r\n')
  assert.is(o.status, 400)
  const a = await rawRequest(live.port, 'SOURCE /live HTTP/1.0\r\nContent-Type: audio/mpeg\r\n\r\n')
  assert.is(a.status, 401)
  assert.is(a.headers.get('www-authenticate'), 'Basic realm="Icecast2 Server"')
  const { answer } = await rawSource(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\nice-audio-info: bitrate=128;samplerate=44100;channels=2\r\n\r\n`)
  assert.match(answer, /^HTTP\/1\.0 200 OK\r\n/)
})

test('SIGTERM: the manifest says the show ended, exit 143', async () => {
  live = await startLive()
  ffmpegSource(live.port, { seconds: 30 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'the source')
  const done = exited(live.c)
  live.c.kill('SIGTERM')
  assert.is((await done).code, 143)
  const m = JSON.parse(await readFile(join(live.dir, 'live.json'), 'utf8')) as { ended: boolean, source: boolean }
  assert.ok(m.ended)
  assert.not.ok(m.source)
})

test('a chunked body (Transfer-Encoding: chunked) is decoded', async () => {
  live = await startLive()
  const { s, answer } = await rawSource(live.port, `PUT /live HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n`)
  assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\n/)
  const body = MP3.subarray(0, 100_000)
  for (let i = 0; i < body.length; i += 7000) { const p = body.subarray(i, i + 7000); s.write(p.length.toString(16) + '\r\n'); s.write(p); s.write('\r\n') }
  s.write('0\r\n\r\n')
  const m = await waitManifest(live.port, m => !m.source && m.chunks.length > 0, 10_000, 'the chunked source to end')
  const bytes = Buffer.concat(await Promise.all(m.chunks.map(c => readFile(join(live!.dir, 'live', c.name)))))
  assert.ok(body.includes(bytes.subarray(0, 5000)), 'chunk bytes are the body, not the chunk framing')
  assert.not.ok(bytes.includes(Buffer.from('1b58\r\n')), 'no chunk-size lines in the audio')
})

test('a source that goes in the middle of a frame: its show ends at its last whole frame, nothing said of the cut one', async () => {
  live = await startLive()
  const { s, answer } = await rawSource(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\n\r\n`)
  assert.match(answer, /^HTTP\/1\.0 200 OK/)
  // 100,000 bytes of a 128 kbit/s MP3 end inside a frame (417 or 418 bytes each)
  s.end(MP3.subarray(0, 100_001))
  await waitManifest(live.port, m => !m.source && m.chunks.length > 0, 10_000, 'the source to go')
  // ('byte N: truncated final unit of M bytes dropped' each time before)
  assert.not.match(live.stderr(), /truncated|skipped/, live.stderr())
})

test('wrong password: 401 to ffmpeg (which fails) and to a raw request', async () => {
  live = await startLive()
  const ff = ffmpegSource(live.port, { password: 'nope' })
  const r = await exited(ff)
  assert.ok(r.code !== 0)
  const raw = await rawRequest(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth('nope')}\r\n\r\n`)
  assert.is(raw.status, 401)
  assert.match(live.stderr(), /wrong credentials/)
})

test('a second source on a busy mount gets 403; a silent holder is taken over at once, numbering continues', async () => {
  live = await startLive()
  const ff = ffmpegSource(live.port, { seconds: 30 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'the first source')
  const busy = await rawRequest(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\n\r\n`)
  assert.is(busy.status, 403)
  ff.kill('SIGKILL')
  await exited(ff)
  // a DJ whose line dropped: the connection stays open but nothing comes
  const { s } = await rawSource(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\n\r\n`)
  s.write(MP3.subarray(0, 40_000))
  const before = await waitManifest(live.port, m => m.source, 5000, 'the raw source on air')
  await sleep(2500)
  const ff2 = ffmpegSource(live.port, { seconds: 3 })
  assert.is((await exited(ff2)).code, 0, 'the reconnecting source is accepted')
  assert.match(live.stderr(), /took the mount over from a silent source/)
  const m = await waitManifest(live.port, m => !m.source, 5000, 'the end')
  assert.is(m.stream, before.stream)
  const seqs = m.chunks.map(c => c.seq)
  assert.equal(seqs, seqs.map((_, i) => seqs[0] + i), 'no gap in the numbering')
})

test('a source that sends nothing is disconnected after --source-timeout', async () => {
  live = await startLive(['--source-timeout', '1s'])
  const { s } = await rawSource(live.port, `SOURCE /live HTTP/1.0\r\nAuthorization: ${auth()}\r\nContent-Type: audio/mpeg\r\n\r\n`)
  await withTimeout(new Promise(resolve => s.once('close', resolve)), 8000, 'the server to drop the silent source')
  assert.match(live.stderr(), /nothing received for 1000 ms, disconnected/)
})

test('oversized heads, too many header lines and endless heads get 431 and 408; a head that is not HTTP/1.x 400, and bytes that cannot begin one 400 at once', async () => {
  live = await startLive(['--header-timeout', '1s'])
  // a listener dialling the port pc-live announces, a TLS hello: 400 before the head timeout (which would be 408)
  const handshake = encodeHandshake({ infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 2), port: 6881, version: WIRE_VERSION_LIVE })
  assert.is((await rawRequest(live.port, handshake)).status, 400)
  assert.is((await rawRequest(live.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))).status, 400)
  const big = await rawRequest(live.port, `SOURCE /live HTTP/1.0\r\nX-Junk: ${'a'.repeat(10_000)}\r\n\r\n`)
  assert.is(big.status, 431)
  const many = await rawRequest(live.port, 'GET /live HTTP/1.0\r\n' + 'X-A: b\r\n'.repeat(200) + '\r\n')
  assert.is(many.status, 431)
  const slow = await rawRequest(live.port, 'GET /live HTTP/1.0\r\nX-Slow: 1\r\n')
  assert.is(slow.status, 408)
  assert.is((await rawRequest(live.port, `SOURCE /live HTTP/2.0\r\nAuthorization: ${auth()}\r\n\r\n`)).status, 400)
  assert.is((await rawRequest(live.port, 'SOURCE /live\r\n\r\n')).status, 400)
})

test('a flood of idle connections is bounded and the show goes on', async () => {
  live = await startLive(['--header-timeout', '3s'])
  const ff = ffmpegSource(live.port, { seconds: 30 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'the source')
  let closed = 0
  await Promise.all(Array.from({ length: 400 }, () => new Promise<void>(resolve => {
    const s = connect({ host: '127.0.0.1', port: live!.port }, () => resolve())
    sockets.push(s)
    s.on('close', () => { closed++ })
    s.on('error', () => resolve())
  })))
  await sleep(500)
  assert.ok(closed >= 400 - 128, `${closed} of 400 closed at once`)
  const path = join(live.dir, 'live.json')
  const n0 = (JSON.parse(await readFile(path, 'utf8')) as { chunks: { seq: number }[] }).chunks.at(-1)!.seq
  await sleep(2000)
  const n1 = (JSON.parse(await readFile(path, 'utf8')) as { chunks: { seq: number }[] }).chunks.at(-1)!.seq
  assert.ok(n1 > n0, 'chunks keep coming during the flood')
  for (const s of sockets.splice(0)) s.destroy()
  await sleep(200)
  assert.is((await get(live.port, '/live.json')).status, 200)
  ff.kill()
})

test('titles: /admin/metadata answers Icecast\'s XML; the manifest, the chunks and ICY listeners get the title', async () => {
  live = await startLive()
  ffmpegSource(live.port, { seconds: 30 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'the source')
  const bad = await get(live.port, '/admin/metadata?mode=updinfo&mount=/live&song=X', { Authorization: auth('nope') })
  assert.is(bad.status, 401)
  const r = await get(live.port, '/admin/metadata?mode=updinfo&mount=%2Flive&song=Caf%C3%A9%20Song', { Authorization: auth() })
  assert.is(r.status, 200)
  assert.match(r.body.toString(), /<iceresponse><message>Metadata update successful<\/message><return>1<\/return><\/iceresponse>/)
  const m = await waitManifest(live.port, m => m.chunks.some(c => c.title === 'Café Song'), 5000, 'a chunk with the title')
  assert.is(m.title, 'Café Song')
  const icy = await get(live.port, '/live', { 'Icy-MetaData': '1' }, { maxBody: 40_000 })
  assert.is(icy.headers.get('icy-metaint'), '16000')
  assert.ok(icy.body.includes(Buffer.from("StreamTitle='Café Song';")))
})

test('the source drops and returns: the player stays connected and decodes both parts, the stream goes on', async () => {
  live = await startLive()
  const first = ffmpegSource(live.port, { seconds: 3 })
  await waitManifest(live.port, m => m.chunks.length >= 1, 15_000, 'the first source')
  // 4 s of audio: more than the first source's part can give the player
  const player = start('ffmpeg', ['-nostdin', '-v', 'error', '-i', `http://127.0.0.1:${live.port}/live`, '-t', '4', '-f', 'wav', '-'])
  let pcm = 0
  player.stdout?.on('data', (d: Buffer) => { pcm += d.length })
  const done = exited(player, 60_000)
  await exited(first)
  const gap = await waitManifest(live.port, m => !m.source, 5000, 'the drop')
  const atDrop = pcm
  await sleep(1500)
  const second = ffmpegSource(live.port, { seconds: 3 })
  await exited(second)
  const m = await waitManifest(live.port, m => !m.source && m.chunks.at(-1)!.seq > gap.chunks.at(-1)!.seq + 1, 5000, 'the second part')
  assert.is(m.stream, gap.stream)
  const r = await done
  assert.is(r.code, 0, r.stderr)
  assert.ok(pcm > atDrop, 'the player got audio after the source returned')
  assert.is(r.stderr, '', 'ffmpeg decoded without complaint')
  assert.match(live.stderr(), /listener .* joined \(1 now\)/)
  const log = live.stderr()
  const secondAt = log.indexOf(' connected (', log.indexOf(' connected (') + 1)
  assert.ok(secondAt > 0)
  assert.not.match(log.slice(0, secondAt), /listener .* left/, 'the player did not leave before the second source')
})

test.run()
