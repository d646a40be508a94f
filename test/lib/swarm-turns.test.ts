// The origin's turns for a scheduled item (lib/swarm/scheduler.ts releaseAt, place,
// ORIGIN_JOBS_ALONE): real Swarms on the simulator's clock and links (bench/sim), each with
// an origin of its own that records what it is asked for and sends a chunk 100 ms after
// the one before.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { peerKey, score, BLOCK_CHUNKS } from '../../lib/swarm/picker.js'
import { ORIGIN_LEAD_MS } from '../../lib/swarm/scheduler.js'
import type { OriginSource } from '../../lib/swarm/origin.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const chunkMs = DURATION_MS / item.chunks.length
const LINE = { upBytesPerMs: 5000, downBytesPerMs: 25_000, rttMs: 20, loss: 0, nat: false }

interface Ask { host: number, first: number, count: number, at: number }

/** An origin sending chunks 100 ms apart, one after another within a range; each range asked is logged, with how many were in flight at once. */
function loggingOrigin (clock: SimClock, host: number, log: Ask[], inFlight: { now: number, max: number }): OriginSource {
  return {
    fetchChunks: async (first, count, _cs, _size, sink, counter, signal, received) => {
      log.push({ host, first, count, at: clock.now() })
      inFlight.max = Math.max(inFlight.max, ++inFlight.now)
      try {
        for (let i = first; i < first + count && !(signal?.aborted ?? false); i++) {
          await new Promise<void>(resolve => { clock.setTimeout(resolve, 100) })
          counter.bytes += item.chunks[i].length
          await sink(i, item.chunks[i])
        }
      } finally { inFlight.now-- }
      received?.()
    },
    fetchSequential: async () => { throw new Error('ranges only') },
    close: () => {},
  }
}

function swarmOn (clock: SimClock, net: SimNet, k: number, peerId: Buffer, nat: boolean, origin: OriginSource, durationMs?: number): Swarm {
  const host = new Host(k, { host: `10.0.0.${k + 1}`, port: PORT }, { ...LINE, nat })
  net.add(host)
  const sw = new Swarm({
    url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId, port: PORT,
    cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: 0, durationMs, limiter: new RateLimiter(0),
    warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin,
    store: (t) => new MemoryStore(t, { keepBuffers: true }),
  })
  host.swarm = sw
  return sw
}

/** A listener alone (the tracker counts only it) at an item's start: the ranges it asks of the origin in its first 8 s, and the most in flight at once. */
async function alone (durationMs?: number): Promise<{ log: Ask[], max: number }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const log: Ask[] = []
  const inFlight = { now: 0, max: 0 }
  const sw = swarmOn(clock, net, 0, Buffer.alloc(20, 7), false, loggingOrigin(clock, 0, log, inFlight), durationMs)
  sw.counted(1)
  await sw.setTree(item.tree)
  sw.allowOrigin()
  await clock.run(8000)
  await sw.close(false)
  return { log, max: inFlight.max }
}

test('alone with a scheduled item, the origin is asked for one range at a time, in the order they play', async () => {
  const { log, max } = await alone(DURATION_MS)
  assert.is(max, 1, `${max} ranges in flight at once: ${JSON.stringify(log)}`)
  assert.ok(log.length >= 2 && log[0].first === 0, `ranges asked: ${JSON.stringify(log)}`)
  for (let k = 1; k < log.length; k++) assert.is(log[k].first, log[k - 1].first + log[k - 1].count, `range ${k} of ${JSON.stringify(log)}`)
  // (a URL, no duration: nobody else listens to it on a schedule, and it keeps three at once)
  const url = await alone()
  assert.ok(url.max > 1, `with no duration, ${url.max} range at a time`)
})

/**
 * Peer ids whose rendezvous score for `block` places them first in an audience of
 * `audience` (its top 1 / audience), the one above the other by at least `apart` of a
 * place: found by counting through ids.
 */
function firstPlaced (block: number, audience: number, apart: number): [Buffer, Buffer] {
  const found: Array<{ id: Buffer, place: number }> = []
  for (let n = 0; n < 1_000_000; n++) {
    const id = Buffer.alloc(20)
    id.write('-PC0001-')
    id.writeUInt32BE(n, 16)
    const place = (1 - score(peerKey(id), block) / 2 ** 32) * audience
    if (place >= 1) continue
    const other = found.find(f => Math.abs(f.place - place) >= apart)
    if (other) return other.place < place ? [other.id, id] : [id, other.id]
    found.push({ id, place })
  }
  throw new Error('no two ids found')
}

test('two listeners first in the whole audience for one block, not connected, take its chunks from the origin once', async () => {
  // A and B both in the first place of an audience of 1,000 for block 3 (chunks 12-15),
  // behind NATs (they cannot reach each other), each connected to C: each is first among
  // its peers. Their turns, whole places apart, were the same moment, and each took the
  // block from the origin before the other's ASKED could reach it through C.
  const block = 3
  const [a, b] = firstPlaced(block, 1000, 0.25)
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const log: Ask[] = []
  const swarms: Swarm[] = []
  const ids = [a, b, Buffer.alloc(20, 12)]
  for (let k = 0; k < 3; k++) {
    const sw = swarmOn(clock, net, k, ids[k], k < 2, loggingOrigin(clock, k, log, { now: 0, max: 0 }), DURATION_MS)
    sw.counted(1000)
    await sw.setTree(item.tree)
    swarms.push(sw)
  }
  for (const sw of swarms) sw.allowOrigin()
  swarms[0].addAddress({ host: '10.0.0.3', port: PORT })
  swarms[1].addAddress({ host: '10.0.0.3', port: PORT })
  // until the last chunk of the block has had its turns, before any of it can be overdue
  const last = (block + 1) * BLOCK_CHUNKS - 1
  const until = last * chunkMs - ORIGIN_LEAD_MS + 2 * 4000
  assert.ok(until < block * BLOCK_CHUNKS * chunkMs - 8 * DEADLINE_MS, 'the run ends before the block comes near')
  await clock.run(until)
  for (const sw of swarms) await sw.close(false)
  for (let i = block * BLOCK_CHUNKS; i <= last; i++) {
    const by = log.filter(r => i >= r.first && i < r.first + r.count)
    assert.is(by.length, 1, `chunk ${i} asked of the origin ${by.length} times: ${JSON.stringify(by)}`)
    assert.is(by[0].host, 0, `chunk ${i} asked by listener ${by[0].host}, not the first placed`)
  }
})

test.run()
