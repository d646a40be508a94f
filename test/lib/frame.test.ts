import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeMagic, encodeFrame, FrameDecoder, type Frame, MAX_BODY_BYTES } from '../../lib/frames/frame.js'
import { DataError } from '../../lib/core/cli.js'

const frames: Frame[] = [
  { type: 'start', item: 0, header: { url: 'http://o/a.mp3', start: '2026-01-01T00:00:00Z', offset: 0, size: 10, chunkSize: 4096, title: 'Ä' } },
  { type: 'data', item: 0, offset: 0, data: Buffer.from('hello') },
  { type: 'gap', item: 0, start: 5, end: 8 },
  { type: 'data', item: 0, offset: 8, data: Buffer.from('xy') },
  { type: 'end', item: 0 },
  { type: 'next', item: 0, record: { url: 'http://o/b.mp3', start: '2026-01-01T01:00:00Z', offset: 0, announce: true } },
  { type: 'start', item: 1, header: { url: 'http://o/live', start: '2026-01-01T00:00:01Z', offset: 0, live: true, size: null, chunkSize: 65536 } },
  { type: 'mark', item: 1, offset: 0, mark: { time: '2026-01-01T00:00:01.250Z', seq: 7, title: 'DJ Ö' } },
  { type: 'data', item: 1, offset: 0, data: Buffer.from('live') },
  { type: 'mark', item: 1, offset: 4, mark: { time: '2026-01-01T00:00:02.250Z', seq: 8 } },
]
const stream = Buffer.concat([encodeMagic(), ...frames.map(encodeFrame)])

function decodeIn (parts: Buffer[]): Frame[] {
  const d = new FrameDecoder('t')
  const out: Frame[] = []
  for (const p of parts) out.push(...d.push(p))
  d.end()
  return out
}

test('decodes the same frames whole, one byte at a time and in random splits', () => {
  assert.equal(decodeIn([stream]), frames)
  assert.equal(decodeIn([...stream].map(b => Buffer.of(b))), frames)
  for (let r = 0; r < 50; r++) {
    const parts: Buffer[] = []
    let i = 0
    while (i < stream.length) { const n = 1 + Math.floor(Math.random() * 20); parts.push(stream.subarray(i, i + n)); i += n }
    assert.equal(decodeIn(parts), frames)
  }
})

test('refuses a length field over the maximum before allocating, naming the byte offset', () => {
  const bad = Buffer.concat([encodeMagic(), Buffer.from([2, 0xff, 0xff, 0xff, 0xff])])
  const d = new FrameDecoder('stdin')
  assert.throws(() => d.push(bad), (e: Error) => e instanceof DataError && /exceeds/.test(e.message) && /byte 11/.test(e.message))
  assert.ok(MAX_BODY_BYTES < 0xffffffff)
})

test('MARK and NEXT have the layout of pc-frames(5)', () => {
  const m = encodeFrame({ type: 'mark', item: 3, offset: 2 ** 40, mark: { time: '2026-01-01T00:00:00.000Z', seq: 1 } })
  assert.is(m[0], 5)
  assert.is(m.readUInt32BE(1), m.length - 5)
  assert.is(m.readUInt32BE(5), 3)
  assert.is(m.readBigUInt64BE(9), 2n ** 40n)
  assert.equal(JSON.parse(m.subarray(17).toString()), { time: '2026-01-01T00:00:00.000Z', seq: 1 })
  const n = encodeFrame({ type: 'next', item: 0, record: { url: 'u', start: '2026-01-01T00:00:00Z', offset: 0 } })
  assert.is(n[0], 6)
  assert.is(n.readUInt32BE(5), 0)
  assert.equal(JSON.parse(n.subarray(9).toString()).url, 'u')
})

test('refuses a MARK without a valid time or seq, and a NEXT without url and start, naming the byte', () => {
  const bad = (type: number, body: Buffer): Buffer => {
    const h = Buffer.alloc(5); h[0] = type; h.writeUInt32BE(body.length, 1)
    return Buffer.concat([encodeMagic(), h, body])
  }
  const markBody = (json: string): Buffer => { const b = Buffer.alloc(12); b.writeUInt32BE(0, 0); return Buffer.concat([b, Buffer.from(json)]) }
  for (const json of ['{"seq":1}', '{"time":"yesterday","seq":1}', '{"time":"2026-01-01T00:00:00Z","seq":-1}', '{"time":"2026-01-01T00:00:00Z","seq":1,"title":3}', '[1]', 'nope']) {
    assert.throws(() => new FrameDecoder('stdin').push(bad(5, markBody(json))), (e: Error) => e instanceof DataError && /MARK/.test(e.message) && /byte 11/.test(e.message), json)
  }
  assert.throws(() => new FrameDecoder('stdin').push(bad(5, Buffer.alloc(12))), (e: Error) => e instanceof DataError && /MARK frame too short/.test(e.message))
  assert.throws(() => new FrameDecoder('stdin').push(bad(6, Buffer.concat([Buffer.alloc(4), Buffer.from('{"url":"u"}')]))), (e: Error) => e instanceof DataError && /NEXT frame without/.test(e.message))
})

test('reports a truncated stream at end of input', () => {
  const d = new FrameDecoder('stdin')
  d.push(stream.subarray(0, stream.length - 3))
  assert.throws(() => d.end(), /truncated/)
})

test('refuses input that is not a frame stream', () => {
  assert.throws(() => new FrameDecoder('x').push(Buffer.from('ID3\x04')), /not a frame stream/)
})

test('MARK and NEXT round-trip in any split, between DATA frames', () => {
  const live: Frame[] = [
    { type: 'start', item: 1, header: { url: 'http://o/live', live: true, start: '2026-01-01T00:00:00Z', offset: 0, size: null, chunkSize: 65536 } },
    { type: 'mark', item: 1, offset: 0, mark: { time: '2026-01-01T00:00:00.250Z', seq: 7, title: 'DJ Ä' } },
    { type: 'data', item: 1, offset: 0, data: Buffer.from('chunk7') },
    { type: 'mark', item: 1, offset: 6, mark: { time: '2026-01-01T00:00:01.250Z', seq: 9 } },
    { type: 'data', item: 1, offset: 6, data: Buffer.from('chunk9') },
    { type: 'next', item: 0, record: { url: 'http://o/next.mp3', start: '2026-01-01T01:00:00Z', offset: 0, title: 'later' } },
    { type: 'end', item: 1 },
  ]
  const s = Buffer.concat([encodeMagic(), ...live.map(encodeFrame)])
  assert.equal(decodeIn([s]), live)
  assert.equal(decodeIn([...s].map(b => Buffer.of(b))), live)
})

test('refuses a MARK with a bad time or seq, or a NEXT without a url, naming the byte offset', () => {
  const mark = (m: object): Buffer => { const j = Buffer.from(JSON.stringify(m)); const b = Buffer.alloc(17 + j.length); b[0] = 5; b.writeUInt32BE(12 + j.length, 1); j.copy(b, 17); return b }
  const bad = (b: Buffer, re: RegExp): void => { assert.throws(() => new FrameDecoder('stdin').push(Buffer.concat([encodeMagic(), b])), (e: Error) => e instanceof DataError && re.test(e.message) && /byte 11/.test(e.message)) }
  bad(mark({ time: '2026-01-01T00:00:00Z', seq: 1 }), /bad time/)
  bad(mark({ time: '2026-01-01T00:00:00.000Z', seq: -1 }), /bad seq/)
  bad(mark({ time: '2026-01-01T00:00:00.000Z', seq: 1, title: 3 }), /bad title/)
  bad(Buffer.concat([Buffer.from([5, 0, 0, 0, 13]), Buffer.alloc(12), Buffer.from('[')]), /bad JSON/)
  const j = Buffer.from('{"title":"x"}'); const n = Buffer.alloc(9 + j.length); n[0] = 6; n.writeUInt32BE(4 + j.length, 1); j.copy(n, 9)
  bad(n, /NEXT frame without a url/)
  assert.throws(() => encodeFrame({ type: 'mark', item: 0, offset: 0, mark: { time: 'x', seq: 0, title: 'a'.repeat(70000) } }), RangeError)
})

test.run()
