// A peer that says it asked the origin for a chunk (ASKED, pc-wire(7)) is waited for, within
// bounds (lib/swarm/scheduler.ts claimed, CLAIM_MAX_MS, CLAIM_MIN_DEADLINES): one real Swarm
// of a scheduled item under a virtual clock (bench/sim's SimClock and SimNet), its origin
// recording when each chunk is asked of it, and one peer played by the test that sends
// ASKED, then HAVE and the chunks (an honest one), or ASKED for every chunk again and again
// and nothing else (a liar); and a second peer, to which a claim is passed on.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { SimNet } from '../../bench/sim/net.js'
import { Rng } from '../../bench/sim/population.js'
import { makeItem } from '../../bench/sim/scenario.js'
import { ScriptedLink, recordingOrigin, recordedSwarm, oneSwarm, SILENT_ORIGIN } from './swarm-test-links.js'
import { CLAIM_INTENT_MS, CLAIM_MIN_DEADLINES, CLAIM_MAX_MS, CLAIM_SPREAD, CLAIM_SPREAD_PLACES, OVERDUE_PLACE_STEP_MS, OVERDUE_SPREAD, ORIGIN_SETTLE_MS, ORIGIN_STEP_MS } from '../../lib/swarm/scheduler.js'
import { peerKey, score } from '../../lib/swarm/picker.js'
import type { Message } from '../../lib/swarm/wire.js'
import type { Swarm } from '../../lib/swarm/swarm.js'

// four minutes of 128 kbit/s in 30 chunks of 128 KiB, as bench/sim's audio item
const DURATION_MS = 240_000
const DEADLINE_MS = 2000
const PORT = 6881
const item = makeItem(DURATION_MS * 16, 128 * 1024)
const chunkMs = DURATION_MS / item.chunks.length
const INFO_HASH = Buffer.alloc(20, 1)

/** a peer 20 ms away that sends ASKED for `claim` chunks from the start (every 500 ms when `again`), and HAVE for them and the chunks from `holdsAt` */
class ClaimingLink extends ScriptedLink {
  private holding = false
  constructor (readonly clock: SimClock, readonly claim: number, readonly holdsAt: number, readonly again: boolean, readonly tell: boolean) { super() }
  send (m: Message): boolean {
    if (m.type !== 'request') return true
    this.clock.setTimeout(() => { this.received(this.holding ? { type: 'piece', index: m.index, data: item.chunks[m.index] } : { type: 'reject', index: m.index }) }, 40)
    return true
  }

  start (): void {
    this.received({ type: 'bitfield', count: item.chunks.length, bits: Buffer.alloc(Math.ceil(item.chunks.length / 8)) })
    const tell = (): void => {
      if (this.closed || this.holding) return
      this.received({ type: 'asked', first: 0, count: this.claim })
      if (this.again) this.clock.setTimeout(tell, 500)
    }
    if (this.tell) this.clock.setTimeout(tell, 20)
    if (this.holdsAt < Infinity) {
      this.clock.setTimeout(() => {
        this.holding = true
        for (let i = 0; i < this.claim; i++) this.received({ type: 'have', index: i })
      }, this.holdsAt)
    }
  }
}

/**
 * One listener tuning in at the item's start, the tracker counting two, connected to one
 * claiming peer: when each chunk was first asked of the origin, and when each was held.
 */
/** a peer that sends nothing, and records what it is sent */
class RecordingLink extends ScriptedLink {
  readonly sent: Message[] = []
  send (m: Message): boolean { this.sent.push(m); return true }
  says (m: Message): void { this.received(m) }
}

async function run (claim: number, holdsAt: number, again: boolean, tellAsked = true): Promise<{ asked: number[], held: number[] }> {
  const { clock, sw, asked, held } = await recordedSwarm(item, INFO_HASH, DEADLINE_MS, DURATION_MS, 2)
  // (tellAsked false: a peer of an older version, which sends no ASKED)
  const peer = new ClaimingLink(clock, claim, holdsAt, again, tellAsked)
  peer.open(INFO_HASH, PORT)
  sw.attach(peer)
  peer.start()
  sw.allowOrigin()
  await clock.run(DURATION_MS)
  await sw.close(false)
  return { asked, held }
}

test('a chunk a peer said it asked the origin for is not taken from the origin while that peer may still bring it', async () => {
  // the peer holds chunks 0-3 from 3.5 s: within CLAIM_MIN_DEADLINES deadlines of its ASKED
  const holdsAt = 3500
  assert.ok(holdsAt < CLAIM_MIN_DEADLINES * DEADLINE_MS)
  const { asked, held } = await run(4, holdsAt, false)
  for (let i = 0; i < 4; i++) {
    // (once the peer holds it, a chunk overdue may still go to the origin as before, when the peer's pipeline is full)
    assert.ok(!(asked[i] < holdsAt), `chunk ${i} asked of the origin at ${asked[i]} ms, while the peer that had asked for it was to bring it`)
    assert.ok(held[i] >= holdsAt && held[i] < holdsAt + DEADLINE_MS, `chunk ${i} held at ${held[i]} ms`)
  }
  assert.ok(Number.isNaN(asked[0]) && Number.isNaN(asked[1]), `chunks 0 and 1, asked of the peer at once, asked of the origin at ${asked[0]} and ${asked[1]} ms`)
  // the same peer without its ASKED (as an older version): the near chunks go to the origin first
  const old = await run(4, holdsAt, false, false)
  assert.ok([0, 1, 2].some(i => old.asked[i] < holdsAt), `without ASKED, chunks 0-2 asked of the origin at ${old.asked.slice(0, 3).join(', ')} ms`)
})

test('a peer that says it asked the origin for every chunk and sends none does not keep a listener from the origin', async () => {
  // it says so every 500 ms; each chunk is still asked of the origin by CLAIM_MIN_DEADLINES
  // deadlines after the first claim or (1 - CLAIM_SPREAD) deadlines before it plays (its
  // claim renewed once: CLAIM_RENEWALS), and held before it plays
  const { asked, held } = await run(item.chunks.length, Infinity, true)
  const least = 20 + CLAIM_MIN_DEADLINES * DEADLINE_MS
  for (let i = 0; i < item.chunks.length; i++) {
    const plays = i * chunkMs
    assert.ok(!Number.isNaN(asked[i]), `chunk ${i} never asked of the origin`)
    assert.ok(asked[i] <= Math.max(least, plays - (1 - CLAIM_SPREAD) * DEADLINE_MS) + 500, `chunk ${i} (plays at ${plays} ms) asked of the origin at ${asked[i]} ms`)
    assert.ok(held[i] <= Math.max(least + DEADLINE_MS, plays), `chunk ${i} (plays at ${plays} ms) held at ${held[i]} ms`)
  }
  // and the claims were waited for at all: chunk 0 not before they ran out
  assert.ok(asked[0] >= least, `chunk 0 asked of the origin at ${asked[0]} ms, before ${least} ms`)
})

/** A listener holding chunk 5 of the item, its origin silent, and `peers` recording peers 10.0.0.9, .10, … connected. */
async function holdingFive (peers: number): Promise<{ clock: SimClock, sw: Swarm, links: RecordingLink[] }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, SILENT_ORIGIN, DURATION_MS)
  sw.counted(3)
  await sw.store!.putChecked(5, item.chunks[5])
  const links: RecordingLink[] = []
  for (let k = 0; k < peers; k++) { const l = new RecordingLink(9 + k); l.open(INFO_HASH, PORT); sw.attach(l); links.push(l) }
  return { clock, sw, links }
}

test('a claim is passed on once to the other peers, for the chunks not held', async () => {
  // (told only to the asker's own peers, a claim reached ~65 of a flash crowd of 1,000)
  const { clock, sw, links: [asker, other] } = await holdingFive(2)
  const claim: Message = { type: 'asked', first: 4, count: 4 }
  asker.says(claim)
  asker.says(claim)
  await clock.run(100)
  const passed = (l: RecordingLink): Message[] => l.sent.filter(m => m.type === 'asked')
  assert.equal(passed(other), [{ type: 'asked', first: 4, count: 1 }, { type: 'asked', first: 6, count: 2 }], 'chunks 4, 6 and 7 passed on once (5 is held)')
  assert.equal(passed(asker), [], 'nothing passed back to the asker')
  await sw.close(false)
})

test('a listener whose line cannot pass a chunk on within half a deadline takes chunks from the origin without a claim (ASKED)', async () => {
  // (its claim held the whole audience while its copy reached nobody: a flash crowd of
  // 100,000, bench/sim audio, seed 1, a 0.5 Mbit/s line and chunk 5; BENCHMARKS.md `## scale`)
  const told = async (uploadLimit: number): Promise<Message[]> => {
    const clock = new SimClock(10)
    const net = new SimNet(clock, new Rng(1))
    const asked: number[] = new Array(item.chunks.length).fill(NaN)
    const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, recordingOrigin(clock, item.chunks, asked), DURATION_MS, uploadLimit)
    sw.counted(2)
    const peer = new RecordingLink(9)
    peer.open(INFO_HASH, PORT)
    sw.attach(peer)
    peer.says({ type: 'bitfield', count: item.chunks.length, bits: Buffer.alloc(Math.ceil(item.chunks.length / 8)) })
    sw.allowOrigin()
    await clock.run(20_000)
    await sw.close(false)
    assert.ok(asked.some(t => t >= 0), 'chunks were taken from the origin')
    return peer.sent.filter(m => m.type === 'asked')
  }
  assert.ok((await told(0)).length > 0, 'a line of no known limit tells its peer')
  // (64 KiB/s: a 128 KiB chunk takes a deadline)
  assert.equal(await told(64 * 1024), [], 'a line too slow tells it nothing')
})

test('a new peer is told, after the bitfield, of the chunks waited for by a claim', async () => {
  // (passed on only when it came, a claim missed the listeners of a flash crowd that
  // connected a moment later, and they took the first chunks from the origin again)
  const { clock, sw, links: [asker] } = await holdingFive(1)
  asker.says({ type: 'asked', first: 4, count: 4 })
  await clock.run(100)
  const late = new RecordingLink(10)
  late.open(INFO_HASH, PORT)
  sw.attach(late)
  await clock.run(200)
  const kinds = late.sent.map(m => m.type)
  assert.ok(kinds.indexOf('bitfield') >= 0 && kinds.indexOf('bitfield') < kinds.indexOf('asked'), `sent to the new peer: ${kinds.join(', ')}`)
  assert.equal(late.sent.filter(m => m.type === 'asked'), [{ type: 'asked', first: 4, count: 1 }, { type: 'asked', first: 6, count: 2 }], 'chunks 4, 6 and 7 (5 is held)')
  await sw.close(false)
})

test('a claim passed on by a peer that then leaves is still waited for, within its bounds', async () => {
  // the peer may only have passed it on: the asker, elsewhere in the swarm, still brings the
  // chunks to its other peers (in a flash crowd of 1,000 a listener took chunks 4-7 from the
  // origin again 1.3 s after the asker, when the peer that had told it left)
  const { clock, sw, asked, held } = await recordedSwarm(item, INFO_HASH, DEADLINE_MS, DURATION_MS, 3)
  const relay = new RecordingLink(9)
  relay.open(INFO_HASH, PORT)
  sw.attach(relay)
  sw.allowOrigin()
  clock.setTimeout(() => relay.says({ type: 'asked', first: 4, count: 4 }), 20)
  clock.setTimeout(() => relay.says({ type: 'goodbye' }), 500)
  await clock.run(DURATION_MS / 2)
  await sw.close(false)
  for (let i = 4; i < 8; i++) {
    const plays = i * chunkMs
    // until 30 s after the claim, or a deadline (and the origin's wait) before the chunk plays
    const until = Math.min(20 + 30_000, plays - DEADLINE_MS - 1000)
    assert.ok(asked[i] >= until, `chunk ${i} (plays at ${plays} ms) asked of the origin at ${asked[i]} ms, before ${until} ms`)
    assert.ok(held[i] <= plays, `chunk ${i} (plays at ${plays} ms) held at ${held[i]} ms`)
  }
})

/** a peer that holds nothing, says what `script` makes it say, and sends chunk i when asked once it has said HAVE i */
class TellingLink extends ScriptedLink {
  readonly holds = new Set<number>()
  constructor (readonly clock: SimClock, idByte: number) { super(idByte) }
  send (m: Message): boolean {
    if (m.type !== 'request') return true
    this.clock.setTimeout(() => { this.received(this.holds.has(m.index) ? { type: 'piece', index: m.index, data: item.chunks[m.index] } : { type: 'reject', index: m.index }) }, 40)
    return true
  }

  says (m: Message): void { if (m.type === 'have') this.holds.add(m.index); this.received(m) }
}

// chunk 8 (block 2, plays at 64 s): peer A claims it at 20 ms and never brings it (the
// claim runs out at CLAIM_MAX_MS); peer B, ranked above the listener for block 2, so that the
// listener takes the chunk only when overdue (about 52 s), claims it at 50 s when `again`, and holds it at 53 s
const me = peerKey(Buffer.alloc(20, 7))
const ids = Array.from({ length: 40 }, (_, k) => 20 + k)
const above = ids.find(b => score(peerKey(Buffer.alloc(20, b)), 2) > score(me, 2))!
const below = ids.find(b => score(peerKey(Buffer.alloc(20, b)), 2) < score(me, 2))!
const chunk = 8
const claimAt = 50_000
const holdsAt = 53_000
async function overdueRun (again: boolean, audience = 3, holds = holdsAt, firstClaimAt = 20, againAt = claimAt): Promise<{ asked: number, held: number }> {
    const clock = new SimClock(10)
    const net = new SimNet(clock, new Rng(1))
    const asked: number[] = new Array(item.chunks.length).fill(NaN)
    let held = NaN
    const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, recordingOrigin(clock, item.chunks, asked), DURATION_MS)
    sw.counted(audience)
    sw.on('have', (i: number) => { if (i === chunk && Number.isNaN(held)) held = clock.now() })
    const a = new TellingLink(clock, below)
    const b = new TellingLink(clock, above)
    for (const p of [a, b]) {
      p.open(INFO_HASH, PORT)
      sw.attach(p)
      p.says({ type: 'bitfield', count: item.chunks.length, bits: Buffer.alloc(Math.ceil(item.chunks.length / 8)) })
    }
    clock.setTimeout(() => a.says({ type: 'asked', first: chunk, count: 1 }), firstClaimAt)
    if (again) clock.setTimeout(() => b.says({ type: 'asked', first: chunk, count: 1 }), againAt)
    clock.setTimeout(() => b.says({ type: 'have', index: chunk }), holds)
    sw.allowOrigin()
    await clock.run(80_000)
    await sw.close(false)
    return { asked: asked[chunk], held }
}

test('a claim coming after the one before ran out is waited for afresh, once', async () => {
  assert.ok(above !== undefined && below !== undefined)
  assert.ok(claimAt > 20 + CLAIM_MAX_MS)
  const runIt = overdueRun
  // without B's claim the chunk goes to the origin when overdue, before B holds it
  const alone = await runIt(false)
  assert.ok(alone.asked > claimAt && alone.asked < holdsAt, `without a second claim, chunk ${chunk} asked of the origin at ${alone.asked} ms`)
  // with it, the listener waits for B's copy
  const told = await runIt(true)
  assert.ok(Number.isNaN(told.asked), `chunk ${chunk} asked of the origin at ${told.asked} ms, while B, which claimed it at ${claimAt} ms, was to bring it`)
  assert.ok(told.held >= holdsAt && told.held < holdsAt + DEADLINE_MS, `chunk ${chunk} held at ${told.held} ms`)
})

test('listeners of one rank take an overdue chunk later by the fraction of their place in the audience', async () => {
  // the same listener (second in rank for block 2 among its peers) in two audiences where
  // its exact place has a fraction under 0.1 and over 0.9: the second takes the chunk
  // about OVERDUE_SPREAD deadlines later (passes come at most 500 ms apart)
  const frac = (n: number): number => ((1 - score(me, 2) / 2 ** 32) * n) % 1
  const counts = Array.from({ length: 300 }, (_, k) => 3 + k)
  const low = counts.find(n => frac(n) < 0.1)!
  const high = counts.find(n => frac(n) > 0.9)!
  const a = await overdueRun(false, low, 60_000)
  const b = await overdueRun(false, high, 60_000)
  assert.ok(b.asked - a.asked >= 0.8 * OVERDUE_SPREAD * DEADLINE_MS - 500, `asked of the origin at ${a.asked} ms (place fraction ${frac(low).toFixed(2)}) and ${b.asked} ms (${frac(high).toFixed(2)})`)
  assert.ok(b.asked - a.asked <= OVERDUE_SPREAD * DEADLINE_MS + 500)
})

test('when a claim runs out on an overdue chunk, listeners take it later by their place, before it plays', async () => {
  // A claims chunk 8 (plays at 64 s) at 40 s: the claim ends a deadline and the origin's
  // wait before it plays (~62 s), when the listener has found it overdue for ~10 s. It asks
  // the origin then and its place's share of CLAIM_SPREAD deadlines later (the share: its
  // place for block 2 over CLAIM_SPREAD_PLACES, at most 1), and no later than (1 -
  // CLAIM_SPREAD) deadlines before the chunk plays: in the smallest audience and in one
  // where it is placed past CLAIM_SPREAD_PLACES, about that share apart
  const share = (n: number): number => Math.min(1, (1 - score(me, 2) / 2 ** 32) * n / CLAIM_SPREAD_PLACES)
  const low = 3
  const high = Array.from({ length: 5000 }, (_, k) => 3 + k).find(n => share(n) === 1)!
  assert.ok(share(low) < 0.6, `share ${share(low)} in an audience of ${low}`)
  const plays = chunk * chunkMs
  const a = await overdueRun(false, low, Infinity, 40_000)
  const b = await overdueRun(false, high, Infinity, 40_000)
  const apart = (share(high) - share(low)) * CLAIM_SPREAD * DEADLINE_MS
  assert.ok(Math.abs(b.asked - a.asked - apart) <= Math.max(50, apart / 4), `asked of the origin at ${a.asked} ms (share ${share(low).toFixed(2)}) and ${b.asked} ms (share ${share(high).toFixed(2)}), not ${apart.toFixed(0)} ms apart`)
  assert.ok(b.asked <= plays - (1 - CLAIM_SPREAD) * DEADLINE_MS, `share 1: asked of the origin at ${b.asked} ms`)
  assert.ok(a.held < plays && b.held < plays, `held at ${a.held} and ${b.held} ms`)
})

test('when a claim runs out after a designated listener\'s turn has passed, it takes the chunk later by its place, as an overdue one', async () => {
  // one peer, ranked below us for block 2, claims chunk 8 (plays at 64 s) at 20 ms and never
  // sends it: the claim runs out CLAIM_MAX_MS later, after our turn for the chunk (10 s after
  // the start and 4 s a place; placed past CLAIM_SPREAD_PLACES). We take it then all of
  // CLAIM_SPREAD deadlines later, not the moment it runs out with everyone who waited for it
  // (a flash crowd of 100,000, bench/sim audio, seed 1: eleven listeners in the same 20 ms)
  const place = (n: number): number => (1 - score(me, 2) / 2 ** 32) * n
  const audience = Array.from({ length: 5000 }, (_, k) => 3 + k).find(n => place(n) >= CLAIM_SPREAD_PLACES && place(n) < CLAIM_SPREAD_PLACES + 0.5)!
  const ends = 20 + CLAIM_MAX_MS
  assert.ok(ORIGIN_SETTLE_MS + place(audience) * ORIGIN_STEP_MS < ends, 'our turn comes while the claim holds')
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const asked: number[] = new Array(item.chunks.length).fill(NaN)
  const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, recordingOrigin(clock, item.chunks, asked), DURATION_MS)
  sw.counted(audience)
  const a = new TellingLink(clock, below)
  a.open(INFO_HASH, PORT)
  sw.attach(a)
  a.says({ type: 'bitfield', count: item.chunks.length, bits: Buffer.alloc(Math.ceil(item.chunks.length / 8)) })
  clock.setTimeout(() => a.says({ type: 'asked', first: chunk, count: 1 }), 20)
  sw.allowOrigin()
  await clock.run(45_000)
  await sw.close(false)
  // (a turn, said first: CLAIM_INTENT_MS)
  const spread = ends + CLAIM_SPREAD * DEADLINE_MS + CLAIM_INTENT_MS
  assert.ok(asked[chunk] >= spread - 20 && asked[chunk] <= spread + 600, `chunk ${chunk} asked of the origin at ${asked[chunk]} ms, the claim ending at ${ends} ms`)
})

test('when a claim runs out after its chunk came near, listeners among five peers or more take it a second apart by their place, counted from its end', async () => {
  // A (ranked below us for block 2) claims chunk 8 (plays at 64 s) at 40 s and never sends
  // it; B (ranked above us, so that we take no turn for it) and three more peers (ranked
  // below) hold chunks 0-7 and no other. The claim ends a deadline and the origin's wait
  // before the chunk plays (~62 s), when the chunk has been near for 14 s: counted from
  // when it came near, every listener's place had passed, and all asked the origin at the
  // end. Counted from the end, a listener asks OVERDUE_PLACE_STEP_MS later for each place
  // lower: 3 s for 3. (In a flash crowd of 100,000, bench/sim audio, seed 1, sixteen
  // listeners placed 2-17 took a chunk from the origin within 50 ms when a claim on it ran out.)
  const place = (n: number): number => Math.floor((1 - score(me, 2) / 2 ** 32) * n)
  // (the smallest audience, of us and our five peers, and one placing us 3 places lower)
  const low = 6
  const high = Array.from({ length: 5000 }, (_, k) => low + k).find(n => place(n) === place(low) + 3)!
  const askedAt = async (audience: number): Promise<number> => {
    const clock = new SimClock(10)
    const net = new SimNet(clock, new Rng(1))
    const asked: number[] = new Array(item.chunks.length).fill(NaN)
    const sw = await oneSwarm(clock, net, item, INFO_HASH, DEADLINE_MS, recordingOrigin(clock, item.chunks, asked), DURATION_MS)
    sw.counted(audience)
    // (the three more ranked below us too: second in rank, we take an overdue chunk two deadlines after it came near)
    const others = [below, above, ...ids.filter(b => b !== below && score(peerKey(Buffer.alloc(20, b)), 2) < score(me, 2)).slice(0, 3)]
    const links = others.map(b => new TellingLink(clock, b))
    for (const p of links) {
      p.open(INFO_HASH, PORT)
      sw.attach(p)
      p.says({ type: 'bitfield', count: item.chunks.length, bits: Buffer.alloc(Math.ceil(item.chunks.length / 8)) })
      for (let i = 0; i < chunk; i++) p.says({ type: 'have', index: i })
    }
    clock.setTimeout(() => links[0].says({ type: 'asked', first: chunk, count: 1 }), 40_000)
    sw.allowOrigin()
    await clock.run(75_000)
    await sw.close(false)
    return asked[chunk]
  }
  const a = await askedAt(low)
  const b = await askedAt(high)
  assert.ok(a >= chunk * chunkMs - DEADLINE_MS - 1000, `placed ${place(low)}: chunk ${chunk} asked of the origin at ${a} ms, before the claim ended`)
  assert.ok(Math.abs(b - a - 3 * OVERDUE_PLACE_STEP_MS) <= 600, `chunk ${chunk} asked of the origin at ${a} ms placed ${place(low)} and ${b} ms placed ${place(high)}, not ${3 * OVERDUE_PLACE_STEP_MS} ms apart`)
})

test('a claim renewed after one ran out lasts to (1 - CLAIM_SPREAD) deadlines before its chunk plays', async () => {
  // A's claim (made at 40 s) runs out a deadline and the origin's wait before chunk 8 plays
  // (~61.9 s), the listener's share of CLAIM_SPREAD later it would ask the origin; B claims
  // it at 62.1 s and holds it at 62.25 s: the listener waits for B's copy (without the longer
  // bound for a renewed claim, B's claim ended when it came, and the chunk went to the origin)
  const plays = chunk * chunkMs
  const renewedAt = plays - DEADLINE_MS + 100
  const holds = renewedAt + 150
  assert.ok(holds < plays - (1 - CLAIM_SPREAD) * DEADLINE_MS - 50)
  const r = await overdueRun(true, 3, holds, 40_000, renewedAt)
  assert.ok(Number.isNaN(r.asked), `chunk ${chunk} asked of the origin at ${r.asked} ms, while B, which claimed it at ${renewedAt} ms, was to bring it at ${holds} ms`)
  assert.ok(r.held >= holds && r.held < plays, `held at ${r.held} ms`)
})

test.run()
