// A designated listener says its turn before it takes it (ASKING, pc-wire(7); scheduler.ts
// CLAIM_INTENT_MS): one real Swarm of a scheduled item under a virtual clock (bench/sim's
// SimClock and SimNet), its origin recording when each chunk is asked of it, and two peers
// played by the test, both ranked below it for block 2 and holding chunks 0-7: one that
// reads ASKING, and may answer with a claim of its own, and one of an older version.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { SimClock } from '../../bench/sim/clock.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { ScriptedLink, recordedSwarm } from './swarm-test-links.js'
import { CLAIM_INTENT_MS, INTENT_STALE_MS, ORIGIN_SETTLE_MS, ORIGIN_STEP_MS } from '../../lib/swarm/scheduler.js'
import { peerKey, score } from '../../lib/swarm/picker.js'
import type { Message } from '../../lib/swarm/wire.js'
import type { Swarm } from '../../lib/swarm/swarm.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const INFO_HASH = Buffer.alloc(20, 1)
const me = peerKey(Buffer.alloc(20, 7))
const mine = score(me, 2)
const below = Array.from({ length: 60 }, (_, k) => 20 + k).filter(b => score(peerKey(Buffer.alloc(20, b)), 2) < mine).slice(0, 2)

/** a peer holding chunks 0-7 that records what it is sent and when; `asking`: its handshake says it reads ASKING */
class Peer extends ScriptedLink {
  readonly sent: Array<{ at: number, m: Message }> = []
  constructor (readonly clock: SimClock, idByte: number, readonly asking: boolean, readonly onAsking?: (m: Message) => void) { super(idByte) }
  override open (infoHash: Buffer, port: number): void {
    this.received({ type: 'handshake', handshake: { infoHash, peerId: Buffer.alloc(20, this.idByte), port, ...(this.asking ? { asking: true } : {}) } })
  }

  send (m: Message): boolean {
    this.sent.push({ at: this.clock.now(), m })
    if (m.type === 'asked' && m.score !== undefined) this.onAsking?.(m)
    if (m.type === 'request') this.clock.setTimeout(() => { this.received(m.index < 8 || this.holds.has(m.index) ? { type: 'piece', index: m.index, data: item.chunks[m.index] } : { type: 'reject', index: m.index }) }, 40)
    return true
  }

  readonly holds = new Set<number>()
  says (m: Message): void { if (m.type === 'have') this.holds.add(m.index); this.received(m) }
  asked (): Array<{ at: number, m: Message & { type: 'asked' } }> { return this.sent.filter((s): s is { at: number, m: Message & { type: 'asked' } } => s.m.type === 'asked') }
}

/**
 * The listener tuning in at the item's start, the tracker counting three: when each chunk
 * was first asked of the origin, and what each peer was sent. `answer`: what the peer that
 * reads ASKING says 200 ms after the listener's first ASKING reaches it.
 */
async function run (answer?: (m: Message & { type: 'asked' }, p: Peer, sw: Swarm) => void): Promise<{ asked: number[], reads: Peer, old: Peer, held: number[] }> {
  const { clock, sw, asked, held } = await recordedSwarm(item, INFO_HASH, DEADLINE_MS, DURATION_MS, 3)
  let answered = false
  const reads: Peer = new Peer(clock, below[0], true, (m) => {
    if (answered || answer === undefined || m.type !== 'asked') return
    answered = true
    clock.setTimeout(() => answer(m, reads, sw), 200)
  })
  const old = new Peer(clock, below[1], false)
  for (const p of [reads, old]) {
    p.open(INFO_HASH, PORT)
    sw.attach(p)
    const bits = Buffer.alloc(Math.ceil(item.chunks.length / 8))
    bits[0] = 0xff
    p.says({ type: 'bitfield', count: item.chunks.length, bits })
  }
  sw.allowOrigin()
  await clock.run(40_000)
  await sw.close(false)
  return { asked, reads, old, held }
}

const firstSaid = (p: Peer): { at: number, m: Message & { type: 'asked' } } => {
  const s = p.asked().find(x => x.m.first >= 8)
  assert.ok(s !== undefined, `no ASKED for chunks 8 on: ${JSON.stringify(p.asked())}`)
  return s
}

test('a designated turn is said first with the listener\'s score, as ASKED to a peer that reads no ASKING, and taken a CLAIM_INTENT_MS later', async () => {
  assert.is(below.length, 2)
  const { asked, reads, old } = await run()
  const said = firstSaid(reads)
  assert.equal(said.m, { type: 'asked', first: 8, count: said.m.count, score: mine }, 'ASKING for block 2 from chunk 8, with our score')
  assert.ok(said.m.count >= 1 && said.m.count <= 4, `count ${said.m.count}`)
  // (the turn: ORIGIN_SETTLE_MS after the start, and ORIGIN_STEP_MS a place of three)
  const turn = ORIGIN_SETTLE_MS + (1 - mine / 2 ** 32) * 3 * ORIGIN_STEP_MS
  assert.ok(said.at >= turn - 20 && said.at <= turn + 600, `said at ${said.at} ms, the turn at ${turn.toFixed(0)} ms`)
  const toOld = firstSaid(old)
  assert.equal(toOld, { at: said.at, m: { type: 'asked', first: 8, count: said.m.count } }, 'an ASKED, at the same moment, to the older peer')
  for (let i = 8; i < 8 + said.m.count; i++) {
    assert.ok(asked[i] >= said.at + CLAIM_INTENT_MS && asked[i] <= said.at + CLAIM_INTENT_MS + 600, `chunk ${i} asked of the origin at ${asked[i]} ms, said at ${said.at} ms`)
  }
  // said once: not again as ASKED when the origin is asked
  assert.is(reads.asked().filter(x => x.m.first <= 8 && x.m.first + x.m.count > 8).length, 1, `ASKED sent: ${JSON.stringify(reads.asked())}`)
})

test('a higher claim heard before the turn is taken: the listener stands down and takes the chunks from its holder', async () => {
  let count = 0
  const { asked, held } = await run((m, p) => {
    count = m.count
    p.says({ type: 'asked', first: m.first, count: m.count, score: mine + 1 })
    p.clock.setTimeout(() => { for (let i = m.first; i < m.first + m.count; i++) p.says({ type: 'have', index: i }) }, 3000)
  })
  assert.ok(count > 0)
  for (let i = 8; i < 8 + count; i++) {
    assert.ok(Number.isNaN(asked[i]), `chunk ${i} asked of the origin at ${asked[i]} ms, after a higher claim on it`)
    assert.ok(held[i] > 0, `chunk ${i} held from the peer`)
  }
})

test('a lower claim, or one\'s own come back, does not hold the turn, and goes no further', async () => {
  for (const lower of [mine - 1, mine]) {
    let at = NaN
    let count = 0
    const { asked, old } = await run((m, p) => { at = p.clock.now(); count = m.count; p.says({ type: 'asked', first: m.first, count: m.count, score: lower }) })
    assert.ok(count > 0)
    const said = firstSaid(old).at
    for (let i = 8; i < 8 + count; i++) {
      assert.ok(asked[i] >= said + CLAIM_INTENT_MS && asked[i] <= said + CLAIM_INTENT_MS + 600, `score ${lower}: chunk ${i} asked of the origin at ${asked[i]} ms, said at ${said} ms`)
    }
    assert.is(old.asked().filter(x => x.at >= at && x.m.first <= 8 && x.m.first + x.m.count > 8).length, 0, `score ${lower}: not passed on`)
  }
})

test('a claim made without a score (its asker at the origin already) heard before the turn is taken: the listener stands down', async () => {
  let count = 0
  const { asked } = await run((m, p) => {
    count = m.count
    p.says({ type: 'asked', first: m.first, count: m.count })
    p.clock.setTimeout(() => { for (let i = m.first; i < m.first + m.count; i++) p.says({ type: 'have', index: i }) }, 3000)
  })
  assert.ok(count > 0)
  for (let i = 8; i < 8 + count; i++) assert.ok(Number.isNaN(asked[i]), `chunk ${i} asked of the origin at ${asked[i]} ms`)
})

test('a turn said and then taken is told to a new peer with its score, as it was said, not as an ASKED', async () => {
  // (told as an ASKED, a peer holding the claim with its score passes it on again as one at
  // the origin already, and so does every peer it reaches: a second flood for each newcomer)
  let late: Peer | undefined
  let count = 0
  let at = NaN
  const { asked } = await run((m, p, sw) => {
    count = m.count
    // (attached a little after the turn is taken, while the origin still sends its chunks 100 ms apart)
    p.clock.setTimeout(() => {
      at = p.clock.now()
      late = new Peer(p.clock, 90, true)
      late.open(INFO_HASH, PORT)
      sw.attach(late)
    }, CLAIM_INTENT_MS - 200 + 30)
  })
  assert.ok(count >= 1 && late !== undefined, `count ${count}`)
  assert.ok(asked[8] < at && !(asked[8 + count - 1] + 100 * count <= at), `the origin asked at ${asked[8]} ms, the new peer at ${at} ms`)
  const told = late.asked().filter(x => x.m.first <= 8 && x.m.first + x.m.count > 8).map(x => x.m)
  assert.equal(told, [{ type: 'asked', first: 8, count, score: mine }], `told: ${JSON.stringify(late.asked())}`)
})

test('a turn said long ago and never taken holds nothing: a lower claim is then waited for and passed on', async () => {
  // (as the turn is said the tracker counts a thousand listeners, which places the listener
  // past ORIGIN_STEP_MAX_MS: the turn is not taken. INTENT_STALE_MS after it was said the
  // older peer claims the chunks with a lower score: a listener whose turn came, while ours
  // is no longer due)
  let count = 0
  let at = NaN
  const { reads, asked } = await run((m, p, sw) => {
    count = m.count
    sw.counted(1000)
    p.clock.setTimeout(() => {
      at = p.clock.now()
      const other = [...sw.peers].find(q => q !== p) as Peer
      other.says({ type: 'asked', first: m.first, count: m.count, score: mine - 1 })
    }, INTENT_STALE_MS)
  })
  assert.ok(count > 0)
  assert.ok(Number.isNaN(asked[8]) || asked[8] > at + 1000, `chunk 8 asked of the origin at ${asked[8]} ms`)
  const passed = reads.asked().filter(x => x.at >= at && x.m.first <= 8 && x.m.first + x.m.count > 8).map(x => x.m)
  assert.equal(passed, [{ type: 'asked', first: 8, count, score: mine - 1 }], `passed on: ${JSON.stringify(reads.asked())}`)
})

test.run()
