// A designated turn said first (ASKING), through the real pc-fetch (pc-fetch(1): "A
// listener's designated turn for chunks that play more than eight times -d and a second
// ahead is said first"; pc-wire(7) ASKING). A scheduled item; three test peers hold every
// chunk but those of one block far ahead (BLOCK), and serve what they are asked. Two of them
// set the handshake's HS_ASKING flag, the third does not. The tracker, learning pc-fetch's
// peer id, picks BLOCK among the blocks playing late enough as the one pc-fetch's score
// places highest, and the test peers take ids scoring below it there: pc-fetch is designated
// for BLOCK (rank 0 among its peers, place 0 in the tracker's count), and its turn comes
// ORIGIN_SETTLE_MS after it started (and a fraction of ORIGIN_STEP_MS for the fraction of
// a place), more than OVERDUE_LEAD_DEADLINES -d and CLAIM_INTENT_MS before BLOCK plays.
//
// 1. At that turn the peers that set the flag are told ASKING for BLOCK's chunks with
//    pc-fetch's score for BLOCK, the one that did not is told ASKED, and the origin is
//    asked for them only CLAIM_INTENT_MS later.
// 2. A peer answering that ASKING at once with a higher score for the same chunks keeps
//    pc-fetch from the origin: it stands down and waits for that copy, which the peer
//    announces (HAVE) two CLAIM_INTENT_MS later and serves; the origin sends nothing of
//    the item.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { createServer as createTcpServer } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { killChildren, sleep, tempDir, withTimeout } from '../helpers.js'
import { encode } from '../../lib/tracker/bencode.js'
import { parseQuery } from '../../lib/tracker/server.js'
import { FrameDecoder, type Frame } from '../../lib/frames/frame.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { encodeHandshake, encodeMessage, WireDecoder, type Message } from '../../lib/swarm/wire.js'
import { BLOCK_CHUNKS, peerKey, rank, score } from '../../lib/swarm/picker.js'
import { CLAIM_INTENT_MS, CLAIM_MIN_DEADLINES, OVERDUE_LEAD_DEADLINES, ORIGIN_LEAD_MS, ORIGIN_SETTLE_MS, ORIGIN_STEP_MS } from '../../lib/swarm/scheduler.js'
import { assemble, Listening, makeItem, originAsked, record, startFetch, type TestItem } from './pc-fetch-helpers.js'

const CHUNK = 16 * 1024
/** 64 s of item in chunks of 250 ms: a block plays for a second */
const COUNT = 256
const CHUNK_MS = 250
const BLOCK_MS = BLOCK_CHUNKS * CHUNK_MS
const DEADLINE_MS = 1000
/** test peers the tracker names; the last one's handshake does not set HS_ASKING */
const PEERS = 3
const OLD = PEERS - 1
/** the tracker's count: the test peers and pc-fetch */
const AUDIENCE = PEERS + 1
/**
 * BLOCK is one of the blocks whose chunks all play FROM_MS to TO_MS after pc-fetch's item
 * began: its turn then comes ORIGIN_SETTLE_MS after pc-fetch started (not ORIGIN_LEAD_MS
 * before BLOCK plays, which is later), leaving FROM_MS - ORIGIN_SETTLE_MS for ORIGIN_STEP_MS
 * × pc-fetch's place and for the lead a turn is said first at (begin()).
 */
const FROM_MS = 26_000
const TO_MS = 60_000
/** the score a test peer outbids pc-fetch's turn with (case 2): above any listener's */
const TOP = 0xffffffff
/** how long after outbidding the test peer says it holds BLOCK (case 2) */
const HAVE_AFTER_MS = 2 * CLAIM_INTENT_MS

let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined
const net = new Listening()
const timers = new Set<NodeJS.Timeout>()

test.before(async () => {
  dir = await tempDir('pc-fetch-asking-')
  item = await makeItem(dir.path, 'item.bin', COUNT * CHUNK, CHUNK)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => {
  killChildren()
  for (const t of timers) clearTimeout(t)
  timers.clear()
  net.close()
  await origin?.close()
  origin = undefined
})

/** The block of FROM_MS..TO_MS that `me`'s score places highest: the earliest of its turns there (releaseAt). */
function bestBlock (me: number): number {
  let best = -1
  for (let b = Math.ceil(FROM_MS / BLOCK_MS); (b + 1) * BLOCK_MS <= TO_MS; b++) if (best < 0 || score(me, b) > score(me, best)) best = b
  return best
}

/** A peer id whose score for `block` is below `me`'s: pc-fetch stays first in rank among its peers for it. */
function idBelow (me: number, block: number): Buffer {
  const mine = score(me, block)
  for (let n = 0; n < 10_000_000; n++) {
    const id = randomBytes(20)
    if (score(peerKey(id), block) < mine) return id
  }
  throw new Error(`no peer id found below pc-fetch's score ${mine} for block ${block}`)
}

/** What the test peers saw of pc-fetch: when each message came, by peer. */
interface Seen { at: number, peer: number, m: Message }

/** What one run of the scenario is: pc-fetch's id and key, BLOCK and its chunks, and what each side saw. */
interface Swarm {
  /** pc-fetch's peer id as the tracker saw it, and the block picked for it */
  me?: Buffer
  block: number
  /** pc-fetch's peer ids as its handshakes to the test peers said, by peer */
  handshakes: Buffer[]
  /** the ids the test peers answered with */
  ids: Buffer[]
  seen: Seen[]
  /** when the test peer outbid pc-fetch's turn, and when it said HAVE (case 2) */
  outbidAt?: number
  haveAt?: number
}

/** Whether ASKED/ASKING `m` names chunk i. */
const names = (m: Message, i: number): boolean => m.type === 'asked' && m.first <= i && i < m.first + m.count

/**
 * PEERS test peers holding every chunk but BLOCK's, serving what they are asked at once;
 * peers 0..OLD-1 set HS_ASKING, OLD does not. With `outbid`, peer 0 answers pc-fetch's
 * ASKING for BLOCK at once with an ASKING of its own for the same chunks scored TOP, and
 * HAVE_AFTER_MS later holds BLOCK and says so (HAVE), serving it from then on.
 */
async function testPeers (sw: Swarm, outbid: boolean): Promise<number[]> {
  let holds = false
  const ports: number[] = []
  for (let k = 0; k < PEERS; k++) {
    ports.push(await net.listen(createTcpServer((s) => {
      net.keep(s)
      s.on('error', () => {})
      const d = new WireDecoder()
      s.on('data', (b: Buffer) => {
        for (const m of d.push(b)) {
          if (m.type === 'handshake') {
            // (pc-fetch dials the peers the tracker named: BLOCK was picked then)
            sw.handshakes[k] = m.handshake.peerId
            sw.ids[k] ??= idBelow(peerKey(m.handshake.peerId), sw.block)
            s.write(encodeHandshake({ infoHash: m.handshake.infoHash, peerId: sw.ids[k], port: 0, asking: k !== OLD }))
            const bits = Buffer.alloc(Math.ceil(COUNT / 8))
            for (let i = 0; i < COUNT; i++) if (Math.floor(i / BLOCK_CHUNKS) !== sw.block) bits[i >> 3] |= 0x80 >> (i & 7)
            s.write(encodeMessage({ type: 'bitfield', count: COUNT, bits }))
            continue
          }
          sw.seen.push({ at: Date.now(), peer: k, m })
          const first = sw.block * BLOCK_CHUNKS
          if (outbid && k === 0 && sw.outbidAt === undefined && m.type === 'asked' && m.score !== undefined && names(m, first)) {
            sw.outbidAt = Date.now()
            s.write(encodeMessage({ type: 'asked', first: m.first, count: m.count, score: TOP }))
            const t = setTimeout(() => {
              timers.delete(t)
              holds = true
              sw.haveAt = Date.now()
              for (let i = first; i < first + BLOCK_CHUNKS; i++) s.write(encodeMessage({ type: 'have', index: i }))
            }, HAVE_AFTER_MS)
            timers.add(t)
          }
          if (m.type === 'request') {
            const ok = Math.floor(m.index / BLOCK_CHUNKS) !== sw.block || (k === 0 && holds)
            s.write(encodeMessage(ok ? { type: 'piece', index: m.index, data: item.data.subarray(m.index * CHUNK, (m.index + 1) * CHUNK) } : { type: 'reject', index: m.index }))
          }
        }
      })
    })))
  }
  return ports
}

/** An HTTP tracker naming `ports` on 127.0.0.1 and counting AUDIENCE; at the first announce it keeps pc-fetch's id and picks BLOCK for it. */
async function tracker (sw: Swarm, ports: number[]): Promise<string> {
  const peers = Buffer.alloc(6 * ports.length)
  ports.forEach((port, k) => { peers.set([127, 0, 0, 1], 6 * k); peers.writeUInt16BE(port, 6 * k + 4) })
  const port = await net.listen(createHttpServer((req, res) => {
    const id = parseQuery((req.url ?? '').split('?')[1] ?? '').get('peer_id')?.[0]
    if (id === undefined || id.length !== 20) { res.end(encode({ 'failure reason': 'no peer_id' })); return }
    if (sw.me === undefined) { sw.me = Buffer.from(id); sw.block = bestBlock(peerKey(id)) }
    res.end(encode({ interval: 60, complete: 0, incomplete: AUDIENCE, peers }))
  }))
  return `http://127.0.0.1:${port}/announce`
}

/** The scenario's start: origin, test peers, tracker, and pc-fetch with its DATA frames gathered. */
async function begin (outbid: boolean): Promise<{ sw: Swarm, asked: number[], frames: Frame[], told: () => string }> {
  // What the scenario rests on: the item's duration reaches past TO_MS; a block of
  // FROM_MS..TO_MS has its first turn ORIGIN_SETTLE_MS after pc-fetch started (releaseAt:
  // not ORIGIN_LEAD_MS before it plays, which is sooner than that, and more than
  // OVERDUE_LEAD_DEADLINES -d before it plays); placed in the top quarter of its scores
  // (the best of the 30-odd blocks nearly always is) its turn comes at most ORIGIN_STEP_MS
  // later, still more than OVERDUE_LEAD_DEADLINES -d and CLAIM_INTENT_MS before it plays,
  // with a second to spare; and in case 2, a claim made then holds it past HAVE_AFTER_MS
  // (at least CLAIM_MIN_DEADLINES -d, and up to -d before the chunk plays).
  assert.ok(COUNT * CHUNK_MS >= TO_MS)
  assert.ok(TO_MS - ORIGIN_LEAD_MS <= ORIGIN_SETTLE_MS && FROM_MS - OVERDUE_LEAD_DEADLINES * DEADLINE_MS > ORIGIN_SETTLE_MS)
  assert.ok(FROM_MS - ORIGIN_SETTLE_MS - ORIGIN_STEP_MS > OVERDUE_LEAD_DEADLINES * DEADLINE_MS + CLAIM_INTENT_MS + 1000)
  assert.ok(CLAIM_MIN_DEADLINES * DEADLINE_MS >= HAVE_AFTER_MS && FROM_MS - ORIGIN_SETTLE_MS - ORIGIN_STEP_MS - DEADLINE_MS > HAVE_AFTER_MS)
  const asked: number[] = []
  origin = await startOrigin({ dir: dir.path, log: originAsked('/item.bin', CHUNK, COUNT, asked) })
  const sw: Swarm = { block: -1, handshakes: [], ids: [], seen: [] }
  const ports = await testPeers(sw, outbid)
  const url = await tracker(sw, ports)
  const p = await startFetch(['--keep', '0', '--deadline', `${DEADLINE_MS}ms`, '--tracker', url], record(origin.url + 'item.bin', { root: item.root, duration: COUNT * CHUNK_MS }))
  const t0 = Date.now()
  const frames: Frame[] = []
  const dec = new FrameDecoder('pc-fetch')
  p.child.stdout!.on('data', (b: Buffer) => { frames.push(...dec.push(b)) })
  const at = (t: number | undefined): string => t === undefined ? 'never' : `${t - t0} ms`
  // (each failure says what happened when, after pc-fetch listened, and its -v lines)
  const told = (): string => {
    const first = sw.block * BLOCK_CHUNKS
    const claims = sw.seen.filter(s => s.m.type === 'asked').map(s => s.m.type === 'asked' ? `peer ${s.peer} ${s.m.score === undefined ? 'ASKED' : `ASKING score ${s.m.score}`} ${s.m.first}+${s.m.count} at ${at(s.at)}` : '')
    const requests = sw.seen.filter(s => s.m.type === 'request' && Math.floor(s.m.index / BLOCK_CHUNKS) === sw.block).map(s => s.m.type === 'request' ? `peer ${s.peer} REQUEST ${s.m.index} at ${at(s.at)}` : '')
    const mine = sw.me === undefined ? 'unknown' : `${score(peerKey(sw.me), sw.block)} (place ${((1 - score(peerKey(sw.me), sw.block) / 2 ** 32) * AUDIENCE).toFixed(3)} of ${AUDIENCE})`
    return `\nBLOCK ${sw.block}: chunks ${first}..${first + BLOCK_CHUNKS - 1}, playing from ${sw.block * BLOCK_MS} ms; pc-fetch's score for it ${mine}` +
      `\nclaims the test peers got: ${claims.join('; ') || 'none'}\noutbid at ${at(sw.outbidAt)}, HAVE at ${at(sw.haveAt)}\n${requests.join('; ') || 'no request for BLOCK'}` +
      `\nasked of the origin: ${Array.from({ length: BLOCK_CHUNKS }, (_, j) => `${first + j}@${at(asked[first + j])}`).join(' ')}; ${asked.flatMap((a, i) => a !== undefined && Math.floor(i / BLOCK_CHUNKS) !== sw.block ? [i] : []).length} other chunks` +
      `\npc-fetch -v:\n${p.stderr().slice(-3000)}`
  }
  return { sw, asked, frames, told }
}

test('a designated turn far ahead is said first: ASKING with pc-fetch\'s score to peers that read it, ASKED to one that does not, and the origin asked CLAIM_INTENT_MS later', async () => {
  const { sw, asked, told } = await begin(false)
  const first = (): number => sw.block * BLOCK_CHUNKS
  const blockAsked = (): boolean => Array.from({ length: BLOCK_CHUNKS }, (_, j) => asked[first() + j]).every(a => a !== undefined)
  await withTimeout((async () => { while (sw.block < 0 || !blockAsked()) await sleep(20) })(), 30_000, 'pc-fetch to ask the origin for BLOCK at its turn')
    .catch((e: Error) => { throw new Error(`${e.message}${told()}`) })
  assert.ok(sw.me !== undefined, 'the tracker saw pc-fetch\'s peer id')
  const key = peerKey(sw.me!)
  assert.is(rank(key, sw.ids.map(peerKey), sw.block), 0, `pc-fetch is first in rank for BLOCK among its peers${told()}`)
  for (let k = 0; k < PEERS; k++) assert.ok(sw.handshakes[k]?.equals(sw.me!), `peer ${k} was dialled by pc-fetch, with the id it announced${told()}`)
  const mine = score(key, sw.block)
  assert.ok(mine > 0, 'a score that tells ASKING from ASKED')

  // ASKING to each peer that set HS_ASKING: BLOCK's chunks, pc-fetch's score for BLOCK
  const askingTo = (k: number): Seen | undefined => sw.seen.find(s => s.peer === k && s.m.type === 'asked' && s.m.score !== undefined && names(s.m, first()))
  const asking: Seen[] = []
  for (let k = 0; k < OLD; k++) {
    const a = askingTo(k)
    assert.ok(a !== undefined, `peer ${k} (HS_ASKING) was told ASKING for BLOCK${told()}`)
    assert.equal(a!.m, { type: 'asked', first: first(), count: BLOCK_CHUNKS, score: mine }, `peer ${k}'s ASKING: BLOCK's chunks with pc-fetch's score for it${told()}`)
    asking.push(a!)
  }
  // ASKED, never ASKING, to the peer that did not set the flag: the same chunks, no score
  const old = sw.seen.filter(s => s.peer === OLD && s.m.type === 'asked' && names(s.m, first()))
  assert.ok(old.length > 0, `peer ${OLD} (no HS_ASKING) was told of the turn${told()}`)
  assert.equal(old[0].m, { type: 'asked', first: first(), count: BLOCK_CHUNKS }, `peer ${OLD} was told ASKED, with no score${told()}`)
  assert.ok(old.every(s => s.m.type === 'asked' && s.m.score === undefined), `peer ${OLD} was never sent ASKING${told()}`)

  // said first: the origin asked for BLOCK no sooner than CLAIM_INTENT_MS after the turn was said (0.8 of it, for timers)
  const saidAt = Math.min(...asking.map(a => a.at))
  const tellAt = Math.max(...asking.map(a => a.at), old[0].at)
  for (let j = 0; j < BLOCK_CHUNKS; j++) {
    const at = asked[first() + j]
    assert.ok(at - saidAt >= 0.8 * CLAIM_INTENT_MS, `chunk ${first() + j} asked of the origin ${at - saidAt} ms after ASKING came, not CLAIM_INTENT_MS (${CLAIM_INTENT_MS} ms)${told()}`)
    assert.ok(at > tellAt, `chunk ${first() + j} asked of the origin after every peer was told${told()}`)
  }
})

test('a higher claim answering ASKING keeps pc-fetch from the origin: it waits for that peer\'s copy and plays BLOCK from it', async () => {
  const { sw, asked, frames, told } = await begin(true)
  const first = (): number => sw.block * BLOCK_CHUNKS
  const size = BLOCK_CHUNKS * CHUNK
  // BLOCK written out (DATA frames come as chunks verify, not in play order)
  const written = (): boolean => {
    const covered = new Uint8Array(BLOCK_CHUNKS)
    for (const f of frames) {
      if (f.type !== 'data' || sw.block < 0) continue
      for (let j = 0; j < BLOCK_CHUNKS; j++) {
        const at = (first() + j) * CHUNK
        if (f.offset <= at && at + CHUNK <= f.offset + f.data.length) covered[j] = 1
      }
    }
    return covered.every(c => c === 1)
  }
  await withTimeout((async () => { while (!written()) await sleep(20) })(), 30_000, 'pc-fetch to write BLOCK')
    .catch((e: Error) => { throw new Error(`${e.message}${told()}`) })

  assert.ok(sw.outbidAt !== undefined, `peer 0 was told ASKING for BLOCK, and outbid it${told()}`)
  const mine = sw.seen.find(s => s.peer === 0 && s.m.type === 'asked' && s.m.score !== undefined && names(s.m, first()))
  assert.equal(mine?.m, { type: 'asked', first: first(), count: BLOCK_CHUNKS, score: score(peerKey(sw.me!), sw.block) }, `pc-fetch's ASKING for BLOCK, with its score${told()}`)
  // the rule: no chunk of BLOCK asked of the origin, though the turn's CLAIM_INTENT_MS had long passed when HAVE came
  for (let j = 0; j < BLOCK_CHUNKS; j++) assert.is(asked[first() + j], undefined, `chunk ${first() + j} was not asked of the origin: a higher claim held pc-fetch${told()}`)
  assert.is(origin!.bytesSent('/item.bin'), 0, `the origin sent nothing of the item${told()}`)
  assert.ok(sw.haveAt !== undefined, `peer 0 said HAVE for BLOCK${told()}`)
  for (let j = 0; j < BLOCK_CHUNKS; j++) {
    const r = sw.seen.find(s => s.peer === 0 && s.m.type === 'request' && s.m.index === first() + j)
    assert.ok(r !== undefined && r.at >= sw.haveAt!, `chunk ${first() + j} asked of the peer that claimed it, after its HAVE${told()}`)
  }
  const got = assemble(frames)
  assert.equal(got.gaps, [], `no GAP${told()}`)
  assert.ok(got.data.subarray(first() * CHUNK, first() * CHUNK + size).equals(item.data.subarray(first() * CHUNK, first() * CHUNK + size)), `BLOCK's bytes as the item's${told()}`)
})

test.run()
