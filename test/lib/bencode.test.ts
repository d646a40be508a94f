import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { encode, decode, getInt, getBytes, MAX_DEPTH, type BValue } from '../../lib/tracker/bencode.js'
import { DataError } from '../../lib/core/cli.js'

test('encodes integers, strings, lists and dictionaries with keys sorted as bytes', () => {
  assert.is(encode(42).toString(), 'i42e')
  assert.is(encode(-7).toString(), 'i-7e')
  assert.is(encode('spam').toString(), '4:spam')
  assert.is(encode(['a', 1, []]).toString(), 'l1:ai1elee')
  assert.is(encode({ zeta: 1, alpha: 'x', mid: { b: 2, a: 1 } }).toString(), 'd5:alpha1:x3:midd1:ai1e1:bi2ee4:zetai1ee')
  assert.is(encode({ skipped: undefined, kept: 0 }).toString(), 'd4:kepti0ee')
  assert.throws(() => encode(1.5), /safe integer/)
})

test('round-trips binary strings and binary dictionary keys', () => {
  const key = Buffer.from([0xff, 0x00, 0x80, 0x41])
  const m = new Map<string, BValue>([[key.toString('latin1'), Buffer.from([0, 1, 2, 255])]])
  const enc = encode(m as never)
  const back = decode(enc) as Map<string, BValue>
  assert.equal([...back.keys()].map(k => Buffer.from(k, 'latin1').toString('hex')), ['ff008041'])
  assert.equal(getBytes(back, key.toString('latin1')), Buffer.from([0, 1, 2, 255]))
})

test('decodes a real tracker answer', () => {
  const raw = Buffer.concat([Buffer.from('d8:completei0e10:incompletei1e8:intervali1945e5:peers6:'), Buffer.from([127, 0, 0, 1, 4, 210]), Buffer.from('e')])
  const d = decode(raw)
  assert.is(getInt(d, 'interval'), 1945)
  assert.equal(getBytes(d, 'peers'), Buffer.from([127, 0, 0, 1, 4, 210]))
})

const bad: [string, RegExp][] = [
  ['', /end of data/],
  ['i12', /unterminated|end of data/],
  ['i-0e', /bad number/],
  ['i03e', /bad number/],
  ['i1e2', /after the end/],
  ['i99999999999999999999e', /too long|too large/],
  ['5:abc', /exceeds the data/],
  ['99999999999999:x', /exceeds the data|too large/],
  ['-3:abc', /negative|bad number|unexpected/],
  ['d1:ai1e1:ai2ee', /duplicate/],
  ['di1ei2ee', /key is not a string/],
  ['l', /end of data/],
  ['x', /unexpected byte 0x78/],
  ['1:', /exceeds/],
]
for (const [input, why] of bad) {
  test(`refuses ${JSON.stringify(input)} with a DataError naming the byte`, () => {
    assert.throws(() => decode(Buffer.from(input), 'tracker'), (e: Error) => e instanceof DataError && why.test(e.message) && /at byte \d+/.test(e.message) && e.message.startsWith('tracker: '))
  })
}

test('refuses nesting deeper than MAX_DEPTH without overflowing the stack', () => {
  const deep = Buffer.from('l'.repeat(100000) + 'e'.repeat(100000))
  assert.throws(() => decode(deep), /nesting deeper/)
  const ok = Buffer.from('l'.repeat(MAX_DEPTH) + 'e'.repeat(MAX_DEPTH))
  decode(ok)
})

test('never throws anything but DataError on random garbage and mutations', () => {
  const seed = encode({ interval: 60, peers: Buffer.alloc(12, 7), list: [1, 'two', { three: 3 }] })
  for (let r = 0; r < 3000; r++) {
    let buf: Buffer
    if (r % 2) {
      buf = Buffer.from(seed)
      for (let k = 0; k < 1 + (r % 4); k++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256)
    } else {
      buf = Buffer.alloc(Math.floor(Math.random() * 64))
      for (let i = 0; i < buf.length; i++) buf[i] = [0x64, 0x6c, 0x69, 0x65, 0x3a, 0x30, 0x31, 0x39, 0x2d, 0x61][Math.floor(Math.random() * 10)]
    }
    try { decode(buf) } catch (e) { if (!(e instanceof DataError)) throw e }
  }
})

test.run()
