import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDIA } from '../helpers.js'
import { Timeline, SEGMENT_MS, type Segment } from '../../lib/icecast/timeline.js'
import { FrameDecoder } from '../../lib/frames/frame.js'
import { MediaParser } from '../../lib/media/media.js'
import { readOggPage } from '../../lib/media/ogg.js'
import { frameStream } from '../cmd/icecast-helpers.js'

const MP3 = readFileSync(join(MEDIA, 'timeline-a.mp3'))
const OPUS = [readFileSync(join(MEDIA, 'tone.opus')), readFileSync(join(MEDIA, 'timeline-a.opus'))]
const T0 = Date.parse('2026-11-22T12:00:00Z')

function all (t: Timeline): Segment[] {
  const out: Segment[] = []
  for (let s = t.firstSeq; s < t.nextSeq; s++) out.push(t.get(s)!)
  return out
}

function plain (parts: Buffer[]): Timeline {
  const t = new Timeline({ now: () => T0, warn: () => {}, bitrateKbps: 128 })
  for (const p of parts) t.pushPlain(p)
  t.end()
  return t
}

test('plain MP3: segments follow each other at the media\'s own rate, from the first byte', () => {
  const segs = all(plain([MP3]))
  assert.is(segs[0].atMs, T0)
  for (let i = 1; i < segs.length; i++) {
    assert.ok(Math.abs(segs[i].atMs - segs[i - 1].endMs) < 0.001, `gap before segment ${i}`)
    assert.ok(segs[i - 1].endMs - segs[i - 1].atMs <= SEGMENT_MS + 27, `segment ${i - 1} too long`)
  }
  const total = segs[segs.length - 1].endMs - T0
  assert.ok(Math.abs(total - 20_035) < 60, `${total} ms of audio`)
  assert.is(segs[0].bytes[0], 0xff, 'no ID3 tag in front')
})

test('any input split gives the same bytes at the same times', () => {
  const whole = all(plain([MP3]))
  const bytes = (segs: Segment[]): Buffer => Buffer.concat(segs.map(s => s.bytes))
  const parts: Buffer[] = []
  for (let i = 0; i < MP3.length;) { const n = 1 + Math.floor(Math.random() * 3000); parts.push(MP3.subarray(i, i + n)); i += n }
  const split = all(plain(parts))
  assert.ok(bytes(split).equals(bytes(whole)))
  assert.is(split[split.length - 1].endMs, whole[whole.length - 1].endMs)
})

test('frames: the schedule\'s clock; units already over are not kept; find() gives the unit covering now', () => {
  const now = T0 + 7250
  const t = new Timeline({ now: () => now, warn: () => {}, bitrateKbps: 128 })
  t.plain = false
  for (const f of new FrameDecoder().push(frameStream([{ data: MP3, title: 'A', startMs: T0, durationMs: 20_036 }], now))) t.pushFrame(f)
  t.end()
  const segs = all(t)
  assert.ok(segs[0].endMs > now, 'nothing that is over')
  assert.ok(segs[0].atMs <= now + 30, `first kept audio at ${segs[0].atMs - T0} ms`)
  const pos = t.find(now)
  const seg = t.get(pos.seq)!
  assert.ok(seg.unitAt[pos.unit] <= now && now - seg.unitAt[pos.unit] < 27, 'the MPEG frame covering now')
  assert.is(seg.bytes[pos.off], 0xff)
  assert.is(seg.meta.title, 'A')
})

/** media seconds of an Ogg file: its last granule less the pre-skip, at 48 kHz */
function opusSeconds (file: Buffer): number {
  const pages = new MediaParser('ogg').push(file)
  const head = readOggPage(pages[0].bytes)
  const last = readOggPage(pages[pages.length - 1].bytes)
  if (!('body' in head) || !('body' in last)) throw new Error('not Ogg')
  return (last.granule - head.body.readUInt16LE(10)) / 48000
}

function serialOf (page: Buffer): number { return page.readUInt32LE(14) }

test('a chained Ogg stream: each link is timed from the end of the one before, and each segment keeps its own link\'s header pages', () => {
  const t = plain([Buffer.concat([OPUS[0], OPUS[1], OPUS[0]])])
  const segs = all(t)
  const total = (segs[segs.length - 1].endMs - T0) / 1000
  const expected = opusSeconds(OPUS[0]) * 2 + opusSeconds(OPUS[1])
  assert.ok(Math.abs(total - expected) < 0.05, `${total} s of ${expected} s`)
  for (let i = 1; i < segs.length; i++) assert.ok(segs[i].atMs >= segs[i - 1].atMs, `segment ${i} goes back in time`)
  const links = new Set<readonly Buffer[]>()
  for (const s of segs) {
    links.add(s.headers)
    const media = s.bytes.subarray(s.units[0])
    assert.is(serialOf(media), serialOf(s.headers[0]), `segment ${s.seq}: headers of its own link`)
  }
  assert.is(links.size, 3)
})

test.run()
