// pc-icecast fed frame streams as pc-fetch writes them: the schedule's clock,
// listeners joining mid-item, titles changing between items.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import { MEDIA, killChildren, withTimeout, finish, start, waitUntil } from '../helpers.js'
import { decodeToPcm, heardPosition } from '../timeline.js'
import { IcyReader } from '../../lib/icecast/icy.js'
import { encodeMagic, encodeFrame } from '../../lib/frames/frame.js'
import { startIcecast, frameStream, get, tool } from './icecast-helpers.js'

const A = readFileSync(join(MEDIA, 'timeline-a.mp3'))
const B = readFileSync(join(MEDIA, 'timeline-b.mp3'))
const A_OPUS = readFileSync(join(MEDIA, 'timeline-a.opus'))
const DUR = 20_036
const sockets: Socket[] = []

test.after.each(() => {
  killChildren()
  for (const s of sockets.splice(0)) s.destroy()
})

/** Read a listener's bytes for `ms` (the burst plus what is paced), stamped with when the request went out. */
/** The first audio heard is within 250 ms of the schedule, and ffmpeg decodes the mount with no error.
 *  Time is the behaviour here (sync): what a listener hears is measured against the wall clock. */
async function assertHeardOnScheduleAndDecodes (base: string, r: { sentAt: number, body: Buffer }, startMs: number): Promise<void> {
  const expected = (r.sentAt - startMs) / 1000
  const heard = heardPosition(await decodeToPcm(r.body))
  assert.ok(heard !== undefined, 'a tone change was heard')
  assert.ok(Math.abs(heard! - expected) < 0.25, `heard ${heard!.toFixed(3)} s, scheduled ${expected.toFixed(3)} s`)
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-t', '2', '-i', `${base}/stream`, '-f', 'null', '-'])
  assert.is(ff.code, 0, ff.stderr)
  assert.is(ff.stderr, '')
}

function listen (port: number, ms: number, headers = ''): Promise<{ sentAt: number, body: Buffer }> {
  return withTimeout(new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }); sockets.push(s)
    const parts: Buffer[] = []
    let sentAt = 0
    s.on('connect', () => { sentAt = Date.now(); s.write(`GET /stream HTTP/1.0\r\n${headers}\r\n`) })
    s.on('data', (d: Buffer) => parts.push(d))
    s.on('error', reject)
    const done = (): void => {
      s.destroy()
      const all = Buffer.concat(parts)
      resolve({ sentAt, body: all.subarray(all.indexOf('\r\n\r\n') + 4) })
    }
    s.on('end', done)
    setTimeout(done, ms)
  }), ms + 10_000, 'a listener')
}

test('a listener joining mid-item hears the scheduled moment (within 250 ms) and ffmpeg decodes it cleanly', async () => {
  const now = Date.now()
  const startMs = now - 6300 // 6.3 s into item A: pc-fetch skipped to there
  const frames = frameStream([{ data: A, title: 'Timeline A', startMs, durationMs: DUR, mime: 'audio/mpeg' }], now)
  const ic = await startIcecast([], frames)
  const r = await listen(ic.port, 1500)
  await assertHeardOnScheduleAndDecodes(ic.base, r, startMs)
})

test('Ogg Opus joined mid-item: header pages first, then the scheduled moment; decodes with no error', async () => {
  const now = Date.now()
  const startMs = now - 7400
  const frames = frameStream([{ data: A_OPUS, title: 'Timeline A (Opus)', startMs, durationMs: 20_006, mime: 'audio/ogg' }], now)
  const ic = await startIcecast([], frames)
  const r = await listen(ic.port, 1500)
  assert.is(r.body.subarray(0, 4).toString('latin1'), 'OggS')
  assert.ok(r.body.includes(Buffer.from('OpusHead')), 'OpusHead comes first')
  await assertHeardOnScheduleAndDecodes(ic.base, r, startMs)
})

test('the title changes in the stream exactly where the next item begins; next.json lists what comes', async () => {
  const now = Date.now()
  // A's last 2.5 s, then B: the change comes about 2.5 s into the listen
  const aStart = now - DUR + 2500
  const frames = frameStream([
    { data: A, title: 'Timeline A', startMs: aStart, durationMs: DUR, mime: 'audio/mpeg' },
    { data: B, title: 'Timeline B — ünïcode', startMs: aStart + DUR, durationMs: DUR, mime: 'audio/mpeg' },
  ], now)
  const ic = await startIcecast(['--burst', '0'], frames)
  const next = JSON.parse((await get(ic.port, '/next.json')).body.toString())
  assert.is(next.now.title, 'Timeline A')
  assert.is(next.next[0]?.title, 'Timeline B — ünïcode')
  const r = await listen(ic.port, 4500, 'Icy-MetaData: 1\r\n')
  const metas: Array<[string, number]> = []
  const reader = new IcyReader(16000, (m, at) => metas.push([m.StreamTitle, at]))
  const audio = Buffer.concat(reader.push(r.body))
  assert.is(metas[0]?.[0], 'Timeline A', JSON.stringify(metas))
  const change = metas.find(m => m[0].startsWith('Timeline B'))
  assert.ok(change, `title B arrived: ${JSON.stringify(metas)}`)
  assert.is(change![0], 'Timeline B — ünïcode')
  // the audio before the block is A's, the audio after it B's: the block sits at the
  // first metaint boundary after B's first byte, not before it
  const before = heardPosition(await decodeToPcm(audio.subarray(0, change![1])))
  const after = heardPosition(await decodeToPcm(audio.subarray(change![1])))
  assert.ok(before !== undefined && before < 20, `audio before the B block starts in A, got ${before}`)
  assert.ok(after !== undefined && after >= 19.95, `audio after the B block is B's (k ≥ 20), got ${after}`)
})

test('a frame stream cut off mid-record exits 65 naming the byte offset', async () => {
  const now = Date.now()
  const frames = frameStream([{ data: A.subarray(0, 50_000), title: 'A', startMs: now, durationMs: 3000 }], now)
  const c = start('pc-icecast', ['127.0.0.1:0'])
  const done = finish(c, 20_000)
  c.stdin?.end(frames.subarray(0, frames.length - 100))
  const r = await done
  assert.is(r.code, 65)
  assert.match(r.stderr, /truncated frame stream .* at byte \d+/)
})

test('garbage inside an item is skipped with a warning, never a crash; the stream goes on', async () => {
  const now = Date.now()
  const bad = Buffer.concat([A.subarray(0, 40_000), Buffer.alloc(3000, 0x55), A.subarray(40_000, 80_000)])
  const out = [encodeMagic(), encodeFrame({ type: 'start', item: 0, header: { url: 'http://o/a.mp3', title: 'A', start: new Date(now).toISOString(), duration: 5000, offset: 0, size: bad.length, chunkSize: 16384 } })]
  for (let o = 0; o < bad.length; o += 16384) out.push(encodeFrame({ type: 'data', item: 0, offset: o, data: bad.subarray(o, o + 16384) }))
  out.push(encodeFrame({ type: 'end', item: 0 }))
  const ic = await startIcecast([], Buffer.concat(out))
  const r = await get(ic.port, '/stream', {}, { maxBody: 60_000 })
  assert.is(r.status, 200)
  const res = await finish(ic.c, 20_000)
  assert.is(res.code, 0)
  assert.match(ic.stderr(), /item 0 \(A\): .*byte 4\d{4}/)
})

test('a listener connected before the item starts gets its first audio byte at the start, not early', async () => {
  const now = Date.now()
  const startMs = now + 3000
  const frames = frameStream([{ data: A, title: 'Timeline A', startMs, durationMs: DUR, mime: 'audio/mpeg' }], now)
  const ic = await startIcecast([], frames)
  const firstAudio = await withTimeout(new Promise<number>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: ic.port }); sockets.push(s)
    let head = Buffer.alloc(0)
    s.on('connect', () => s.write('GET /stream HTTP/1.0\r\n\r\n'))
    s.on('data', (d: Buffer) => {
      head = Buffer.concat([head, d])
      const i = head.indexOf('\r\n\r\n')
      if (i >= 0 && head.length > i + 4) resolve(Date.now())
    })
    s.on('error', reject)
  }), 15_000, 'the first audio byte')
  // generous towards lateness, strict about earliness: an early byte is heard early
  assert.ok(firstAudio >= startMs - 100, `first audio ${startMs - firstAudio} ms before the item's start`)
  assert.ok(firstAudio < startMs + 2000, `first audio ${firstAudio - startMs} ms after the item's start`)
})

test('consecutive items that break decoders (MP3 then Opus) are reported on stderr and the status page', async () => {
  const now = Date.now()
  const frames = frameStream([
    { data: A.subarray(0, 40_000), title: 'short A', startMs: now + 500, durationMs: 2500, mime: 'audio/mpeg' },
    { data: A_OPUS, title: 'Opus item', startMs: now + 3000, durationMs: 20_006, mime: 'audio/ogg' },
  ], now)
  const ic = await startIcecast([], frames)
  await waitUntil(() => /Opus item.*codec mp3 → opus/.test(ic.stderr()), 10_000, 'the warning', 50)
  const page = (await get(ic.port, '/')).body.toString()
  assert.match(page, /codec mp3 → opus after the previous item/)
})

test.run()
