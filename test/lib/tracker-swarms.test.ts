import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PeerSet, Swarms, parseWhitelist, compactAddress } from '../../lib/tracker/swarms.js'
import { DataError } from '../../lib/core/cli.js'

const entry = (key: string, left: number, expiresAt = 1e15): Parameters<PeerSet['set']>[0] => ({ key, ip: '10.0.0.1', port: 1, v4: 0x0a000001, left, uploaded: 0, downloaded: 0, expiresAt })

test('PeerSet agrees with a plain map through random adds, updates, deletes and expiry', () => {
  const set = new PeerSet()
  const model = new Map<string, { left: number, expiresAt: number }>()
  for (let step = 0; step < 20000; step++) {
    const key = 'k' + Math.floor(Math.random() * 300)
    const r = Math.random()
    if (r < 0.6) {
      const left = Math.random() < 0.3 ? 0 : 5
      const expiresAt = Math.floor(Math.random() * 1000)
      set.set(entry(key, left, expiresAt)); model.set(key, { left, expiresAt })
    } else if (r < 0.95) {
      assert.is(set.delete(key), model.delete(key))
    } else {
      const now = Math.floor(Math.random() * 300)
      let gone = 0
      for (const [k, v] of model) if (v.expiresAt <= now) { model.delete(k); gone++ }
      assert.is(set.expire(now), gone)
    }
    assert.is(set.size, model.size)
    assert.is(set.seeders, [...model.values()].filter(v => v.left === 0).length)
  }
  for (const k of model.keys()) assert.ok(set.get(k), k)
})

test('PeerSet.sample gives distinct peers passing the filter, every peer eventually', () => {
  const set = new PeerSet()
  for (let i = 0; i < 100; i++) set.set(entry('k' + i, i % 2))
  const seen = new Set<string>()
  for (let r = 0; r < 200; r++) {
    const s = set.sample(10, p => p.left !== 0)
    assert.is(s.length, 10)
    assert.is(new Set(s.map(p => p.key)).size, 10)
    for (const p of s) { assert.is(p.left, 1); seen.add(p.key) }
  }
  assert.is(seen.size, 50)
  assert.is(set.sample(500, () => true).length, 100)
  // the fast path (a small sample of a large set) keeps the same promises
  for (let i = 100; i < 2000; i++) set.set(entry('k' + i, i % 2))
  const seenBig = new Set<string>()
  for (let r = 0; r < 2000; r++) {
    const s = set.sample(50, p => p.left !== 0)
    assert.is(s.length, 50)
    assert.is(new Set(s.map(p => p.key)).size, 50)
    for (const p of s) { assert.is(p.left, 1); seenBig.add(p.key) }
  }
  assert.is(seenBig.size, 1000)
  assert.is(set.sample(50, p => p.key === 'k7').length, 1, 'a rare match is found by the full scan')
})

test('compactAddress packs IPv4 and IPv6 and refuses what is neither', () => {
  assert.equal(compactAddress('10.0.0.7', 6881), Buffer.from([10, 0, 0, 7, 0x1a, 0xe1]))
  assert.equal(compactAddress('2001:db8::1', 80)?.toString('hex'), '20010db8000000000000000000000001' + '0050')
  assert.equal(compactAddress('::', 1)?.length, 18)
  for (const bad of ['256.0.0.1', 'host', '1::2::3', '1:2:3:4:5:6:7:8:9', '']) assert.is(compactAddress(bad, 1), undefined, bad)
})

test('a swarm full of peers does not list one more; a full tracker refuses a new swarm', () => {
  let t = 0
  const s = new Swarms({ intervalS: 10, maxSwarms: 2, maxPeers: 2 }, () => t)
  const a = (ih: number, peer: number): Map<string, unknown> => s.announce({ infoHash: Buffer.alloc(20, ih), peerId: Buffer.alloc(20, peer), ip: '10.0.0.1', port: 1000 + peer, uploaded: 0, downloaded: 0, left: 1, event: '', numwant: 50, compact: true, noPeerId: false }) as Map<string, unknown>
  a(1, 1); a(1, 2)
  assert.match(String(a(1, 3).get('warning message')), /swarm full/)
  assert.is(s.peerCount, 2)
  a(2, 1)
  assert.throws(() => a(3, 1), /tracker full: 2 swarms/)
  t += 16_000 // everyone expired: the sweep before refusing frees room
  a(3, 1)
  assert.is(s.size, 1)
})

test('parseWhitelist reads hashes with trailing text, skips comments, names a bad line', () => {
  const w = parseWhitelist('# list\n' + 'A'.repeat(40) + '  song.mp3\r\n\n' + 'b'.repeat(40) + '\n', 'list')
  assert.equal([...w], ['a'.repeat(40), 'b'.repeat(40)])
  assert.throws(() => parseWhitelist('a'.repeat(40) + '\n' + 'a'.repeat(39) + '\n', 'list'), (e: Error) => e instanceof DataError && /^list:2: /.test(e.message))
})

test.run()
