import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { MediaParser, detectKind, mimeOf, type MediaKind, type MediaUnit } from '../../lib/media/media.js'
import { tempDir } from '../helpers.js'
import { CLIPS, FRAME_MS, VIDEO_SECONDS, ffprobeSeconds, makeClip } from './media-video-fixtures.js'

const CASES: Array<[string, MediaKind, string]> = [
  ['h264-aac.ts', 'ts', 'video/mp2t'], ['mpeg2-mp2.ts', 'ts', 'video/mp2t'],
  ['vp8-opus.webm', 'matroska', 'video/webm'], ['vp9-opus.webm', 'matroska', 'video/webm'], ['h264-aac.mkv', 'matroska', 'video/x-matroska'],
  ['frag.mp4', 'fmp4', 'video/mp4'],
]

let dir: { path: string, remove: () => Promise<void> }
const files = new Map<string, { bytes: Buffer, seconds: number }>()
test.before(async () => {
  dir = await tempDir('pc-containers-')
  for (const [name] of CASES) {
    const path = makeClip(dir.path, CLIPS.find(c => c.name === name) as typeof CLIPS[number])
    files.set(name, { bytes: readFileSync(path), seconds: ffprobeSeconds(path) })
  }
})
test.after(async () => { await dir.remove() })

function parse (kind: MediaKind, parts: Buffer[], warnings: string[]): { units: MediaUnit[], parser: MediaParser } {
  const parser = new MediaParser(kind, { warn: m => warnings.push(m) })
  const units: MediaUnit[] = []
  for (const b of parts) units.push(...parser.push(b))
  units.push(...parser.end())
  return { units, parser }
}

function randomSplits (b: Buffer, max: number, seed: number): Buffer[] {
  let x = seed
  const parts: Buffer[] = []
  for (let i = 0; i < b.length;) { x = (x * 1103515245 + 12345) & 0x7fffffff; const n = 1 + (x % max); parts.push(b.subarray(i, i + n)); i += n }
  return parts
}

const plain = (us: MediaUnit[]): unknown[] => us.map(u => ({ ...u, bytes: u.bytes.toString('hex') }))

for (const [name, kind, mime] of CASES) {
  test(`${name}: detected as ${kind}; the same units whole, in random splits and one byte at a time; durations add up to ffprobe's`, () => {
    const { bytes, seconds } = files.get(name) as { bytes: Buffer, seconds: number }
    assert.is(detectKind(bytes.subarray(0, 16 * 1024)), kind)
    const warnings: string[] = []
    const whole = parse(kind, [bytes], warnings)
    assert.equal(warnings, [])
    assert.is(mimeOf(kind, whole.parser.info()), mime)
    // the units tile the file
    assert.ok(Buffer.concat(whole.units.map(u => u.bytes)).equals(bytes))
    const firstKey = whole.units.findIndex(u => u.key)
    assert.ok(firstKey > 0 && whole.units.slice(0, firstKey).some(u => u.header) && !whole.units.slice(firstKey).some(u => u.header), 'header units come before the first key unit')
    assert.ok(whole.units.filter(u => u.key).length >= 3, 'a key unit each second or so')
    const sumMs = whole.units.reduce((s, u) => s + u.durationUs, 0) / 1000
    assert.ok(Math.abs(sumMs - seconds * 1000) <= 2 * FRAME_MS, `sum ${sumMs} ms, ffprobe ${seconds * 1000} ms`)
    const timed = whole.units.filter(u => u.timeUs !== undefined)
    assert.ok(timed.length >= VIDEO_SECONDS - 1, 'units carry their media time')
    for (const seed of [1, 2]) assert.equal(plain(parse(kind, randomSplits(bytes, 5000, seed), []).units), plain(whole.units), `split ${seed}`)
    const ones: Buffer[] = []
    for (let i = 0; i < bytes.length; i++) ones.push(bytes.subarray(i, i + 1))
    assert.equal(plain(parse(kind, ones, []).units), plain(whole.units), 'one byte at a time')
  })

  test(`${name}: the header units then everything from any key unit on decode without an error`, () => {
    const { bytes } = files.get(name) as { bytes: Buffer, seconds: number }
    const units = parse(kind, [bytes], []).units
    const head = units.filter(u => u.header).map(u => u.joinBytes ?? u.bytes)
    const keys = units.map((u, i) => u.key ? i : -1).filter(i => i > 0)
    for (const k of [keys[1], keys[Math.floor(keys.length / 2)], keys[keys.length - 1]]) {
      const input = Buffer.concat([...head, ...units.slice(k).map(u => u.bytes)])
      const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-i', '-', '-f', 'null', '-'], { input })
      assert.is(r.status, 0, r.stderr.toString())
      assert.is(r.stderr.toString(), '', `from key unit ${k} of ${units.length}`)
    }
  })
}

test('a gap (resyncAt) in a transport stream, a WebM and an fMP4 resumes at the next packet, Cluster or fragment, with the same units after it', () => {
  for (const [name, kind] of [CASES[0], CASES[2], CASES[5]]) {
    const { bytes } = files.get(name) as { bytes: Buffer, seconds: number }
    const whole = parse(kind, [bytes], []).units
    const p = new MediaParser(kind)
    const cut = Math.floor(bytes.length / 2)
    const before = p.push(bytes.subarray(0, cut - 777))
    p.resyncAt(cut)
    const after = [...p.push(bytes.subarray(cut)), ...p.end()]
    assert.ok(before.length > 0 && after.length > 0)
    const firstAfter = after.findIndex(u => u.key)
    const at = whole.findIndex(u => u.offset === after[firstAfter].offset)
    assert.ok(at > 0, `${name}: a key unit after the gap is one of the file's`)
    // the media clock restarts after a gap (the first step is unknown, as for Ogg): compare all but durations
    const noDur = (us: MediaUnit[]): unknown[] => plain(us).map(u => ({ ...(u as MediaUnit), durationUs: 0 }))
    assert.equal(noDur(after.filter(u => u.offset >= whole[at].offset).slice(0, 5)), noDur(whole.slice(at, at + 5)), name)
  }
})

test('a container stream stopped inside a unit (end with cut) ends quietly at the last whole unit; truncated without the cut, it is said', () => {
  // a listener pipeline stopped by SIGTERM mid-item: pc-icecast said 'truncated Matroska block'
  for (const [name, kind] of CASES) {
    const { bytes } = files.get(name) as { bytes: Buffer, seconds: number }
    const whole = parse(kind, [bytes], []).units
    const last = whole[Math.floor(whole.length * 0.6)]
    for (const n of [1, Math.max(2, last.bytes.length >> 1)]) {
      const short = bytes.subarray(0, last.offset + n)
      const quiet: string[] = []
      const p = new MediaParser(kind, { warn: m => quiet.push(m) })
      const units = [...p.push(short), ...p.end({ cut: true })]
      assert.equal(quiet, [], `${name} +${n}`)
      assert.ok(units.length > 0 && units.every(u => u.offset + u.bytes.length <= short.length), `${name} +${n}: only whole units before the cut`)
      // (a transport stream cut on a packet boundary is whole: 1 byte in is cut short in every container)
      if (n !== 1) continue
      const said: string[] = []
      parse(kind, [short], said)
      assert.is(said.length, 1, `${name} +${n}: ${said.join('; ')}`)
    }
  }
})

test.run()
