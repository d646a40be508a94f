// A listener at its share (lib/swarm/uploads.ts, pc-fetch --max-share): what it uploaded,
// over all the items of its line, against what it received. At the bound, every request
// is answered REJECT, whatever the chunk, until it has received more; a chunk starts out only
// when it and those on their way fit under the bound, so the upload never passes it. Real Uploads and
// PeerLinks, a store of 30 chunks of a 300 s record, under the virtual clock of memory-net.ts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EventEmitter } from 'node:events'
import { Uploads, ShareLedger, UPLOAD_SLOTS, type UploadsHost } from '../../lib/swarm/uploads.js'
import { PeerLink } from '../../lib/swarm/link.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import type { Store } from '../../lib/swarm/store.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'
import { VirtualClock } from './memory-net.js'

const CHUNK = 16 * 1024
const COUNT = 30
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
  constructor (readonly clock: VirtualClock, share: ShareLedger) {
    super()
    const data = Buffer.alloc(CHUNK)
    this.store = { count: COUNT, has: (i: number) => i < COUNT, length: () => CHUNK, get: async () => data } as unknown as Store
    this.uploads = new Uploads(this)
    this.opts = { limiter: new RateLimiter(0), share, deadlineMs: DEADLINE_MS }
  }

  /** we received `n` chunks */
  received (n: number): void { for (let i = 0; i < n; i++) this.emit('have', i) }
  link (name: string, holds: number[] = []): TestLink {
    const l = new TestLink(name, this.clock)
    for (const i of holds) l.markHave(i)
    this.peers.add(l)
    return l
  }

  /** `p` asks for chunk i, as swarm.ts hands a REQUEST on (an AREQUEST with `alt`) */
  request (p: TestLink, i: number, alt = false): void { p.want(i); void this.uploads.serve(p, alt) }
  /** `holders` new peers hold chunk i, and a new peer asks for it */
  ask (i: number, holders: number): TestLink {
    for (let k = 0; k < holders; k++) this.link(`holder ${this.peers.size}`, [i])
    const p = this.link(`asker ${this.peers.size}`)
    this.request(p, i)
    return p
  }
}

/** a host at time 0, bound `max`, that received 2 chunks and uploaded 2 to `a`, one after the other */
async function atShare (max = 1): Promise<{ clock: VirtualClock, h: Host }> {
  const clock = new VirtualClock()
  const line = new ShareLedger(max)
  const h = new Host(clock, line)
  h.received(2)
  const a = h.link('a')
  for (const [k, i] of [27, 28].entries()) { h.request(a, i); await clock.run(200 * (k + 1)) }
  assert.equal(a.pieces, [27, 28], 'served while under the bound')
  assert.ok(line.full, 'at the bound: 2 chunks sent for 2 received')
  return { clock, h }
}

test('at its share: every request is refused, a chunk only we hold and chunk 0 too', async () => {
  const { clock, h } = await atShare()
  // chunk 20: another peer holds it; 21: no other peer does; 0: the first any listener plays
  h.link('c', [20])
  const b = h.link('b')
  for (const i of [20, 21, 0]) h.request(b, i)
  await clock.run(2000)
  assert.equal(b.pieces, [])
  assert.equal(b.rejected, [20, 21, 0])
  assert.is(h.stats.requestsRefused, 3)
  assert.is(h.opts.share!.refused, 3)
  assert.is(h.opts.share!.uploaded, 2 * CHUNK)
})

test('the chunks on their way out count: requests made at once never take the upload past the bound', async () => {
  const clock = new VirtualClock()
  const line = new ShareLedger(1)
  const h = new Host(clock, line)
  h.received(2)
  // four peers at once, each its own upload slot, and a fifth peer asking three chunks
  assert.is(UPLOAD_SLOTS, 4)
  const askers = [0, 1, 2, 3].map(k => h.link(`asker ${k}`))
  for (const [k, p] of askers.entries()) h.request(p, 10 + k)
  const e = h.link('e')
  for (const i of [20, 21, 22]) h.request(e, i)
  await clock.run(2000)
  const sent = [...askers, e].flatMap(p => p.pieces)
  const refused = [...askers, e].flatMap(p => p.rejected)
  assert.is(sent.length, 2, `sent ${sent.join(', ')}`)
  assert.is(refused.length, 5, `refused ${refused.join(', ')}`)
  assert.ok(line.uploaded <= line.maxShare * line.received)
  assert.is(line.sending, 0)
})

test('the share counts over every item of one line, and only its own; what it receives lifts it', async () => {
  const { clock, h } = await atShare()
  // a second item on the same line (one pc-fetch), nothing uploaded in it yet
  const other = new Host(clock, h.opts.share!)
  assert.equal(other.ask(20, 1).rejected, [20], 'the first item\'s uploads count in the second')
  // another listener's line, same everything else, under its bound
  const third = new Host(clock, new ShareLedger(1))
  third.received(2)
  const e = third.ask(20, 1)
  await clock.run(2000)
  assert.equal(e.pieces, [20])
  // what it receives counts as well: one more chunk, room for one more
  h.received(1)
  assert.ok(h.opts.share!.allows(CHUNK))
  assert.not.ok(h.opts.share!.allows(CHUNK + 1))
  assert.not.ok(h.opts.share!.full)
  const f = h.ask(20, 1)
  await clock.run(3000)
  assert.equal(f.pieces, [20])
  assert.ok(h.opts.share!.full)
  assert.equal(h.ask(21, 1).rejected, [21])
})

test('no bound (0): every chunk held is served', async () => {
  const clock = new VirtualClock()
  const h = new Host(clock, new ShareLedger(0))
  h.received(1)
  const a = h.link('a')
  for (const [k, i] of [10, 11, 12, 13, 14].entries()) { h.request(a, i); await clock.run(200 * (k + 1)) }
  assert.equal(a.pieces, [10, 11, 12, 13, 14])
  assert.equal(a.rejected, [])
})

/** a host at time 0 with no bound and fair share `fair`, that received 1 chunk and uploaded `sent` to `a`, asked with REQUEST */
async function pastFair (fair: number, sent: number): Promise<{ clock: VirtualClock, h: Host, line: ShareLedger }> {
  const clock = new VirtualClock()
  const line = new ShareLedger(0, fair)
  const h = new Host(clock, line)
  h.received(1)
  const a = h.link('a')
  for (let k = 0; k < sent; k++) { h.request(a, 10 + k); await clock.run(200 * (k + 1)) }
  assert.is(a.pieces.length, sent, 'REQUESTs served, past the fair share or not')
  return { clock, h, line }
}

test('past its fair share: an AREQUEST (the requester has another holder at hand) is refused, a REQUEST is served', async () => {
  const { clock, h, line } = await pastFair(2, 1)
  // under the fair share (1 sent, 1 received, 2 ×): an AREQUEST is served, and takes the line to it
  const b0 = h.link('b0')
  h.request(b0, 19, true)
  await clock.run(1000)
  assert.equal(b0.pieces, [19])
  assert.ok(line.beyondFair(CHUNK), '2 chunks sent for 1 received: past 2 ×')
  assert.not.ok(line.full, 'no bound')
  const b = h.link('b')
  h.request(b, 20, true)
  h.request(b, 21)
  h.request(b, 22, true)
  await clock.run(3000)
  assert.equal(b.rejected, [20, 22])
  assert.equal(b.pieces, [21])
  assert.is(line.fairRefused, 2)
  assert.is(line.refused, 0, 'the bound refused nothing')
  assert.is(h.stats.requestsRefused, 2)
})

test('a peer that does not send AREQUEST (an older build, or one with no other holder) is never refused for the fair share', async () => {
  const { clock, h, line } = await pastFair(1, 3)
  const old = h.link('old')
  for (const i of [20, 21, 22, 23]) h.request(old, i)
  await clock.run(3000)
  assert.equal(old.pieces, [20, 21, 22, 23])
  assert.equal(old.rejected, [])
  assert.is(line.fairRefused, 0)
})

test('fair share 0: AREQUESTs are served like REQUESTs; the bound (--max-share) still refuses both', async () => {
  const { clock, h } = await pastFair(0, 4)
  const b = h.link('b')
  h.request(b, 20, true)
  await clock.run(2000)
  assert.equal(b.pieces, [20])
  // a metered line: its bound holds whatever the request says
  const { clock: c2, h: h2 } = await atShare()
  const d = h2.link('d')
  h2.request(d, 20, true)
  h2.request(d, 21)
  await c2.run(2000)
  assert.equal(d.rejected, [20, 21])
  assert.is(h2.opts.share!.fairRefused, 0)
})

test.run()
