// Chained Ogg on standard input (issue 12): `cat a.opus b.opus … | pc-icecast` plays
// every link, and a player joining in any link, or just before a boundary, decodes
// with no error what is left of the chain. The players are ffmpeg fed live from the
// socket; where each one joined is read from the bytes it got, not from the clock.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect } from 'node:net'
import { spawn } from 'node:child_process'
import { pipeline } from 'node:stream/promises'
import { start, finish, killChildren, tempDir, withTimeout, sleep } from '../helpers.js'
import { readOggPage, OGG_BOS } from '../../lib/media/ogg.js'
import { startIcecast, tool, frameStream } from './icecast-helpers.js'

/** each link's length (s); pages of 250 ms bound how far a joiner's first page reaches back */
const LINK_S = 2
const PAGE_S = 0.25
const RATE = 48000

test.after.each(() => { killChildren() })

/** Links made by ffmpeg: a different tone each; `sameSerial` gives every link serial 0. */
async function makeLinks (dir: string, codec: 'opus' | 'vorbis', n: number, sameSerial: boolean): Promise<string[]> {
  const files: string[] = []
  for (let i = 0; i < n; i++) {
    const file = join(dir, `link${i}.${codec === 'opus' ? 'opus' : 'ogg'}`)
    const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `sine=f=${330 + 110 * i}:d=${LINK_S}`, '-ac', '2',
      '-c:a', codec === 'opus' ? 'libopus' : 'libvorbis', '-page_duration', String(PAGE_S * 1e6), '-fflags', '+bitexact',
      ...(sameSerial ? [] : ['-serial_offset', String(1000 + i)]), file])
    assert.is(r.code, 0, r.stderr)
    files.push(file)
  }
  return files
}

interface OggView { serials: number[], links: number, firstGranule: number, base: number, rate: number }

/** The BOS serials, and the granule of the first audio page with its link's pre-skip and rate. */
function view (stream: Buffer): OggView {
  const out: OggView = { serials: [], links: 0, firstGranule: -1, base: 0, rate: 0 }
  for (let i = 0; i < stream.length;) {
    const p = readOggPage(stream.subarray(i))
    if (!('body' in p)) break
    if (p.flags & OGG_BOS) {
      out.serials.push(p.serial)
      out.links++
      if (out.firstGranule < 0) {
        const opus = p.body.subarray(0, 8).toString('latin1') === 'OpusHead'
        out.base = opus ? p.body.readUInt16LE(10) : 0
        out.rate = opus ? RATE : p.body.readUInt32LE(12)
      }
    } else if (out.firstGranule < 0 && p.granule > 0) out.firstGranule = p.granule
    i += p.length
  }
  return out
}

interface Decoded { seconds: number, errors: string, code: number | null }

/** ffmpeg decoding Ogg from its standard input: how many seconds, and what it said. */
function decoder (): { feed: (b: Buffer) => void, end: () => void, done: Promise<Decoded> } {
  const ff = spawn('ffmpeg', ['-v', 'error', '-f', 'ogg', '-i', 'pipe:0', '-ac', '1', '-ar', String(RATE), '-f', 's16le', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let bytes = 0
  let errors = ''
  ff.stdout.on('data', (d: Buffer) => { bytes += d.length })
  ff.stderr.on('data', (d: Buffer) => { errors += d.toString() })
  ff.stdin.on('error', () => {})
  const done = withTimeout(new Promise<Decoded>((resolve, reject) => {
    ff.on('error', reject)
    ff.on('close', code => resolve({ seconds: bytes / 2 / RATE, errors, code }))
  }), 60_000, 'ffmpeg to decode')
  return { feed: b => ff.stdin.write(b), end: () => ff.stdin.end(), done }
}

async function decodeFile (file: string): Promise<Decoded> {
  const d = decoder()
  d.feed(await readFile(file))
  d.end()
  return await d.done
}

/** A player: ffmpeg fed live from the mount; keeps the bytes it got. */
function player (port: number): Promise<Decoded & { stream: Buffer }> {
  const d = decoder()
  const parts: Buffer[] = []
  let head = Buffer.alloc(0)
  let inBody = false
  const s = connect({ host: '127.0.0.1', port })
  s.write(`GET /stream HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  s.on('data', (chunk: Buffer) => {
    let body = chunk
    if (!inBody) {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      inBody = true
      body = head.subarray(end + 4)
    }
    parts.push(body)
    d.feed(body)
  })
  s.on('close', () => d.end())
  s.on('error', () => d.end())
  return d.done.then(r => ({ ...r, stream: Buffer.concat(parts) }))
}

async function chain (codec: 'opus' | 'vorbis', n: number, sameSerial: boolean): Promise<void> {
  const dir = await tempDir('pc-chain-')
  try {
    const files = await makeLinks(dir.path, codec, n, sameSerial)
    const serials = await Promise.all(files.map(async f => view(await readFile(f)).serials[0]))
    assert.is(new Set(serials).size, sameSerial ? 1 : n, `fixture serials ${serials.join(' ')}`)
    const lengths: number[] = []
    for (const f of files) {
      const r = await decodeFile(f)
      assert.is(r.errors, '', `${f} decodes`)
      lengths.push(r.seconds)
    }
    const total = lengths.reduce((a, b) => a + b, 0)

    const ic = await startIcecast([])
    const exited = finish(ic.c, 60_000)
    const players = [player(ic.port)]
    // the first player is waiting before the first byte: it must hear the whole chain
    await sleep(200)
    const cat = start('cat', files, { stdio: ['ignore', 'pipe', 'pipe'] })
    void pipeline(cat.stdout!, ic.c.stdin!).catch(() => {})
    const t0 = Date.now()
    // then one player early in each link (not near the end: a player that comes after
    // the last byte gets nothing), and one just before each boundary
    const joins = [...lengths.map((_, k) => (k + 0.3) * LINK_S), ...lengths.slice(1).map((_, k) => (k + 1) * LINK_S - 0.3)].sort((a, b) => a - b)
    for (const at of joins) {
      await sleep(Math.max(0, t0 + at * 1000 - Date.now()))
      players.push(player(ic.port))
    }
    const results = await Promise.all(players)
    const exit = await exited
    assert.is(exit.code, 0, ic.stderr())

    const joinedLinks = new Set<number>()
    results.forEach((r, i) => {
      const what = `player ${i} of ${results.length}`
      assert.is(r.code, 0, `${what}: ffmpeg exit after ${r.stream.length} bytes: ${r.errors}`)
      assert.is(r.errors, '', `${what}: decoder errors`)
      const v = view(r.stream)
      assert.ok(v.links >= 1 && v.links <= n, `${what}: ${v.links} links`)
      // consecutive links differ in serial, whatever the input reused
      for (let k = 1; k < v.serials.length; k++) assert.is.not(v.serials[k], v.serials[k - 1], `${what}: link ${k} serial`)
      const link = n - v.links
      joinedLinks.add(link)
      // where its first audio page ends in the chain, and what is left from there
      const pageEnd = lengths.slice(0, link).reduce((a, b) => a + b, 0) + (v.firstGranule - v.base) / v.rate
      const left = total - pageEnd
      assert.ok(r.seconds >= left - 0.15 && r.seconds <= left + PAGE_S + 0.15,
        `${what}: joined in link ${link}, decoded ${r.seconds.toFixed(3)} s where ${left.toFixed(3)}–${(left + PAGE_S).toFixed(3)} s are left`)
    })
    assert.ok(Math.abs(results[0].seconds - total) < 0.3, `the first player decoded ${results[0].seconds.toFixed(3)} s of ${total.toFixed(3)} s`)
    assert.is(joinedLinks.size, n, `players joined links ${[...joinedLinks].join(',')}`)
  } finally {
    await dir.remove()
  }
}

test('two Opus links: the chain plays whole, players join in each link and before the boundary', async () => {
  await chain('opus', 2, false)
})

test('three Opus links that reuse one serial number', async () => {
  await chain('opus', 3, true)
})

test('four Opus links', async () => {
  await chain('opus', 4, false)
})

test('two Vorbis links that reuse one serial number', async () => {
  await chain('vorbis', 2, true)
})

test('three Vorbis links', async () => {
  await chain('vorbis', 3, false)
})

test('four Vorbis links that reuse one serial number', async () => {
  await chain('vorbis', 4, true)
})

test('frames: the same Ogg file as two items back to back plays as two links a player decodes across', async () => {
  const dir = await tempDir('pc-chain-')
  try {
    const [file] = await makeLinks(dir.path, 'opus', 1, true)
    const data = await readFile(file)
    const length = (await decodeFile(file)).seconds
    const startMs = Date.now() + 1500
    const ms = Math.round(length * 1000)
    const ic = await startIcecast([], frameStream([
      { data, title: 'one', startMs, durationMs: ms, mime: 'audio/ogg' },
      { data, title: 'two', startMs: startMs + ms, durationMs: ms, mime: 'audio/ogg' },
    ], startMs))
    const r = await player(ic.port)
    assert.is(r.errors, '')
    assert.is(r.code, 0)
    const v = view(r.stream)
    assert.is(v.links, 2)
    assert.is.not(v.serials[1], v.serials[0])
    assert.ok(Math.abs(r.seconds - 2 * length) < 0.3, `decoded ${r.seconds.toFixed(3)} s of ${(2 * length).toFixed(3)} s`)
  } finally {
    await dir.remove()
  }
})

test.run()
