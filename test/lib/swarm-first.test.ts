// Tuning in to an item already playing: the first positions to play are asked for before
// anything else, and one asked of a peer that has sent nothing yet is asked of a peer
// that has been quick as well (scheduler.ts FIRST_POSITIONS). Real Swarms on the
// simulator's clock and links (bench/sim), one listener and two peers holding the item.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { FIRST_POSITIONS, LinePace } from '../../lib/swarm/scheduler.js'
import type { OriginSource } from '../../lib/swarm/origin.js'
import type { PeerLink } from '../../lib/swarm/link.js'
import type { Message } from '../../lib/swarm/wire.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
/** 0.25 Mbit/s up: a chunk of 128 KiB takes 4 s */
const SLOW = { upBytesPerMs: 31.25, downBytesPerMs: 1000, rttMs: 20, loss: 0, nat: false }
const FAST = { upBytesPerMs: 5000, downBytesPerMs: 25_000, rttMs: 20, loss: 0, nat: false }
const silent: OriginSource = { fetchChunks: async () => await new Promise<void>(() => {}), fetchSequential: async () => await new Promise<void>(() => {}), close: () => {} }

/**
 * A listener tuning in near the item's end (play order: chunk 0, 25, 26, … 29, then the
 * skipped chunks 1-24), dialling
 * a peer on a fast line first (asked for the first two positions) and one on a slow line
 * 5 ms later (asked for the next two), both holding the whole item:
 * when it held each chunk, and the chunks each peer was asked for, with when.
 */
async function tuneIn (three = false, fraction = 0.9): Promise<{ heldAt: number[], asked: Array<{ peer: string, i: number, at: number }> }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const asked: Array<{ peer: string, i: number, at: number }> = []
  const heldAt: number[] = new Array(item.chunks.length).fill(NaN)
  const swarms: Swarm[] = []
  for (const [k, spec] of (three ? [[0, FAST], [1, SLOW], [2, FAST], [3, FAST]] : [[0, FAST], [1, SLOW], [2, FAST]]) as Array<[number, typeof FAST]>) {
    const host = new Host(k, { host: `10.0.0.${k + 1}`, port: PORT }, spec)
    net.add(host)
    const sw = new Swarm({
      url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 10 + k), port: PORT,
      cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: k === 0 ? fraction : 0, durationMs: DURATION_MS, limiter: new RateLimiter(0),
      warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin: silent,
      store: (t) => new MemoryStore(t, { keepBuffers: true }),
    })
    host.swarm = sw
    sw.counted(3)
    await sw.setTree(item.tree)
    if (k > 0) {
      for (let i = 0; i < item.chunks.length; i++) await sw.store!.putChecked(i, item.chunks[i])
      const name = k === 1 ? 'slow' : k === 2 ? 'fast' : 'fast2'
      const on = sw.onMessage.bind(sw)
      sw.onMessage = (p: PeerLink, m: Message) => { if (m.type === 'request') asked.push({ peer: name, i: m.index, at: clock.now() }); on(p, m) }
    }
    swarms.push(sw)
  }
  swarms[0].on('have', (i: number) => { if (Number.isNaN(heldAt[i])) heldAt[i] = clock.now() })
  if (three) {
    // all three at once, the slow line first
    for (const h of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) swarms[0].addAddress({ host: h, port: PORT })
  } else {
    swarms[0].addAddress({ host: '10.0.0.3', port: PORT })
    clock.setTimeout(() => swarms[0].addAddress({ host: '10.0.0.2', port: PORT }), 5)
  }
  await clock.run(10_000)
  for (const sw of swarms) await sw.close(false)
  return { heldAt, asked }
}

test('tuning in, a first position asked of a peer that has sent nothing is asked of a quick one too', async () => {
  const { heldAt, asked } = await tuneIn()
  const first = [0, 25, 26]
  assert.is(FIRST_POSITIONS, first.length)
  // the slow line was asked for some of them first, and would take 4 s for each
  const ofSlow = asked.filter(a => a.peer === 'slow' && first.includes(a.i))
  assert.ok(ofSlow.length > 0, `the slow peer was asked for ${JSON.stringify(asked.filter(a => a.peer === 'slow'))}`)
  for (const a of ofSlow) assert.ok(asked.some(b => b.peer === 'fast' && b.i === a.i && b.at < a.at + DEADLINE_MS), `chunk ${a.i} asked of the fast peer too, before the deadline`)
  // (without the second ask: 2 s and more, the deadline of the request to the slow line)
  for (const i of first) assert.ok(heldAt[i] < 1000, `chunk ${i} held at ${heldAt[i]} ms`)
})

test('tuning in 17 s into an item, a first position asked of a peer that has sent nothing is asked of a quick one too', async () => {
  // (chunk 2 holds the offset: the first positions are chunks 0, 1 and 2; the slow line dialled
  // first is asked for chunks 0 and 1, and the fast ones for chunk 2, the one at the offset)
  const { heldAt, asked } = await tuneIn(true, 0.07)
  const first = [0, 1, 2]
  const ofSlow = asked.filter(a => a.peer === 'slow' && first.includes(a.i))
  assert.ok(ofSlow.length > 0, `the slow peer was asked for ${JSON.stringify(asked.filter(a => a.peer === 'slow'))}`)
  for (const a of ofSlow) assert.ok(asked.some(b => b.peer === 'fast' && b.i === a.i && b.at < a.at + DEADLINE_MS), `chunk ${a.i} asked of the fast peer too, before the deadline: ${JSON.stringify(asked.filter(b => b.i === a.i))}`)
  for (const i of first) assert.ok(heldAt[i] < 1000, `chunk ${i} held at ${heldAt[i]} ms`)
})

test('tuning in, nothing outside the window is asked for until the first positions are held', async () => {
  const { heldAt, asked } = await tuneIn()
  const firstHeld = Math.max(heldAt[0], heldAt[25], heldAt[26])
  // the window: chunk 0 and 25-29; the skipped chunks 1-24 come later (a listener
  // asking for them as soon as chunk 0 was held queued its next first position behind them)
  const early = asked.filter(a => a.at < firstHeld && a.i >= 1 && a.i <= 24)
  assert.is(early.length, 0, `asked before the first positions were held (${firstHeld} ms): ${JSON.stringify(early)}`)
  assert.ok(asked.some(a => a.i >= 1 && a.i <= 24), 'the skipped chunks are asked for afterwards')
})


test('tuning in, only the first positions are asked for until they are held, not the rest of the window', async () => {
  const { heldAt, asked } = await tuneIn()
  const first = [0, 25, 26]
  const firstHeld = Math.max(...first.map(i => heldAt[i]))
  // chunks 27-29 are in the window, but on a slow downlink they took its line beside the
  // chunk to play first (scheduler.ts firstPositions)
  const early = asked.filter(a => a.at < firstHeld && !first.includes(a.i))
  assert.is(early.length, 0, `asked before the first positions were held (${firstHeld} ms): ${JSON.stringify(early)}`)
  assert.ok(asked.some(a => a.i >= 27 && a.i <= 29), 'the rest of the window is asked for afterwards')
})

test('tuning in to three peers at once, the chunk at the play position is asked of two of them at once', async () => {
  const { heldAt, asked } = await tuneIn(true)
  // chunk 26 holds the offset (0.9 of 30 chunks); before anything has come, it is asked of two peers (scheduler.ts askTwice)
  const first = asked.filter(a => a.i === 26)
  assert.ok(first.length >= 2 && first[1].at === first[0].at && first[1].peer !== first[0].peer, `chunk 26 asked of ${JSON.stringify(first)}`)
  // and the other first positions at most once each until then (chunk 0 once; the one before
  // the offset's waits until chunk 0 and 26 are asked: scheduler.ts playedFirst)
  assert.is(asked.filter(a => a.i === 0 && a.at <= first[0].at).length, 1, `chunk 0 asked of ${JSON.stringify(asked.filter(a => a.i === 0))}`)
  assert.ok(asked.filter(a => a.i === 25 && a.at <= first[0].at).length <= 1, `chunk 25 asked of ${JSON.stringify(asked.filter(a => a.i === 25))}`)
  assert.ok(heldAt[26] < 1000, `chunk 26 held at ${heldAt[26]} ms`)
})

test('tuning in to three peers at once within the item\'s second chunk, that chunk is asked of two of them, not the third position', async () => {
  // play order 0, 1, 2, …: the offset is in chunk 1, which plays first; chunk 2 is the third position
  const { asked } = await tuneIn(true, 1.5 * item.tree.chunkSize / item.tree.size)
  const one = asked.filter(a => a.i === 1)
  assert.ok(one.length >= 2 && one[1].at === one[0].at, `chunk 1 asked of ${JSON.stringify(one)}`)
  assert.ok(asked.filter(a => a.i === 2 && a.at <= one[0].at).length <= 1, `chunk 2 asked of ${JSON.stringify(asked.filter(a => a.i === 2))}`)
})

test('tuning in, a first position asked of the origin is asked of a peer that comes holding it at once, not a deadline later', async () => {
  // (a queueing origin: the listener's ranges never come; the peer, on a fast line, holds the item)
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const ranges: Array<{ first: number, n: number, at: number }> = []
  const queueing: OriginSource = { ...silent, fetchChunks: async (first, n) => { ranges.push({ first, n, at: clock.now() }); return await new Promise<void>(() => {}) } }
  const asked: Array<{ i: number, at: number }> = []
  const heldAt: number[] = new Array(item.chunks.length).fill(NaN)
  const swarms: Swarm[] = []
  for (const k of [0, 1]) {
    const host = new Host(k, { host: `10.0.0.${k + 1}`, port: PORT }, FAST)
    net.add(host)
    const sw = new Swarm({
      url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 10 + k), port: PORT,
      cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: k === 0 ? 0.5 : 0, durationMs: DURATION_MS, limiter: new RateLimiter(0),
      warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin: k === 0 ? queueing : silent,
      store: (t) => new MemoryStore(t, { keepBuffers: true }),
    })
    host.swarm = sw
    sw.counted(2)
    await sw.setTree(item.tree)
    if (k === 1) {
      for (let i = 0; i < item.chunks.length; i++) await sw.store!.putChecked(i, item.chunks[i])
      const on = sw.onMessage.bind(sw)
      sw.onMessage = (p: PeerLink, m: Message) => { if (m.type === 'request') asked.push({ i: m.index, at: clock.now() }); on(p, m) }
    }
    swarms.push(sw)
  }
  swarms[0].on('have', (i: number) => { if (Number.isNaN(heldAt[i])) heldAt[i] = clock.now() })
  // alone, it asks the origin for its first positions (chunk 0, 13, 14: tuned in within chunk 14), one range at a time
  swarms[0].allowOrigin()
  await clock.run(100)
  const first = [0, 13, 14].filter(i => ranges.some(r => r.first <= i && i < r.first + r.n))
  assert.ok(first.includes(0), `chunk 0 asked of the origin: ${JSON.stringify(ranges)}`)
  // then the peer holding the item comes
  swarms[0].addAddress({ host: '10.0.0.2', port: PORT })
  await clock.run(DEADLINE_MS * 2)
  for (const i of first) {
    const a = asked.find(x => x.i === i)
    assert.ok(a !== undefined && a.at < DEADLINE_MS, `chunk ${i} asked of the peer within the origin request's deadline: ${JSON.stringify(asked)}`)
    assert.ok(heldAt[i] < DEADLINE_MS, `chunk ${i} held at ${heldAt[i]} ms`)
  }
  for (const sw of swarms) await sw.close(false)
})

test('our own line\'s pace: pieces from several peers arriving together count as one arrival of their bytes', () => {
  const line = new LinePace()
  // two chunks of 128 KiB asked at 0 from two peers, both in at 1,000 ms: 262 bytes a ms
  line.arrived(131_072, 0, 1000)
  line.arrived(131_072, 0, 1000)
  assert.ok(Math.abs(line.value - 262.144) < 1, `pace ${line.value} bytes/ms`)
  // a third, alone 500 ms later: 262 bytes a ms again
  line.arrived(131_072, 0, 1500)
  assert.ok(Math.abs(line.value - 262.144) < 1, `pace ${line.value} bytes/ms`)
})

test('our own line\'s pace: pieces from slow peers trickling in side by side, 10 ms apart, are not a fast line', () => {
  // (bench/sim steady, N = 10,000, seed 3: a 5 Mbit/s line, 625 bytes a ms, tuning in)
  const line = new LinePace()
  line.arrived(131_072, 190_310, 190_840)
  line.arrived(131_072, 190_310, 190_850)
  line.arrived(131_072, 190_320, 191_060)
  assert.ok(line.value < 625, `pace ${line.value} bytes/ms, more than the line's 625`)
  assert.ok(line.value > 200, `pace ${line.value} bytes/ms`)
})

test('our own line\'s pace: pieces queued behind each other on a busy line give the line\'s rate', () => {
  const line = new LinePace()
  // eight chunks asked at 0, coming one after another at the line's 625 bytes a ms (one each 209.7 ms)
  for (let j = 1; j <= 8; j++) line.arrived(131_072, 0, j * 209.7152)
  assert.ok(Math.abs(line.value - 625) < 10, `pace ${line.value} bytes/ms`)
})

test.run()
