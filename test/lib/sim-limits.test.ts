// The simulator's connection limits (bench/sim run.js --max-peers, --max-incoming): a pc
// listener's swarm dials no more than `maxPeers` peers (SwarmOptions.maxPeers,
// members.ts), and a host holds no more than `maxIncoming` incoming connections
// (SimNet.maxIncoming, pc-fetch's maxConnections), in the flash crowd's first seconds.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DEFAULTS, runScenario, type ScenarioOptions } from '../../bench/sim/scenario.js'

const base: ScenarioOptions = { ...DEFAULTS, listeners: 60, seed: 2, untilMs: 12_000, churn: false }

/** the most outgoing peers of any swarm, and the most incoming connections of any host, at the run's end */
async function most (o: Partial<ScenarioOptions>): Promise<{ outgoing: number, incoming: number }> {
  const r = await runScenario({ ...base, ...o }, undefined, true)
  let outgoing = 0
  let incoming = 0
  for (const l of r.listeners!) {
    const sw = l.host.swarm
    if (sw) outgoing = Math.max(outgoing, [...sw.peers].filter(p => p.outgoing).length)
    incoming = Math.max(incoming, l.host.incoming)
  }
  return { outgoing, incoming }
}

test('maxPeers and maxIncoming bound what each listener holds; the defaults bind at neither', async () => {
  const free = await most({})
  assert.ok(free.outgoing > 3 && free.incoming > 6, `without the options more than 3 dialled and 6 incoming somewhere (${JSON.stringify(free)})`)
  const bound = await most({ maxPeers: 3, maxIncoming: 6 })
  assert.ok(bound.outgoing <= 3, `at most 3 dialled peers a swarm (${bound.outgoing})`)
  assert.ok(bound.incoming <= 6, `at most 6 incoming connections a host (${bound.incoming})`)
  assert.ok(bound.outgoing === 3 && bound.incoming === 6, `both limits reached by some listener (${JSON.stringify(bound)})`)
})

test.run()
