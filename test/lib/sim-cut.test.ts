// A simulator run stopped early (run.js --until MS, ScenarioOptions.untilMs): its stalls
// are counted up to the stop, not to the item's end, and of the listeners that had tuned
// in by then; the JSON says it was cut (`cut`).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DEFAULTS, runScenario, type ScenarioOptions } from '../../bench/sim/scenario.js'

const base: ScenarioOptions = { ...DEFAULTS, listeners: 40, seed: 2, churn: false }

test('a run cut at 15 s counts each listener\'s stalls within its time there, and says it was cut', async () => {
  const atMs = 15_000
  const r = await runScenario({ ...base, untilMs: atMs }, undefined, true)
  const there = r.listeners!.filter(l => l.joinAt < atMs)
  assert.ok(there.length > 0 && there.length < r.listeners!.length, `some listeners tuned in by the stop, not all (${there.length})`)
  assert.equal(r.cut, { atMs, tunedIn: there.length })
  // no listener stalls longer than it was there before the stop (counted to the item's
  // end, a chunk not held at the stop was ~4 minutes of stall each)
  const most = there.reduce((a, l) => a + (atMs - l.joinAt), 0)
  assert.ok(r.stallSeconds * 1000 <= most, `${r.stallSeconds} s of stalls in ${most / 1000} s of listening`)
  // a flash crowd of 40 plays in its first seconds: few stall (counted to the end, nearly all)
  assert.ok(r.stalledShare < 0.5, `stalled ${r.stalledShare}`)
  assert.ok(r.completedShare <= 1)
})

test('a run not cut (the stop past its end) has no `cut`', async () => {
  const r = await runScenario({ ...base, listeners: 10, durationMs: 30_000, tailMs: 5000, untilMs: 10 * 60_000 })
  assert.is(r.cut, undefined)
  assert.is(r.simSeconds, (1000 + 30_000 + 5000) / 1000)
})

test.run()
