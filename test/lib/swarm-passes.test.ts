// Which HAVEs wake a scheduling pass (lib/swarm/scheduler.ts haveMayAct): one real Swarm
// under a virtual clock, its origin silent, a peer holding the first half of the item that
// sends what it is asked for, and a second peer that says it holds chunks and sends
// nothing. The passes its HAVEs ask for are counted.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { ScriptedLink, oneSwarm, SILENT_ORIGIN } from './swarm-test-links.js'
import { UNKNOWN_PIPELINE } from '../../lib/swarm/scheduler.js'
import type { Message } from '../../lib/swarm/wire.js'

const DEADLINE_MS = 2000
const PORT = 6881
const CHUNKS = 32
const item = makeItem(CHUNKS * 128 * 1024, 128 * 1024)
const INFO_HASH = Buffer.alloc(20, 1)

/** a peer holding chunks `holds`, sending each 20 ms after it is asked (none, if `holds` is empty), and saying HAVE when told to */
class HolderLink extends ScriptedLink {
  readonly asked: number[] = []
  constructor (readonly clock: SimClock, readonly holds: number[], idByte: number) { super(idByte) }
  send (m: Message): boolean {
    if (m.type !== 'request') return true
    this.asked.push(m.index)
    if (this.holds.includes(m.index)) this.clock.setTimeout(() => { this.received({ type: 'piece', index: m.index, data: item.chunks[m.index] }) }, 20)
    return true
  }

  bitfield (): void {
    const bits = Buffer.alloc(Math.ceil(CHUNKS / 8))
    for (const i of this.holds) bits[i >> 3] |= 0x80 >> (i & 7)
    this.received({ type: 'bitfield', count: CHUNKS, bits })
  }

  have (i: number): void { this.received({ type: 'have', index: i }) }
}

test('a HAVE wakes a scheduling pass only when its chunk may be asked of its sender now', async () => {
  // (in a flash crowd half of all passes came on a HAVE, and 11 % of those asked for anything)
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, SILENT_ORIGIN)
  const first = new HolderLink(clock, Array.from({ length: CHUNKS / 2 }, (_, i) => i), 9)
  first.open(INFO_HASH, PORT)
  sw.attach(first)
  first.bitfield()
  await clock.run(1000)
  assert.is(sw.store!.held, CHUNKS / 2, 'the first half held from the first peer')
  const quiet = new HolderLink(clock, [], 10)
  quiet.open(INFO_HASH, PORT)
  sw.attach(quiet)
  quiet.bitfield()
  await clock.run(1100)
  // the passes asked for (Scheduler.kick) while the swarm reads each HAVE are counted
  const sch = sw.scheduler as unknown as { kick: () => void }
  const kick = sch.kick.bind(sch)
  let kicks = 0
  sch.kick = () => { kicks++; kick() }
  const say = async (i: number, at: number): Promise<number> => {
    let n = 0
    clock.setTimeout(() => { const before = kicks; quiet.have(i); n = kicks - before }, at - clock.now())
    await clock.run(at + 30)
    return n
  }
  assert.is(await say(3, 1200), 0, 'a HAVE for a chunk held asked for a pass')
  // the quiet peer may be asked for UNKNOWN_PIPELINE chunks before it has sent one
  let t = 1300
  for (let n = 0; n < UNKNOWN_PIPELINE; n++, t += 100) {
    const i = CHUNKS / 2 + 2 * n
    assert.ok(await say(i, t) > 0, `a HAVE for chunk ${i}, free, from a peer with room asked for no pass`)
    assert.ok(quiet.asked.includes(i), `chunk ${i} not asked of the peer that said it holds it (asked ${JSON.stringify(quiet.asked)})`)
  }
  assert.is(await say(CHUNKS / 2 + 1, t), 0, 'a HAVE from a peer with no room in its pipeline asked for a pass')
  assert.is(await say(CHUNKS / 2, t + 100), 0, 'a HAVE for a chunk already asked for asked for a pass')
  await sw.close(false)
})

test.run()
