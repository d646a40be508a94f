// The swarm's scheduling decisions (lib/swarm/scheduler.ts and the parts around it),
// run in one process under a virtual clock: real Swarm instances joined by in-memory
// links, an in-memory origin that counts what it sends. Nothing of the decisions is
// re-implemented here; the assertions are on what was recorded.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TreeBuilder, infoHash, type HashTree } from '../../lib/hashing/hashtree.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import type { PeerAddress } from '../../lib/swarm/wire.js'
import { designated, peerKey } from '../../lib/swarm/picker.js'
import { OVERDUE_OTHERS } from '../../lib/swarm/scheduler.js'
import { VirtualClock, MemoryNet, MemoryServer, type MemoryLink } from './memory-net.js'

// the item of pc-fetch-swarm's eight-listener test: 4 MiB in 128 KiB chunks
const CHUNK = 128 * 1024
const COUNT = 32
const PORT = 6881
const DEADLINE_MS = 2000

let data: Buffer
let tree: HashTree
const dirs: string[] = []
const swarms: Swarm[] = []

test.before(() => {
  data = randomBytes(CHUNK * COUNT)
  const b = new TreeBuilder(CHUNK)
  b.update(data)
  tree = b.finish()
})
test.after.each(async () => {
  await Promise.all(swarms.splice(0).map(s => s.close(false)))
  await Promise.all(dirs.splice(0).map(d => rm(d, { recursive: true, force: true })))
})

interface World { clock: VirtualClock, net: MemoryNet, server: MemoryServer }

function world (): World {
  const clock = new VirtualClock()
  // 30 ms between peers: eight processes on two cores, each waiting for CPU; ~10 MB/s
  // each way; the origin ~20 MB/s a request
  const net = new MemoryNet(clock, { latencyMs: 30, upBytesPerMs: 10_000 })
  return { clock, net, server: new MemoryServer(clock, data, 20_000, 5) }
}

const idOf = (host: string, salt: string): Buffer => Buffer.concat([Buffer.from('-PC0001-'), createHash('sha256').update(host + salt).digest().subarray(0, 12)])

/** A listener at `host`, its tree known (from the record's URL), its store empty unless `seeded`. */
async function listener (w: World, host: string, salt: string, seeded = false): Promise<Swarm> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-swarm-schedule-'))
  dirs.push(dir)
  if (seeded) await writeFile(join(dir, tree.root.toString('hex')), data)
  const addr: PeerAddress = { host, port: PORT }
  // peer ids fixed by (host, salt): the designation of blocks depends on them
  const peerId = idOf(host, salt)
  const sw = new Swarm({
    url: 'http://origin.test/item.bin', root: tree.root, infoHash: infoHash(tree.root), peerId, port: PORT,
    cacheDir: dir, removeCache: true, window: 16, deadlineMs: DEADLINE_MS, playFraction: 0, limiter: new RateLimiter(0),
    warn: () => {}, debug: () => {},
    clock: w.clock, connect: w.net.connector(addr), origin: w.server.source(host),
  })
  swarms.push(sw)
  w.net.listen(addr, sw)
  await sw.setTree(tree)
  return sw
}

async function stored (sw: Swarm): Promise<Buffer> {
  return await readFile(join(sw.opts.cacheDir, tree.root.toString('hex')))
}

/**
 * n listeners tuning in within a few ms of each other, as pc-fetch-swarm's chain does:
 * each is given the address of the one before (--peer) and finds the rest by PEX.
 */
async function flashCrowd (w: World, n: number, salt: string): Promise<Swarm[]> {
  const out: Swarm[] = []
  for (let k = 0; k < n; k++) out.push(await listener(w, `10.0.0.${k + 1}`, salt))
  out.forEach((sw, k) => {
    w.clock.setTimeout(() => {
      if (k > 0) sw.addAddress({ host: `10.0.0.${k}`, port: PORT }, true)
      void sw.discover(Promise.resolve())
    }, 3 * k)
  })
  return out
}

test('a flash crowd of eight: every listener gets every byte, the origin sends the item about once', async () => {
  const ratios: number[] = []
  for (const salt of ['a', 'b', 'c', 'd', 'e', 'f']) {
    const w = world()
    const crowd = await flashCrowd(w, 8, salt)
    await w.clock.run(30_000)
    for (const sw of crowd) {
      assert.ok(sw.complete, `${sw.opts.peerId.toString('hex')} complete`)
      assert.ok((await stored(sw)).equals(data), 'stored bytes are the item')
      assert.is(sw.gaveUp.size, 0)
    }
    const fromPeers = crowd.reduce((a, s) => a + s.stats.bytesFromPeers, 0)
    assert.ok(fromPeers > 0, 'peers swapped chunks')
    ratios.push(w.server.bytesSent / data.length)
    await Promise.all(swarms.splice(0).map(s => s.close(false)))
  }
  const worst = Math.max(...ratios)
  assert.ok(worst < 1.25, `origin sent ${ratios.map(r => r.toFixed(2)).join(', ')}× the item`)
})

/**
 * A seed that holds every chunk but never sends chunk 3: the late listener's request
 * for it runs past the deadline, and the chunk, which holds up the output, goes to the
 * origin: after one deadline from the listener designated for its block, after
 * OVERDUE_OTHERS deadlines from any other.
 */
async function withheld (salt: string): Promise<{ asked: number, late: Swarm, w: World }> {
  const w = world()
  const seed = await listener(w, '10.0.0.1', salt, true)
  const late = await listener(w, '10.0.0.2', salt)
  assert.is(seed.store!.held, COUNT)
  late.addAddress({ host: '10.0.0.1', port: PORT }, true)
  for (const l of w.net.links) if (!l.outgoing) l.withhold.add(3)
  void late.discover(Promise.resolve())
  await w.clock.run(30_000)
  assert.ok(late.complete)
  assert.ok((await stored(late)).equals(data))
  assert.equal(w.server.requests.map(r => [r.first, r.count]), [[3, 1]], 'only chunk 3, once, from the origin')
  assert.is(late.stats.bytesFromOrigin, CHUNK)
  assert.is(late.stats.bytesFromPeers, data.length - CHUNK)
  return { asked: w.server.requests[0].at, late, w }
}

/** a salt for which the late listener is (or is not) the designated origin fetcher of block 0 */
function saltFor (designatedLate: boolean): string {
  for (let n = 0; n < 1000; n++) {
    const key = (host: string): number => peerKey(idOf(host, String(n)))
    if (designated(key('10.0.0.2'), [key('10.0.0.1')], 0) === designatedLate) return String(n)
  }
  throw new Error(`no salt makes the late listener ${designatedLate ? '' : 'not '}designated`)
}

// the scheduler looks again at most a tick after a deadline passes
const TICK_MS = DEADLINE_MS / 4

test('an overdue chunk goes to the origin after the deadline from the peer designated for its block, not before', async () => {
  const { asked } = await withheld(saltFor(true))
  assert.ok(asked >= DEADLINE_MS && asked <= DEADLINE_MS + TICK_MS, `chunk 3 asked of the origin at ${asked} ms (deadline ${DEADLINE_MS} ms)`)
})

test('an overdue chunk goes to the origin after two deadlines from a peer not designated for its block', async () => {
  const { asked } = await withheld(saltFor(false))
  const after = OVERDUE_OTHERS * DEADLINE_MS
  assert.ok(asked >= after && asked <= after + TICK_MS, `chunk 3 asked of the origin at ${asked} ms (${after} ms expected)`)
})

test('newcomers are told to the others in batches (PEX_BATCH_MS), and every listener meets every other', async () => {
  const w = world()
  const hub = await listener(w, '10.0.0.1', 'p')
  const joiners: Swarm[] = []
  for (let k = 2; k <= 7; k++) joiners.push(await listener(w, `10.0.0.${k}`, 'p'))
  // six listeners given only the hub's address, 20 ms apart
  joiners.forEach((sw, k) => w.clock.setTimeout(() => sw.addAddress({ host: '10.0.0.1', port: PORT }, true), 20 * k))
  // PEX messages from the hub, by the joiner's end of the connection
  const fromHub = new Map<MemoryLink, number>()
  w.net.onDeliver = (to, m) => {
    if (m.type === 'pex' && to.outgoing && to.address === `10.0.0.1:${PORT}`) fromHub.set(to, (fromHub.get(to) ?? 0) + 1)
  }
  await w.clock.run(3000)
  assert.is(hub.peers.size, 6)
  for (const sw of joiners) assert.is(sw.peers.size, 6, 'connected to the hub and the five other joiners')
  // one PEX on connecting (who is here already), then one per batch: one newcomer each would be up to five
  for (const n of fromHub.values()) assert.ok(n <= 2, `the hub sent ${[...fromHub.values()].join(', ')} PEX messages to the joiners`)
  // the first joiner found no one on connecting: it hears of the others only from a batch
  assert.is(fromHub.size, 6, 'every joiner was told of others by the hub')
})

test.run()
