// Timeline.find for video: a joiner starts at the last random-access unit at or before
// now, and is given the container's header for it. Clips made by ffmpeg (keyframe every second).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { Timeline } from '../../lib/icecast/timeline.js'
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

test.run()
