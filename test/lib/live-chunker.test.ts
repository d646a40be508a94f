import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDIA } from '../helpers.js'
import { Chunker, type LiveChunk } from '../../lib/live/chunker.js'

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

test.run()
