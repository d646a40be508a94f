// A listener's start and stop: `pc-schedule | pc-fetch | pc-icecast` with a real origin
// and ffmpeg as the player. pc-fetch writes chunks as they are verified, so a later
// chunk may come before the first; the player must still hear the item from the moment
// it tunes in, with nothing skipped. Stopping the pipeline with SIGTERM mid-item is
// not damage and is not reported as such; a truncated file on standard input is.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, request, type Server } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { ChildProcess } from 'node:child_process'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { freePort } from '../../scripts/free-port.js'
import { MEDIA, run, start, finish, tempDir, withTimeout, waitUntil, waitForOutput, killChildren, killGroups, startPipeline } from '../helpers.js'
import { encodeFrame } from '../../lib/frames/frame.js'
import { get, tool, frameStream } from './icecast-helpers.js'
import { parseMpegHeader } from '../../lib/media/mpeg.js'
import { id3v2Length } from '../../lib/media/id3.js'
import { BLOCK_CHUNKS } from '../../lib/swarm/picker.js'


/**
 * 64 KiB chunks of 128 kbit/s audio, 4 s each. A listener alone asks the origin for
 * runs of BLOCK_CHUNKS chunks (lib/swarm/picker.ts), three at a time: the first run,
 * held back, covers the first 16 s, and the chunks of the next two come first.
 */
const CHUNK_BYTES = 64 * 1024
/** how long the origin holds the first request for the item's first chunk */
const FIRST_CHUNK_DELAY_MS = 3000

let origin: OriginServer | undefined
let proxy: Server | undefined
/** the Range requests the proxy passed on, in order */
let forwarded: string[] = []
let cleanup: (() => Promise<void>) | undefined

test.after.each(async () => {
  await killGroups()
  killChildren()
  proxy?.closeAllConnections()
  await new Promise(resolve => proxy ? proxy.close(resolve) : resolve(undefined))
  proxy = undefined
  await origin?.close()
  origin = undefined
  await cleanup?.()
  cleanup = undefined
})

/**
 * A web server in front of the origin that answers the first Range request for the
 * media's first byte late: the first chunk arrives after later ones, as it does from a
 * busy origin or a slow peer.
 */
async function lateFirstChunk (to: OriginServer, media: string): Promise<string> {
  let held = false
  forwarded = []
  proxy = createServer((req, res) => {
    const late = !held && req.url === media && /^bytes=0-/.test(String(req.headers.range ?? ''))
    if (late) held = true
    setTimeout(() => {
      if (req.url === media) forwarded.push(String(req.headers.range))
      const up = request({ host: '127.0.0.1', port: to.port, path: req.url, method: req.method, headers: req.headers }, r => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        pipeline(r, res).catch(() => {})
      })
      up.on('error', () => res.destroy())
      up.end()
    }, late ? FIRST_CHUNK_DELAY_MS : 0)
  })
  await new Promise<void>(resolve => proxy!.listen(0, '127.0.0.1', resolve))
  const a = proxy.address()
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`
}

interface Station { group: ChildProcess, port: number, media: Buffer, stderr: () => string }

/** A 60 s MP3 on the air from now, and a listener's pipeline; ready once pc-icecast answers. */
async function station (delayFirstChunk: boolean): Promise<Station> {
  const dir = await tempDir('pc-test-start-')
  cleanup = dir.remove
  const file = join(dir.path, 'show.mp3')
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=60', '-ac', '2', '-b:a', '128k', file])
  assert.is(ff.code, 0, ff.stderr)
  origin = await startOrigin({ dir: dir.path, host: '127.0.0.1', port: 0 })
  const base = delayFirstChunk ? await lateFirstChunk(origin, '/show.mp3') : origin.url.replace(/\/$/, '') + '/'
  const pl = await run('pc-playlist', ['-b', base, '--root', dir.path, '--start', 'now', '--hash', '--chunk-size', String(CHUNK_BYTES),
    '-o', join(dir.path, 'list.rss'), file], undefined, { timeoutMs: 60_000 })
  assert.is(pl.code, 0, pl.stderr)
  const port = await freePort()
  const { group, stderr } = startPipeline([
    ['pc-schedule', [base + 'list.rss']],
    ['pc-fetch', ['--host', '127.0.0.1']],
    ['pc-icecast', [`127.0.0.1:${port}`]],
  ])
  await waitUntil(async () => { try { return (await get(port, '/status-json.xsl')).status === 200 } catch { return false } }, 20_000, 'pc-icecast to answer', 100)
  return { group, port, media: await readFile(file), stderr }
}

/** ffmpeg as the player: opens the mount and copies `seconds` of the audio it hears, unchanged. */
async function listen (port: number, seconds: number): Promise<Buffer> {
  const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-i', `http://127.0.0.1:${port}/stream`, '-t', String(seconds),
    '-c', 'copy', '-f', 'mp3', '-id3v2_version', '0', '-write_xing', '0', 'pipe:1'], 60_000)
  assert.is(r.code, 0, r.stderr)
  return r.stdout
}

test('a listener tuning in while the first chunk comes after later ones hears the item from its tune-in, nothing skipped', async () => {
  const s = await station(true)
  const heard = await listen(s.port, 8)
  assert.ok(!/^bytes=0-/.test(forwarded[0] ?? 'bytes=0-'), `later chunks were asked for first: ${forwarded.join(', ')}`)
  assert.ok(heard.length > 8 * 16000 * 0.9, `heard ${heard.length} bytes`)
  // where in the item the player started, and that it got every byte from there
  const at = s.media.indexOf(heard.subarray(0, 1024))
  assert.ok(at >= 0, 'what the player heard is the item')
  assert.ok(at < BLOCK_CHUNKS * CHUNK_BYTES, `the player started at byte ${at} of the item, past the first chunks (${BLOCK_CHUNKS * CHUNK_BYTES} bytes, 16 s), which were on air when it tuned in`)
  assert.ok(s.media.subarray(at, at + heard.length).equals(heard), 'the player heard the item without a break')
  assert.not.match(s.stderr(), /skipped/, s.stderr())
})

test('SIGTERM to a running pipeline mid-item says nothing about truncated units', async () => {
  const s = await station(false)
  await listen(s.port, 3)
  const exited = new Promise(resolve => s.group.once('exit', resolve))
  process.kill(-s.group.pid!, 'SIGTERM')
  await withTimeout(exited, 10_000, 'the pipeline to stop')
  // every process of the group has written what it had to say
  await waitUntil(() => { try { process.kill(-s.group.pid!, 0); return false } catch { return true } }, 10_000, 'the whole pipeline to exit')
  assert.not.match(s.stderr(), /truncated/, s.stderr())
})

/** The byte offset where the last whole MPEG frame before `cut` starts, and how many of its bytes are there. */
function lastFrame (data: Buffer, cut: number): { offset: number, bytes: number } {
  let at = id3v2Length(data) ?? 0
  for (;;) {
    const h = parseMpegHeader(data.subarray(at))
    assert.ok(h, `a frame at byte ${at}`)
    if (at + h!.frameBytes > cut) return { offset: at, bytes: cut - at }
    at += h!.frameBytes
  }
}

test('a truncated MP3 on standard input: its final unit is reported with its byte and length', async () => {
  const data = await readFile(join(MEDIA, 'tone-cbr.mp3'))
  const cut = data.subarray(0, Math.min(data.length, 40_000) - 100)
  const last = lastFrame(cut, cut.length)
  assert.ok(last.bytes > 0 && last.bytes < 417, `cut ${last.bytes} bytes into a frame`)
  const r = await run('pc-icecast', ['127.0.0.1:0'], cut, { timeoutMs: 30_000 })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, `pc-icecast: stdin: byte ${last.offset}: truncated final unit of ${last.bytes} bytes dropped`)
})

test('a frame stream whose item ends (END) inside a unit: the item, byte and length are reported', async () => {
  const data = await readFile(join(MEDIA, 'tone-cbr.mp3'))
  const cut = data.subarray(0, 20_000 - 100)
  const last = lastFrame(cut, cut.length)
  const now = Date.now()
  const r = await run('pc-icecast', ['127.0.0.1:0'], frameStream([{ data: cut, title: 'cut', startMs: now, durationMs: Math.round(cut.length / 16) }], now), { timeoutMs: 30_000 })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, `pc-icecast: item 0 (cut): byte ${last.offset}: truncated final unit of ${last.bytes} bytes dropped`)
})

test('a frame stream that ends inside an item without its END: no truncation warning, a line with -v', async () => {
  const data = await readFile(join(MEDIA, 'tone-cbr.mp3'))
  const cut = data.subarray(0, 20_000 - 100)
  assert.ok(lastFrame(cut, cut.length).bytes > 0, 'cut inside a frame')
  const now = Date.now()
  const whole = frameStream([{ data: cut, title: 'cut', startMs: now, durationMs: Math.round(data.length / 16) }], now)
  // the same stream as pc-fetch leaves it when stopped mid-item: no END frame
  const stopped = whole.subarray(0, whole.length - encodeFrame({ type: 'end', item: 0 }).length)
  for (const args of [[], ['-v']]) {
    const r = await run('pc-icecast', ['127.0.0.1:0', ...args], stopped, { timeoutMs: 30_000 })
    assert.is(r.code, 0, r.stderr)
    assert.not.match(r.stderr, /truncated/, r.stderr)
    if (args.length) assert.match(r.stderr, "pc-icecast: item 0 (cut): the input ended before the item's END")
    else assert.is(r.stderr, '')
  }
})

test('a frame stream stopped 1 byte into a frame (a listener pipeline stopped by SIGTERM): nothing said', async () => {
  const data = await readFile(join(MEDIA, 'tone-cbr.mp3'))
  const cut = data.subarray(0, lastFrame(data, 20_000).offset + 1)
  const now = Date.now()
  const whole = frameStream([{ data: cut, title: 'cut', startMs: now, durationMs: Math.round(data.length / 16) }], now)
  const stopped = whole.subarray(0, whole.length - encodeFrame({ type: 'end', item: 0 }).length)
  const r = await run('pc-icecast', ['127.0.0.1:0'], stopped, { timeoutMs: 30_000 })
  assert.is(r.code, 0, r.stderr)
  // ('byte N: 1 bytes skipped (no MPEG audio frame sync)' before)
  assert.is(r.stderr, '')
})

test('SIGTERM to pc-icecast reading a plain MP3 mid-file says nothing about truncated units', async () => {
  const data = await readFile(join(MEDIA, 'tone-cbr.mp3'))
  const c = start('pc-icecast', ['-v', '127.0.0.1:0'])
  const done = finish(c, 30_000)
  c.stdin?.on('error', () => {})
  // most of the file, cut inside a frame, and standard input left open
  const cut = data.subarray(0, 200_000 - 100)
  assert.ok(lastFrame(cut, cut.length).bytes > 0, 'cut inside a frame')
  c.stdin?.write(cut)
  const text = await waitForOutput(c.stderr!, t => /serving http:\/\/[^\s]+:\d+\//.test(t), 10_000, 'pc-icecast to listen')
  const port = Number(/serving http:\/\/[^\s]+:(\d+)\//.exec(text)![1])
  const r0 = await get(port, '/stream', {}, { maxBody: 32 * 1024 })
  assert.is(r0.status, 200)
  c.kill('SIGTERM')
  const r = await done
  assert.is(r.code, 143, r.stderr)
  assert.not.match(r.stderr, /truncated/, r.stderr)
})

test.run()
