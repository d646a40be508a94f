import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  encodeHandshake, decodeHandshake, encodeMessage, WireDecoder, WireError, WIRE_MAGIC, HANDSHAKE_BYTES,
  MAX_PEX_PEERS, WIRE_VERSION_LIVE, M_LKEYS, M_ASKED, M_PEXFULL, HS_PEXFULL, M_REQUEST, M_AREQUEST, HS_AREQUEST, M_ASKING, HS_ASKING, MAX_LKEYS, MAX_LIVE_CHUNK_BYTES, type Message, type LivePiece,
} from '../../lib/swarm/wire.js'

const hs = { infoHash: Buffer.alloc(20, 0xab), peerId: Buffer.from('-PC0001-abcdefghijkl'), port: 6881 }
const msgs: Message[] = [
  { type: 'keepalive' },
  { type: 'bitfield', count: 10, bits: Buffer.from([0xff, 0xc0]) },
  { type: 'have', index: 7 },
  { type: 'request', index: 0xfffffffe },
  { type: 'cancel', index: 3 },
  { type: 'reject', index: 4 },
  { type: 'piece', index: 2, data: Buffer.from('chunk bytes') },
  { type: 'tree-request' },
  { type: 'tree', text: 'pc-hashtree 1\nsize 0\n' },
  { type: 'pex', peers: [{ host: '10.0.0.7', port: 6881 }, { host: '2001:db8:0:0:0:0:0:1', port: 1 }] },
  { type: 'goodbye' },
  { type: 'asked', first: 5, count: 4 },
  { type: 'request', index: 9, alt: true },
  { type: 'asked', first: 8, count: 2, score: 0xfedcba98 },
]
const stream = Buffer.concat([encodeHandshake(hs), ...msgs.map(encodeMessage)])

function decodeIn (parts: Buffer[]): unknown[] {
  const d = new WireDecoder()
  const out: unknown[] = []
  for (const p of parts) out.push(...d.push(p))
  return out
}
const expected = [{ type: 'handshake', handshake: hs }, ...msgs]

test('pinned handshake layout: magic, info-hash, peer id, port, flags', () => {
  const b = encodeHandshake(hs)
  assert.is(b.length, HANDSHAKE_BYTES)
  assert.is(b.subarray(0, 8).toString('hex'), '5043574952450001')
  assert.is(b.readUInt16BE(48), 6881)
  assert.is(b.readUInt16BE(50), 0)
  assert.equal(decodeHandshake(b), hs)
  assert.is(encodeMessage({ type: 'have', index: 258 }).toString('hex'), '000000050200000102')
  assert.is(encodeMessage({ type: 'keepalive' }).toString('hex'), '00000000')
})

test('decodes the same messages whole, one byte at a time and in random splits', () => {
  assert.equal(decodeIn([stream]), expected)
  assert.equal(decodeIn([...stream].map(b => Buffer.of(b))), expected)
  for (let r = 0; r < 50; r++) {
    const parts: Buffer[] = []
    let i = 0
    while (i < stream.length) { const n = 1 + Math.floor(Math.random() * 40); parts.push(stream.subarray(i, i + n)); i += n }
    assert.equal(decodeIn(parts), expected)
  }
})

test('refuses a garbage handshake at its first wrong byte', () => {
  const d = new WireDecoder()
  assert.throws(() => d.push(Buffer.from('G')), (e: Error) => e instanceof WireError)
  const d2 = new WireDecoder()
  d2.push(WIRE_MAGIC.subarray(0, 3))
  assert.throws(() => d2.push(Buffer.from('X')), /magic/)
})

test('refuses a length over the bound before buffering it', () => {
  const d = new WireDecoder(1000)
  d.push(encodeHandshake(hs))
  const head = Buffer.alloc(5); head.writeUInt32BE(1001, 0); head[4] = 5
  assert.throws(() => d.push(head), /exceeds 1000/)
  const d2 = new WireDecoder()
  d2.push(encodeHandshake(hs))
  const huge = Buffer.alloc(4); huge.writeUInt32BE(0xffffffff, 0)
  assert.throws(() => d2.push(huge), /exceeds/)
})

test('refuses fixed-size messages of the wrong length, bad bitfields and oversized PEX', () => {
  const bad = (type: number, payload: Buffer): void => {
    const d = new WireDecoder()
    d.push(encodeHandshake(hs))
    const m = Buffer.alloc(5 + payload.length); m.writeUInt32BE(1 + payload.length, 0); m[4] = type; payload.copy(m, 5)
    assert.throws(() => d.push(m), (e: Error) => e instanceof WireError)
  }
  bad(2, Buffer.alloc(3))
  bad(3, Buffer.alloc(5))
  bad(10, Buffer.alloc(1))
  const bf = Buffer.alloc(4 + 1); bf.writeUInt32BE(9, 0) // 9 chunks need 2 bytes
  bad(1, bf)
  const pex = Buffer.alloc(2); pex.writeUInt16BE(MAX_PEX_PEERS + 1, 0)
  bad(9, pex)
  const pexShort = Buffer.alloc(2 + 3); pexShort.writeUInt16BE(1, 0); pexShort[2] = 4
  bad(9, pexShort)
})

test('skips message types it does not know', () => {
  const d = new WireDecoder()
  d.push(encodeHandshake(hs))
  const m = Buffer.from([0, 0, 0, 3, 99, 1, 2])
  assert.equal(d.push(Buffer.concat([m, encodeMessage({ type: 'have', index: 1 })])), [{ type: 'have', index: 1 }])
})

test('live messages round-trip in any split; a version-2 handshake says so and a v1-only magic check refuses it', () => {
  const hs = encodeHandshake({ infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 2), port: 7, version: WIRE_VERSION_LIVE })
  assert.ok(!hs.subarray(0, 8).equals(WIRE_MAGIC), 'an old reader, comparing all 8 magic bytes, refuses it')
  const piece: LivePiece = { type: 'live-piece', seq: 9, startMs: 1_700_000_000_123, durationMs: 1000, hash: Buffer.alloc(32, 3), headerHash: Buffer.alloc(32, 4), signature: Buffer.alloc(64, 5), title: 'Ä title', header: Buffer.from('OggS-head'), data: Buffer.from('chunk bytes') }
  const msgs: Message[] = [{ type: 'live-have', seq: 1 }, { type: 'live-request', seq: 2 }, { type: 'live-cancel', seq: 3 }, { type: 'live-reject', seq: 4 }, piece, { type: 'live-piece', seq: 10, startMs: 5, durationMs: 6, hash: Buffer.alloc(32, 7), data: Buffer.from('x') }, { type: 'live-keys', keys: [0, 1, 0xffffffff, 123456789] }, { type: 'live-keys', keys: [] }]
  const bytes = Buffer.concat([hs, ...msgs.map(encodeMessage)])
  for (const step of [bytes.length, 1, 7]) {
    const d = new WireDecoder()
    const out: unknown[] = []
    for (let i = 0; i < bytes.length; i += step) out.push(...d.push(bytes.subarray(i, i + step)))
    assert.equal((out[0] as { handshake: { version: number } }).handshake.version, WIRE_VERSION_LIVE)
    assert.equal(out.slice(1), msgs)
  }
})

test('refuses a handshake of an unknown version and an LPIECE over its bounds', () => {
  const hs = encodeHandshake({ infoHash: Buffer.alloc(20), peerId: Buffer.alloc(20), port: 0, version: 3 })
  assert.throws(() => new WireDecoder().push(hs), /wire version 3/)
  const ok = encodeHandshake({ infoHash: Buffer.alloc(20), peerId: Buffer.alloc(20), port: 0, version: WIRE_VERSION_LIVE })
  const body = Buffer.alloc(1 + 150); body[0] = 15; body.writeUInt16BE(2000, 1 + 144)
  const msg = Buffer.concat([Buffer.from([0, 0, 0, body.length]), body])
  assert.throws(() => new WireDecoder().push(Buffer.concat([ok, msg])), /bad LPIECE title/)
  assert.throws(() => encodeMessage({ type: 'live-piece', seq: 0, startMs: 0, durationMs: 0, hash: Buffer.alloc(32), data: Buffer.alloc(MAX_LIVE_CHUNK_BYTES + 1) }), RangeError)
})

test('LKEYS: at most MAX_LKEYS keys, its length exactly its count', () => {
  const ok = encodeHandshake({ infoHash: Buffer.alloc(20), peerId: Buffer.alloc(20), port: 0, version: WIRE_VERSION_LIVE })
  const keys = (n: number, extra = 0): Buffer => {
    const body = Buffer.alloc(1 + 2 + 4 * n + extra); body[0] = M_LKEYS; body.writeUInt16BE(n, 1)
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length, 0)
    return Buffer.concat([ok, len, body])
  }
  assert.equal(new WireDecoder().push(keys(2)).slice(1), [{ type: 'live-keys', keys: [0, 0] }])
  assert.throws(() => new WireDecoder().push(keys(MAX_LKEYS + 1)), /LKEYS of 257 keys/)
  assert.throws(() => new WireDecoder().push(keys(2, 1)), /LKEYS of 11 bytes, expected 10/)
  assert.throws(() => new WireDecoder().push(keys(2, -1)), /LKEYS of 9 bytes, expected 10/)
  const many = encodeMessage({ type: 'live-keys', keys: Array.from({ length: MAX_LKEYS + 10 }, (_, i) => i) })
  assert.is(many.readUInt16BE(5), MAX_LKEYS, 'the encoder sends no more than a reader takes')
})

test('ASKED: u32 first chunk and u16 count, exactly 6 bytes', () => {
  assert.is(encodeMessage({ type: 'asked', first: 258, count: 4 }).toString('hex'), '00000007' + '11' + '00000102' + '0004')
  const asked = (extra: number): Buffer => {
    const full = Buffer.alloc(1 + 6 + Math.max(0, extra)); full[0] = M_ASKED; full.writeUInt32BE(3, 1); full.writeUInt16BE(2, 5)
    const body = full.subarray(0, 1 + 6 + extra)
    const len = Buffer.alloc(4); len.writeUInt32BE(body.length, 0)
    return Buffer.concat([encodeHandshake(hs), len, body])
  }
  assert.equal(new WireDecoder().push(asked(0)).slice(1), [{ type: 'asked', first: 3, count: 2 }])
  assert.throws(() => new WireDecoder().push(asked(1)), /ASKED of 7 bytes, expected 6/)
  assert.throws(() => new WireDecoder().push(asked(-1)), /ASKED of 5 bytes, expected 6/)
})

test('PEXFULL: one byte, 1 full or 0 room; anything else refused', () => {
  assert.is(encodeMessage({ type: 'pex-full', full: true }).toString('hex'), '00000002' + '12' + '01')
  assert.is(encodeMessage({ type: 'pex-full', full: false }).toString('hex'), '00000002' + '12' + '00')
  const body = (...b: number[]): Buffer => Buffer.concat([encodeHandshake(hs), Buffer.from([0, 0, 0, 1 + b.length, M_PEXFULL, ...b])])
  assert.equal(new WireDecoder().push(body(1)).slice(1), [{ type: 'pex-full', full: true }])
  assert.equal(new WireDecoder().push(body(0)).slice(1), [{ type: 'pex-full', full: false }])
  assert.throws(() => new WireDecoder().push(body(2)), /PEXFULL of 2/)
  assert.throws(() => new WireDecoder().push(body(1, 0)), /PEXFULL of 2 bytes, expected 1/)
})

test('the handshake\'s flag HS_PEXFULL: bit 0 of the flags; no flag from an older peer, other bits ignored', () => {
  const b = encodeHandshake({ ...hs, pexFull: true })
  assert.is(b.readUInt16BE(50), HS_PEXFULL)
  assert.is(decodeHandshake(b).pexFull, true)
  const old = encodeHandshake(hs)
  assert.is(old.readUInt16BE(50), 0, 'sent as 0 without the flag, as an older peer does')
  assert.is(decodeHandshake(old).pexFull, undefined)
  old.writeUInt16BE(0xfffe, 50)
  assert.is(decodeHandshake(old).pexFull, undefined, 'the other bits say nothing')
  assert.equal(new WireDecoder().push(b)[0], { type: 'handshake', handshake: { ...hs, pexFull: true } })
})

test('AREQUEST: type 19, u32 index, exactly 4 bytes, read as a request that may be refused; a REQUEST stays type 3', () => {
  assert.is(M_AREQUEST, 19)
  assert.is(encodeMessage({ type: 'request', index: 258, alt: true }).toString('hex'), '00000005' + '13' + '00000102')
  assert.is(encodeMessage({ type: 'request', index: 258 }).toString('hex'), '00000005' + '03' + '00000102')
  assert.is(encodeMessage({ type: 'request', index: 258, alt: false }).toString('hex'), '00000005' + '03' + '00000102')
  const body = (type: number, ...b: number[]): Buffer => Buffer.concat([encodeHandshake(hs), Buffer.from([0, 0, 0, 1 + b.length, type, ...b])])
  assert.equal(new WireDecoder().push(body(M_AREQUEST, 0, 0, 1, 2)).slice(1), [{ type: 'request', index: 258, alt: true }])
  assert.equal(new WireDecoder().push(body(M_REQUEST, 0, 0, 1, 2)).slice(1), [{ type: 'request', index: 258 }])
  assert.throws(() => new WireDecoder().push(body(M_AREQUEST, 0, 1, 2)), /AREQUEST of 3 bytes, expected 4/)
  assert.throws(() => new WireDecoder().push(body(M_AREQUEST, 0, 0, 1, 2, 0)), /AREQUEST of 5 bytes, expected 4/)
})

test('the handshake\'s flag HS_AREQUEST: bit 1 of the flags, beside HS_PEXFULL; an older peer\'s flags 0 say it reads no AREQUEST', () => {
  const b = encodeHandshake({ ...hs, altRequests: true })
  assert.is(b.readUInt16BE(50), HS_AREQUEST)
  assert.is(HS_AREQUEST, 2)
  assert.equal(decodeHandshake(b), { ...hs, altRequests: true })
  assert.is(encodeHandshake({ ...hs, altRequests: true, pexFull: true }).readUInt16BE(50), HS_AREQUEST | HS_PEXFULL)
  assert.equal(decodeHandshake(encodeHandshake({ ...hs, altRequests: true, pexFull: true })), { ...hs, altRequests: true, pexFull: true })
  const old = encodeHandshake(hs)
  assert.is(decodeHandshake(old).altRequests, undefined)
  old.writeUInt16BE(0xfffd, 50)
  assert.is(decodeHandshake(old).altRequests, undefined, 'the other bits say nothing of it')
})

test('ASKING: type 20, u32 first chunk, u16 count, u32 score, exactly 10 bytes, read as an ASKED with its score', () => {
  assert.is(M_ASKING, 20)
  assert.is(encodeMessage({ type: 'asked', first: 258, count: 4, score: 0x01020304 }).toString('hex'), '0000000b' + '14' + '00000102' + '0004' + '01020304')
  assert.is(encodeMessage({ type: 'asked', first: 258, count: 4, score: 0 }).toString('hex'), '0000000b' + '14' + '00000102' + '0004' + '00000000', 'a score of 0 is a score')
  const body = (type: number, ...b: number[]): Buffer => Buffer.concat([encodeHandshake(hs), Buffer.from([0, 0, 0, 1 + b.length, type, ...b])])
  assert.equal(new WireDecoder().push(body(M_ASKING, 0, 0, 0, 3, 0, 2, 0xff, 0, 0, 1)).slice(1), [{ type: 'asked', first: 3, count: 2, score: 0xff000001 }])
  assert.throws(() => new WireDecoder().push(body(M_ASKING, 0, 0, 0, 3, 0, 2, 0, 0, 1)), /ASKING of 9 bytes, expected 10/)
  assert.throws(() => new WireDecoder().push(body(M_ASKING, 0, 0, 0, 3, 0, 2, 0, 0, 0, 1, 0)), /ASKING of 11 bytes, expected 10/)
  assert.throws(() => new WireDecoder().push(body(M_ASKED, 0, 0, 0, 3, 0, 2, 0, 0, 0, 1)), /ASKED of 10 bytes, expected 6/, 'an ASKED stays 6 bytes')
})

test('the handshake\'s flag HS_ASKING: bit 2 of the flags, beside the others; an older peer\'s flags 0 say it reads no ASKING', () => {
  const b = encodeHandshake({ ...hs, asking: true })
  assert.is(b.readUInt16BE(50), HS_ASKING)
  assert.is(HS_ASKING, 4)
  assert.equal(decodeHandshake(b), { ...hs, asking: true })
  const all = { ...hs, asking: true, altRequests: true, pexFull: true }
  assert.is(encodeHandshake(all).readUInt16BE(50), HS_ASKING | HS_AREQUEST | HS_PEXFULL)
  assert.equal(decodeHandshake(encodeHandshake(all)), all)
  const old = encodeHandshake({ ...hs, altRequests: true })
  assert.is(decodeHandshake(old).asking, undefined)
  old.writeUInt16BE(0xfffb, 50)
  assert.is(decodeHandshake(old).asking, undefined, 'the other bits say nothing of it')
})

test.run()
