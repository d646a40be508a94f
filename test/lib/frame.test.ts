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

test('reports a truncated stream at end of input', () => {
  const d = new FrameDecoder('stdin')
  d.push(stream.subarray(0, stream.length - 3))
  assert.throws(() => d.end(), /truncated/)
})

test('refuses input that is not a frame stream', () => {
  assert.throws(() => new FrameDecoder('x').push(Buffer.from('ID3\x04')), /not a frame stream/)
})

test.run()
