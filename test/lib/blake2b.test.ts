// BLAKE2b in WebAssembly: RFC 7693's vector, pinned answers, and agreement with
// OpenSSL (node:crypto, 64-byte outputs), libsodium and b2sum over every block
// and buffer boundary, whole and split into parts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import sodium from 'sodium-native'
import { blake2b } from '../../lib/hashing/blake2b.js'

const hex = (outLen: number, parts: Uint8Array[]): string => { const out = Buffer.alloc(outLen); blake2b(out, parts); return out.toString('hex') }

/** `data` cut into pieces at random places (some empty). */
function split (data: Buffer): Buffer[] {
  const cuts = [0, data.length]
  for (let i = Math.floor(Math.random() * 4); i > 0; i--) cuts.push(Math.floor(Math.random() * (data.length + 1)))
  cuts.sort((a, b) => a - b)
  return cuts.slice(1).map((c, i) => data.subarray(cuts[i], c))
}

test('known answers: RFC 7693 Appendix A, and BLAKE2b-256 and -160 of "abc" and of nothing', () => {
  assert.is(hex(64, [Buffer.from('abc')]), 'ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923')
  assert.is(hex(32, [Buffer.from('abc')]), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
  assert.is(hex(32, [Buffer.from('a'), Buffer.alloc(0), Buffer.from('bc')]), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
  assert.is(hex(32, []), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8')
  assert.is(hex(20, [Buffer.from('abc')]), '384264f676f39536840523f284921cdc68b6846b')
})

test('BLAKE2b-512 agrees with OpenSSL at every length near the block and buffer edges, in any split', () => {
  const lengths = [...Array(300).keys(), 1023, 1024, 1025, 131072, 131077, 262015, 262016, 262143, 262144, 262145, 262272, 524288, 524289, 1_000_000]
  for (const n of lengths) {
    const data = randomBytes(n)
    const want = createHash('blake2b512').update(data).digest('hex')
    assert.is(hex(64, [data]), want, `${n} bytes whole`)
    assert.is(hex(64, split(data)), want, `${n} bytes in parts`)
  }
})

test('every output length agrees with libsodium (16 to 64 bytes) and b2sum (below 16)', () => {
  for (let outLen = 16; outLen <= 64; outLen++) {
    const data = randomBytes(Math.floor(Math.random() * 3000))
    const want = Buffer.alloc(outLen)
    sodium.crypto_generichash(want, data)
    assert.is(hex(outLen, split(data)), want.toString('hex'), `${outLen}-byte output of ${data.length} bytes`)
  }
  for (const outLen of [1, 8, 15]) {
    const data = randomBytes(1000)
    const want = execFileSync('b2sum', ['-l', String(8 * outLen)], { input: data }).toString().split(' ')[0]
    assert.is(hex(outLen, split(data)), want, `${outLen}-byte output`)
  }
  assert.throws(() => blake2b(Buffer.alloc(0), []), RangeError)
  assert.throws(() => blake2b(Buffer.alloc(65), []), RangeError)
})

test.run()
