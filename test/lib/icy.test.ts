import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeIcyMetadata, parseIcyMetadata, titleBlock, IcyInterleaver, IcyReader, MAX_ICY_BYTES, ICY_UNIT_BYTES } from '../../lib/icecast/icy.js'

test('a title block is 16-byte units with the length byte first, NUL padded', () => {
  const b = titleBlock('Hello')
  assert.is(b[0], 2) // "StreamTitle='Hello';" is 20 bytes → 2 units
  assert.is(b.length, 1 + 32)
  assert.is(b.subarray(1).toString('latin1').replace(/\0+$/, ''), "StreamTitle='Hello';")
})

test('quotes and backslashes stay literal, newlines become spaces, UTF-8 reads back', () => {
  const title = "It's a \\ test\nwith ÄÖÜ and 日本, Rock 'n'"
  const b = encodeIcyMetadata({ StreamTitle: title, StreamUrl: 'http://x/' })
  assert.ok(b.subarray(1).toString('utf8').startsWith("StreamTitle='It's a \\ test with"))
  const parsed = parseIcyMetadata(b.subarray(1))
  assert.is(parsed.StreamTitle, "It's a \\ test with ÄÖÜ and 日本, Rock 'n'")
  assert.is(parsed.StreamUrl, 'http://x/')
})

test("a title containing the terminator ';' cannot end the field early", () => {
  const b = encodeIcyMetadata({ StreamTitle: "a';StreamUrl='http://evil/", StreamUrl: 'http://good/' })
  const parsed = parseIcyMetadata(b.subarray(1))
  assert.is(parsed.StreamUrl, 'http://good/')
  assert.ok(parsed.StreamTitle.startsWith("a' ;StreamUrl="))
})

test('a very long UTF-8 title is cut to 255 units at a character boundary', () => {
  for (const ch of ['a', 'é', '日', '\\', "'", "';"]) {
    const b = titleBlock(ch.repeat(5000))
    assert.is(b[0], 255)
    assert.is(b.length, 1 + MAX_ICY_BYTES)
    const text = b.subarray(1).toString('utf8').replace(/\0+$/, '')
    assert.not.match(text, /\uFFFD/)
    assert.ok(text.endsWith("';"), text.slice(-10))
    const t = parseIcyMetadata(b.subarray(1)).StreamTitle
    assert.ok(t.length > 100 && /^[^\0]+$/.test(t), `${ch}: ${t.slice(0, 20)}`)
  }
})

test('the parser never throws on malformed blocks', () => {
  for (const s of ["StreamTitle='unterminated", 'garbage', '=', "=';", "a=b;c='d';", '\0\0\0', "StreamTitle=';", '\\']) {
    parseIcyMetadata(Buffer.from(s))
  }
  assert.equal(parseIcyMetadata(Buffer.from("a=b;c='d';")), { a: 'b', c: 'd' })
})

function interleave (metaint: number, parts: Array<[Buffer, string | undefined]>): Buffer {
  const w = new IcyInterleaver(metaint)
  const out: Buffer[] = []
  for (const [b, t] of parts) out.push(...w.split(b, t))
  return Buffer.concat(out)
}

function read (stream: Buffer, metaint: number, splits: number[]): { audio: Buffer, metas: Array<[string, number]> } {
  const metas: Array<[string, number]> = []
  const r = new IcyReader(metaint, (m, at) => metas.push([m.StreamTitle, at]))
  const audio: Buffer[] = []
  let i = 0; let k = 0
  while (i < stream.length) {
    const n = splits.length ? splits[k++ % splits.length] : stream.length
    audio.push(...r.push(stream.subarray(i, i + n)))
    i += n
  }
  return { audio: Buffer.concat(audio), metas }
}

test('blocks every metaint bytes; the title changes exactly where the next item begins (next block)', () => {
  const a = Buffer.alloc(250, 1); const b = Buffer.alloc(130, 2)
  const s = interleave(100, [[a.subarray(0, 170), 'A'], [a.subarray(170), 'A'], [b, 'B']])
  for (const splits of [[], [1], [7, 3, 100], [33]]) {
    const { audio, metas } = read(s, 100, splits)
    assert.equal(audio, Buffer.concat([a, b]))
    // blocks at 100, 200 (A: first carries title, second empty, so not reported as a
    // change by our reader? it reports every non-empty block), 300 (B)
    assert.equal(metas, [['A', 100], ['B', 300]])
  }
})

test('a block falling exactly at an item boundary already carries the new title', () => {
  const s = interleave(10, [[Buffer.alloc(10, 1), 'A'], [Buffer.alloc(10, 2), 'B'], [Buffer.alloc(10, 3), 'B']])
  const { metas } = read(s, 10, [1])
  // the block at 10 comes before B's first byte, so it is B's title; none at 0
  assert.equal(metas, [['B', 10]])
  assert.is(s.length, 30 + (1 + ICY_UNIT_BYTES) + 1) // "StreamTitle='B';" is exactly one unit
})

test('the first block after connect carries the title even if unchanged', () => {
  const s = interleave(5, [[Buffer.alloc(12), undefined]])
  const { metas } = read(s, 5, [])
  assert.equal(metas, [['', 5]])
})

test.run()
