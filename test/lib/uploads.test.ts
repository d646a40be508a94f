// Serving what we hold (lib/swarm/uploads.ts): a request our line could not send within
// half a deadline, behind what it already has to send, is answered REJECT at once. Real
// Uploads, a store of four chunks, links whose pieces share one upload line, all under the
// virtual clock of memory-net.ts.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Uploads, PACE_MEMORY_DEADLINES, type UploadsHost } from '../../lib/swarm/uploads.js'
import { PeerLink } from '../../lib/swarm/link.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import type { Store } from '../../lib/swarm/store.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'
import { VirtualClock } from './memory-net.js'

const CHUNK = 128 * 1024
const DEADLINE_MS = 2000

/** one upload line shared by every link of the host: a chunk takes `chunkMs` */
class Line { busyUntil = 0; constructor (readonly clock: VirtualClock, readonly chunkMs: number) {} }

class LineLink extends PeerLink {
  readonly outgoing = false
  readonly sent: Message[] = []
  readonly pieces: Array<{ index: number, at: number }> = []
  constructor (readonly address: string, readonly line: Line) { super() }
  get listenAddress (): PeerAddress | undefined { return undefined }
  sendHandshake (_h: Handshake): void {}
  send (m: Message): boolean { this.sent.push(m); return true }
  async sendPiece (index: number, data: Buffer): Promise<void> {
    const c = this.line.clock
    this.line.busyUntil = Math.max(c.now(), this.line.busyUntil) + data.length / CHUNK * this.line.chunkMs
    const done = this.line.busyUntil
    await new Promise<void>(resolve => { c.setTimeout(resolve, done - c.now()) })
    this.pieces.push({ index, at: c.now() })
  }

  end (): void {}
  protected destroy (): void {}
  /** the peer asks for chunk i, as swarm.ts hands a REQUEST on */
  request (up: Uploads, i: number): void { this.want(i); void up.serve(this) }
  get rejected (): number[] { return this.sent.filter(m => m.type === 'reject').map(m => (m as { index: number }).index) }
}

function host (clock: VirtualClock): UploadsHost {
  const data = Buffer.alloc(CHUNK)
  const store = { has: (i: number) => i < 4, length: () => CHUNK, get: async () => data } as unknown as Store
  return { opts: { limiter: new RateLimiter(0), deadlineMs: DEADLINE_MS }, clock, closed: false, store, stats: { bytesUploaded: 0, requestsRefused: 0 }, emit: () => true }
}

test('a line that would send a request past half a deadline, behind what it has to send, answers REJECT at once', async () => {
  const clock = new VirtualClock()
  const line = new Line(clock, 400) // a chunk every 400 ms: two fit in half a deadline, three do not
  const h = host(clock)
  const up = new Uploads(h)
  const first = new LineLink('a', line)
  first.request(up, 0) // the pace unknown: served
  await clock.run(500)
  assert.equal(first.pieces.map(p => p.index), [0])
  const peers = ['b', 'c', 'd', 'e'].map(a => new LineLink(a, line))
  peers.forEach((p, k) => p.request(up, k))
  // b and c are sent (400 and 800 ms), d and e refused at once, before any time passes
  assert.equal(peers.map(p => p.rejected), [[], [], [2], [3]])
  await clock.run(5000)
  assert.equal(peers.map(p => p.pieces.map(x => x.index)), [[0], [1], [], []])
  assert.is(h.stats.requestsRefused, 2)
})

test('a line too slow for one chunk in half a deadline refuses; idle long enough, it serves one to measure itself anew', async () => {
  const clock = new VirtualClock()
  const line = new Line(clock, 4200) // 128 KiB at 0.25 Mbit/s
  const up = new Uploads(host(clock))
  const a = new LineLink('a', line)
  a.request(up, 0)
  await clock.run(4300)
  a.request(up, 1)
  assert.equal(a.rejected, [1], 'refused while the pace is remembered')
  await clock.run(4300 + PACE_MEMORY_DEADLINES * DEADLINE_MS + 1)
  a.request(up, 2)
  assert.equal(a.rejected, [1], 'one request served once the pace is forgotten')
  const b = new LineLink('b', line)
  b.request(up, 3)
  assert.equal(b.rejected, [3], 'another refused while that one measures the line')
  await clock.run(30_000)
  assert.equal(a.pieces.map(p => p.index), [0, 2])
})


test('whether the line can pass a chunk on (the origin\'s turns, scheduler.ts): yes before its pace is known, no once measured too slow for half a deadline, no past --max-share', async () => {
  const clock = new VirtualClock()
  const slow = new Uploads(host(clock))
  assert.ok(slow.canPassOn(CHUNK), 'nothing sent yet: nothing says the line is slow')
  const a = new LineLink('a', new Line(clock, 1500)) // a chunk in 1.5 s: past half a deadline
  a.request(slow, 0)
  await clock.run(2000)
  assert.equal(a.pieces.map(p => p.index), [0])
  assert.not.ok(slow.canPassOn(CHUNK), 'measured at 1.5 s a chunk')
  const fast = new Uploads(host(clock))
  const b = new LineLink('b', new Line(clock, 400))
  b.request(fast, 1)
  await clock.run(4500)
  assert.ok(fast.canPassOn(CHUNK), 'measured at 400 ms a chunk')
  const h = host(clock)
  h.opts.share = { allows: () => false } as unknown as UploadsHost['opts']['share']
  assert.not.ok(new Uploads(h).canPassOn(CHUNK), 'the share bound reached')
})
test.run()
