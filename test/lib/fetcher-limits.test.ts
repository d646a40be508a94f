// Fetcher's limits as options (lib/swarm/fetcher.ts FetcherOptions.maxConnections,
// maxPeers): a listener holding `maxConnections` incoming connections closes the next
// one at once while no swarm has one to give way; a limit that is not a whole number of
// at least 1 is refused when the Fetcher (or a Swarm, for maxPeers) is made.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Socket } from 'node:net'
import { waitUntil } from '../helpers.js'
import { Swarm, type SwarmOptions } from '../../lib/swarm/swarm.js'
import { Fetcher, type FetcherOptions, type FetcherIo } from '../../lib/swarm/fetcher.js'

const io = (signal: AbortSignal): FetcherIo => ({ warn: () => {}, info: () => {}, debug: () => {}, progress: () => {}, signal })
const opts = (o: Partial<FetcherOptions>): FetcherOptions => ({ trackers: [], peers: [], host: '127.0.0.1', port: 0, raw: false, keepMs: 0, uploadLimit: 0, window: 16, deadlineMs: 2000, progress: false, workers: 0, ...o })

/** a connection to `port` that says nothing; `closed` resolves when the far end closes it */
function open (port: number): { s: Socket, closed: Promise<void>, isClosed: () => boolean } {
  const s = connect(port, '127.0.0.1')
  s.on('error', () => {})
  let done = false
  const closed = new Promise<void>(resolve => s.on('close', () => { done = true; resolve() }))
  return { s, closed, isClosed: () => done }
}

test('maxConnections: the connection past it is closed, those before it kept', async () => {
  const ac = new AbortController()
  const f = new Fetcher(opts({ maxConnections: 2 }), io(ac.signal))
  const { port } = await f.start()
  const conns: Array<ReturnType<typeof open>> = []
  try {
    for (let k = 0; k < 2; k++) {
      const c = open(port)
      conns.push(c)
      await new Promise<void>(resolve => c.s.on('connect', () => resolve()))
    }
    // the Fetcher holds the two (it counts a connection when it accepts it) before the third comes
    await waitUntil(() => (Reflect.get(f, 'sockets') as Set<Socket>).size === 2, 5000, 'two connections accepted')
    const third = open(port)
    conns.push(third)
    // (a bound on the wait, not a timing figure: without the limit the third stays open)
    const gone = await Promise.race([third.closed.then(() => true), new Promise<boolean>(resolve => setTimeout(() => resolve(false), 5000))])
    assert.ok(gone, 'the third connection is closed')
    assert.ok(!conns[0].isClosed() && !conns[1].isClosed(), 'the two within the limit still open when the third was closed')
  } finally {
    for (const c of conns) c.s.destroy()
    ac.abort()
    await f.close(false)
  }
})

test('a limit that is not a whole number of at least 1 is refused with its name', () => {
  const ac = new AbortController()
  for (const bad of [0, -1, 2.5, NaN]) {
    assert.throws(() => new Fetcher(opts({ maxConnections: bad }), io(ac.signal)), /maxConnections must be a whole number/)
    assert.throws(() => new Fetcher(opts({ maxPeers: bad }), io(ac.signal)), /maxPeers must be a whole number/)
    // a swarm made with it alone says so too (its check comes before it reads any other option)
    assert.throws(() => new Swarm({ maxPeers: bad } as unknown as SwarmOptions), /maxPeers must be a whole number/)
  }
})

test.run()
