// Timeline.find for video: a joiner starts at the last random-access unit at or before
// now, and is given the container's header for it. Clips made by ffmpeg (keyframe every second).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { Timeline, LIVE_VIDEO_LATE_MS } from '../../lib/icecast/timeline.js'
import { Chunker } from '../../lib/live/chunker.js'
import { MediaParser } from '../../lib/media/media.js'
import { encodeFrame, encodeMagic, FrameDecoder } from '../../lib/frames/frame.js'
import { readElementHead, ID, UNKNOWN_SIZE } from '../../lib/media/matroska.js'
import { tempDir } from '../helpers.js'
import { CLIPS, makeClip, type VideoClip } from './media-video-fixtures.js'

const T0 = Date.parse('2026-11-22T12:00:00Z')
const dir = await tempDir('pc-timeline-video-')
const read = (name: string): Buffer => readFileSync(makeClip(dir.path, CLIPS.find(c => c.name === name) as VideoClip))
const clips = { 'h264-aac.ts': read('h264-aac.ts'), 'vp8-opus.webm': read('vp8-opus.webm'), 'frag.mp4': read('frag.mp4') }
test.after(async () => { await dir.remove() })

for (const [name, data] of Object.entries(clips)) {
  test(`${name}: find() gives the last key unit at or before now, within a keyframe interval`, () => {
    const t = new Timeline({ now: () => T0, warn: () => {}, bitrateKbps: 128 })
    t.pushPlain(data)
    t.end()
    for (const into of [500, 1300, 2750, 4100, 5999]) {
      const at = t.find(T0 + into)
      const s = t.get(at.seq)
      assert.ok(s, `a segment for ${into} ms`)
      assert.ok(s!.keys[at.unit], `${name} at ${into} ms: unit ${at.unit} of segment ${at.seq} is a random-access point`)
      const ms = s!.unitAt[at.unit] - T0
      assert.ok(ms <= into && ms > into - 1000 - 1, `${name} at ${into} ms: starts at ${ms} ms`)
      assert.ok(s!.headers.length > 0, 'headers for a joiner')
    }
  })
}

test('WebM: a joiner\'s headers are EBML, a Segment of unknown size, then Info and Tracks among the rest; no SeekHead', () => {
  const t = new Timeline({ now: () => T0, warn: () => {}, bitrateKbps: 128 })
  t.pushPlain(clips['vp8-opus.webm'])
  t.end()
  const heads = t.get(t.find(T0 + 3000).seq)!.headers.map(h => readElementHead(h))
  const ids = heads.map(h => (h as { id: number }).id)
  assert.equal(ids.slice(0, 2), [ID.EBML, ID.Segment])
  assert.ok(ids.includes(ID.Info) && ids.includes(ID.Tracks), ids.map(i => i.toString(16)).join(' '))
  assert.not.ok(ids.includes(ID.SeekHead), 'no SeekHead (its positions are the file\'s)')
  assert.is((heads[1] as { size: number }).size, UNKNOWN_SIZE)
})

test('live WebM: a unit later than the slack is dropped, and nothing follows it until a keyframe Cluster; the header first, no warning', () => {
  const data = clips['vp8-opus.webm']
  const c = new Chunker({ chunkMs: 1000, now: () => T0, warn: () => {} })
  c.begin('video/webm')
  const chunks = [...c.push(data), ...c.end()]
  // pc-fetch's frames for the show: START live, the header blob, then MARK and DATA per chunk
  const frames = [encodeMagic(), encodeFrame({ type: 'start', item: 0, header: { url: 'http://127.0.0.1:1/live', title: 'TV', start: new Date(T0).toISOString(), offset: 0, live: true, size: null, chunkSize: 65536 } })]
  let off = 0
  const h = chunks[0].header!.bytes
  frames.push(encodeFrame({ type: 'data', item: 0, offset: off, data: h })); off += h.length
  for (const k of chunks) {
    frames.push(encodeFrame({ type: 'mark', item: 0, offset: off, mark: { time: new Date(k.startMs).toISOString(), seq: k.seq } }))
    frames.push(encodeFrame({ type: 'data', item: 0, offset: off, data: k.bytes })); off += k.bytes.length
  }
  // the show arrives 5.5 s late at once: what plays before 4.5 s is later than the slack
  const lateMs = 4500
  const warnings: string[] = []
  const t = new Timeline({ now: () => T0 + lateMs + LIVE_VIDEO_LATE_MS, warn: m => warnings.push(m), bitrateKbps: 128, liveDelayMs: 0 })
  t.plain = false
  for (const f of new FrameDecoder('frames').push(Buffer.concat(frames))) t.pushFrame(f)
  t.end()
  assert.equal(warnings, [])
  const sent: Array<{ at: number, key: boolean }> = []
  for (let q = t.firstSeq; q < t.nextSeq; q++) { const g = t.get(q)!; g.units.forEach((_u, i) => sent.push({ at: g.unitAt[i] - T0, key: g.keys[i] })) }
  const p = new MediaParser('matroska')
  const keyMs = [...p.push(data), ...p.end()].filter(u => u.key).map(u => (u.timeUs as number) / 1000)
  const firstKey = keyMs.find(ms => ms >= lateMs) as number
  assert.ok(firstKey !== undefined && firstKey < 6000, `keyframes at ${keyMs.join(', ')} ms`)
  assert.ok(sent[0].key, 'the first unit sent is a random-access point')
  // (a live unit plays at its MARK plus the media clock's advance before it: within a frame of its own timecode)
  assert.ok(sent[0].at <= firstKey && sent[0].at > firstKey - 41, `it is the first keyframe Cluster after ${lateMs} ms: ${sent[0].at} ms, keyframes at ${keyMs.join(', ')}`)
  // the units after it follow the container clock to the clip's end
  const last = sent[sent.length - 1].at
  assert.ok(Math.abs(last - 6960) < 100, `the last unit plays at ${last} ms of a 7 s clip`)
  assert.ok(t.get(t.firstSeq)!.headers.length > 0, 'headers for a joiner')
})

test.run()
