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

test.run()
