import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { encodeFrame, encodeMagic, FrameDecoder, type Frame, type ItemHeader } from '../../lib/frames/frame.js'
import { startNginx } from '../../scripts/nginx.js'
import { MEDIA, run, start, finish, killChildren, withTimeout, waitForOutput, tempDir, bin, sleep } from '../helpers.js'

const CHUNK = 16 * 1024
const header = (size: number, extra: Partial<ItemHeader> = {}): ItemHeader =>
  ({ url: 'http://o/x', start: '2026-01-01T00:00:00Z', offset: 0, size, chunkSize: CHUNK, ...extra })

function dataFrames (item: number, data: Buffer, size = CHUNK): Frame[] {
  const out: Frame[] = []
  for (let o = 0; o < data.length; o += size) out.push({ type: 'data', item, offset: o, data: data.subarray(o, o + size) })
  return out
}

/** shuffle within a sliding span, as a swarm delivers chunks near the play position */
function shuffleNear<T> (a: T[], span: number, seed: number): T[] {
  const b = [...a]
  let x = seed
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    const j = Math.min(b.length - 1, i + (x % span));
    [b[i], b[j]] = [b[j], b[i]]
  }
  return b
}

const stream = (frames: Frame[]): Buffer => Buffer.concat([encodeMagic(), ...frames.map(encodeFrame)])
function decode (b: Buffer): Frame[] { const d = new FrameDecoder('out'); const f = d.push(b); d.end(); return f }

const mp3 = readFileSync(join(MEDIA, 'tone-cbr.mp3'))
const ogg = readFileSync(join(MEDIA, 'tone.ogg'))
const twoItems: Frame[] = [
  { type: 'start', item: 0, header: header(mp3.length) },
  ...shuffleNear(dataFrames(0, mp3), 6, 1),
  // item 1 announced (and begun) before item 0 ends
  { type: 'start', item: 1, header: header(ogg.length) },
  { type: 'end', item: 0 },
  ...shuffleNear(dataFrames(1, ogg), 3, 2),
  { type: 'end', item: 1 },
]
// make item 1's first chunk arrive before item 0's END
twoItems.splice(twoItems.findIndex(f => f.type === 'end'), 0, twoItems.splice(twoItems.findIndex(f => f.type === 'data' && f.item === 1), 1)[0])

test.after.each(() => killChildren())

test('shuffled frames of two items come out in order, START first, END last', async () => {
  const r = await run('pc-reorder', [], stream(twoItems))
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
  const out = decode(r.stdout)
  const types = out.map(f => `${f.type}${f.item}`)
  assert.equal(types.slice(0, 2), ['start0', 'data0'])
  assert.ok(types.indexOf('start1') < types.indexOf('end0'), 'START of item 1 passes ahead')
  assert.is(types.indexOf('data1'), types.indexOf('end0') + 1)
  assert.is(types.at(-1), 'end1')
  const bytes = (n: number): Buffer => Buffer.concat(out.flatMap(f => f.type === 'data' && f.item === n ? [f.data] : []))
  assert.ok(bytes(0).equals(mp3)); assert.ok(bytes(1).equals(ogg))
})

test('--raw writes the items\' bytes in order, and ffprobe reads the result', async () => {
  const dir = await tempDir()
  try {
    const frames: Frame[] = [{ type: 'start', item: 0, header: header(mp3.length) }, ...shuffleNear(dataFrames(0, mp3, 4096), 20, 3), { type: 'end', item: 0 }]
    const input = join(dir.path, 'frames')
    writeFileSync(input, stream(frames))
    const r = await run('pc-reorder', ['--raw', input])
    assert.is(r.code, 0, r.stderr)
    assert.ok(r.stdout.equals(mp3))
    const out = join(dir.path, 'out.mp3')
    writeFileSync(out, r.stdout)
    const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', out])
    assert.ok(Math.abs(Number(stdout) - 20.04) < 0.05)
  } finally { await dir.remove() }
})

test('--raw leaves out a writer GAP (joined mid-item)', async () => {
  const a = mp3.subarray(0, 5 * CHUNK)
  const frames: Frame[] = [
    { type: 'start', item: 0, header: header(a.length, { offset: 3000 }) },
    { type: 'data', item: 0, offset: 0, data: a.subarray(0, CHUNK) },
    { type: 'data', item: 0, offset: 3 * CHUNK, data: a.subarray(3 * CHUNK, 4 * CHUNK) },
    { type: 'gap', item: 0, start: CHUNK, end: 3 * CHUNK },
    { type: 'data', item: 0, offset: 4 * CHUNK, data: a.subarray(4 * CHUNK) },
    { type: 'end', item: 0 },
  ]
  const r = await run('pc-reorder', ['-r'], stream(frames))
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(Buffer.concat([a.subarray(0, CHUNK), a.subarray(3 * CHUNK)])))
})

test('a full window skips the missing range with a warning naming item and bytes', async () => {
  const frames: Frame[] = [{ type: 'start', item: 0, header: header(mp3.length) }, ...dataFrames(0, mp3).slice(1), { type: 'end', item: 0 }]
  const r = await run('pc-reorder', ['--raw', '--window', '64k'], stream(frames))
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, `pc-reorder: item 0: bytes 0-${CHUNK} window of 65536 bytes full, skipped`)
  assert.ok(r.stdout.equals(mp3.subarray(CHUNK)))
  const q = await run('pc-reorder', ['--raw', '--window', '64k', '-q'], stream(frames))
  assert.is(q.stderr, '')
  const v = await run('pc-reorder', ['--raw', '-v'], stream(twoItems))
  assert.match(v.stderr, `pc-reorder: item 0: ${mp3.length} bytes, 0 gaps (0 bytes)`)
})

test('--deadline gives up a missing chunk while the input is idle', async () => {
  const c = start('pc-reorder', ['--deadline', '200ms'])
  const done = finish(c)
  const a = mp3.subarray(0, 3 * CHUNK)
  c.stdin?.write(stream([
    { type: 'start', item: 0, header: header(a.length, { start: undefined as unknown as string }) },
    { type: 'data', item: 0, offset: 0, data: a.subarray(0, CHUNK) },
    { type: 'data', item: 0, offset: 2 * CHUNK, data: a.subarray(2 * CHUNK) },
  ]))
  // the GAP and the chunk after it arrive with stdin still open
  let got = Buffer.alloc(0)
  await withTimeout(new Promise<void>(resolve => {
    c.stdout?.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d])
      const fs = new FrameDecoder('out').push(got)
      if (fs.some(f => f.type === 'data' && f.offset === 2 * CHUNK)) resolve()
    })
  }), 10_000, 'the deadline to pass')
  const fs = new FrameDecoder('out').push(got)
  assert.equal(fs.map(f => f.type), ['start', 'data', 'gap', 'data'])
  c.stdin?.end(encodeFrame({ type: 'end', item: 0 }))
  const r = await done
  assert.is(r.code, 0)
  assert.match(r.stderr, `item 0: bytes ${CHUNK}-${2 * CHUNK} still missing 200 ms after byte ${2 * CHUNK} was due, skipped`)
})

test('bad frames exit 65 naming the byte offset, after delivering what came before', async () => {
  const good = stream([{ type: 'start', item: 0, header: header(10) }, { type: 'data', item: 0, offset: 0, data: Buffer.from('hello') }])
  const bad = Buffer.concat([good, Buffer.from([2, 0xff, 0xff, 0xff, 0xff])])
  const r = await run('pc-reorder', ['--raw'], bad)
  assert.is(r.code, 65)
  assert.match(r.stderr, `pc-reorder: stdin: frame length 4294967295 exceeds`)
  assert.match(r.stderr, `at byte ${good.length}`)
  assert.is(r.stdout.toString(), 'hello')
  const t = await run('pc-reorder', [], good.subarray(0, good.length - 2))
  assert.is(t.code, 65)
  assert.match(t.stderr, /truncated frame stream/)
  const n = await run('pc-reorder', [], mp3.subarray(0, 1000))
  assert.is(n.code, 65)
  assert.match(n.stderr, /stdin: not a frame stream .* at byte 0/)
})

test('a missing file exits 66', async () => {
  const r = await run('pc-reorder', ['/no/such/frames'])
  assert.is(r.code, 66)
  assert.match(r.stderr, /pc-reorder: \/no\/such\/frames: cannot open: ENOENT/)
})

test('a closed stdout ends it quietly with exit 0', async () => {
  const big = Buffer.concat(Array.from({ length: 20 }, () => mp3))
  const frames: Frame[] = [{ type: 'start', item: 0, header: header(big.length) }, ...dataFrames(0, big), { type: 'end', item: 0 }]
  const c = start('pc-reorder', ['--raw'])
  const done = finish(c)
  c.stdin?.on('error', () => {})
  c.stdin?.end(stream(frames))
  await withTimeout(new Promise<void>(resolve => c.stdout?.once('data', () => resolve())), 10_000, 'first output')
  c.stdout?.destroy()
  const r = await done
  assert.is(r.code, 0)
  assert.is(r.stderr, '')
})

test('backpressure: with stdout not read, it stops reading stdin', async () => {
  const big = Buffer.concat(Array.from({ length: 40 }, () => mp3)) // ~12 MiB
  const input = stream([{ type: 'start', item: 0, header: header(big.length) }, ...dataFrames(0, big), { type: 'end', item: 0 }])
  const c = start('pc-reorder', ['--raw'])
  const done = finish(c)
  c.stdout?.pause()
  let accepted = 0
  // write until the child stops taking input
  await withTimeout((async () => {
    for (let o = 0; o < input.length; o += 65536) {
      const part = input.subarray(o, o + 65536)
      if (!c.stdin?.write(part)) {
        const drained = await Promise.race([new Promise(resolve => c.stdin?.once('drain', () => resolve(true))), new Promise(resolve => setTimeout(resolve, 1000, false))])
        if (!drained) { accepted = o; return }
      }
    }
    accepted = input.length
  })(), 20_000, 'stdin to stop draining')
  assert.ok(accepted < 4 * 1024 * 1024, `took ${accepted} bytes with stdout unread`)
  // now read: everything arrives
  const rest = input.subarray(accepted + 65536)
  c.stdin?.end(rest)
  c.stdout?.resume()
  const r = await done
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(big))
})

test('on SIGINT it drains its input to the end, then exits 130', async () => {
  const frames = stream(twoItems)
  const c = start('pc-reorder', ['--raw'])
  const done = finish(c)
  const half = Math.floor(frames.length / 2)
  c.stdin?.write(frames.subarray(0, half))
  await withTimeout(new Promise<void>(resolve => c.stdout?.once('data', () => resolve())), 10_000, 'first output')
  c.kill('SIGINT')
  await sleep(1000) // let the signal land before the input ends (nothing to observe: it keeps reading quietly)
  c.stdin?.end(frames.subarray(half))
  const r = await done
  assert.is(r.code, 130)
  assert.ok(r.stdout.equals(Buffer.concat([mp3, ogg])))
})

test('pc-fetch URL | pc-reorder --raw gives the file from a real nginx origin, byte for byte', async () => {
  const dir = await tempDir()
  const origin = await startNginx({ root: dir.path })
  try {
    writeFileSync(join(dir.path, 'tone.opus'), ogg)
    const fetch = start('pc-fetch', [`${origin.url}tone.opus`, '-q'])
    const reorder = start('pc-reorder', ['--raw', '-v'])
    fetch.stdout?.pipe(reorder.stdin as NodeJS.WritableStream)
    const [f, r] = await Promise.all([finish(fetch, 30_000), finish(reorder, 30_000)])
    assert.is(f.code, 0, f.stderr)
    assert.is(r.code, 0, r.stderr)
    assert.ok(r.stdout.equals(ogg))
    assert.match(r.stderr, `pc-reorder: item 0: ${ogg.length} bytes, 0 gaps (0 bytes)`)
  } finally { await origin.stop(); await dir.remove() }
})

test('refuses to write to a terminal', async () => {
  // script(1) gives the command a pseudo-terminal as stdout
  const c = start('script', ['-qec', `${process.execPath} ${bin('pc-reorder')} < /dev/null`, '/dev/null'])
  const out = await waitForOutput(c.stdout as NodeJS.ReadableStream, t => /refusing/.test(t), 10_000, 'the refusal')
  assert.match(out, /refusing to write binary data to a terminal/)
  const r = await finish(c)
  assert.is(r.code, 64)
})

test.run()
