// pc-icecast with plain media input: what players and tools see over real sockets.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, createServer, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { MEDIA, start, finish, killChildren, withTimeout, waitForOutput, sleep, waitUntil } from '../helpers.js'
import { encodeMagic } from '../../lib/frames/frame.js'
import { MediaParser } from '../../lib/media/media.js'
import { startIcecast, get, rawRequest, tool } from './icecast-helpers.js'

const MP3 = readFileSync(join(MEDIA, 'tone-cbr.mp3'))
const OPUS = readFileSync(join(MEDIA, 'tone.opus'))
const sockets: Socket[] = []

test.after.each(() => {
  killChildren()
  for (const s of sockets.splice(0)) s.destroy()
})

test('the mount answers with icecast2 2.4 headers and CORS, and ffmpeg decodes the MP3 with no error', async () => {
  const ic = await startIcecast(['--name', 'Test FM', '--description', 'desc', '--genre', 'Rock', '--url', 'http://fm.test/', '--public', '--title', 'Tone'], MP3)
  const r = await get(ic.port, '/stream', {}, { maxBody: 1 })
  assert.match(r.head, /^HTTP\/1\.0 200 OK\r\n/)
  const h = r.headers
  assert.is(h.get('content-type'), 'audio/mpeg')
  assert.is(h.get('icy-name'), 'Test FM')
  assert.is(h.get('icy-description'), 'desc')
  assert.is(h.get('icy-genre'), 'Rock')
  assert.is(h.get('icy-url'), 'http://fm.test/')
  assert.is(h.get('icy-pub'), '1')
  assert.is(h.get('icy-br'), '128')
  assert.match(h.get('ice-audio-info') ?? '', /samplerate=44100/)
  assert.is(h.get('cache-control'), 'no-cache, no-store')
  assert.is(h.get('accept-ranges'), 'none')
  assert.is(h.get('access-control-allow-origin'), '*')
  assert.match(h.get('access-control-allow-headers') ?? '', /Icy-MetaData/)
  assert.match(h.get('access-control-expose-headers') ?? '', /icy-name/)
  assert.match(h.get('server') ?? '', /^Icecast 2\.4/)
  assert.not.ok(h.has('icy-metaint'), 'no ICY metadata unless asked')
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-t', '3', '-i', `${ic.base}/stream`, '-f', 'null', '-'])
  assert.is(ff.code, 0, ff.stderr)
  assert.is(ff.stderr, '')
})

test('a new listener gets the burst at once: the first bytes are an MPEG frame, no ID3 tag', async () => {
  const ic = await startIcecast(['--burst', '32k'], MP3)
  const r = await get(ic.port, '/stream', {}, { maxBody: 32 * 1024 })
  assert.ok(r.body.length >= 32 * 1024)
  assert.is(r.body[0], 0xff)
  assert.is(r.body[1] & 0xe0, 0xe0)
  assert.not.ok(r.body.includes(Buffer.from('ID3')), 'ID3 tags are not sent')
})

test('HEAD answers the same headers and no body (icecast2 answers 400: documented)', async () => {
  const ic = await startIcecast([], MP3)
  const r = await get(ic.port, '/stream', {}, { method: 'HEAD' })
  assert.is(r.status, 200)
  assert.is(r.headers.get('content-type'), 'audio/mpeg')
  assert.is(r.headers.get('icy-name'), 'pc-icecast')
  assert.is(r.body.length, 0)
})

test('ffprobe -icy 1 sees the station name and the UTF-8 title, quotes as they are', async () => {
  const ic = await startIcecast(['--name', 'Tést', '--title', "It's Ä tone"], MP3)
  const r = await tool('ffprobe', ['-v', 'error', '-icy', '1', '-show_entries', 'format_tags', '-of', 'json', `${ic.base}/stream`])
  assert.is(r.code, 0, r.stderr)
  const tags = JSON.parse(r.stdout.toString()).format.tags
  assert.is(tags.StreamTitle, "It's Ä tone")
  assert.is(tags['icy-name'], 'Tést')
  const raw = await get(ic.port, '/stream', { 'Icy-MetaData': '1' }, { maxBody: 1 })
  assert.is(raw.headers.get('icy-metaint'), '16000')
})

test('Ogg Opus plain input is served as audio/ogg and decodes with no error', async () => {
  const ic = await startIcecast([], OPUS)
  const r = await get(ic.port, '/stream', {}, { maxBody: 4 })
  assert.is(r.headers.get('content-type'), 'audio/ogg')
  assert.is(r.body.subarray(0, 4).toString('latin1'), 'OggS')
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-t', '3', '-i', `${ic.base}/stream`, '-f', 'null', '-'])
  assert.is(ff.code, 0, ff.stderr)
  assert.is(ff.stderr, '')
})

test('status-json.xsl in Icecast shape; playlists carry the Host the client used; next.json; HTML page', async () => {
  const ic = await startIcecast(['--name', 'Test FM', '--title', 'Tone <1>', '--mount', '/live'], MP3)
  const s = await get(ic.port, '/status-json.xsl')
  assert.is(s.status, 200)
  const st = JSON.parse(s.body.toString()).icestats
  assert.is(st.server_id, 'Icecast 2.4.4')
  assert.ok(st.server_start_iso8601)
  assert.is(st.source.server_name, 'Test FM')
  assert.is(st.source.title, 'Tone <1>')
  assert.is(st.source.listeners, 0)
  assert.is(st.source.bitrate, 128)
  assert.is(st.source.server_type, 'audio/mpeg')
  assert.is(st.source.listenurl, `http://127.0.0.1:${ic.port}/live`)
  assert.ok(st.source.stream_start)
  const m = await get(ic.port, '/live.m3u', { Host: 'radio.example:8443', 'X-Forwarded-Proto': 'https' })
  assert.is(m.body.toString(), 'https://radio.example:8443/live\n')
  assert.is(m.headers.get('content-type'), 'audio/x-mpegurl')
  const x = await get(ic.port, '/live.xspf', { Host: 'lan-box:8000' })
  assert.match(x.body.toString(), /<location>http:\/\/lan-box:8000\/live<\/location>/)
  const p = await get(ic.port, '/listen.pls', { Host: 'lan-box:8000' })
  assert.match(p.body.toString(), /File1=http:\/\/lan-box:8000\/live/)
  const n = JSON.parse((await get(ic.port, '/next.json')).body.toString())
  assert.is(n.now.title, 'Tone <1>')
  assert.equal(n.next, [])
  const html = (await get(ic.port, '/')).body.toString()
  assert.match(html, /<audio[^>]+src="\/live"/)
  assert.match(html, /Tone &lt;1&gt;/)
  assert.not.match(html, /(src|href)="https?:/, 'no external assets')
})

test('bad requests get the right status', async () => {
  const ic = await startIcecast([], MP3)
  assert.is((await rawRequest(ic.port, 'GARBAGE\r\n\r\n')).status, 400)
  assert.is((await rawRequest(ic.port, 'GET /stream HTTP/1.1\r\nno colon here\r\n\r\n')).status, 400)
  assert.is((await rawRequest(ic.port, 'GET /%zz HTTP/1.1\r\n\r\n')).status, 400)
  assert.is((await rawRequest(ic.port, 'GET /stream HTTP/2.0\r\n\r\n')).status, 505)
  assert.is((await rawRequest(ic.port, 'POST /stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n')).status, 405)
  assert.is((await rawRequest(ic.port, 'SOURCE /stream HTTP/1.0\r\n\r\n')).status, 405)
  assert.is((await rawRequest(ic.port, `GET /stream HTTP/1.1\r\nX: ${'a'.repeat(10000)}\r\n\r\n`)).status, 431)
  assert.is((await get(ic.port, '/nosuch')).status, 404)
  const o = await get(ic.port, '/stream', { Origin: 'http://x', 'Access-Control-Request-Headers': 'icy-metadata' }, { method: 'OPTIONS' })
  assert.is(o.status, 204)
  assert.match(o.headers.get('access-control-allow-headers') ?? '', /Icy-MetaData/)
  // a head split over many writes is still read
  const split = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(s)
    let got = ''
    s.on('data', d => { got += d.toString('latin1'); if (got.includes('\r\n\r\n')) resolve(got) })
    s.on('error', reject)
    const req = 'GET /status-json.xsl HTTP/1.1\r\nHost: a\r\n\r\n'
    let i = 0
    const t = setInterval(() => { if (i < req.length) s.write(req[i++]); else clearInterval(t) }, 1)
  })
  assert.match(split, /^HTTP\/1\.0 200/)
})

test('beyond --max-listeners a listener is refused as icecast2 refuses', async () => {
  const ic = await startIcecast(['--max-listeners', '1'], MP3)
  const first = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(first)
  first.write('GET /stream HTTP/1.0\r\n\r\n')
  await withTimeout(new Promise(resolve => first.once('data', resolve)), 10_000, 'the first listener')
  const r = await get(ic.port, '/stream')
  assert.is(r.status, 403)
  assert.is(r.body.toString(), 'max listeners reached')
  assert.is(r.headers.get('content-type'), 'text/plain; charset=utf-8')
})

test('a stalled listener is dropped when its queue overflows; the healthy one keeps receiving, never ahead of real time', async () => {
  // 4 MB/s of opaque bytes: the stalled socket's kernel buffers fill within a second or two
  const rate = 4_000_000
  const data = randomBytes(rate * 8)
  const ic = await startIcecast(['--content-type', 'application/octet-stream', '--bitrate', String(rate * 8 / 1000), '--queue-size', '256k', '--burst', '0'], data)
  const stalled = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(stalled)
  stalled.write('GET /stream HTTP/1.0\r\n\r\n')
  stalled.pause() // never reads
  let healthy = 0
  const t0 = Date.now()
  const req = request({ host: '127.0.0.1', port: ic.port, path: '/stream' })
  req.on('response', res => res.on('data', (d: Buffer) => { healthy += d.length }))
  req.on('error', () => {})
  req.end()
  await waitForOutput(ic.c.stderr!, t => /dropped: more than 256k queued/.test(t), 20_000, 'the stalled listener to be dropped')
  const atDrop = healthy
  await waitUntil(() => healthy > atDrop + rate / 4, 10_000, 'the healthy listener to keep receiving after the drop', 50)
  const elapsed = (Date.now() - t0) / 1000
  req.destroy()
  // Time is the behaviour here (pacing): never more than real time plus slack. A loaded
  // machine only sends less; an unpaced server sends the 8 s of input at once.
  assert.ok(healthy < 1.5 * rate * elapsed + 1024 * 1024, `healthy got ${healthy} bytes in ${elapsed} s: not paced`)
})

test('at end of input the stream ends cleanly: listeners are closed, exit 0', async () => {
  const short = MP3.subarray(0, new MediaParser('mp3').push(MP3)[60].offset) // about 1.5 s
  const ic = await startIcecast([], short)
  const r = await get(ic.port, '/stream')
  assert.is(r.status, 200)
  assert.ok(r.body.length > 15_000, `got ${r.body.length}`)
  const res = await finish(ic.c, 15_000)
  assert.is(res.code, 0, ic.stderr())
})

test('a garbage frame stream exits 65 naming the byte offset', async () => {
  const c = start('pc-icecast', ['127.0.0.1:0'])
  const done = finish(c)
  c.stdin?.end(Buffer.concat([encodeMagic(), Buffer.from([2, 0xff, 0xff, 0xff, 0xff])]))
  const r = await done
  assert.is(r.code, 65)
  assert.match(r.stderr, /byte 11/)
})

test('a missing file exits 66; a busy port 69; no port 64', async () => {
  let r = await finish(start('pc-icecast', ['127.0.0.1:0', '/no/such/file.mp3']))
  assert.is(r.code, 66)
  assert.match(r.stderr, /no\/such\/file\.mp3/)
  const busy = createServer()
  await new Promise<void>(resolve => busy.listen(0, '127.0.0.1', resolve))
  const port = (busy.address() as { port: number }).port
  const c = start('pc-icecast', [`127.0.0.1:${port}`])
  c.stdin?.end()
  r = await finish(c)
  busy.close()
  assert.is(r.code, 69)
  assert.match(r.stderr, new RegExp(`${port}`))
  r = await finish(start('pc-icecast', []))
  assert.is(r.code, 64)
})

test('with stdout closed it runs to the end of input: exit 0, nothing on stderr', async () => {
  const c = start('pc-icecast', ['127.0.0.1:0'])
  c.stdout?.destroy()
  const done = finish(c)
  // whole frames only, so the parser has nothing to warn about
  const units = new MediaParser('mp3').push(MP3)
  c.stdin?.end(MP3.subarray(0, units[20].offset))
  const r = await done
  assert.is(r.code, 0)
  assert.is(r.stderr, '')
})

test('when the input runs dry listeners stay connected and are served when data comes back', async () => {
  const units = new MediaParser('mp3').push(MP3)
  const cut = units[40].offset // about 1 s
  const ic = await startIcecast([])
  ic.c.stdin?.write(MP3.subarray(0, cut))
  const s = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(s)
  let got = 0
  let closed = false
  s.on('data', (d: Buffer) => { got += d.length })
  s.on('close', () => { closed = true })
  s.write('GET /stream HTTP/1.0\r\n\r\n')
  await sleep(2500) // the second of audio is over; nothing more comes
  const dry = got
  assert.not.ok(closed, 'still connected while the input is dry')
  ic.c.stdin?.end(MP3.subarray(cut, units[200].offset))
  await waitUntil(() => got >= dry + 30_000, 10_000, 'data after the input came back', 50)
  assert.not.ok(closed)
})

test('SIGTERM stops it with 143 and disconnects listeners', async () => {
  const ic = await startIcecast([], MP3)
  const s = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(s)
  s.write('GET /stream HTTP/1.0\r\n\r\n')
  s.on('data', () => {})
  await withTimeout(new Promise(resolve => s.once('data', resolve)), 10_000, 'the listener')
  const closed = new Promise(resolve => s.once('close', resolve))
  ic.c.kill('SIGTERM')
  const r = await finish(ic.c, 10_000)
  assert.is(r.code, 143)
  await withTimeout(closed, 5000, 'the listener to be disconnected')
})

test.run()
