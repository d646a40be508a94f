// A piece that comes after its request was cancelled past its deadline is verified and kept
// (lib/swarm/swarm.ts onLatePiece, scheduler.ts lateCopy); a forged one bans its sender, and a
// piece never asked for is dropped unread. One real Swarm under a virtual clock, its origin
// silent, and one peer (a link played by the test).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { ScriptedLink, oneSwarm, SILENT_ORIGIN } from './swarm-test-links.js'
import type { Swarm } from '../../lib/swarm/swarm.js'
import type { Message } from '../../lib/swarm/wire.js'

const DEADLINE_MS = 2000
/** how long after its request the peer sends a chunk: past the deadline, before it is forgiven */
const LATE_MS = DEADLINE_MS + 600
const PORT = 6881
const item = makeItem(8 * 128 * 1024, 128 * 1024)
const INFO_HASH = Buffer.alloc(20, 1)

/** a peer holding every chunk that sends each one LATE_MS after it is asked, whatever comes between; `forge` sends zeros instead */
class LateLink extends ScriptedLink {
  readonly asked: number[] = []
  readonly cancelled = new Set<number>()
  constructor (readonly clock: SimClock, readonly forge = false) { super() }
  send (m: Message): boolean {
    if (m.type === 'cancel') this.cancelled.add(m.index)
    if (m.type !== 'request') return true
    this.asked.push(m.index)
    const data = this.forge ? Buffer.alloc(item.chunks[m.index].length) : item.chunks[m.index]
    this.clock.setTimeout(() => { if (!this.closed) this.received({ type: 'piece', index: m.index, data }) }, LATE_MS)
    return true
  }

  /** chunk i, asked or not */
  push (i: number): void { this.received({ type: 'piece', index: i, data: item.chunks[i] }) }

  holdAll (): void {
    const bits = Buffer.alloc(Math.ceil(item.chunks.length / 8))
    for (let i = 0; i < item.chunks.length; i++) bits[i >> 3] |= 0x80 >> (i & 7)
    this.received({ type: 'bitfield', count: item.chunks.length, bits })
  }
}

async function swarmWith (clock: SimClock): Promise<{ sw: Swarm, got: Set<number> }> {
  const net = new SimNet(clock, new Rng(1))
  const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, SILENT_ORIGIN)
  const got = new Set<number>()
  sw.on('have', (i: number) => { got.add(i) })
  return { sw, got }
}

/** the swarm with one LateLink holding the whole item, run for three deadlines and closed */
async function withLatePeer (forge: boolean): Promise<{ sw: Swarm, got: Set<number>, peer: LateLink }> {
  const clock = new SimClock(10)
  const { sw, got } = await swarmWith(clock)
  const peer = new LateLink(clock, forge)
  peer.open(INFO_HASH, PORT)
  sw.attach(peer)
  peer.holdAll()
  await clock.run(3 * DEADLINE_MS)
  await sw.close(false)
  assert.ok(peer.cancelled.size > 0, 'no request was cancelled: the peer was not late')
  return { sw, got, peer }
}

test('a chunk that comes after its request was cancelled is verified and kept', async () => {
  const { sw, got, peer } = await withLatePeer(false)
  for (const i of peer.cancelled) assert.ok(got.has(i), `chunk ${i}, cancelled and then sent, was not kept (held ${[...got].join(' ')})`)
  assert.is(sw.stats.chunksRejected, 0)
  assert.is(sw.stats.bytesFromPeers, [...got].reduce((n, i) => n + item.chunks[i].length, 0))
})

test('a forged chunk that comes after its request was cancelled is not kept, and its sender is banned', async () => {
  const { sw, got, peer } = await withLatePeer(true)
  assert.is(got.size, 0, `held ${[...got].join(' ')} from forged pieces`)
  assert.is(sw.stats.chunksRejected, 1)
  assert.ok(peer.closed, 'the peer that sent a forged chunk is still connected')
})

test('a piece never asked for is dropped unread', async () => {
  const clock = new SimClock(10)
  const { sw, got } = await swarmWith(clock)
  const peer = new LateLink(clock)
  peer.open(INFO_HASH, PORT)
  sw.attach(peer)
  // it holds nothing, so nothing is asked of it; it sends chunk 3 all the same
  peer.push(3)
  await clock.run(DEADLINE_MS)
  await sw.close(false)
  assert.is(peer.asked.length, 0)
  assert.is(got.size, 0)
  assert.is(sw.stats.bytesFromPeers, 0)
})

test.run()
