import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDIA } from '../helpers.js'
import { execFileSync } from 'node:child_process'
import { Chunker, type LiveChunk } from '../../lib/live/chunker.js'
import { MediaParser } from '../../lib/media/media.js'
import { ID, readElementHead, UNKNOWN_SIZE } from '../../lib/media/matroska.js'
import { readTsPacket } from '../../lib/media/ts.js'

function cut (data: Buffer, splits: 'whole' | 'random' | 'bytes', opts: { chunkMs?: number, contentType?: string, warn?: string[] } = {}): LiveChunk[] {
  let t = 1_000_000
  const c = new Chunker({ chunkMs: opts.chunkMs ?? 1000, now: () => t, warn: m => opts.warn?.push(m) })
  c.begin(opts.contentType)
  const out: LiveChunk[] = []
  let seed = 7
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  for (let i = 0; i < data.length;) {
    const n = splits === 'whole' ? data.length : splits === 'bytes' ? 1 : 1 + rnd() % 3000
    out.push(...c.push(data.subarray(i, i + n)))
    i += n
    t += 1
  }
  out.push(...c.end())
  return out
}

const MP3 = readFileSync(join(MEDIA, 'tone-cbr.mp3'))
const OGG = readFileSync(join(MEDIA, 'tone.ogg'))
const AAC = readFileSync(join(MEDIA, 'tone.aac'))

function summary (cs: LiveChunk[]): string { return cs.map(c => `${c.seq}:${c.durationMs}:${c.bytes.length}`).join(' ') }

// a chunk ends at the frame nearest its 1 s grid line: within one frame (26 ms) of it
test('mp3: 1 s chunks at frame boundaries, the same for any input split', () => {
  const whole = cut(MP3, 'whole')
  assert.is(summary(cut(MP3, 'random')), summary(whole), 'random splits')
  assert.equal(whole.map(c => c.bytes.length), cut(MP3, 'bytes').map(c => c.bytes.length), 'one byte at a time')
  assert.ok(whole.length >= 19 && whole.length <= 21, `${whole.length} chunks for 20 s`)
  for (const c of whole.slice(0, -1)) {
    assert.ok(Math.abs(c.durationMs - 1000) <= 27, `chunk ${c.seq}: ${c.durationMs} ms`)
    assert.is(c.bytes[0], 0xff, 'starts at a frame sync')
  }
  whole.forEach((c, i) => { assert.is(c.seq, i); if (i) assert.is(c.startMs, whole[i - 1].startMs + whole[i - 1].durationMs) })
  assert.is(whole[0].info.sampleRate, 44100)
})

test('a source gone in the middle of a frame: the frames before it are chunked, the cut one dropped quietly', () => {
  const frames = new MediaParser('mp3').push(MP3)
  const f = frames[Math.floor(frames.length / 2)]
  for (const n of [1, 3, f.bytes.length >> 1]) {
    const warn: string[] = []
    const chunks = cut(MP3.subarray(0, f.offset + n), 'random', { warn })
    assert.equal(warn, [], `+${n}`)
    const bytes = chunks.reduce((a, c) => a + c.bytes.length, 0)
    assert.is(bytes, f.offset - frames[0].offset, `+${n}: the frames before the cut`)
  }
})

test('shorter chunks: 500 ms', () => {
  const cs = cut(MP3, 'whole', { chunkMs: 500 })
  for (const c of cs.slice(0, -1)) assert.ok(Math.abs(c.durationMs - 500) <= 27, `chunk ${c.seq}: ${c.durationMs} ms`)
})

test('aac (ADTS): frame boundaries', () => {
  const cs = cut(AAC, 'random')
  assert.ok(cs.length >= 14)
  for (const c of cs) assert.is(c.bytes[0], 0xff)
  assert.is(cs[0].kind, 'aac')
})

test('ogg: chunks are whole pages; the header blob is kept and every chunk names it', () => {
  const cs = cut(OGG, 'random')
  const bytes = cut(OGG, 'bytes')
  assert.equal(cs.map(c => c.bytes.length), bytes.map(c => c.bytes.length))
  assert.ok(Buffer.concat(cs.map(c => c.bytes)).equals(OGG), 'the chunks together are the stream')
  for (const c of cs) {
    assert.is(c.bytes.subarray(0, 4).toString('latin1'), 'OggS')
    assert.ok(c.header, `chunk ${c.seq} names a header`)
  }
  assert.ok(cs[0].opensHeader)
  assert.not.ok(cs[1].opensHeader)
  const h = cs[0].header!
  assert.ok(OGG.subarray(0, h.bytes.length).equals(h.bytes), 'the header blob is the stream\'s first pages')
  assert.ok(h.bytes.length < 8000)
})

test('a change of codec mid-show (a new source sending AAC after MP3) is reported and marked', () => {
  const warn: string[] = []
  let t = 0
  const c = new Chunker({ chunkMs: 1000, now: () => t, warn: m => warn.push(m) })
  c.begin('audio/mpeg')
  const out = [...c.push(MP3), ...c.end()]
  c.begin('audio/aac')
  t = 10
  out.push(...c.push(AAC), ...c.end())
  const changed = out.filter(x => x.change)
  assert.is(changed.length, 1, JSON.stringify(warn))
  assert.is(changed[0].kind, 'aac')
  assert.is(out[changed[0].seq - 1].kind, 'mp3')
  assert.match(warn.join('\n'), new RegExp(`format changed at chunk ${changed[0].seq}: mp3, 44100 Hz, 2 ch → aac`))
  out.forEach((x, i) => assert.is(x.seq, i, 'numbering continues across sources'))
  assert.ok(out[changed[0].seq].startMs >= out[changed[0].seq - 1].startMs + out[changed[0].seq - 1].durationMs, 'time never goes back')
})

test('anything else is cut by bytes', () => {
  const wav = readFileSync(join(MEDIA, 'tone.wav'))
  const cs = cut(wav, 'random', { contentType: 'audio/wav' })
  assert.is(cs[0].kind, 'other')
  assert.ok(Buffer.concat(cs.map(c => c.bytes)).equals(wav))
  for (const c of cs.slice(0, -1)) assert.is(c.bytes.length, 16000)
})

/** What a DJ's ffmpeg sends to an Icecast mount: `seconds` of testsrc and a sine, muxed to a pipe (so not seekable: the live layout). */
function liveClip (seconds: number, args: string[]): Buffer {
  return execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, ...args, '-'], { maxBuffer: 64 * 1024 * 1024 })
}
const WEBM = liveClip(12, ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', '25', '-c:a', 'libopus', '-f', 'webm'])
const TS_G25 = liveClip(8, ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-f', 'mpegts'])
/** x264's own keyframe interval (250 frames): most chunks cannot open at a keyframe */
const TS_G250 = liveClip(12, ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-f', 'mpegts'])

/** the random-access units' offsets in a stream, as lib/media finds them */
function keyOffsets (data: Buffer, kind: 'matroska' | 'ts'): number[] {
  const p = new MediaParser(kind)
  return [...p.push(data), ...p.end()].filter(u => u.key).map(u => u.offset)
}

function checkVideo (data: Buffer, kind: 'matroska' | 'ts'): LiveChunk[] {
  const cs = cut(data, 'random')
  assert.equal(cs.map(c => c.bytes.length), cut(data, 'bytes').map(c => c.bytes.length), 'one byte at a time')
  assert.ok(Buffer.concat(cs.map(c => c.bytes)).equals(data), 'the chunks together are the stream')
  assert.ok(cs[0].opensHeader)
  for (const c of cs) {
    assert.is(c.kind, kind)
    assert.ok(c.header && c.header === cs[0].header, `chunk ${c.seq} names the header blob`)
    // no longer than --chunk by more than a unit: it reaches listeners within the live delay
    if (c !== cs[cs.length - 1]) assert.ok(c.durationMs <= 1100, `chunk ${c.seq}: ${c.durationMs} ms`)
  }
  // a chunk is key exactly when it begins at one of the stream's random-access units
  const keys = new Set(keyOffsets(data, kind))
  let at = 0
  for (const c of cs) {
    if (c.seq > 0) assert.is(c.key, keys.has(at), `chunk ${c.seq} at byte ${at}`)
    at += c.bytes.length
  }
  return cs
}

test('WebM from a live encoder: chunks are whole Clusters, key when they open at a keyframe; the header blob is EBML header to Tracks with the Segment\'s size unknown', () => {
  const cs = checkVideo(WEBM, 'matroska')
  for (const c of cs.slice(1)) assert.is(readElementHead(c.bytes) !== null && (readElementHead(c.bytes) as { id: number }).id, ID.Cluster, `chunk ${c.seq} opens a Cluster`)
  const h = cs[0].header!.bytes
  const ids: number[] = []
  for (let i = 0; i < h.length;) {
    const e = readElementHead(h, i) as { id: number, size: number, headBytes: number }
    ids.push(e.id)
    if (e.id === ID.Segment) { assert.is(e.size, UNKNOWN_SIZE); i += e.headBytes } else i += e.headBytes + e.size
  }
  assert.equal(ids.slice(0, 2), [ID.EBML, ID.Segment])
  assert.ok(ids.includes(ID.Tracks) && !ids.includes(ID.Cluster), ids.map(x => x.toString(16)).join(' '))
  assert.ok(cs[0].bytes.subarray(0, h.length).equals(h), 'the first chunk opens with the header itself')
  // keyframes a second or more apart: every keyframe Cluster opens a chunk
  const keys = keyOffsets(WEBM, 'matroska')
  assert.ok(keys.length >= 4)
  assert.is(cs.filter(c => c.key).length, keys.length, cs.map(c => `${c.seq}:${c.durationMs}${c.key ? 'K' : ''}`).join(' '))
})

test('MPEG-TS from a live encoder: chunks are whole packets cut at keyframes; the header blob is the PAT and the PMT', () => {
  const cs = checkVideo(TS_G25, 'ts')
  const h = cs[0].header!.bytes
  assert.is(h.length, 2 * 188)
  assert.equal([readTsPacket(h)!.pid, readTsPacket(h.subarray(188))!.pid], [0, 0x1000])
  for (const c of cs) assert.is(c.bytes.length % 188, 0)
  for (const c of cs.slice(0, -1)) { assert.ok(c.key, `chunk ${c.seq}`); assert.ok(Math.abs(c.durationMs - 1000) <= 40, `chunk ${c.seq}: ${c.durationMs} ms`) }
})

test('MPEG-TS with a keyframe every 10 s: chunks still about 1 s; the one after each keyframe opens at it', () => {
  const cs = checkVideo(TS_G250, 'ts')
  assert.ok(cs.length >= 11)
  assert.is(cs.filter(c => c.key).length, keyOffsets(TS_G250, 'ts').length)
})

test.run()
