import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { sodium } from '../../lib/hashing/sodium.js'
import { blake2b, liveInfoHash, signChunk, signedMessage, streamIdOf, verifyLiveChunk, verifyLiveHeader, SIGNED_BYTES } from '../../lib/live/chunk-sign.js'
import { claimOf, parseManifest, manifestUrlOf, resolveChunkUrl, encodeManifest, type LiveManifest } from '../../lib/live/manifest.js'

function keyPair (): { pk: Buffer, sk: Buffer } {
  const pk = Buffer.alloc(32)
  const sk = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(pk, sk, Buffer.alloc(32, 7))
  return { pk, sk }
}
const CHUNK = Buffer.from('not really mp3 but bytes all the same')
const NONCE = Buffer.alloc(16, 1)

// the pinned values were checked with Python's hashlib.blake2b and cryptography's Ed25519
test('signed message: pinned layout and signature (known answer)', () => {
  const { pk, sk } = keyPair()
  const id = streamIdOf(NONCE, pk)
  assert.is(id.toString('hex'), '2aded06a3aae5ab660c79fabc8d78db2b93f28bc23ebe0c78d4320ef2b2f5c57')
  assert.is(liveInfoHash(id).toString('hex'), 'd28c069f49acc9069b87ceb6f1603a48b6e33b0c')
  const claim = { seq: 258, startMs: 1_764_700_000_123, durationMs: 1000, hash: blake2b(CHUNK), title: 'Artist - Song' }
  const m = signedMessage(id, claim)
  assert.is(m.length, SIGNED_BYTES)
  assert.is(m.subarray(0, 16).toString('latin1'), 'pc-live chunk v1')
  assert.ok(m.subarray(16, 48).equals(id))
  assert.is(m.readBigUInt64BE(48), 258n)
  assert.is(m.readBigUInt64BE(56), 1_764_700_000_123n)
  assert.is(m.readUInt32BE(64), 1000)
  assert.ok(m.subarray(68, 100).equals(blake2b(CHUNK)))
  assert.ok(m.subarray(100, 132).equals(Buffer.alloc(32)))
  assert.ok(m.subarray(132, 164).equals(blake2b(Buffer.from('Artist - Song'))))
  const sig = signChunk(id, claim, sk)
  assert.is(sig.toString('hex'), '999ee9c82dae3e4da0d77f5b11dfb6f61feab4a301b1b6e993183284bc4c0c229ecde38348b2ad5b911ec554e4ec4e2e40df45837b3fff9db72011ef368e0c02')
})

test('a chunk verifies with the key; altered bytes, another seq or another stream do not', () => {
  const { pk, sk } = keyPair()
  const id = streamIdOf(NONCE, pk)
  const claim = { seq: 5, startMs: 1000, durationMs: 990, hash: blake2b(CHUNK), headerHash: blake2b(Buffer.from('hdr')) }
  const signature = signChunk(id, claim, sk)
  assert.ok(verifyLiveChunk(CHUNK, { ...claim, signature }, { streamId: id, publicKey: pk }))
  const forged = Buffer.from(CHUNK); forged[3] ^= 1
  assert.not.ok(verifyLiveChunk(forged, { ...claim, signature }, { streamId: id, publicKey: pk }))
  // a forger who also rewrites the hash still lacks the signature
  assert.not.ok(verifyLiveChunk(forged, { ...claim, hash: blake2b(forged), signature }, { streamId: id, publicKey: pk }))
  assert.not.ok(verifyLiveChunk(CHUNK, { ...claim, seq: 6, signature }, { streamId: id, publicKey: pk }))
  assert.not.ok(verifyLiveChunk(CHUNK, { ...claim, signature }, { streamId: streamIdOf(Buffer.alloc(16, 2), pk), publicKey: pk }))
  assert.not.ok(verifyLiveChunk(CHUNK, { ...claim }, { streamId: id, publicKey: pk }), 'unsigned claim with a key')
  // without a key, the (manifest's) hash decides
  assert.ok(verifyLiveChunk(CHUNK, claim, { streamId: id }))
  assert.not.ok(verifyLiveChunk(forged, claim, { streamId: id }))
  assert.ok(verifyLiveHeader(Buffer.from('hdr'), claim.headerHash))
  assert.not.ok(verifyLiveHeader(Buffer.from('hdR'), claim.headerHash))
})

function manifest (): LiveManifest {
  const { pk, sk } = keyPair()
  const id = streamIdOf(NONCE, pk)
  const claim = { seq: 3, startMs: Date.parse('2026-12-03T18:00:00.250Z'), durationMs: 1000, hash: blake2b(CHUNK) }
  return {
    pcLive: 1, stream: id.toString('hex'), nonce: NONCE.toString('hex'), publicKey: pk.toString('hex'), infoHash: liveInfoHash(id).toString('hex'),
    mount: '/live', mime: 'audio/mpeg', kind: 'mp3', chunkMs: 1000, windowMs: 30000, base: 'live/', source: true, ended: false,
    updated: '2026-12-03T18:00:01Z', headers: [], changes: [],
    chunks: [{ seq: 3, name: '3.mp3', start: '2026-12-03T18:00:00.250Z', duration: 1000, size: CHUNK.length, hash: claim.hash.toString('hex'), sig: signChunk(id, claim, sk).toString('hex') }],
  }
}

test('manifest: parsed, its entries verify the chunk, URLs resolve', () => {
  const m = parseManifest(encodeManifest(manifest()), 'm')
  const pk = Buffer.from(m.publicKey as string, 'hex')
  assert.ok(verifyLiveChunk(CHUNK, claimOf(m.chunks[0]), { streamId: Buffer.from(m.stream, 'hex'), publicKey: pk }))
  assert.is(manifestUrlOf('http://h:8000/live'), 'http://h:8000/live.json')
  assert.is(resolveChunkUrl('http://h:8000/live.json', m, '3.mp3'), 'http://h:8000/live/3.mp3')
  assert.is(resolveChunkUrl('http://h/live.json', { ...m, base: 'https://cdn.example/x/' }, '3.mp3'), 'https://cdn.example/x/3.mp3')
})

test('manifest: bad fields are refused with the field named', () => {
  const bad: [string, (m: LiveManifest) => unknown][] = [
    ['pcLive', m => { m.pcLive = 2 }],
    ['stream', m => { m.stream = 'xyz' }],
    ['bad name', m => { m.chunks[0].name = '../etc/passwd' }],
    ['bad hash', m => { m.chunks[0].hash = 'ab' }],
    ['unsigned', m => { delete m.chunks[0].sig }],
    ['not increasing', m => { m.chunks.push({ ...m.chunks[0] }) }],
    ['source or ended', m => { (m as unknown as Record<string, unknown>).source = 'yes' }],
  ]
  for (const [why, spoil] of bad) {
    const m = manifest()
    spoil(m)
    assert.throws(() => parseManifest(JSON.stringify(m), 'here'), (e: Error) => e.message.includes(why) && e.message.startsWith('here:'), why)
  }
  assert.throws(() => parseManifest('{"pcLive":', 'x'), /not JSON/)
})

test.run()
