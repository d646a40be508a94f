// The simulator's clock and network (bench/sim/clock.ts, net.ts) on their own: the order
// timers fire in, and what reaches one host at one time being handed over as one event.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimLink, SimNet } from '../../bench/sim/net.js'
import { Rng, type HostSpec } from '../../bench/sim/population.js'
import type { Incoming } from '../../lib/swarm/link.js'

test('the clock fires timers in (time, order set) order, those set for now while it fires included', async () => {
  const clock = new SimClock(10)
  const rng = new Rng(3)
  const fired: Array<[number, number]> = []
  const want: Array<[number, number]> = []
  let k = 0
  const set = (ms: number): void => {
    const id = k++
    const at = clock.now() + (ms > 0 ? Math.ceil((clock.now() + ms) / 10) * 10 - clock.now() : 0)
    want.push([at, id])
    clock.setTimeout(() => {
      fired.push([clock.now(), id])
      // some set more, for now and for later, while the clock fires this time's
      if (id < 300 && rng.next() < 0.5) set(rng.next() < 0.3 ? 0 : rng.next() * 50)
    }, ms)
  }
  for (let i = 0; i < 200; i++) set(Math.floor(rng.next() * 8) * 7)
  await clock.run(10_000)
  want.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  assert.equal(fired, want)
  assert.is(clock.pending, 0)
})

test('a deferred call fires after what is queued for now, in order with timers set for now, and a cancelled timer not at all', async () => {
  const clock = new SimClock(10)
  const seen: string[] = []
  clock.setTimeout(() => {
    seen.push('a')
    clock.defer(() => { seen.push('d1'); clock.defer(() => seen.push('d3')) })
    clock.setTimeout(() => seen.push('t0'), 0)
    const x = clock.setTimeout(() => seen.push('cancelled'), 0)
    clock.defer(() => seen.push('d2'))
    clock.clearTimeout(x)
    clock.setTimeout(() => seen.push('later'), 1)
  }, 25)
  clock.setTimeout(() => seen.push('b'), 30)
  // a bucket already fired through: a deferred call starts a new one at the same time
  clock.setTimeout(() => clock.defer(() => seen.push(`e at ${clock.now()}`)), 50)
  await clock.run(1000)
  assert.equal(seen, ['a', 'b', 'd1', 't0', 'd2', 'd3', 'later', 'e at 50'])
  assert.is(clock.pending, 0)
})

test('a halted clock lets go of its timers and keeps none set after: the links closed at a run\'s end leave nothing queued', async () => {
  const clock = new SimClock(10)
  const seen: string[] = []
  clock.setTimeout(() => seen.push('before'), 10)
  await clock.run(20)
  clock.setTimeout(() => seen.push('pending'), 10)
  clock.defer(() => seen.push('deferred'))
  assert.is(clock.pending, 2)
  clock.halt()
  assert.is(clock.pending, 0)
  // what closing a swarm sets after the run (SimLink.end's timer for each link) is not kept
  clock.setTimeout(() => seen.push('after'), 5)
  clock.defer(() => seen.push('deferred after'))
  assert.is(clock.pending, 0)
  await clock.run(1000)
  assert.equal(seen, ['before'])
})

const line: HostSpec = { upBytesPerMs: 1000, downBytesPerMs: 1000, rttMs: 40, loss: 0, nat: false }

function pair (net: SimNet, from: Host, to: Host): [SimLink, SimLink] {
  const a = new SimLink(net, true, `${to.addr.host}:${to.addr.port}`, from)
  const b = new SimLink(net, false, `${from.addr.host}:1`, to)
  a.other = b
  b.other = a
  return [a, b]
}

test('what reaches a host at one time over several links is one timer, each link\'s messages in the order sent', async () => {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const [x, y, z] = [0, 1, 2].map(k => new Host(k, { host: `10.0.0.${k}`, port: 6881 }, line))
  const [xz, zx] = pair(net, x, z)
  const [yz, zy] = pair(net, y, z)
  const got: string[] = []
  const at: number[] = []
  const log = (who: string) => (m: Incoming) => { got.push(`${who}${m.type === 'have' ? m.index : m.type}`); at.push(clock.now()) }
  zx.on('message', log('x'))
  zy.on('message', log('y'))
  // both paths take 20 ms one way: all five arrive at 20 ms
  xz.send({ type: 'have', index: 1 })
  yz.send({ type: 'have', index: 2 })
  xz.send({ type: 'have', index: 3 })
  yz.send({ type: 'have', index: 4 })
  xz.send({ type: 'keepalive' })
  const before = clock.fired
  await clock.run(1000)
  assert.equal(got, ['x1', 'y2', 'x3', 'y4', 'xkeepalive'])
  assert.equal(at, [20, 20, 20, 20, 20])
  assert.is(clock.fired - before, 1, 'one timer for everything that reached z at 20 ms')
  // at two times: two timers
  got.length = 0
  xz.send({ type: 'have', index: 5 })
  await clock.run(1005)
  yz.send({ type: 'have', index: 6 })
  const then = clock.fired
  await clock.run(2000)
  assert.equal(got, ['x5', 'y6'])
  assert.is(clock.fired - then, 2)
})

test.run()
