// The soak benchmark's command line: item lengths it cannot lay out are refused with
// exit 64 before anything starts (no origin, no tracker, no pipeline).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { ROOT, finish, start, killChildren } from '../helpers.js'

const SOAK = join(ROOT, 'dist', 'bench', 'soak.js')

test.after.each(() => { killChildren() })

test('--help names --lengths and runs nothing', async () => {
  const r = await finish(start(process.execPath, [SOAK, '--help']))
  assert.is(r.code, 0)
  assert.match(r.stdout.toString(), /--lengths 1,1,2,1,1/)
  assert.is(r.stderr, '')
})

test('--lengths that are not whole seconds from 1 to 600 are refused with exit 64', async () => {
  for (const bad of ['0', '1,x', '1.5', '1,,2', '601']) {
    const r = await finish(start(process.execPath, [SOAK, '--lengths', bad]))
    assert.is(r.code, 64, bad)
    assert.match(r.stderr, new RegExp(`^soak: --lengths wants whole seconds from 1 to 600, separated by commas, not ${bad.replace('.', '\\.')} \\(try --help\\)`), bad)
  }
})

test.run()
