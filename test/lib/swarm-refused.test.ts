// Tuning in: a peer that answered REJECT comes after the peers that did not
// (scheduler.ts REFUSED_DEADLINES), and chunk 0 and the chunk at the offset are asked for
// before the chunk before the offset's (playedFirst). Real Swarms on the simulator's clock
// and links (bench/sim): one listener and three peers holding the item, one of them with
// an upload limit that makes it refuse every request (pc-fetch --upload-limit).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { REFUSED_DEADLINES } from '../../lib/swarm/scheduler.js'
import type { OriginSource } from '../../lib/swarm/origin.js'
import type { PeerLink } from '../../lib/swarm/link.js'
import type { Message } from '../../lib/swarm/wire.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const LINE = { upBytesPerMs: 5000, downBytesPerMs: 25_000, rttMs: 20, loss: 0, nat: false }
const silent: OriginSource = { fetchChunks: async () => await new Promise<void>(() => {}), fetchSequential: async () => await new Promise<void>(() => {}), close: () => {} }

interface Ask { peer: string, i: number, at: number }

/**
 * A listener tuning in at 0.9 of the item (first positions: chunk 0, 25 and 26, the one at
 * the offset), dialling at once `names` in that order, each holding the whole item; 'refuser'
 * is limited to 64 KiB a second, so a chunk of 128 KiB would take it 2 s, past half a
 * deadline: it answers REJECT to every request (uploads.ts). The requests each peer had,
 * the REJECTs the listener had, and when it held each chunk.
 */
async function tuneIn (names: string[]): Promise<{ asked: Ask[], rejects: Ask[], heldAt: number[] }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const asked: Ask[] = []
  const rejects: Ask[] = []
  const heldAt: number[] = new Array(item.chunks.length).fill(NaN)
  const swarms: Swarm[] = []
  for (const [k, name] of ['listener', ...names].entries()) {
    const host = new Host(k, { host: `10.0.0.${k + 1}`, port: PORT }, LINE)
    net.add(host)
    const sw = new Swarm({
      url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 10 + k), port: PORT,
      cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: k === 0 ? 0.9 : 0, durationMs: DURATION_MS,
      limiter: new RateLimiter(name === 'refuser' ? 64 * 1024 : 0, clock),
      warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin: silent,
      store: (t) => new MemoryStore(t, { keepBuffers: true }),
    })
    host.swarm = sw
    sw.counted(names.length + 1)
    await sw.setTree(item.tree)
    const on = sw.onMessage.bind(sw)
    if (k > 0) {
      for (let i = 0; i < item.chunks.length; i++) await sw.store!.putChecked(i, item.chunks[i])
      sw.onMessage = (p: PeerLink, m: Message) => { if (m.type === 'request') asked.push({ peer: name, i: m.index, at: clock.now() }); on(p, m) }
    } else {
      sw.onMessage = (p: PeerLink, m: Message) => { if (m.type === 'reject') rejects.push({ peer: names[swarms.length > 0 ? hostOf(p) - 1 : 0], i: m.index, at: clock.now() }); on(p, m) }
    }
    swarms.push(sw)
  }
  // the peer a link reaches, by its address (10.0.0.k+1)
  function hostOf (p: PeerLink): number { return Number(p.address.split(':')[0].split('.')[3]) - 1 }
  swarms[0].on('have', (i: number) => { if (Number.isNaN(heldAt[i])) heldAt[i] = clock.now() })
  for (let k = 1; k <= names.length; k++) swarms[0].addAddress({ host: `10.0.0.${k + 1}`, port: PORT })
  await clock.run(10_000)
  for (const sw of swarms) await sw.close(false)
  return { asked, rejects, heldAt }
}

test('tuning in, a peer that answered REJECT is asked for nothing more while the others that hold it have room', async () => {
  const { asked, rejects, heldAt } = await tuneIn(['refuser', 'a', 'b'])
  // dialled first, the refuser is asked first, and refuses
  const first = rejects.find(r => r.peer === 'refuser')
  assert.ok(first !== undefined, `the refuser answered REJECT: ${JSON.stringify(rejects)}; asked ${JSON.stringify(asked)}`)
  // then the others (two peers holding everything) are asked instead, until the first
  // positions are held (after, the rest of the item fills every pipeline, the refuser's last)
  const held = Math.max(heldAt[0], heldAt[25], heldAt[26])
  assert.ok(held < first.at + REFUSED_DEADLINES * DEADLINE_MS, `the first positions held at ${held} ms`)
  const again = asked.filter(a => a.peer === 'refuser' && a.at > first.at && a.at <= held)
  assert.is(again.length, 0, `asked of the refuser after its REJECT at ${first.at} ms, before the first positions were held at ${held} ms: ${JSON.stringify(again)}`)
  for (const i of [0, 26]) assert.ok(heldAt[i] < 1000, `chunk ${i} held at ${heldAt[i]} ms`)
})

test('tuning in, chunk 0 and the chunk at the offset are asked for before the chunk before the offset\'s', async () => {
  const { asked, heldAt } = await tuneIn(['a', 'b'])
  // the first peer dialled has room for two requests before its first piece: chunk 0 and 26, not 0 and 25
  const at = (i: number): number => Math.min(...asked.filter(a => a.i === i).map(a => a.at))
  assert.ok(at(25) > at(0) && at(25) > at(26), `chunk 25 asked at ${at(25)} ms, chunk 0 at ${at(0)}, chunk 26 at ${at(26)}: ${JSON.stringify(asked.filter(a => a.at <= at(25)))}`)
  assert.ok(heldAt[25] < 1000, `the chunk before the offset's is asked for afterwards (held at ${heldAt[25]} ms)`)
})

test.run()
