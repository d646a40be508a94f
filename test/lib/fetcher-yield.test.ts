// pc-fetch's connection limit over all its swarms (fetcher.ts yieldingConnection): which
// incoming connection gives way to a new one, and when none does.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { yieldingConnection } from '../../lib/swarm/fetcher.js'
import type { Swarm } from '../../lib/swarm/swarm.js'
import type { PeerLink } from '../../lib/swarm/link.js'

interface L { outgoing: boolean, closed: boolean, serving: boolean, wanted: number[], name: string }
const link = (name: string, o: Partial<L> = {}): L => ({ outgoing: false, closed: false, serving: false, wanted: [], name, ...o })
const swarm = (complete: boolean, peers: L[], closed = false): Swarm => ({ complete, closed, peers: new Set(peers) }) as unknown as Swarm
const name = (p: PeerLink | undefined): string | undefined => (p as unknown as L | undefined)?.name

test('the oldest idle incoming connection of a swarm holding its item gives way to a swarm still fetching', () => {
  const kept = swarm(true, [link('out', { outgoing: true }), link('serving', { serving: true }), link('asked', { wanted: [3] }), link('idle'), link('idle2')])
  const next = swarm(false, [link('n1')])
  assert.is(name(yieldingConnection([kept, next], next)), 'idle')
  // before the handshake names the swarm: any swarm still fetching may be it
  assert.is(name(yieldingConnection([kept, next])), 'idle')
})

test('no connection gives way to a swarm that holds its item, nor when every swarm holds its item', () => {
  const a = swarm(true, [link('a1')])
  const b = swarm(true, [link('b1')])
  assert.is(yieldingConnection([a, b], b), undefined)
  assert.is(yieldingConnection([a, b]), undefined)
})

test('nothing gives way when no swarm holding its item has an idle incoming connection', () => {
  const kept = swarm(true, [link('serving', { serving: true }), link('out', { outgoing: true })])
  const gone = swarm(true, [link('g1')], true)
  const next = swarm(false, [])
  assert.is(yieldingConnection([kept, gone, next], next), undefined)
})

test.run()
