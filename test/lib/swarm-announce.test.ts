// The swarm's announce loop (lib/swarm/announce.ts) against pc-tracker's own code over
// HTTP on 127.0.0.1, its timers on a virtual clock: a swarm short of peers announces
// again after the tracker's min interval, then at twice the wait each time, and one
// with peers enough waits the whole interval; and an item's real Swarm, alone, from 1 s.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encode } from '../../lib/tracker/bencode.js'
import { Announcer, ALONE_MAX_MS, FEW_PEERS, GROWING, NEEDY_FIRST_MS, RETRY_MAX_MS, type AnnouncedSwarm } from '../../lib/swarm/announce.js'
import { Swarms } from '../../lib/tracker/swarms.js'
import { createTrackerServer, listenTracker, announceUrlFor } from '../../lib/tracker/server.js'
import type { PeerAddress } from '../../lib/swarm/wire.js'
import { VirtualClock } from './memory-net.js'
import { announce, type AnnounceResult } from '../../lib/tracker/client.js'
import { waitUntil } from '../helpers.js'
import { SimClock } from '../../bench/sim/clock.js'
import { SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { oneSwarm, SILENT_ORIGIN } from './swarm-test-links.js'
import { announcedAt } from './via-pc-tracker.js'

const cleanups: Array<() => Promise<void>> = []
test.after.each(async () => { for (const c of cleanups.splice(0)) await c() })

async function tracker (intervalS: number): Promise<{ url: string, swarms: Swarms }> {
  const swarms = new Swarms({ intervalS, maxSwarms: 100, maxPeers: 100 })
  const server = createTrackerServer({ swarms })
  const addr = await listenTracker(server, '127.0.0.1', 0)
  cleanups.push(() => new Promise(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: announceUrlFor(addr), swarms }
}

function swarm (): AnnouncedSwarm & { peers: { size: number }, heard: PeerAddress[] } {
  const heard: PeerAddress[] = []
  return {
    opts: { infoHash: randomBytes(20), peerId: randomBytes(20) },
    stats: { bytesUploaded: 0, bytesFromOrigin: 0, bytesFromPeers: 0 },
    left: 1000, closed: false, peers: { size: 0 }, heard,
    addAddress: (a) => { heard.push(a) },
  }
}

const io = { warn: () => {}, info: () => {} }

/**
 * pc-fetch's announce over HTTP, counting the requests on their way: the virtual clock is
 * moved on only once every answer is in and handled, so that the next announce is planned
 * at the virtual time the answer came.
 */
function counted (): { announce: typeof announce, busy: () => boolean } {
  let inFlight = 0
  return {
    announce: async (p) => { inFlight++; try { return await announce(p) } finally { setImmediate(() => { inFlight-- }) } },
    busy: () => inFlight > 0,
  }
}

/** the virtual times (s) at which the tracker counted an announce, up to `until` */
async function announcesUntil (clock: VirtualClock, swarms: Swarms, busy: () => boolean, until: number, step = 500): Promise<number[]> {
  const at: number[] = []
  let seen = swarms.announces
  for (let t = clock.now(); t <= until; t += step) {
    await clock.run(t)
    await waitUntil(() => !busy(), 10_000, 'the tracker to answer')
    while (swarms.announces > seen) { seen++; at.push(t / 1000) }
  }
  return at
}

test('alone, a swarm announces again after 1, 2, 4, 8, 16 and 32 s; with peers enough it waits the interval', async () => {
  const { url, swarms } = await tracker(60)
  const clock = new VirtualClock()
  const s = swarm()
  const c = counted()
  const a = new Announcer(url, s, { port: 41001, io, clock, announce: c.announce })
  await a.start()
  assert.is(swarms.announces, 1)
  // pc-tracker's min interval is 1 s while it names fewer peers than asked for (tracker/swarms.ts SHORT_MIN_INTERVAL_S)
  const alone = await announcesUntil(clock, swarms, c.busy, 80_000)
  assert.equal(alone, [1, 3, 7, 15, 31, 63], 'alone: 1, 2, 4, 8, 16, 32 s apart')
  // the wait has doubled up to the interval: the next comes 60 s after, and with peers enough every 60 s from then on
  s.peers.size = FEW_PEERS
  const later = await announcesUntil(clock, swarms, c.busy, 200_000)
  assert.equal(later, [123, 183], 'with peers enough: every 60 s')
  await a.stop()
})

test('a tracker that does not answer is asked again after 1, 2, 4 … s up to a minute; its first failure is a warning, its return a note', async () => {
  const clock = new VirtualClock()
  const s = swarm()
  s.peers.size = FEW_PEERS
  const at: number[] = []
  const said: string[] = []
  const announce = async (): Promise<AnnounceResult> => {
    at.push(clock.now() / 1000)
    if (at.length <= 8) throw new Error('connection refused')
    return { interval: 60, peers: [] }
  }
  const a = new Announcer('http://tracker.example/announce', s, { port: 41007, io: { warn: m => said.push(`warn ${m}`), info: m => said.push(`info ${m}`) }, clock, announce })
  await a.start()
  await clock.run(300_000)
  assert.equal(at, [0, 1, 3, 7, 15, 31, 63, 63 + RETRY_MAX_MS / 1000, 63 + 2 * RETRY_MAX_MS / 1000, 183 + 60], 'the waits: 1, 2, 4, 8, 16, 32 s, then a minute; the interval once it answers')
  assert.equal(said, ['warn tracker http://tracker.example/announce: connection refused; retrying', 'warn tracker http://tracker.example/announce: answering again'])
  await a.stop()
})

test('a swarm that loses its peers asks early again, starting over at the shortest wait', async () => {
  const { url, swarms } = await tracker(60)
  const clock = new VirtualClock()
  const s = swarm()
  s.peers.size = FEW_PEERS + 3
  const c = counted()
  const a = new Announcer(url, s, { port: 41002, io, clock, announce: c.announce })
  await a.start()
  assert.equal(await announcesUntil(clock, swarms, c.busy, 60_500), [60])
  s.peers.size = 1
  assert.equal(await announcesUntil(clock, swarms, c.busy, 140_000), [61, 63, 67, 75, 91, 123], `then ${NEEDY_FIRST_MS / 1000} s, doubling`)
  await a.stop()
})

test('a tracker\'s longer min interval is kept to, and a short interval is not cut', async () => {
  // a tracker (as opentracker may) answering min interval 20 s: the early announces wait 20 s five times, then 32 s, then the interval
  const server = createServer((_req, res) => { res.end(encode({ interval: 60, 'min interval': 20, peers: Buffer.alloc(0) })) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const asked: number[] = []
  server.on('request', () => asked.push(clock.now() / 1000))
  const clock = new VirtualClock()
  const c = counted()
  const a = new Announcer(`http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`, swarm(), { port: 41003, io, clock, announce: c.announce })
  await a.start()
  for (let t = 0; t <= 170_000; t += 500) {
    await clock.run(t)
    await waitUntil(() => !c.busy(), 10_000, 'the tracker to answer')
  }
  assert.equal(asked, [0, 20, 40, 60, 80, 100, 132])
  await a.stop()
  // pc-tracker at --interval 4s, a swarm with peers enough: every 4 s, never sooner
  const { url, swarms } = await tracker(4)
  const clock4 = new VirtualClock()
  const c4 = counted()
  const s4 = swarm()
  s4.peers.size = FEW_PEERS
  const b = new Announcer(url, s4, { port: 41004, io, clock: clock4, announce: c4.announce })
  await b.start()
  assert.equal(await announcesUntil(clock4, swarms, c4.busy, 13_000), [4, 8, 12])
  await b.stop()
})

test('a swarm that reads the count announces again early while the count grows, then waits the interval', async () => {
  const { url, swarms } = await tracker(60)
  const clock = new VirtualClock()
  // peers enough: only the count's growth makes it ask early
  const s = swarm()
  s.peers.size = FEW_PEERS + 3
  const counts: number[] = []
  const fresh = Object.assign(s, { freshCount: true })
  fresh.counted = (n) => { counts.push(n) }
  const c = counted()
  // others tune in as in a flash crowd: 10 before our first announce, then more, then nobody
  const others = async (n: number): Promise<void> => {
    for (let k = 0; k < n; k++) await announce({ announceUrl: url, infoHash: s.opts.infoHash, peerId: randomBytes(20), port: 42000 + counts.length * 100 + k, uploaded: 0, downloaded: 0, left: 1000, event: 'started' })
  }
  await others(10)
  const a = new Announcer(url, fresh, { port: 41005, io, clock, announce: c.announce })
  await a.start()
  assert.equal(counts, [11])
  await others(20) // 31 by the next answer: grown by more than GROWING
  assert.equal(await announcesUntil(clock, swarms, c.busy, 1_000), [1], 'the first answer is followed by an early one')
  assert.equal(counts, [11, 31])
  await others(20) // 51 of 31
  assert.equal(await announcesUntil(clock, swarms, c.busy, 3_000), [3], 'still growing: 2 s later')
  await others(5) // 56 of 51: less than GROWING
  assert.ok(56 < GROWING * 51)
  // (at 3 s the tracker named 50 of the 51, as many as asked for: its min interval is 5 s from then on)
  assert.equal(await announcesUntil(clock, swarms, c.busy, 100_000), [8, 68], 'grown too little: the interval from then on')
  assert.equal(counts, [11, 31, 51, 56, 56])
  await a.stop()
  // a swarm that reads the count but does not want it fresh (a live show) waits the interval from the first answer
  const clock2 = new VirtualClock()
  const t = swarm()
  t.peers.size = FEW_PEERS + 3
  t.counted = () => {}
  const c2 = counted()
  const b = new Announcer(url, t, { port: 41006, io, clock: clock2, announce: c2.announce })
  await b.start()
  assert.equal(await announcesUntil(clock2, swarms, c2.busy, 61_000), [60])
  await b.stop()
})

test('an item\'s swarm with no peer while the tracker counts others announces every 2 s; with a peer, or a live show\'s, the waits double', async () => {
  // (a listener behind a NAT hears of the first one that accepts connections only from the tracker: announce.ts ALONE_MAX_MS)
  const { url, swarms } = await tracker(60)
  const run = async (fresh: boolean, peerAt: number, until: number): Promise<number[]> => {
    const s = Object.assign(swarm(), { freshCount: fresh })
    // one other listener of the item, behind a NAT: the tracker counts two
    await announce({ announceUrl: url, infoHash: s.opts.infoHash, peerId: randomBytes(20), port: 42999, uploaded: 0, downloaded: 0, left: 1000, event: 'started' })
    const clock = new VirtualClock()
    const c = counted()
    const a = new Announcer(url, s, { port: 41008, io, clock, announce: c.announce })
    await a.start()
    const at = await announcesUntil(clock, swarms, c.busy, peerAt)
    s.peers.size = 1
    at.push(...await announcesUntil(clock, swarms, c.busy, until))
    await a.stop()
    return at
  }
  assert.equal(await run(true, 11_500, 30_000), [1, 3, 5, 7, 9, 11, 13, 17, 25], `alone: ${ALONE_MAX_MS / 1000} s apart; with a peer from 11.5 s: 2, 4, 8 s`)
  assert.equal(await run(false, 11_500, 30_000), [1, 3, 7, 15], 'a live show\'s: doubling')
})

test('an item\'s Swarm alone announces to pc-tracker again 1 s after an answer naming fewer peers than it asked for, then 2, 4, 8 s; every 5 s (not sooner) once the tracker names as many', async () => {
  // (the first listeners of a flash crowd, behind NATs and told of nobody they could dial,
  // took chunks 0-3 from the origin each for itself while they waited 5 s: announce.ts NEEDY_FIRST_MS)
  const item = makeItem(240_000 * 16, 128 * 1024)
  const announced = async (before: number): Promise<number[]> => {
    const clock = new SimClock(10)
    const sw = await oneSwarm(clock, new SimNet(clock, new Rng(1)), item, Buffer.alloc(20, 3), 2000, SILENT_ORIGIN, 240_000)
    const at = await announcedAt(sw, Buffer.alloc(20, 3), clock, async (t) => await clock.run(t), 20_000, before)
    sw.close(false)
    return at
  }
  assert.equal(await announced(0), [0, 1, 3, 7, 15], 'the first of its item: 1, 2, 4, 8 s apart')
  // (with 60 others counted and none reached it is not the first: its waits do not double past ALONE_MAX_MS, so the 5 s rule every time)
  assert.equal(await announced(60), [0, 5, 10, 15, 20], 'the tracker\'s min interval of 5 s is kept to')
})

test.run()
