// A claim (ASKED) that runs out unfulfilled, against a real pc-fetch (pc-fetch(1): "When a
// peer's claim on the chunk ... ran out, that wait counts from the claim's end"). A
// scheduled item; six test peers hold every chunk but one and serve what they are asked;
// one of them says at once that it asked the origin for the missing chunk and never sends
// it. The tracker counts an audience that places the listener PLACE listeners down for that
// chunk's block, so an overdue chunk waits PLACE seconds for its turn. The claim holds the
// chunk from the origin until -d before it plays; by then it has been near for 7 -d, and the
// listener's place has passed. Counted from when the chunk came near, the listener asks the
// origin as the claim runs out; counted from the claim's end, PLACE seconds later. A new
// peer connecting to pc-fetch is told the claims it waits for (pc-wire(7)), so the test sees
// the claim end; -d after that, a second test peer says it holds the chunk (HAVE). Waiting
// its place, the listener takes the chunk from that peer, and the origin sends nothing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { connect, createServer as createTcpServer, type Socket } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { killChildren, sleep, tempDir, withTimeout } from '../helpers.js'
import { encode } from '../../lib/tracker/bencode.js'
import { parseQuery } from '../../lib/tracker/server.js'
import { infoHash } from '../../lib/hashing/hashtree.js'
import { FrameDecoder, type Frame } from '../../lib/frames/frame.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { encodeHandshake, encodeMessage, getBit, WireDecoder, type Message } from '../../lib/swarm/wire.js'
import { BLOCK_CHUNKS, peerKey, score } from '../../lib/swarm/picker.js'
import { CLAIM_SPREAD, OVERDUE_LEAD_DEADLINES, OVERDUE_PLACE_PEERS, OVERDUE_PLACE_STEP_MS, ORIGIN_STEP_MAX_MS, ORIGIN_STEP_MS } from '../../lib/swarm/scheduler.js'
import { assemble, Listening, makeItem, originAsked, record, startFetch, type TestItem } from './pc-fetch-helpers.js'

const CHUNK = 16 * 1024
const COUNT = 24
const CHUNK_MS = 1000
const DEADLINE_MS = 2000
/** the chunk nobody holds, and its block */
const MISSING = 20
const BLOCK = Math.floor(MISSING / BLOCK_CHUNKS)
/** the listeners the tracker's count places above pc-fetch for BLOCK: PLACE s of wait */
const PLACE = 10
/** test peers the tracker names: OVERDUE_PLACE_PEERS or more, or the place is not waited for */
const PEERS = 6
/** how often a new peer connects to see whether the claim still holds */
const PROBE_EVERY_MS = 250

let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined
const net = new Listening()

test.before(async () => {
  dir = await tempDir('pc-fetch-claimend-')
  item = await makeItem(dir.path, 'item.bin', COUNT * CHUNK, CHUNK)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => {
  killChildren()
  net.close()
  await origin?.close()
  origin = undefined
})

/** A peer id whose rendezvous score for BLOCK is below `me`'s: pc-fetch stays first in rank among its peers for it. */
function idBelow (me: number): Buffer {
  const mine = score(me, BLOCK)
  for (let n = 0; n < 10_000_000; n++) {
    const id = randomBytes(20)
    if (score(peerKey(id), BLOCK) < mine) return id
  }
  throw new Error(`no peer id found below pc-fetch's score ${mine} for block ${BLOCK}`)
}

/** The audience in which `me` is placed exactly PLACE for BLOCK, as scheduler.ts place() works it out. */
function audiencePlacing (me: number): number {
  const below = 1 - score(me, BLOCK) / 2 ** 32
  let n = Math.max(PEERS + 2, Math.ceil(PLACE / below))
  while (Math.floor(below * n) > PLACE) n--
  while (Math.floor(below * n) < PLACE) n++
  return n
}

/** What the test peers saw of pc-fetch: when each message came, by peer. */
interface Seen { at: number, peer: number, m: Message }

/**
 * PEERS test peers holding every chunk but MISSING, each serving what it is asked at once;
 * peer `claimant` sends ASKED for MISSING once, when pc-fetch's BITFIELD comes (pc-fetch
 * reads a claim only once its item is open); `have()` makes peer `holder` hold MISSING too
 * and say so (HAVE).
 */
async function testPeers (claimant: number, holder: number, seen: Seen[]): Promise<{ ports: number[], have: () => void }> {
  let holds = false
  let holderSocket: Socket | undefined
  const ports: number[] = []
  for (let k = 0; k < PEERS; k++) {
    ports.push(await net.listen(createTcpServer((s) => {
      net.keep(s)
      s.on('error', () => {})
      const d = new WireDecoder()
      let claimed = false
      s.on('data', (b: Buffer) => {
        for (const m of d.push(b)) {
          if (m.type === 'handshake') {
            s.write(encodeHandshake({ infoHash: m.handshake.infoHash, peerId: idBelow(peerKey(m.handshake.peerId)), port: 0 }))
            const bits = Buffer.alloc(Math.ceil(COUNT / 8))
            for (let i = 0; i < COUNT; i++) if (i !== MISSING) bits[i >> 3] |= 0x80 >> (i & 7)
            s.write(encodeMessage({ type: 'bitfield', count: COUNT, bits }))
            if (k === holder) holderSocket = s
            continue
          }
          seen.push({ at: Date.now(), peer: k, m })
          if (m.type === 'bitfield' && k === claimant && !claimed) {
            claimed = true
            s.write(encodeMessage({ type: 'asked', first: MISSING, count: 1 }))
          }
          if (m.type === 'request') {
            const ok = m.index !== MISSING || (k === holder && holds)
            s.write(encodeMessage(ok ? { type: 'piece', index: m.index, data: item.data.subarray(m.index * CHUNK, (m.index + 1) * CHUNK) } : { type: 'reject', index: m.index }))
          }
        }
      })
    })))
  }
  return {
    ports,
    have: () => {
      holds = true
      holderSocket?.write(encodeMessage({ type: 'have', index: MISSING }))
    },
  }
}

/** An HTTP tracker naming `ports` on 127.0.0.1 and counting the audience that places the announcing peer PLACE; it keeps that peer's id. */
async function placingTracker (ports: number[], announced: (id: Buffer) => void): Promise<string> {
  const peers = Buffer.alloc(6 * ports.length)
  ports.forEach((port, k) => { peers.set([127, 0, 0, 1], 6 * k); peers.writeUInt16BE(port, 6 * k + 4) })
  const port = await net.listen(createHttpServer((req, res) => {
    const id = parseQuery((req.url ?? '').split('?')[1] ?? '').get('peer_id')?.[0]
    if (id === undefined || id.length !== 20) { res.end(encode({ 'failure reason': 'no peer_id' })); return }
    announced(id)
    res.end(encode({ interval: 60, complete: 0, incomplete: audiencePlacing(peerKey(id)), peers }))
  }))
  return `http://127.0.0.1:${port}/announce`
}

/**
 * What pc-fetch tells a peer that connects now (pc-wire(7)): its BITFIELD, and the ASKED
 * runs that follow it (what it asked the origin for and what it waits for by a claim),
 * read up to the TREE that answers our TREE?, sent after its handshake came.
 */
async function greeting (port: number, hash: Buffer, me: Buffer): Promise<{ held: boolean, told: boolean }> {
  const s = connect(port, '127.0.0.1')
  net.keep(s)
  try {
    return await withTimeout(new Promise<{ held: boolean, told: boolean }>((resolve, reject) => {
      const d = new WireDecoder()
      let held = false
      let told = false
      s.on('error', reject)
      s.on('close', () => reject(new Error('pc-fetch closed the connection before its greeting')))
      s.on('connect', () => s.write(encodeHandshake({ infoHash: hash, peerId: idBelow(peerKey(me)), port: 0 })))
      s.on('data', (b: Buffer) => {
        for (const m of d.push(b)) {
          if (m.type === 'handshake') s.write(encodeMessage({ type: 'tree-request' }))
          if (m.type === 'bitfield') held = getBit(m.bits, MISSING)
          if (m.type === 'asked' && m.first <= MISSING && MISSING < m.first + m.count) told = true
          if (m.type === 'tree') resolve({ held, told })
        }
      })
    }), 10_000, 'pc-fetch to greet a new peer')
  } finally { s.destroy() }
}

test('a claim that ran out unfulfilled: the listener waits its place from the claim\'s end, and takes the chunk from a peer that got it meanwhile, not from the origin', async () => {
  // What the scenario rests on: the chunk comes near (plays within OVERDUE_LEAD_DEADLINES -d)
  // after pc-fetch started; the claim, made at the start, ends by the chunk's play time (-d
  // before it), OVERDUE_LEAD_DEADLINES - 1 -d after it came near, when -d and the place's
  // wait have passed, with -d to spare; a place past the designated turns' last
  // (ORIGIN_STEP_MAX_MS) takes no turn for the chunk; and -d after the claim's end is past
  // its spread (CLAIM_SPREAD) and well within the place's wait.
  assert.ok(PEERS >= OVERDUE_PLACE_PEERS)
  assert.ok(MISSING * CHUNK_MS > OVERDUE_LEAD_DEADLINES * DEADLINE_MS)
  assert.ok((OVERDUE_LEAD_DEADLINES - 1) * DEADLINE_MS >= DEADLINE_MS + PLACE * OVERDUE_PLACE_STEP_MS + DEADLINE_MS)
  assert.ok(PLACE * ORIGIN_STEP_MS > ORIGIN_STEP_MAX_MS)
  assert.ok(CLAIM_SPREAD < 1 && 2 * DEADLINE_MS < PLACE * OVERDUE_PLACE_STEP_MS)
  const asked: number[] = []
  origin = await startOrigin({ dir: dir.path, log: originAsked('/item.bin', CHUNK, COUNT, asked) })
  let me: Buffer | undefined
  const seen: Seen[] = []
  const peers = await testPeers(0, 1, seen)
  const tracker = await placingTracker(peers.ports, (id) => { me ??= id })
  const p = await startFetch(['--keep', '0', '--deadline', `${DEADLINE_MS}ms`, '--tracker', tracker], record(origin.url + 'item.bin', { root: item.root, duration: COUNT * CHUNK_MS }))
  const t0 = Date.now()
  const frames: Frame[] = []
  const dec = new FrameDecoder('pc-fetch')
  p.child.stdout!.on('data', (b: Buffer) => { frames.push(...dec.push(b)) })
  const hash = infoHash(item.tree.root)
  const at = (t: number | undefined): string => t === undefined ? 'never' : `${t - t0} ms`
  const story: string[] = []
  // (each failure says what happened when, after pc-fetch listened, and its -v lines)
  const told = (): string => `\n${story.join('\n')}\nchunk ${MISSING} asked of the origin: ${at(asked[MISSING])}\npc-fetch -v:\n${p.stderr().slice(-3000)}`

  // the claim reached pc-fetch: it passes it on to its other peers, or tells a peer joining after of it
  const passedOn = (): Seen | undefined => seen.find(s => s.peer !== 0 && s.m.type === 'asked' && s.m.first <= MISSING && MISSING < s.m.first + s.m.count)
  await withTimeout((async () => { while (passedOn() === undefined) await sleep(20) })(), 30_000, `pc-fetch to pass on the claim on chunk ${MISSING}`)
    .catch((e: Error) => { throw new Error(`${e.message}${told()}`) })
  story.push(`claim on chunk ${MISSING} passed on at ${at(passedOn()!.at)}`)
  assert.ok(me !== undefined, 'the tracker saw pc-fetch\'s peer id')

  // a peer connecting while the claim holds is told of it; the claim has ended when one is not
  const first = await greeting(p.port, hash, me!)
  assert.ok(first.told && !first.held, `a peer connecting while the claim holds is told of it, and chunk ${MISSING} is not held${told()}`)
  let g = first
  await withTimeout((async () => {
    while (g.told && !g.held) { await sleep(PROBE_EVERY_MS); g = await greeting(p.port, hash, me!) }
  })(), 60_000, `the claim on chunk ${MISSING} to run out`).catch((e: Error) => { throw new Error(`${e.message}${told()}`) })
  const endSeen = Date.now()
  story.push(`a new peer was not told of the claim at ${at(endSeen)} (chunk ${MISSING} ${g.held ? 'held' : 'not held'} then)`)

  // -d after the claim was seen to end (its spread is a quarter of -d at most), a peer holds the chunk
  await sleep(DEADLINE_MS)
  const haveAt = Date.now()
  story.push(`HAVE ${MISSING} sent at ${at(haveAt)}`)
  peers.have()

  assert.is(await withTimeout(p.exited, 60_000, 'pc-fetch to play the item'), 0, told())
  const requested = seen.find(s => s.peer === 1 && s.m.type === 'request' && s.m.index === MISSING)
  story.push(`REQUEST ${MISSING} to the holder at ${at(requested?.at)}`)
  // the rule: the listener had not asked the origin for the chunk when the claim ran out,
  // its place wait counting from then, and a peer's copy reached it meanwhile
  assert.ok(!(asked[MISSING] < haveAt), `chunk ${MISSING} asked of the origin before the holder's HAVE, as its claim ran out: its place wait counted from when it came near, not from the claim's end${told()}`)
  assert.ok(requested !== undefined && requested.at >= haveAt, `chunk ${MISSING} asked of the peer that said it held it${told()}`)
  assert.is(origin.bytesSent('/item.bin'), 0, `the origin sent nothing of the item: every chunk came from a peer${told()}`)
  const got = assemble(frames)
  assert.equal(got.gaps, [], `no GAP${told()}`)
  assert.ok(got.data.equals(item.data), `the item whole${told()}`)
})

test.run()
