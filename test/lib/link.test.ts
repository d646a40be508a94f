// PeerLink (lib/swarm/link.ts) keeps what the swarm knows of a peer compactly: the
// bitfields of many links in one shared buffer (up to 32 chunks, in a field of its own),
// its booleans in one field, its rate with its pace. What the swarm reads of it is the
// same as with a field each.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PeerLink } from '../../lib/swarm/link.js'
import { peerKey, ChunkMask } from '../../lib/swarm/picker.js'
import { getBit } from '../../lib/swarm/wire.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'

class Link extends PeerLink {
  readonly outgoing = false
  readonly address = '10.0.0.2:1'
  get listenAddress (): PeerAddress | undefined { return undefined }
  sendHandshake (_h: Handshake): void {}
  send (_m: Message): boolean { return true }
  async sendPiece (): Promise<void> {}
  end (): void {}
  protected destroy (): void {}
  handshake (peerId: Buffer): void { this.received({ type: 'handshake', handshake: { infoHash: Buffer.alloc(20), peerId, port: 1 } }) }
}

const held = (p: PeerLink, count: number): number[] => { const out: number[] = []; for (let i = 0; i < count; i++) if (p.has(i)) out.push(i); return out }

test('bitfields of many links: each its own bits, sized and marked apart', () => {
  // more links than one shared buffer holds, and two sizes (an item of 30 chunks, one of 458)
  const links = Array.from({ length: 300 }, () => new Link())
  links.forEach((p, k) => p.sizeFor(k % 3 === 0 ? 458 : 30))
  links.forEach((p, k) => { assert.ok(p.markHave(k % 30)); assert.not.ok(p.markHave(k % 30), 'twice') })
  links.forEach((p, k) => {
    const count = k % 3 === 0 ? 458 : 30
    assert.equal(held(p, count), [k % 30], `link ${k}`)
    assert.is(p.held, 1)
    assert.is(p.bits.length, Math.ceil(count / 8))
    assert.ok(p.sized)
    assert.ok(getBit(p.bits, k % 30), 'its bytes as a BITFIELD says them')
    // a mask of the chunk it holds, and one of the others
    const mine = new ChunkMask(count)
    const others = new ChunkMask(count)
    for (let i = 0; i < count; i++) (i === k % 30 ? mine : others).set(i)
    assert.ok(p.holdsAny(mine.mask))
    assert.not.ok(p.holdsAny(others.mask))
  })
  // a link that was never sized holds nothing and has no room
  const unsized = new Link()
  assert.is(unsized.bits.length, 0)
  assert.not.ok(unsized.sized)
  assert.not.ok(unsized.markHave(0))
  assert.not.ok(unsized.has(0))
})

test('a bitfield a BITFIELD gave keeps its bits once sized, and the count held as it was', () => {
  const p = new Link()
  p.bits = Uint8Array.from([0xff, 0, 0, 0x04])
  p.sizeFor(30)
  assert.equal(held(p, 30), [0, 1, 2, 3, 4, 5, 6, 7, 29])
  assert.is(p.held, 0, 'sizeFor to the same length leaves held alone (the swarm counts it)')
  const q = new Link()
  q.sizeFor(30)
  q.markHave(10)
  assert.equal(held(p, 30), [0, 1, 2, 3, 4, 5, 6, 7, 29], 'another link writes its own bits')
  // a larger count keeps what was there and counts it
  p.sizeFor(60)
  assert.equal(held(p, 60), [0, 1, 2, 3, 4, 5, 6, 7, 29])
  assert.is(p.held, 9)
})

test('misses: chunks of a small item and of a large one, each once, in and out', () => {
  const p = new Link()
  for (const i of [7, 0, 30, 31, 457, 7]) p.miss(i)
  assert.is(p.missed.size, 5)
  for (const i of [0, 7, 30, 31, 457]) assert.ok(p.missed.has(i), `${i}`)
  for (const i of [1, 29, 32, 456, -1, 0.5]) assert.not.ok(p.missed.has(i), `${i}`)
  assert.equal([...p.missed], [0, 7, 30, 31, 457])
  assert.ok(p.missed.delete(30))
  assert.not.ok(p.missed.delete(30), 'twice')
  assert.ok(p.missed.delete(457))
  assert.is(p.missed.size, 3)
  assert.equal([...p.missed], [0, 7, 31])
  for (const i of [0, 7, 31]) p.missed.delete(i)
  assert.is(p.missed.size, 0)
  assert.throws(() => p.missed.add(3), 'the empty one refuses additions: add through miss()')
  p.miss(3)
  assert.equal([...p.missed], [3])
})

test('flags are each their own', () => {
  const p = new Link()
  assert.equal([p.serving, p.closed, p.goodbye, p.fault], [false, false, false, false])
  p.serving = true
  p.goodbye = true
  assert.equal([p.serving, p.closed, p.goodbye, p.fault], [true, false, true, false])
  p.drop('flood', true)
  assert.equal([p.serving, p.closed, p.goodbye, p.fault], [true, true, true, true])
  p.serving = false
  assert.equal([p.serving, p.closed, p.goodbye, p.fault], [false, true, true, true])
})

test('rate: 0 until a piece, then smoothed; halving it keeps the pace', () => {
  const p = new Link()
  assert.is(p.rate, 0)
  p.rate *= 0.5
  assert.is(p.rate, 0)
  assert.is(p.throughput, 0)
  p.credit(1000, 0, 100)
  assert.is(p.rate, 10)
  p.credit(1000, 100, 150)
  assert.is(p.rate, 10 * 0.7 + 20 * 0.3)
  const pace = p.throughput
  p.rate *= 0.5
  assert.is(p.rate, (10 * 0.7 + 20 * 0.3) / 2)
  assert.is(p.throughput, pace)
})

test('requests kept in order, a shared empty queue that refuses a push, counts that start at 0', () => {
  class Talking extends Link { hear (m: Message): void { this.received(m) } }
  const a = new Talking()
  const b = new Talking()
  // no request yet: an empty queue, the same for every link, and a push into it throws
  assert.equal(a.wanted, [])
  assert.ok(a.wanted === b.wanted)
  assert.throws(() => a.wanted.push(1))
  a.hear({ type: 'request', index: 5 })
  a.hear({ type: 'request', index: 2 })
  a.hear({ type: 'cancel', index: 5 })
  a.want(7)
  assert.equal(a.wanted, [2, 7])
  assert.equal(b.wanted, [], 'the other link still has none')
  // delivered bytes and strikes: 0 until set, then kept beside the pace
  assert.is(a.bytesDelivered, 0)
  assert.is(a.strikes, 0)
  a.strikes++
  a.strikes++
  assert.is(a.strikes, 2)
  a.credit(1000, 0, 10)
  assert.is(a.bytesDelivered, 1000)
  assert.is(a.strikes, 1, 'a delivery takes one strike back')
  assert.is(b.bytesDelivered + b.strikes, 0)
})

test('the designation key: 0 before a handshake, its peer id\'s after it, a new one at a second handshake or a remote set', () => {
  const p = new Link()
  assert.is(p.key, 0)
  // ids whose keys are above 2^31 too (kept as a signed integer, given unsigned)
  const ids = Array.from({ length: 8 }, (_, k) => Buffer.alloc(20, 17 * k + 3))
  assert.ok(ids.some(id => peerKey(id) >= 2 ** 31))
  for (const id of ids) { p.handshake(id); assert.is(p.key, peerKey(id)); assert.is(p.remote?.peerId, id) }
  p.remote = { infoHash: Buffer.alloc(20), peerId: ids[0], port: 1 }
  assert.is(p.key, peerKey(ids[0]))
  p.remote = undefined
  assert.is(p.key, 0)
})

test('what a link keeps once it carries traffic: requests both ways, misses, the rate and why it was dropped, each its own', () => {
  const p = new Link()
  assert.is(p.dropped, undefined)
  p.dropped = undefined
  assert.is(p.rate, 0, 'nothing made for an undefined reason')
  p.want(3)
  p.ask(5, 100)
  p.miss(7)
  p.credit(1000, 100, 200)
  assert.equal(p.wanted, [3])
  assert.equal([...p.inflight], [[5, 100]])
  assert.equal([...p.missed], [7])
  assert.is(p.bytesDelivered, 1000)
  p.drop('gone')
  assert.is(p.dropped, 'gone')
  assert.equal(p.wanted, [3])
  assert.equal([...p.inflight], [[5, 100]])
  assert.equal([...p.missed], [7])
  // a link dropped before any traffic
  const q = new Link()
  q.drop('duplicate')
  assert.is(q.dropped, 'duplicate')
  assert.equal(q.wanted, [])
  assert.is(q.inflight.size, 0)
  assert.is(q.rate, 0)
})

test('a link that holds nothing again lets its pace go, and one that still holds something keeps it', () => {
  const paceOf = (l: PeerLink): unknown => (l as unknown as { pace?: unknown }).pace
  // served: its one request taken off, the pace held nothing but that
  const a = new Link()
  a.want(3)
  assert.ok(paceOf(a) !== undefined)
  a.wanted.shift()
  assert.equal(a.wanted, [])
  assert.is(paceOf(a), undefined, 'a request served leaves nothing to keep')
  // asked and answered by a cancel, and a miss forgiven: the same
  a.ask(4, 10)
  a.inflight.delete(4)
  assert.is(a.inflight.size, 0)
  assert.is(paceOf(a), undefined)
  a.miss(6)
  a.missed.delete(6)
  assert.is(a.missed.size, 0)
  assert.is(paceOf(a), undefined)
  // and made again at the next request, from nothing
  a.want(8)
  assert.equal(a.wanted, [8])
  assert.is(a.rate + a.strikes + a.bytesDelivered + a.throughput, 0)
  // one with a strike, a delivery or a reason it was dropped keeps what it holds
  const b = new Link()
  b.want(1)
  b.strikes++
  b.wanted.shift()
  assert.equal(b.wanted, [])
  assert.is(b.strikes, 1, 'the strike kept')
  const c = new Link()
  c.ask(2, 0)
  c.credit(1000, 0, 10)
  c.inflight.delete(2)
  assert.is(c.inflight.size, 0)
  assert.is(c.bytesDelivered, 1000, 'what it delivered kept')
  assert.ok(c.rate > 0 && c.throughput > 0)
  const d = new Link()
  d.want(1)
  d.drop('gone')
  d.wanted.shift()
  assert.equal(d.wanted, [])
  assert.is(d.dropped, 'gone', 'why it was dropped kept')
})

test.run()
