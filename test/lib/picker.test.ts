import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { playOrder, pickForPeer, designated, peerKey, type PickState } from '../../lib/swarm/picker.js'

function state (count: number, opts: { play?: number, window?: number, held?: number[], busy?: number[], avail?: Record<number, number> } = {}): PickState {
  const { order, originLimit } = playOrder(count, opts.play ?? 0)
  const held = new Set(opts.held ?? [])
  const busy = new Set(opts.busy ?? [])
  const avail = new Uint16Array(count).fill(5)
  for (const [i, n] of Object.entries(opts.avail ?? {})) avail[Number(i)] = n
  let cursor = 0
  while (cursor < count && held.has(order[cursor])) cursor++
  return { count, order, originLimit, cursor, window: opts.window ?? 4, has: i => held.has(i), busy: i => busy.has(i), avail }
}

const all = (): boolean => true

test('play order of an item joined mid-way: chunk 0, the play position onwards, then what was skipped', () => {
  const { order, originLimit } = playOrder(8, 5)
  assert.equal([...order], [0, 5, 6, 7, 1, 2, 3, 4])
  assert.is(originLimit, 4)
  assert.equal([...playOrder(3, 0).order], [0, 1, 2])
})

test('picks the window in play order first, then the rarest chunks beyond it', () => {
  const s = state(20, { window: 3, held: [0], busy: [2], avail: { 10: 1, 12: 2 } })
  // window: chunks 1, 2 (busy), 3; then rarest: 10 (1 peer), 12 (2 peers), then play order
  assert.equal(pickForPeer(s, all, 5), [1, 3, 10, 12, 4])
})

test('keeps reserve slots free for the window instead of filling them with rare chunks', () => {
  const s = state(20, { window: 2, avail: { 9: 1 } })
  assert.equal(pickForPeer(s, all, 4, 2), [0, 1])
  assert.equal(pickForPeer(s, all, 5, 2), [0, 1, 9])
})

test('the window never runs on into the chunks skipped by tuning in late', () => {
  // joined at 17 of 20: order 0, 17, 18, 19, then 1..16; a window of 8 holds the four to play
  const s = state(20, { play: 17, window: 8 })
  assert.equal(pickForPeer(s, all, 8, 0, true), [0, 17, 18, 19], 'the window alone: what is to play')
  // beyond the window the skipped chunks come rarest first: 9 is held by one peer
  s.avail[9] = 1
  assert.equal(pickForPeer(s, all, 6, 0), [0, 17, 18, 19, 9, 1])
})

test('asks only for the window when told to (before the first chunk is held)', () => {
  const s = state(20, { window: 3, avail: { 15: 1 } })
  assert.equal(pickForPeer(s, all, 10, 2, true), [0, 1, 2])
  assert.is(pickForPeer(s, all, 10, 2).length, 8) // the 2 reserve slots stay free
})

test('picks only what the peer has', () => {
  const s = state(10, { window: 4 })
  assert.equal(pickForPeer(s, i => i % 2 === 1, 3), [1, 3, 5])
  assert.equal(pickForPeer(s, () => false, 3), [])
  assert.equal(pickForPeer(s, all, 0), [])
})

test('exactly one peer of a swarm is designated for each block, and the choice spreads', () => {
  const keys = Array.from({ length: 20 }, (_, k) => peerKey(Buffer.from(`-PC0001-peer${String(k).padStart(8, '0')}`)))
  const wins = new Map<number, number>()
  for (let block = 0; block < 400; block++) {
    const winners = keys.filter(me => designated(me, keys.filter(o => o !== me), block))
    assert.is(winners.length, 1, `block ${block}`)
    wins.set(winners[0], (wins.get(winners[0]) ?? 0) + 1)
  }
  // 400 blocks over 20 peers: every peer gets some, none a lion's share
  assert.is(wins.size, 20)
  for (const n of wins.values()) assert.ok(n < 60, `one peer designated for ${n} of 400 blocks`)
})

test.run()
