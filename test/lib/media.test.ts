import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { MediaParser, detectKind, mimeOf, OTHER_SLICE_BYTES, type MediaKind, type MediaUnit } from '../../lib/media/media.js'
import { parseMpegHeader } from '../../lib/media/mpeg.js'
import { oggCrc, readOggPage } from '../../lib/media/ogg.js'
import { MEDIA, withTimeout, tempDir } from '../helpers.js'

const run = promisify(execFile)
const file = (name: string): Buffer => readFileSync(join(MEDIA, name))

interface Probe { codec: string, sampleRate: number, packets: number, durationS: number }
async function ffprobe (name: string): Promise<Probe> {
  const { stdout } = await withTimeout(run('ffprobe', ['-v', 'error', '-count_packets', '-select_streams', 'a:0',
    '-show_entries', 'stream=codec_name,sample_rate,nb_read_packets,duration', '-of', 'json', join(MEDIA, name)]), 30_000, `ffprobe ${name}`)
  const s = JSON.parse(stdout).streams[0]
  return { codec: s.codec_name, sampleRate: Number(s.sample_rate), packets: Number(s.nb_read_packets), durationS: Number(s.duration) }
}

function parse (kind: MediaKind, parts: Buffer[], warnings: string[] = [], cut = false): MediaUnit[] {
  const p = new MediaParser(kind, { warn: m => warnings.push(m) })
  const out: MediaUnit[] = []
  for (const b of parts) out.push(...p.push(b))
  out.push(...p.end({ cut }))
  return out
}

/** units as plain values, so deep equality compares bytes */
const plain = (us: MediaUnit[]): unknown[] => us.map(u => ({ ...u, bytes: u.bytes.toString('hex') }))
const total = (us: MediaUnit[]): number => us.reduce((s, u) => s + u.durationUs, 0)

function randomSplits (b: Buffer, max: number, seed: number): Buffer[] {
  let x = seed
  const rnd = (): number => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x / 0x7fffffff }
  const parts: Buffer[] = []
  for (let i = 0; i < b.length;) { const n = 1 + Math.floor(rnd() * max); parts.push(b.subarray(i, i + n)); i += n }
  return parts
}

/** deterministic junk rich in sync-looking bytes (0xFF, 'OggS', 'ID3' fragments) */
function garbage (n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    b[i] = (x >> 8) % 16 === 0 ? 0xff : (x >> 16) & 0xff
  }
  b.write('OggS', 100, 'latin1'); b.write('ID3', 300, 'latin1')
  return b
}

const AUDIO: Array<[string, MediaKind]> = [
  ['tone-cbr.mp3', 'mp3'], ['chirp-vbr.mp3', 'mp3'], ['tone.aac', 'aac'], ['tone.ogg', 'ogg'], ['tone.opus', 'ogg'],
]

test('durations summed over the sample media match ffprobe within a frame', async () => {
  for (const [name, kind] of AUDIO) {
    const units = parse(kind, [file(name)])
    const pr = await ffprobe(name)
    const ms = total(units) / 1000
    if (kind === 'mp3' || kind === 'aac') {
      // one unit per frame: the counts must agree exactly (ffprobe leaves out the Xing/Info frame too)
      assert.is(units.length, pr.packets, `${name}: frames`)
      const frame = (kind === 'mp3' ? 1152 : 1024) / pr.sampleRate * 1000
      assert.ok(Math.abs(ms - pr.packets * frame) < 0.01, `${name}: ${ms} ms`)
      if (kind === 'mp3') assert.ok(Math.abs(ms - pr.durationS * 1000) <= frame, `${name}: ${ms} ms vs ffprobe ${pr.durationS * 1000}`)
    } else {
      // ffprobe counts the Opus pre-skip in its duration; we count what is heard
      const frame = pr.codec === 'opus' ? 20 : 2048 / pr.sampleRate * 1000
      assert.ok(Math.abs(ms - pr.durationS * 1000) <= frame, `${name}: ${ms} ms vs ffprobe ${pr.durationS * 1000}`)
    }
  }
})

test('whole, random splits and one byte at a time give identical units', () => {
  for (const [name, kind] of [...AUDIO, ['tone.wav', 'other'] as [string, MediaKind]]) {
    const b = file(name)
    const whole = plain(parse(kind, [b]))
    if (kind !== 'other') {
      assert.equal(plain(parse(kind, randomSplits(b, 700, 7))), whole, `${name}: random splits`)
      assert.equal(plain(parse(kind, randomSplits(b, 5, 3))), whole, `${name}: small splits`)
      assert.equal(plain(parse(kind, [...b].map(x => Buffer.of(x)))), whole, `${name}: one byte at a time`)
    } else {
      // 'other' emits what it has at once (no waiting to fill a slice): same bytes, same offsets
      const parts = parse(kind, randomSplits(b, 40000, 5))
      assert.ok(Buffer.concat(parts.map(u => u.bytes)).equals(b))
      assert.ok(parts.every(u => u.bytes.length <= OTHER_SLICE_BYTES && u.durationUs === 0))
    }
  }
})

test('units tile the item: offsets increase and every emitted byte is the file\'s', () => {
  for (const [name, kind] of AUDIO) {
    const b = file(name)
    let last = -1
    for (const u of parse(kind, [b])) {
      assert.ok(u.offset > last)
      assert.ok(b.subarray(u.offset, u.offset + u.bytes.length).equals(u.bytes))
      last = u.offset
    }
  }
})

test('garbage inserted mid-stream is skipped with one warning naming its byte offset', () => {
  for (const [name, kind] of AUDIO) {
    const b = file(name)
    const units = parse(kind, [b])
    const cut = units[Math.floor(units.length / 2)].offset
    const junk = garbage(3000, 11)
    const spoiled = Buffer.concat([b.subarray(0, cut), junk, b.subarray(cut)])
    for (const parts of [[spoiled], randomSplits(spoiled, 300, 9)]) {
      const warnings: string[] = []
      const got = parse(kind, parts, warnings)
      assert.is(warnings.length, 1, `${name}: ${warnings.join('; ')}`)
      assert.match(warnings[0], `byte ${cut}: 3000 bytes skipped`)
      assert.is(got.length, units.length, name)
      assert.ok(Math.abs(total(got) - total(units)) < 1, name)
      const shifted = got.map(u => ({ ...u, offset: u.offset >= cut ? u.offset - junk.length : u.offset }))
      // every unit after the junk is found again, with the timing it had before (an Ogg page carries its own granule)
      assert.equal(plain(shifted), plain(units), name)
    }
  }
})

test('a truncated final frame is dropped with a warning; a stream stopped there (end with cut), quietly', () => {
  for (const [name, kind] of AUDIO) {
    const b = file(name)
    const units = parse(kind, [b])
    const lastUnit = units[units.length - 1]
    const cut = b.subarray(0, lastUnit.offset + Math.floor(lastUnit.bytes.length / 2))
    const warnings: string[] = []
    const got = parse(kind, [cut], warnings)
    assert.equal(plain(got), plain(units.slice(0, -1)), name)
    assert.equal(warnings, [`byte ${lastUnit.offset}: truncated final unit of ${cut.length - lastUnit.offset} bytes dropped`])
    const stopped: string[] = []
    assert.equal(plain(parse(kind, [cut], stopped, true)), plain(units.slice(0, -1)), name)
    assert.equal(stopped, [], name)
    // stopped 1-3 bytes into the last unit (too few to read its header): quietly too, and
    // without the cut said as damage
    for (const n of [1, 2, 3]) {
      const short = b.subarray(0, lastUnit.offset + n)
      const quiet: string[] = []
      assert.equal(plain(parse(kind, [short], quiet, true)), plain(units.slice(0, -1)), `${name} +${n}`)
      assert.equal(quiet, [], `${name} +${n}`)
      const said: string[] = []
      parse(kind, [short], said)
      assert.is(said.length, 1, `${name} +${n}: ${said.join('; ')}`)
      assert.match(said[0], `byte ${lastUnit.offset}: `)
    }
  }
})

test('ID3v2 at the start and ID3v1 at the end are not emitted; Xing/Info frame dropped', () => {
  const b = file('chirp-vbr.mp3')
  assert.is(b.subarray(0, 3).toString(), 'ID3')
  const tag1 = Buffer.alloc(128); tag1.write('TAG', 'latin1'); tag1.write('A title', 3, 'latin1')
  const withV1 = Buffer.concat([b, tag1])
  for (const parts of [[withV1], randomSplits(withV1, 50, 1)]) {
    const warnings: string[] = []
    const units = parse('mp3', parts, warnings)
    assert.equal(warnings, [])
    for (const u of units) assert.ok(parseMpegHeader(u.bytes), `unit at ${u.offset} is a frame`)
    const first = units[0]
    // the first frame in the file after the tag is the Info frame, left out
    const tagLen = 10 + ((b[6] << 21) | (b[7] << 14) | (b[8] << 7) | b[9])
    const info = parseMpegHeader(b.subarray(tagLen))
    assert.ok(info)
    assert.is(first.offset, tagLen + info.frameBytes)
    const lastUnit = units[units.length - 1]
    assert.is(lastUnit.offset + lastUnit.bytes.length, b.length, 'TAG block not emitted')
  }
})

test('a large ID3v2 tag (cover art, sync-like bytes) is skipped whole, in any split', () => {
  const mp3 = file('tone-cbr.mp3')
  const body = 300_000
  const tag = Buffer.alloc(10 + body, 0xff) // sync-looking bytes throughout, as in a JPEG
  tag.write('ID3', 'latin1'); tag[3] = 4; tag[4] = 0; tag[5] = 0
  for (let i = 0; i < 4; i++) tag[6 + i] = (body >> (7 * (3 - i))) & 0x7f
  const b = Buffer.concat([tag, mp3])
  const expected = plain(parse('mp3', [mp3])).map(u => ({ ...(u as object), offset: (u as { offset: number }).offset + tag.length }))
  for (const parts of [[b], randomSplits(b, 5000, 2)]) {
    const warnings: string[] = []
    const p = new MediaParser('mp3', { warn: m => warnings.push(m) })
    const got: MediaUnit[] = []
    for (const x of parts) got.push(...p.push(x))
    got.push(...p.end())
    assert.equal(warnings, [])
    assert.equal(plain(got), expected)
  }
  assert.is(detectKind(b.subarray(0, 4096)), 'mp3')
})

test('skip() resyncs quietly at the next frame after a gap', () => {
  for (const [name, kind] of AUDIO) {
    const b = file(name)
    const units = parse(kind, [b])
    const warnings: string[] = []
    const p = new MediaParser(kind, { warn: m => warnings.push(m) })
    const gapAt = units[4].offset + 8
    const resume = Math.floor(b.length / 2)
    const got = [...p.push(b.subarray(0, gapAt))]
    p.resyncAt(resume)
    got.push(...p.push(b.subarray(resume)), ...p.end())
    assert.equal(warnings, [], name)
    const after = got.filter(u => u.offset >= resume)
    const expected = units.filter(u => u.offset >= after[0].offset)
    assert.equal(got.filter(u => u.offset < resume).map(u => u.offset), units.slice(0, 4).map(u => u.offset))
    if (kind === 'ogg') {
      // the first page after a gap has no known start: duration 0, no time; the rest are exact
      assert.is(after[0].timeUs, undefined)
      assert.is(after[0].durationUs, 0)
      assert.equal(plain(after.slice(1)), plain(expected.slice(1)), name)
    } else {
      assert.equal(plain(after), plain(expected), name)
    }
  }
})

test('Ogg: header pages flagged; granule times; a page with a bad CRC is skipped', () => {
  const b = file('tone.opus')
  const units = parse('ogg', [b])
  assert.equal(units.slice(0, 3).map(u => !!u.header), [true, true, false])
  assert.is(units[2].timeUs, 0)
  for (let i = 3; i < units.length; i++) assert.ok(Math.abs((units[i].timeUs ?? NaN) - ((units[i - 1].timeUs ?? 0) + units[i - 1].durationUs)) < 1e-6)
  const bad = Buffer.from(b)
  const victim = units[5]
  bad[victim.offset + victim.bytes.length - 10] ^= 0x55
  const warnings: string[] = []
  const got = parse('ogg', [bad], warnings)
  assert.is(got.length, units.length - 1)
  assert.equal(warnings, [`byte ${victim.offset}: ${victim.bytes.length} bytes skipped (Ogg page with a bad CRC)`])
  // the lost page's time is carried by the next page's granule delta, so the total holds
  assert.ok(Math.abs(total(got) - total(units)) < 1)
  const p = readOggPage(units[3].bytes)
  assert.ok('serial' in p && oggCrc(units[3].bytes) === units[3].bytes.readUInt32LE(22))
})

test('Ogg: a chained stream (Vorbis then Opus) gives both header sets and both durations', () => {
  const a = file('tone.ogg'); const o = file('tone.opus')
  const p = new MediaParser('ogg')
  const ua = p.push(a)
  assert.is(p.info()?.codec, 'vorbis')
  const uo = [...p.push(o), ...p.end()]
  assert.is(p.info()?.codec, 'opus')
  assert.is(p.info()?.sampleRate, 48000)
  const all = [...ua, ...uo]
  assert.is(all.filter(u => u.header).length, 4)
  assert.ok(Math.abs(total(all) / 1e6 - 30) < 0.05, `${total(all)}`)
})

test('detectKind sniffs the sample media and falls back to the MIME type', () => {
  const expect: Record<string, MediaKind> = {
    'tone-cbr.mp3': 'mp3', 'chirp-vbr.mp3': 'mp3', 'tone.aac': 'aac', 'tone.ogg': 'ogg', 'tone.opus': 'ogg', 'tone.wav': 'other', 'tone.m4a': 'other',
  }
  for (const [name, kind] of Object.entries(expect)) {
    assert.is(detectKind(file(name).subarray(0, 4096)), kind, name)
    assert.is(detectKind(file(name).subarray(0, 4096), 'application/octet-stream'), kind, name)
  }
  assert.is(detectKind(Buffer.from('hello'), 'audio/mpeg'), 'mp3')
  assert.is(detectKind(Buffer.from('hello'), 'audio/aacp'), 'aac')
  assert.is(detectKind(Buffer.from('hello'), 'application/ogg; codecs=opus'), 'ogg')
  assert.is(detectKind(Buffer.from('hello')), 'other')
  assert.is(detectKind(Buffer.alloc(0)), 'other')
  // junk before the first frame: found by two consecutive headers
  const mp3 = file('tone-cbr.mp3')
  assert.is(detectKind(Buffer.concat([Buffer.from('junk!'), mp3.subarray(1000, 6000)])), 'mp3')
  assert.is(mimeOf('mp3'), 'audio/mpeg')
  assert.is(mimeOf('aac'), 'audio/aac')
  assert.is(mimeOf('ogg', { kind: 'ogg', codec: 'opus' }), 'audio/ogg')
  assert.is(mimeOf('other'), 'application/octet-stream')
})

test('stream info: codec, rate, channels', () => {
  const p = new MediaParser('mp3'); p.push(file('tone-cbr.mp3'))
  assert.equal(p.info(), { kind: 'mp3', codec: 'mp3', sampleRate: 44100, channels: 2, bitrateKbps: 128 })
  const a = new MediaParser('aac'); a.push(file('tone.aac'))
  assert.equal(a.info(), { kind: 'aac', codec: 'aac', sampleRate: 44100, channels: 2 })
  const v = new MediaParser('ogg'); v.push(file('tone.ogg'))
  assert.is(v.info()?.codec, 'vorbis'); assert.is(v.info()?.sampleRate, 44100); assert.is(v.info()?.channels, 2)
  assert.is(new MediaParser('mp3').info(), undefined)
})

test('randomly damaged files never throw, and every unit is a real slice of the input', () => {
  let x = 99
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x % n }
  for (const [name, kind] of AUDIO) {
    const orig = file(name)
    for (let round = 0; round < 8; round++) {
      const b = Buffer.from(orig)
      for (let k = 0; k < 20; k++) b[rnd(b.length)] = rnd(256)
      const cut = b.subarray(0, b.length - rnd(2000))
      const warnings: string[] = []
      const p = new MediaParser(kind, { warn: m => warnings.push(m) })
      const units: MediaUnit[] = []
      let at = 0
      for (const part of randomSplits(cut, 3000, round + 1)) {
        if (rnd(40) === 0) { at += part.length; p.resyncAt(at); continue } // a gap now and then
        units.push(...p.push(part)); at += part.length
      }
      units.push(...p.end())
      let last = -1
      for (const u of units) {
        assert.ok(u.offset > last && u.bytes.length > 0, name)
        assert.ok(cut.subarray(u.offset, u.offset + u.bytes.length).equals(u.bytes), `${name}: unit at ${u.offset}`)
        assert.ok(Number.isFinite(u.durationUs) && u.durationUs >= 0, `${name}: duration ${u.durationUs}`)
        last = u.offset
      }
      // lost pages' time is carried by the next granule, never invented
      assert.ok(total(units) <= total(parse(kind, [orig])) + 1e6, `${name}: ${total(units)} µs`)
      assert.ok(warnings.length <= 60, `${name}: ${warnings.length} warnings`)
    }
  }
})

test('random garbage alone yields no units (no false syncs) and bounded warnings', () => {
  for (const kind of ['mp3', 'aac', 'ogg'] as MediaKind[]) {
    for (let seed = 1; seed <= 5; seed++) {
      const warnings: string[] = []
      const units = parse(kind, randomSplits(garbage(100_000, seed), 4000, seed), warnings)
      assert.is(units.length, 0, `${kind} seed ${seed}`)
      assert.is(warnings.length, 1)
    }
  }
})

test('MPEG-2 and MPEG-2.5 Layer III, Layer II and mono: frame counts match ffprobe', async () => {
  const dir = await tempDir()
  try {
    const cases: Array<[string, string[], number]> = [
      ['lsf.mp3', ['-ar', '22050', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '32k'], 576],
      ['mpeg25.mp3', ['-ar', '8000', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '16k'], 576],
      ['vbr48.mp3', ['-ar', '48000', '-ac', '2', '-c:a', 'libmp3lame', '-q:a', '6'], 1152],
      ['layer2.mp2', ['-ar', '48000', '-ac', '2', '-c:a', 'mp2', '-b:a', '192k'], 1152],
      ['mono.aac', ['-ar', '16000', '-ac', '1', '-c:a', 'aac', '-b:a', '32k', '-f', 'adts'], 1024],
    ]
    for (const [name, enc, samples] of cases) {
      const path = join(dir.path, name)
      await withTimeout(run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=3', ...enc, path]), 30_000, `ffmpeg ${name}`)
      const b = readFileSync(path)
      const kind = detectKind(b.subarray(0, 4096))
      const warnings: string[] = []
      const units = parse(kind, randomSplits(b, 333, 4), warnings)
      assert.equal(warnings, [], name)
      const { stdout } = await run('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=nb_read_packets,sample_rate', '-of', 'json', path])
      const s = JSON.parse(stdout).streams[0]
      assert.is(units.length, Number(s.nb_read_packets), name)
      assert.ok(Math.abs(total(units) - units.length * samples / Number(s.sample_rate) * 1e6) < 1, name)
    }
  } finally { await dir.remove() }
})

test.run()
