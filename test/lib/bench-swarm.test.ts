// The swarm benchmark's harness, run small: nginx origin, pc-tracker, two pc-fetch
// listeners, the origin count, the per-listener timings and the identity check.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { ROOT, finish, start, killChildren } from '../helpers.js'

const SWARM = join(ROOT, 'dist', 'bench', 'swarm.js')

test.after.each(() => { killChildren() })

test('refuses a bad listener count or part with exit 64', async () => {
  for (const args of [['--n', '0'], ['--n', '1,x'], ['--only', 'nope'], ['--size', 'big']]) {
    const r = await finish(start(process.execPath, [SWARM, ...args]))
    assert.is(r.code, 64, args.join(' '))
    assert.match(r.stderr, /^swarm: --/, args.join(' '))
  }
})

test('measures a two-listener pc-fetch swarm end to end and finds both outputs identical', async () => {
  const r = await finish(start(process.execPath, [SWARM, '--n', '2', '--size', '1M', '--only', 'swarm', '--timeout', '90s']), 150_000)
  assert.is(r.code, 0, r.stderr)
  const out = r.stdout.toString()
  assert.match(out, /pc-tracker as the tracker/)
  const row = /^\| 2 \| pc-fetch \| (\d+\.\d\d) \| .* \| 2\/2 \|$/m.exec(out)
  assert.ok(row, out)
  const originRatio = Number(row![1])
  // the origin sent at least the item once (nothing else had it) and at most once per listener plus retries
  assert.ok(originRatio >= 1 && originRatio <= 3, String(originRatio))
})

test.run()
