// pc-icecast at the live edge, fed frames as pc-fetch writes a live item (START live,
// then MARK + DATA per 1 s chunk, in sequence order): every listener on the same bytes,
// the ICY title changing at a MARK's byte, a source that drops for 10 s, a late chunk.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type Socket } from 'node:net'
import { spawn } from 'node:child_process'
import { MEDIA, killChildren, withTimeout, sleep } from '../helpers.js'
import { IcyReader } from '../../lib/icecast/icy.js'
import { encodeMagic, encodeFrame } from '../../lib/frames/frame.js'
import { MediaParser } from '../../lib/media/media.js'
import { startIcecast, tool, get } from './icecast-helpers.js'

const A = readFileSync(join(MEDIA, 'timeline-a.mp3'))
const METAINT = 1000
const DELAY_MS = 1500
const sockets: Socket[] = []

test.after.each(() => {
  killChildren()
  for (const s of sockets.splice(0)) s.destroy()
})

/** The MP3 (or ADTS) cut at frame boundaries into chunks of about 1 s, as pc-live cuts a show. */
function chunksOf (mp3: Buffer, kind: 'mp3' | 'aac' = 'mp3'): Buffer[] {
  const p = new MediaParser(kind, { warn: () => {} })
  const out: Buffer[] = []
  let cur: Buffer[] = []; let us = 0
  for (const u of [...p.push(mp3), ...p.end()]) {
    cur.push(u.bytes); us += u.durationUs
    if (us >= 1_000_000) { out.push(Buffer.concat(cur)); cur = []; us = 0 }
  }
  return out
}

/** A player that asks for ICY metadata: its audio bytes, and where in them each title began. */
function icyListener (port: number): { audio: () => Buffer, titles: Array<{ title: string, at: number }>, closed: Promise<void> } {
  const s = connect({ host: '127.0.0.1', port }); sockets.push(s)
  const audio: Buffer[] = []
  const titles: Array<{ title: string, at: number }> = []
  let head = Buffer.alloc(0)
  let reader: IcyReader | undefined
  s.on('connect', () => s.write('GET /stream HTTP/1.0\r\nIcy-MetaData: 1\r\n\r\n'))
  s.on('data', (d: Buffer) => {
    if (!reader) {
      head = Buffer.concat([head, d])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      assert.match(head.subarray(0, end).toString('latin1'), new RegExp(`icy-metaint:${METAINT}`))
      reader = new IcyReader(METAINT, (m, at) => { if (m.StreamTitle !== undefined) titles.push({ title: m.StreamTitle, at }) })
      d = head.subarray(end + 4)
    }
    audio.push(...reader.push(d))
  })
  const closed = new Promise<void>(resolve => { s.on('close', () => resolve()); s.on('error', () => resolve()) })
  return { audio: () => Buffer.concat(audio), titles, closed }
}

/** ffmpeg playing the mount for `seconds` of media (it stops before the end of the test's stream, as a player of a running station would) */
function player (base: string, seconds: number): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  return tool('ffmpeg', ['-nostdin', '-v', 'error', '-i', `${base}/stream`, '-t', String(seconds), '-f', 's16le', '-ac', '1', '-ar', '8000', '-'], 60_000)
}

test('live: listeners share the MARKs\' bytes, the title changes at its MARK, a 10 s drop keeps players, a late chunk is skipped', async () => {
  const chunks = chunksOf(A)
  assert.ok(chunks.length >= 12)
  const ic = await startIcecast(['--live-delay', `${DELAY_MS}ms`, '--metaint', String(METAINT)])
  const exited = new Promise<number | null>(resolve => ic.c.on('exit', resolve))
  const t0 = Date.now()
  const write = (b: Buffer): void => { ic.c.stdin!.write(b) }
  write(encodeMagic())
  write(encodeFrame({ type: 'start', item: 0, header: { url: 'http://127.0.0.1:1/live', title: 'Live', start: new Date(t0).toISOString(), offset: 0, live: true, size: null, chunkSize: 65536 } }))
  // source seq k starts at t0 + k s; media chunk c is what the source sent then
  const plan: Array<{ seq: number, c: number, late?: boolean }> = []
  for (let c = 0; c < 6; c++) plan.push({ seq: c, c, late: c === 3 })
  for (let c = 6; c < 12; c++) plan.push({ seq: c + 10, c }) // the source was gone for 10 s
  const titleOf = (c: number): string => c < 8 ? 'First' : 'Second'
  const listeners: Array<ReturnType<typeof icyListener>> = []
  const players: Array<Promise<{ code: number | null, stdout: Buffer, stderr: string }>> = []
  let offset = 0
  let mpv: ReturnType<typeof tool> | undefined
  let mpvGone = false
  const offsets = new Map<number, number>()
  for (const { seq, c, late } of plan) {
    // a chunk reaches pc-icecast 1.1 s after its first byte left the source (cut at its end, fetched); the late one 2.6 s
    const due = t0 + seq * 1000 + (late ? DELAY_MS + 1100 : 1100)
    if (seq === 1) {
      listeners.push(icyListener(ic.port))
      players.push(player(ic.base, 8))
      mpv = tool('mpv', ['--no-config', '--no-video', '--ao=null', '--msg-level=all=error', `${ic.base}/stream`], 60_000)
      void mpv.then(() => { mpvGone = true })
    }
    if (seq === 2) listeners.push(icyListener(ic.port))
    if (seq === 5) players.push(player(ic.base, 5))
    await sleep(Math.max(0, due - Date.now()))
    offsets.set(c, offset)
    write(encodeFrame({ type: 'mark', item: 0, offset, mark: { time: new Date(t0 + seq * 1000).toISOString(), seq, title: titleOf(c) } }))
    write(encodeFrame({ type: 'data', item: 0, offset, data: chunks[c] }))
    offset += chunks[c].length
  }
  assert.not.ok(mpvGone, 'mpv still playing after the drop, when the last chunk is written')
  write(encodeFrame({ type: 'end', item: 0 }))
  ic.c.stdin!.end()
  await withTimeout(Promise.all(listeners.map(l => l.closed)), 20_000, 'listeners to be ended')
  const m = await mpv!
  assert.is(m.code, 0, `mpv: ${m.stderr}`)
  const decoded = await Promise.all(players)
  const exit = await withTimeout(exited, 10_000, 'pc-icecast to exit')
  assert.is(exit, 0, ic.stderr())

  for (const [i, l] of listeners.entries()) {
    const audio = l.audio()
    const at = (c: number): number => audio.indexOf(chunks[c])
    // every chunk after the join is there whole, in order, across the 10 s drop — but the late one
    assert.is(at(3), -1, `listener ${i}: the late chunk 3 was not played`)
    assert.not.ok(audio.includes(chunks[3].subarray(0, 417)), `listener ${i}: nothing from the start of chunk 3`)
    for (const c of [5, 6, 7, 8, 9, 10, 11]) assert.ok(at(c) > 0, `listener ${i}: chunk ${c} heard whole`)
    for (const c of [6, 7, 8, 9, 10, 11]) assert.is(at(c), at(c - 1) + chunks[c - 1].length, `listener ${i}: chunk ${c} right after chunk ${c - 1}`)
    // the title changes at the first metadata block at or after the MARK's byte
    const change = l.titles.find(t => t.title === 'Second')
    assert.ok(change, `listener ${i}: saw the title change`)
    assert.is(change!.at, Math.ceil(at(8) / METAINT) * METAINT, `listener ${i}: title changed at byte ${change!.at}, chunk 8 begins at ${at(8)}`)
    assert.ok(l.titles.some(t => t.title === 'First' && t.at < change!.at))
  }
  // the two listeners got the same bytes from the later one's first chunk boundary on
  const [a, b] = listeners.map(l => l.audio())
  assert.equal(b.subarray(b.indexOf(chunks[5])), a.subarray(a.indexOf(chunks[5])))

  // ffmpeg as a player: stayed through the drop and decoded all it asked for (more than came before the drop), no error
  for (const [i, p] of decoded.entries()) {
    assert.is(p.code, 0, `player ${i}: ${p.stderr}`)
    assert.is(p.stderr, '', `player ${i}`)
    const seconds = p.stdout.length / 16000
    assert.ok(seconds > [8, 5][i] - 0.1, `player ${i} decoded ${seconds.toFixed(2)} s`)
  }
  // -v: the late chunk is said on stderr
  assert.match(ic.stderr(), /live chunk 3: \d+ units arrived after their play time, skipped/)
})

/** Write a live item's chunks as pc-fetch would, each 1.1 s after its source time. */
async function feedLive (ic: { c: { stdin: NodeJS.WritableStream | null } }, chunks: Buffer[], t0: number): Promise<void> {
  const write = (b: Buffer): void => { ic.c.stdin!.write(b) }
  write(encodeMagic())
  write(encodeFrame({ type: 'start', item: 0, header: { url: 'http://127.0.0.1:1/live', start: new Date(t0).toISOString(), offset: 0, live: true, size: null, chunkSize: 65536 } }))
  let offset = 0
  for (const [seq, data] of chunks.entries()) {
    await sleep(Math.max(0, t0 + seq * 1000 + 1100 - Date.now()))
    write(encodeFrame({ type: 'mark', item: 0, offset, mark: { time: new Date(t0 + seq * 1000).toISOString(), seq } }))
    write(encodeFrame({ type: 'data', item: 0, offset, data }))
    offset += data.length
  }
}

test('live: a source that changes sample rate and channels, then codec, mid-show is said on stderr and the status page', async () => {
  const enc = async (args: string[]): Promise<Buffer> => {
    const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=f=440:d=3', ...args, '-'])
    assert.is(r.code, 0, r.stderr)
    return r.stdout
  }
  const stereo = chunksOf(await enc(['-ar', '44100', '-ac', '2', '-c:a', 'libmp3lame', '-b:a', '128k', '-f', 'mp3']))
  const mono = chunksOf(await enc(['-ar', '22050', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3']))
  const aac = chunksOf(await enc(['-ar', '44100', '-ac', '2', '-c:a', 'aac', '-f', 'adts']), 'aac')
  const ic = await startIcecast(['--live-delay', `${DELAY_MS}ms`])
  const t0 = Date.now()
  await feedLive(ic, [...stereo.slice(0, 2), ...mono.slice(0, 2), ...aac.slice(0, 2)], t0)
  await sleep(300)
  const page = (await get(ic.port, '/')).body.toString()
  ic.c.stdin!.end()
  assert.match(ic.stderr(), /item 0: the source changed mid-show: sample rate 44100 → 22050 Hz, channels 2 → 1/)
  assert.match(ic.stderr(), /item 0: the source changed from mp3 to aac mid-show/)
  assert.match(page, /the source changed mid-show: sample rate 44100 → 22050 Hz/)
  assert.match(page, /the source changed from mp3 to aac mid-show/)
})

test('live between scheduled items: the music before it plays to its end, the show is cut at its slot end, the next item follows; one stream that decodes cleanly', async () => {
  const B = readFileSync(join(MEDIA, 'timeline-b.mp3'))
  const show = chunksOf(B)
  const ic = await startIcecast(['--live-delay', `${DELAY_MS}ms`, '--metaint', String(METAINT)])
  const t0 = Date.now()
  const write = (b: Buffer): void => { ic.c.stdin!.write(b) }
  const iso = (ms: number): string => new Date(ms).toISOString()
  const DUR = 20_036
  // item 0: the last 3 s of timeline A; item 1: the show from t0 + 3 s to t0 + 7 s; item 2: timeline A again
  write(encodeMagic())
  write(encodeFrame({ type: 'start', item: 0, header: { url: 'http://o/a.mp3', title: 'Music', start: iso(t0 + 3000 - DUR), end: iso(t0 + 3000), duration: DUR, offset: DUR - 3000, size: A.length, chunkSize: A.length } }))
  write(encodeFrame({ type: 'data', item: 0, offset: 0, data: A }))
  write(encodeFrame({ type: 'end', item: 0 }))
  write(encodeFrame({ type: 'start', item: 1, header: { url: 'http://127.0.0.1:1/live', title: 'Show', start: iso(t0 + 3000), end: iso(t0 + 7000), duration: 4000, offset: 0, live: true, size: null, chunkSize: 65536 } }))
  const capture = icyListener(ic.port)
  let offset = 0
  for (let k = 0; k < 4; k++) {
    await sleep(Math.max(0, t0 + 3000 + k * 1000 + 1100 - Date.now()))
    write(encodeFrame({ type: 'mark', item: 1, offset, mark: { time: iso(t0 + 3000 + k * 1000), seq: 100 + k, title: 'Show' } }))
    write(encodeFrame({ type: 'data', item: 1, offset, data: show[k] }))
    offset += show[k].length
  }
  write(encodeFrame({ type: 'end', item: 1 }))
  write(encodeFrame({ type: 'start', item: 2, header: { url: 'http://o/a2.mp3', title: 'Music again', start: iso(t0 + 7000), end: iso(t0 + 7000 + DUR), duration: DUR, offset: 0, size: A.length, chunkSize: A.length } }))
  write(encodeFrame({ type: 'data', item: 2, offset: 0, data: A }))
  await sleep(Math.max(0, t0 + 10_000 - Date.now()))
  ic.c.stdin!.end()
  const audio = capture.audio()
  const at = (b: Buffer): number => audio.indexOf(b)
  // show chunks 0–1 play whole (source t0+3..5 s, heard t0+4.5..6.5 s); chunk 2 is cut at the slot's end (t0 + 7 s), chunk 3 never plays
  assert.ok(at(show[0]) > 0 && at(show[1]) === at(show[0]) + show[0].length, 'the show after the music')
  assert.is(at(show[2]), -1, 'cut at the slot end')
  assert.ok(at(show[2].subarray(0, 1000)) === at(show[1]) + show[1].length, 'the start of chunk 2 plays')
  assert.not.ok(audio.includes(show[3].subarray(0, 1000)))
  // the music again after the cut, on its schedule: its second second (its first units came
  // a little after their time here, written after the show's END, and were skipped)
  const aSecond = chunksOf(A)[1]
  assert.ok(at(aSecond) > at(show[1]), 'the next item follows the show')
  assert.equal(capture.titles.map(t => t.title).filter((t, i, all) => all.indexOf(t) === i), ['Music', 'Show', 'Music again'])
  const dec = await new Promise<string>((resolve) => {
    const ff = spawn('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', 'null', '-'])
    let err = ''
    ff.stderr.on('data', (d: Buffer) => { err += d.toString() })
    ff.stdin.on('error', () => {})
    ff.on('close', () => resolve(err))
    ff.stdin.end(audio)
  })
  assert.is(dec, '', 'decodes with no error')
})

test.run()
