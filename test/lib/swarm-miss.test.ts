// A chunk a peer refused is asked of it again after MISS_FORGET_DEADLINES deadlines
// (lib/swarm/scheduler.ts missedBy, forgive): one real Swarm under a virtual clock, its
// origin silent, and one peer (a link played by the test) holding the whole item that
// answers REJECT to the first request for each chunk and sends it when asked again.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { ScriptedLink, oneSwarm, SILENT_ORIGIN } from './swarm-test-links.js'
import { MISS_FORGET_DEADLINES } from '../../lib/swarm/scheduler.js'
import type { Message } from '../../lib/swarm/wire.js'

const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(8 * 128 * 1024, 128 * 1024)
const INFO_HASH = Buffer.alloc(20, 1)

/** a peer holding every chunk, refusing the first request for each, 20 ms each way */
class BusyFirstLink extends ScriptedLink {
  readonly asked: Array<{ index: number, at: number }> = []
  readonly refusedAt = new Map<number, number>()
  constructor (readonly clock: SimClock) { super() }
  send (m: Message): boolean {
    if (m.type !== 'request') return true
    const now = this.clock.now()
    this.asked.push({ index: m.index, at: now })
    const refuse = !this.refusedAt.has(m.index)
    if (refuse) this.refusedAt.set(m.index, now + 40)
    this.clock.setTimeout(() => { this.received(refuse ? { type: 'reject', index: m.index } : { type: 'piece', index: m.index, data: item.chunks[m.index] }) }, 40)
    return true
  }

  /** as the transport would: the bitfield of the whole item */
  holdAll (): void {
    const bits = Buffer.alloc(Math.ceil(item.chunks.length / 8))
    for (let i = 0; i < item.chunks.length; i++) bits[i >> 3] |= 0x80 >> (i & 7)
    this.received({ type: 'bitfield', count: item.chunks.length, bits })
  }
}

test('a chunk a peer refused is asked of it again after MISS_FORGET_DEADLINES deadlines, not before', async () => {
  // (never asked again, the only holder of a chunk kept it to itself: in a flash crowd of
  // 1,000 its ~65 peers all wrote it off at once, and the chunk went to the origin again)
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, SILENT_ORIGIN)
  const got = new Map<number, number>()
  sw.on('have', (i: number) => { if (!got.has(i)) got.set(i, clock.now()) })
  const peer = new BusyFirstLink(clock)
  peer.open(INFO_HASH, PORT)
  sw.attach(peer)
  peer.holdAll()
  await clock.run(4 * MISS_FORGET_DEADLINES * DEADLINE_MS)
  await sw.close(false)
  const forgetMs = MISS_FORGET_DEADLINES * DEADLINE_MS
  assert.is(got.size, item.chunks.length, `held ${got.size} of ${item.chunks.length} chunks (asked ${JSON.stringify(peer.asked)})`)
  for (let i = 0; i < item.chunks.length; i++) {
    const refused = peer.refusedAt.get(i)
    assert.ok(refused !== undefined, `chunk ${i} never refused`)
    const again = peer.asked.filter(a => a.index === i && a.at > refused)
    assert.ok(again.length > 0, `chunk ${i} not asked again after its refusal at ${refused} ms`)
    assert.ok(again[0].at >= refused + forgetMs, `chunk ${i} refused at ${refused} ms, asked again at ${again[0].at} ms, before ${forgetMs} ms had passed`)
  }
})

test.run()
