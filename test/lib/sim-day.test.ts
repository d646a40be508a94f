// The simulator's day (bench/sim/day.ts): several items back to back, each its own swarm,
// one audience tuning in and out across them. Checks that each listener's share over its
// day is what its line sent, and that the books balance.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runDay, DAY_DEFAULTS, CLASSES, type DayOptions } from '../../bench/sim/day.js'
import { DEFAULTS } from '../../bench/sim/scenario.js'

// three items of one minute (8 chunks of 128 KiB), 30 listeners at a time, served for 20 s after each item
const base: DayOptions = { ...DEFAULTS, ...DAY_DEFAULTS, arrival: 'steady', listeners: 30, durationMs: 60_000, tailMs: 20_000, items: 3, keepMs: 20_000, seed: 3 }

test('day: each listener\'s share is what its line sent over its items, and the shares add up to what the peers sent and the listeners received', async () => {
  const r = await runDay(base, true)
  const ls = r.dayListeners!
  assert.ok(ls.length > base.listeners, `listeners tuned in during the day too (${ls.length})`)
  assert.ok(ls.some(l => l.items.length === base.items), 'some listened to every item')
  assert.ok(ls.some(l => l.joinAt > 0 && l.items.length > 0), 'some tuned in during the day')
  let shares = 0
  for (const l of ls) {
    assert.is(l.swarms.length, l.items.length, 'one swarm per item it tuned in to')
    const up = l.swarms.reduce((a, s) => a + s.stats.bytesUploaded, 0)
    assert.is(up, l.host.bytesSent, `listener ${l.host.id}: its swarms uploaded what its line sent`)
    if (l.items.length) assert.ok(Math.abs(l.share * l.items.length * r.itemBytes - up) < 1e-6 * up + 1e-9, `listener ${l.host.id}: share × its items' bytes is its upload`)
    shares += l.share * l.items.length * r.itemBytes
  }
  const c = r.conservation
  assert.ok(c.receivedFromPeers > 0, 'peers swapped chunks')
  assert.ok(Math.abs(shares - c.sentByPeers) < 1, `the shares add up to what peers sent (${shares} B against ${c.sentByPeers} B)`)
  assert.is(c.uploadedBySwarms, c.sentByPeers, 'what the swarms say they uploaded went through the links')
  assert.ok(c.receivedFromPeers <= c.deliveredByNet && c.deliveredByNet <= c.sentByPeers, 'no byte from nowhere')
  assert.is(c.receivedFromOrigin, c.sentByOrigin, 'what the listeners counted from the origin is what it sent')
  assert.is(r.byClass[CLASSES[0]].listeners + r.byClass[CLASSES[1]].listeners + r.byClass[CLASSES[2]].listeners, r.listeners)
  assert.ok(r.originPerItem.every(x => x >= 1), 'the origin sent each item at least once')
})

test('day: a host at its connection limit gives an idle connection of an item it holds whole to the next item\'s swarm, and nobody stalls at the item changes', async () => {
  // 30 places a host: the item just played and the next one do not both fit (without the rule:
  // 93.5 % of the listeners stalled, the origin sent items 1 and 2 12.7 and 11.6 times)
  const r = await runDay({ ...base, maxIncoming: 30 })
  assert.ok(r.refusedFull > 0, `the limit was reached (${r.refusedFull} dials refused)`)
  assert.ok(r.yielded > 0, `connections gave way (${r.yielded})`)
  assert.is(r.stalledShare, 0, `no listener stalled (${(100 * r.stalledShare).toFixed(1)} %, ${r.stallSeconds.toFixed(0)} s)`)
  for (const [k, x] of r.originPerItem.entries()) assert.ok(x < 6, `item ${k}: the origin sent it ${x.toFixed(2)} times`)
})

test('day: the fair share (pc-fetch --fair-share, default 4) refuses AREQUESTs, the busiest line uploads less, and the origin sends no more than with none', async () => {
  const none = await runDay({ ...base, fairShare: 0 })
  const fair = await runDay(base)
  assert.is(none.fairRefused, 0)
  assert.ok(fair.fairRefused > 0, `AREQUESTs refused past the fair share (${fair.fairRefused})`)
  // not down to 4 ×: most of what the busiest line sends past it is asked of it as the only holder its requesters know
  assert.ok(fair.share.max < none.share.max, `the busiest line's share ${fair.share.max.toFixed(2)} × against ${none.share.max.toFixed(2)} × with none`)
  assert.ok(fair.originRatio <= none.originRatio, `origin ${fair.originRatio.toFixed(3)} × the item against ${none.originRatio.toFixed(3)} × with none`)
  assert.is(fair.stalledShare, 0)
})

test.run()
