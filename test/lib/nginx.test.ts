import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { startNginx, sumBodyBytes, type Nginx } from '../../scripts/nginx.js'
import { PlaylistSource } from '../../lib/playlist/poll.js'
import { ROOT, finish, start, tempDir, waitForOutput, withTimeout, killChildren } from '../helpers.js'

interface Got { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }

function get (url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return withTimeout(new Promise<Got>((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  }), 10_000, `${method} ${url}`)
}

let dir: { path: string, remove: () => Promise<void> } | undefined
let ngx: Nginx | undefined
const file = randomBytes(300_000)

test.before.each(async () => {
  dir = await tempDir('pc-nginx-test-')
  await writeFile(join(dir.path, 'song.bin'), file)
  await writeFile(join(dir.path, 'list.rss'), '<rdf:RDF/>\n')
  await writeFile(join(dir.path, 'song.bin.hashtree'), 'pc-hashtree 1\n')
  await writeFile(join(dir.path, 'song.bin.sig'), 'sig\n')
})

test.after.each(async () => {
  killChildren()
  await ngx?.stop()
  ngx = undefined
  await dir?.remove()
})

test('serves a directory on a free 127.0.0.1 port, the whole file byte-identical', async () => {
  ngx = await startNginx({ root: dir!.path })
  assert.ok(ngx.port > 0)
  assert.is(ngx.url, `http://127.0.0.1:${ngx.port}/`)
  const r = await get(ngx.url + 'song.bin')
  assert.is(r.status, 200)
  assert.ok(r.body.equals(file))
  assert.is(r.headers['accept-ranges'], 'bytes')
})

test('answers a Range request with 206 and exactly the half-open range asked for', async () => {
  ngx = await startNginx({ root: dir!.path })
  const r = await get(ngx.url + 'song.bin', { Range: 'bytes=1000-132071' })
  assert.is(r.status, 206)
  assert.is(r.headers['content-range'], `bytes 1000-132071/${file.length}`)
  assert.ok(r.body.equals(file.subarray(1000, 132072)))
  const tail = await get(ngx.url + 'song.bin', { Range: 'bytes=-10' })
  assert.ok(tail.body.equals(file.subarray(file.length - 10)))
  const past = await get(ngx.url + 'song.bin', { Range: `bytes=${file.length}-` })
  assert.is(past.status, 416)
})

test('counts the body bytes it sent, from its own access log', async () => {
  ngx = await startNginx({ root: dir!.path })
  assert.is(await ngx.bytesSent(), 0)
  await get(ngx.url + 'song.bin')
  await get(ngx.url + 'song.bin', { Range: 'bytes=0-99' })
  await get(ngx.url + 'song.bin', { Range: 'bytes=200-299' })
  await get(ngx.url + 'song.bin', {}, 'HEAD')
  await get(ngx.url + 'missing.bin')
  const log = await import('node:fs/promises').then(fs => fs.readFile(ngx!.accessLog, 'utf8'))
  assert.is(log.trim().split('\n').length, 5)
  const notFound = /^(\d+) 404 /m.exec(log)
  assert.ok(notFound, log)
  assert.is(await ngx.bytesSent(), file.length + 200 + Number(notFound![1]))
})

test('serves .rss as application/x-alluvium and .hashtree/.sig as text/plain', async () => {
  ngx = await startNginx({ root: dir!.path })
  assert.is((await get(ngx.url + 'list.rss')).headers['content-type'], 'application/x-alluvium')
  assert.match(String((await get(ngx.url + 'song.bin.hashtree')).headers['content-type']), /^text\/plain/)
  assert.match(String((await get(ngx.url + 'song.bin.sig')).headers['content-type']), /^text\/plain/)
})

test('stop() ends the process, frees the port and removes its temp prefix', async () => {
  ngx = await startNginx({ root: dir!.path })
  const { pid, prefix, url } = ngx
  await ngx.stop()
  assert.not.ok(existsSync(prefix))
  assert.throws(() => process.kill(pid, 0))
  await get(url + 'song.bin').then(() => assert.unreachable('still serving'), (e: Error) => assert.match(e.message, /ECONNREFUSED/))
})

test('a port already in use is refused with the reason', async () => {
  ngx = await startNginx({ root: dir!.path })
  try {
    const second = await startNginx({ root: dir!.path, port: ngx.port })
    await second.stop()
    assert.unreachable('started twice on one port')
  } catch (e) {
    assert.match((e as Error).message, /Address already in use/)
  }
})

test('sumBodyBytes sums the first field and ignores anything else', () => {
  assert.is(sumBodyBytes('10 200 GET "/a" "-"\n5 206 GET "/a" "bytes=0-4"\n\ngarbage\n'), 15)
})

/** scripts/examples/nginx-station.conf on our port and directory */
const stationBlock = (example: string) => (listen: string, root: string): string =>
  example.replace('listen 80;', `listen ${listen};`).replace(/^\s*listen \[::\]:80;$/m, '').replace('root /srv/radio/www;', `root ${root};`)

test('the example station server block serves the playlist type, text trees, Range and CORS', async () => {
  const example = await readFile(join(ROOT, 'scripts', 'examples', 'nginx-station.conf'), 'utf8')
  assert.match(example, /listen 80;/)
  assert.match(example, /root \/srv\/radio\/www;/)
  ngx = await startNginx({ root: dir!.path, serverBlock: stationBlock(example) })
  const rss = await get(ngx.url + 'list.rss')
  assert.is(rss.headers['content-type'], 'application/x-alluvium')
  assert.is(rss.headers['access-control-allow-origin'], '*')
  assert.is(rss.headers['cache-control'], 'no-cache')
  assert.is((await get(ngx.url + 'song.bin.hashtree')).headers['content-type'], 'text/plain; charset=utf-8')
  assert.is((await get(ngx.url + 'song.bin.sig')).headers['content-type'], 'text/plain; charset=utf-8')
  const part = await get(ngx.url + 'song.bin', { Range: 'bytes=5-9', Origin: 'http://player.example' })
  assert.is(part.status, 206)
  assert.ok(part.body.equals(file.subarray(5, 10)))
  assert.is(part.headers['access-control-allow-origin'], '*')
  assert.match(String(part.headers['access-control-expose-headers']), /Content-Range/)
  // a live show's manifest is not cached (pc-live(5)); its chunks are
  await mkdir(join(dir!.path, 'live'), { recursive: true })
  await writeFile(join(dir!.path, 'live.json'), '{}')
  await writeFile(join(dir!.path, 'live', '7.mp3'), 'x')
  assert.is((await get(ngx.url + 'live.json')).headers['cache-control'], 'no-cache')
  assert.is((await get(ngx.url + 'live/7.mp3')).headers['cache-control'], 'max-age=604800')
  const pre = await get(ngx.url + 'song.bin', { Origin: 'http://player.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' }, 'OPTIONS')
  assert.is(pre.status, 204)
  assert.match(String(pre.headers['access-control-allow-headers']), /Range/)
})

test('the example station server block gzips the playlist, answers its weak ETag with 304, and pc-schedule\'s loader reads it', async () => {
  const example = await readFile(join(ROOT, 'scripts', 'examples', 'nginx-station.conf'), 'utf8')
  // a playlist's items repeat themselves, as pc-playlist --until writes them
  const items = Array.from({ length: 2000 }, (_, i) => `  <item rdf:about="http://radio.example/media/song${i % 2}.mp3#${i}"><title>song${i % 2}</title><ev:startdate>2026-12-06T${String(i % 24).padStart(2, '0')}:00:00Z</ev:startdate></item>\n`).join('')
  const rssBytes = Buffer.from(`<?xml version="1.0"?>\n<rdf:RDF>\n${items}</rdf:RDF>\n`)
  await writeFile(join(dir!.path, 'list.rss'), rssBytes)
  ngx = await startNginx({ root: dir!.path, serverBlock: stationBlock(example) })
  const gz = await get(ngx.url + 'list.rss', { 'Accept-Encoding': 'gzip' })
  assert.is(gz.status, 200)
  assert.is(gz.headers['content-encoding'], 'gzip')
  assert.ok(gunzipSync(gz.body).equals(rssBytes), 'the gzipped playlist unzips to the file')
  assert.ok(gz.body.length * 10 < rssBytes.length, `gzipped ${gz.body.length} of ${rssBytes.length} bytes`)
  const etag = String(gz.headers.etag)
  assert.match(etag, /^W\//)
  assert.is((await get(ngx.url + 'list.rss', { 'Accept-Encoding': 'gzip', 'If-None-Match': etag })).status, 304)
  // media stay as they are: ranges, no encoding
  const part = await get(ngx.url + 'song.bin', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-99' })
  assert.is(part.status, 206)
  assert.is(part.headers['content-encoding'], undefined)
  // pc-schedule's loader: the bytes whole, then nothing while the file is unchanged
  const src = new PlaylistSource(ngx.url + 'list.rss', { stdin: process.stdin, signal: new AbortController().signal })
  const first = await src.load()
  assert.ok(first?.equals(rssBytes), 'the loader reads the playlist decoded')
  assert.is(await src.load(), undefined)
  // two 304s: the request above with the weak ETag, and the loader's second load
  const log = await readFile(ngx.accessLog, 'utf8')
  assert.is(log.split('\n').filter(l => /^\d+ 304 GET "\/list\.rss"/.test(l)).length, 2, log)
  // and the loader asked for gzip: both whole answers went gzipped
  const sent = log.split('\n').filter(l => /^\d+ 200 GET "\/list\.rss"/.test(l)).map(l => parseInt(l, 10))
  assert.is(sent.length, 2, log)
  for (const n of sent) assert.ok(n * 10 < rssBytes.length, `${n} bytes sent for a ${rssBytes.length}-byte playlist`)
})

test('runs as a CLI: prints the URL, serves, and stops on SIGTERM', async () => {
  const c = start(process.execPath, [join(ROOT, 'dist', 'scripts', 'nginx.js'), dir!.path])
  const done = finish(c)
  const out = await waitForOutput(c.stdout!, t => t.includes('\n'), 10_000, 'the URL')
  const url = out.trim()
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  assert.ok((await get(url + 'song.bin')).body.equals(file))
  c.kill('SIGTERM')
  const r = await done
  assert.is(r.code, 0, `signal ${String(r.signal)}; stderr: ${r.stderr}`)
  assert.match(r.stderr, new RegExp(`${file.length} body bytes sent`))
})

test('the CLI refuses a missing directory with exit 66', async () => {
  const c = start(process.execPath, [join(ROOT, 'dist', 'scripts', 'nginx.js'), join(dir!.path, 'nope')])
  const r = await finish(c)
  assert.is(r.code, 66)
  assert.match(r.stderr, /nope: no such directory/)
})

test.run()
