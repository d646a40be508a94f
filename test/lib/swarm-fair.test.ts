// The fair share (lib/swarm/uploads.ts refuseBeyondShares, pc-fetch --fair-share): a line
// past it refuses a request marked AREQUEST (scheduler.ts mayAskElsewhere: the requester
// has another holder at hand and time to ask it) and serves one that is not; the refused
// requester takes the chunk from its other holder, not from the origin. Real Swarms on the
// simulator's clock and links (bench/sim): a listener at an item's top and two peers
// holding the whole item, the first dialled past its fair share.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { ShareLedger } from '../../lib/swarm/uploads.js'
import type { PeerLink } from '../../lib/swarm/link.js'
import type { Handshake, Message } from '../../lib/swarm/wire.js'
import { recordingOrigin } from './swarm-test-links.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const LINE = { upBytesPerMs: 5000, downBytesPerMs: 25_000, rttMs: 20, loss: 0, nat: false }

interface Ask { i: number, alt: boolean }
interface Peer { asked: Ask[], rejected: number[], ledger: ShareLedger }

/**
 * A listener at the item's top dialling 'fair' then 'other', each holding the whole item;
 * 'fair' has sent more than its fair share of 1 × what it received (it received nothing:
 * any chunk takes it past), 'other' is under its own. With `old`, 'fair' speaks as an
 * older build: its handshake says nothing of AREQUEST. What each peer was asked and how it
 * answered, which chunks the origin was asked for, and when the listener held each chunk.
 */
async function run (old: boolean): Promise<{ fair: Peer, other: Peer, originAsked: number[], heldAt: number[] }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const originAsked: number[] = new Array(item.chunks.length).fill(NaN)
  const heldAt: number[] = new Array(item.chunks.length).fill(NaN)
  const peers: Peer[] = []
  const swarms: Swarm[] = []
  for (const [k, name] of ['listener', 'fair', 'other'].entries()) {
    const host = new Host(k, { host: `10.0.0.${k + 1}`, port: PORT }, LINE)
    net.add(host)
    const ledger = new ShareLedger(0, name === 'fair' ? 1 : 4)
    const sw = new Swarm({
      url: 'http://origin.test/item', root: item.tree.root, infoHash: Buffer.alloc(20, 1), peerId: Buffer.alloc(20, 10 + k), port: PORT,
      cacheDir: '', removeCache: false, window: 16, deadlineMs: DEADLINE_MS, playFraction: 0, durationMs: DURATION_MS,
      limiter: new RateLimiter(0, clock), share: ledger,
      warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin: recordingOrigin(clock, item.chunks, originAsked),
      store: (t) => new MemoryStore(t, { keepBuffers: true }),
    })
    host.swarm = sw
    sw.counted(3)
    await sw.setTree(item.tree)
    if (k > 0) {
      for (let i = 0; i < item.chunks.length; i++) await sw.store!.putChecked(i, item.chunks[i])
      ledger.received = name === 'fair' ? 0 : item.chunks.length * 128 * 1024
      const p: Peer = { asked: [], rejected: [], ledger }
      peers.push(p)
      const on = sw.onMessage.bind(sw)
      sw.onMessage = (l: PeerLink, m: Message) => { if (m.type === 'request') p.asked.push({ i: m.index, alt: m.alt === true }); on(l, m) }
      if (name === 'fair' && old) {
        // an older build's handshake: flags 0 (wire.ts HS_AREQUEST unset)
        const members = sw.members as unknown as { handshake: (full: boolean) => Handshake }
        const made = members.handshake.bind(sw.members)
        members.handshake = (full: boolean) => ({ ...made(full), altRequests: undefined })
      }
    }
    swarms.push(sw)
  }
  // the REJECTs the listener had, by the peer's address (10.0.0.2: fair, 10.0.0.3: other)
  const on = swarms[0].onMessage.bind(swarms[0])
  swarms[0].onMessage = (l: PeerLink, m: Message) => { if (m.type === 'reject') peers[Number(l.address.split(':')[0].split('.')[3]) - 2].rejected.push(m.index); on(l, m) }
  swarms[0].on('have', (i: number) => { if (Number.isNaN(heldAt[i])) heldAt[i] = clock.now() })
  for (const k of [1, 2]) swarms[0].addAddress({ host: `10.0.0.${k + 1}`, port: PORT })
  await clock.run(20_000)
  for (const sw of swarms) await sw.close(false)
  return { fair: peers[0], other: peers[1], originAsked, heldAt }
}

test('past its fair share a line refuses what is asked with AREQUEST and serves what is not; the refused chunk comes from the other holder, not the origin', async () => {
  const { fair, other, originAsked, heldAt } = await run(false)
  const alt = fair.asked.filter(a => a.alt).map(a => a.i)
  const plain = fair.asked.filter(a => !a.alt).map(a => a.i)
  assert.ok(alt.length > 0, `AREQUESTs came to the line past its fair share: ${JSON.stringify(fair.asked)}`)
  assert.ok(plain.length > 0, `so did REQUESTs (chunk 0, chunks playing soon): ${JSON.stringify(fair.asked)}`)
  assert.equal(fair.rejected, alt, 'every AREQUEST refused, no REQUEST')
  assert.is(fair.ledger.fairRefused, alt.length)
  assert.ok(fair.ledger.uploaded > 0, 'its REQUESTs were served')
  for (const i of alt) {
    assert.ok(other.asked.some(a => a.i === i), `chunk ${i}, refused, asked of the other holder`)
    assert.ok(heldAt[i] < 20_000, `chunk ${i} held (at ${heldAt[i]} ms)`)
  }
  assert.equal(originAsked.flatMap((t, i) => Number.isNaN(t) ? [] : [i]), [], 'the origin was asked for nothing')
  assert.is(other.ledger.fairRefused, 0)
})

test('a line whose handshake does not say it reads AREQUEST (an older build) is sent REQUEST only, and refuses none for its fair share', async () => {
  const { fair, originAsked } = await run(true)
  assert.ok(fair.asked.length > 0)
  assert.equal(fair.asked.filter(a => a.alt), [])
  assert.equal(fair.rejected, [])
  assert.is(fair.ledger.fairRefused, 0)
  assert.equal(originAsked.flatMap((t, i) => Number.isNaN(t) ? [] : [i]), [])
})

test.run()
