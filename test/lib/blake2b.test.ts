// BLAKE2b as the hash trees use it: pinned answers, and agreement with libsodium over
// block boundaries, whole and split into parts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
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

test('known answers: BLAKE2b-256 and -160 of "abc" and of nothing', () => {
  assert.is(hex(32, [Buffer.from('abc')]), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
  assert.is(hex(32, [Buffer.from('a'), Buffer.alloc(0), Buffer.from('bc')]), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
  assert.is(hex(32, []), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8')
  assert.is(hex(20, [Buffer.from('abc')]), '384264f676f39536840523f284921cdc68b6846b')
})

test('BLAKE2b-256 and -160 agree with libsodium near the block edges and at chunk sizes, in any split', () => {
  const lengths = [...Array(300).keys(), 1023, 1024, 1025, 131072, 131077, 262144, 262145, 1_000_000]
  for (const outLen of [32, 20]) {
    for (const n of lengths) {
      const data = randomBytes(n)
      const want = Buffer.alloc(outLen)
      sodium.crypto_generichash(want, data)
      assert.is(hex(outLen, [data]), want.toString('hex'), `${outLen}-byte output of ${n} bytes whole`)
      assert.is(hex(outLen, split(data)), want.toString('hex'), `${outLen}-byte output of ${n} bytes in parts`)
    }
  }
})

test('only the digest lengths pc uses', () => {
  assert.throws(() => blake2b(Buffer.alloc(64), []), RangeError)
  assert.throws(() => blake2b(Buffer.alloc(0), []), RangeError)
})

test.run()
