// The origin's timing for a scheduled item (lib/swarm/scheduler.ts releaseAt, overdue), on
// one real Swarm under a virtual clock (bench/sim's SimClock) whose origin records when
// each chunk is asked for: no peer, and the tracker's count of the audience given.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { ORIGIN_LEAD_MS, ORIGIN_STEP_MAX_MS, OVERDUE_LEAD_DEADLINES } from '../../lib/swarm/scheduler.js'
import type { OriginSource } from '../../lib/swarm/origin.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const chunkMs = DURATION_MS / item.chunks.length

/** One listener tuning in at the item's start with the tracker counting `audience`: when each chunk was first asked of the origin. */
async function askedAt (audience: number, peerByte: number): Promise<number[]> {
  const clock = new SimClock(10)
  const asked: number[] = new Array(item.chunks.length).fill(NaN)
  const origin: OriginSource = {
    fetchChunks: async (first, count, _cs, _size, sink, counter, signal, received) => {
      for (let i = first; i < first + count; i++) if (Number.isNaN(asked[i])) asked[i] = clock.now()
      for (let i = first; i < first + count && !(signal?.aborted ?? false); i++) {
        await new Promise<void>(resolve => { clock.setTimeout(resolve, 100) })
        counter.bytes += item.chunks[i].length
        await sink(i, item.chunks[i])
      }
      received?.()
    },
    fetchSequential: async () => { throw new Error('ranges only') },
    close: () => {},
  }
  const sw = new Swarm({
    url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, peerByte), port: 1,
    cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: 0, durationMs: DURATION_MS, limiter: new RateLimiter(0),
    warn: () => {}, debug: () => {}, clock, connect: () => { throw new Error('no peer to dial') }, origin,
    store: (t) => new MemoryStore(t, { keepBuffers: true }),
  })
  sw.counted(audience)
  await sw.setTree(item.tree)
  sw.allowOrigin()
  await clock.run(DURATION_MS)
  await sw.close(false)
  return asked
}

test('designated with few above it, a listener takes each chunk at its turn, up to a minute before it plays', async () => {
  const asked = await askedAt(2, 7)
  for (let i = 8; i < item.chunks.length; i++) {
    const plays = i * chunkMs
    assert.ok(asked[i] >= plays - ORIGIN_LEAD_MS, `chunk ${i} (plays at ${plays} ms) asked at ${asked[i]} ms`)
    assert.ok(asked[i] <= plays - ORIGIN_LEAD_MS + ORIGIN_STEP_MAX_MS, `chunk ${i} (plays at ${plays} ms) asked at ${asked[i]} ms, not at its turn`)
  }
})

test('placed past the last turn in a large audience, a listener leaves a chunk to those above it until the chunk holds up its output', async () => {
  // (with every place past the last turn taken at that last turn, ~12 listeners per block
  // asked at once in a flash crowd of 1,000 whose first copy sat in the origin's queue)
  const asked = await askedAt(100_000, 7)
  for (let i = 8; i < item.chunks.length; i++) {
    const plays = i * chunkMs
    assert.ok(asked[i] >= plays - OVERDUE_LEAD_DEADLINES * DEADLINE_MS, `chunk ${i} (plays at ${plays} ms) asked at ${asked[i]} ms, before it was near`)
    assert.ok(asked[i] < plays, `chunk ${i} (plays at ${plays} ms) asked at ${asked[i]} ms, after it played`)
  }
})

test.run()
