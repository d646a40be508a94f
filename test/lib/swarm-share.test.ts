// A listener past its share (lib/swarm/uploads.ts, pc-fetch --max-share): what it uploaded,
// over all the items of its line, against what it received. Past it, a request for a chunk
// that others of its peers hold and that plays more than two deadlines from now is answered
// REJECT; what plays sooner is served, and what nobody else holds twice. Real Uploads and
// PeerLinks, a store of 30 chunks of a 300 s record (chunk i plays at i × 10 s), under the
// virtual clock of memory-net.ts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EventEmitter } from 'node:events'
import { Uploads, ShareLedger, SHARE_URGENT_DEADLINES, SHARE_NEAR_MS, SHARE_RARE_COPIES, type UploadsHost } from '../../lib/swarm/uploads.js'
import { PeerLink } from '../../lib/swarm/link.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import type { Store } from '../../lib/swarm/store.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'
import { VirtualClock } from './memory-net.js'

const CHUNK = 16 * 1024
const COUNT = 30
const DURATION_MS = 300_000
const CHUNK_MS = DURATION_MS / COUNT
const DEADLINE_MS = 2000

class TestLink extends PeerLink {
  readonly outgoing = false
  readonly sent: Message[] = []
  readonly pieces: number[] = []
  constructor (readonly address: string, readonly clock: VirtualClock) { super(); this.sizeFor(COUNT) }
  get listenAddress (): PeerAddress | undefined { return undefined }
  sendHandshake (_h: Handshake): void {}
  send (m: Message): boolean { this.sent.push(m); return true }
  // a fast line: 50 ms a chunk, so the line's own rule (half a deadline) never refuses
  async sendPiece (index: number): Promise<void> {
    await new Promise<void>(resolve => { this.clock.setTimeout(resolve, 50) })
    this.pieces.push(index)
  }

  end (): void {}
  protected destroy (): void {}
  get rejected (): number[] { return this.sent.filter(m => m.type === 'reject').map(m => (m as { index: number }).index) }
}

/** one item's swarm as Uploads sees it: its store holds every chunk; `tree` and `have` are emitted as swarm.ts does */
class Host extends EventEmitter implements UploadsHost {
  readonly opts: UploadsHost['opts']
  readonly closed = false
  readonly store: Store
  readonly stats = { bytesUploaded: 0, requestsRefused: 0 }
  readonly peers = new Set<PeerLink>()
  readonly uploads: Uploads
  readonly playTime: (i: number) => number
  constructor (readonly clock: VirtualClock, share: ShareLedger, { durationMs }: { durationMs?: number } = { durationMs: DURATION_MS }) {
    super()
    const data = Buffer.alloc(CHUNK)
    this.store = { count: COUNT, has: (i: number) => i < COUNT, length: () => CHUNK, get: async () => data } as unknown as Store
    this.uploads = new Uploads(this)
    this.opts = { limiter: new RateLimiter(0), share, deadlineMs: DEADLINE_MS }
    this.playTime = (i: number) => durationMs === undefined ? NaN : i * durationMs / COUNT
  }

  /** we received `n` chunks */
  received (n: number): void { for (let i = 0; i < n; i++) this.emit('have', i) }
  link (name: string, holds: number[] = []): TestLink {
    const l = new TestLink(name, this.clock)
    for (const i of holds) l.markHave(i)
    this.peers.add(l)
    return l
  }

  /** `p` asks for chunk i, as swarm.ts hands a REQUEST on */
  request (p: TestLink, i: number): void { p.want(i); void this.uploads.serve(p) }
  /** `holders` new peers hold chunk i, and a new peer asks for it */
  ask (i: number, holders: number): TestLink {
    for (let k = 0; k < holders; k++) this.link(`holder ${this.peers.size}`, [i])
    const p = this.link(`asker ${this.peers.size}`)
    this.request(p, i)
    return p
  }
}

/** a host at time 0 (chunk i plays at i × CHUNK_MS), bound `max`, that received 2 chunks and uploaded 3 to `a` */
async function pastShare (max = 1): Promise<{ clock: VirtualClock, h: Host }> {
  const clock = new VirtualClock()
  const line = new ShareLedger(max)
  const h = new Host(clock, line)
  h.received(2)
  const a = h.link('a')
  for (const i of [27, 28, 29]) h.request(a, i)
  await clock.run(1000)
  assert.equal(a.pieces, [27, 28, 29], 'served while under the bound')
  assert.ok(line.over, 'past the bound: 3 chunks sent for 2 received')
  return { clock, h }
}

test('past its share: a chunk far ahead that another peer holds is refused; one only we hold, or one playing within two deadlines, is served', async () => {
  const { clock, h } = await pastShare()
  // now 1 s: chunk 20 plays in 199 s; chunk 21 too, but no other peer of ours holds it
  h.link('c', [20, 0])
  const b = h.link('b')
  h.request(b, 20)
  h.request(b, 21)
  assert.equal(b.rejected, [20])
  // chunk 0 played already: served whoever holds it
  h.request(b, 0)
  await clock.run(2000)
  assert.equal([...b.pieces].sort((x, y) => x - y), [0, 21])
  assert.equal(b.rejected, [20])
  assert.is(h.stats.requestsRefused, 1)
  // chunk 21, which no other peer of ours holds, is sent SHARE_RARE_COPIES times, then refused like the others
  assert.is(SHARE_RARE_COPIES, 2)
  const c = h.ask(21, 0)
  await clock.run(3000)
  assert.equal(c.pieces, [21])
  assert.equal(h.ask(21, 0).rejected, [21])
})

test('past its share: a chunk playing within SHARE_NEAR_MS is refused only when two other peers hold it, and not within two deadlines', async () => {
  const { clock, h } = await pastShare()
  assert.ok(2 * CHUNK_MS - 1000 <= SHARE_NEAR_MS)
  // now 1 s: chunk 2 plays 19 s from now, beyond two deadlines; one other holder is not enough
  const b = h.ask(2, 1)
  await clock.run(1500)
  assert.equal(b.pieces, [2])
  b.markHave(2) // its HAVE
  assert.equal(h.ask(2, 0).rejected, [2], 'two other holders')
  // 3.5 s before chunk 2 plays: within two deadlines, served whoever holds it
  assert.ok(3500 < SHARE_URGENT_DEADLINES * DEADLINE_MS)
  await clock.run(2 * CHUNK_MS - 3500)
  const f = h.ask(2, 2)
  await clock.run(2 * CHUNK_MS)
  assert.equal(f.pieces, [2])
  assert.equal(f.rejected, [])
})

test('the share counts over every item of one line, and only its own', async () => {
  const { clock, h } = await pastShare()
  // a second item on the same line (one pc-fetch), nothing uploaded in it yet
  const other = new Host(clock, h.opts.share!)
  assert.equal(other.ask(20, 1).rejected, [20], 'the first item\'s uploads count in the second')
  // another listener's line, same everything else, under its bound
  const third = new Host(clock, new ShareLedger(1))
  third.received(2)
  const e = third.ask(20, 1)
  await clock.run(2000)
  assert.equal(e.pieces, [20])
  // what it receives counts as well: 12 more chunks, and the first line is under 1 × again
  h.received(12)
  assert.not.ok(h.opts.share!.over)
  const f = h.ask(20, 1)
  await clock.run(3000)
  assert.equal(f.pieces, [20])
})

test('no bound (0), or no play time known (a whole item): every chunk held is served', async () => {
  for (const [max, duration] of [[0, DURATION_MS], [1, undefined]] as const) {
    const clock = new VirtualClock()
    const h = new Host(clock, new ShareLedger(max), { durationMs: duration })
    h.received(1)
    const a = h.link('a')
    h.link('c', [10, 11, 12, 13, 14])
    // one at a time: past 1 × after the second
    for (const [k, i] of [10, 11, 12, 13, 14].entries()) { h.request(a, i); await clock.run(200 * (k + 1)) }
    assert.equal(a.pieces, [10, 11, 12, 13, 14], `max ${max}, duration ${duration}`)
    assert.equal(a.rejected, [])
  }
})

test.run()
