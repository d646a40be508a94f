// The live benchmark's command line: --help says what it runs without running it, and an
// option it does not know is refused with exit 64 instead of running the default bench.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { ROOT, finish, start, killChildren } from '../helpers.js'

const LIVE = join(ROOT, 'dist', 'bench', 'live.js')

test.after.each(() => { killChildren() })

test('--help and -h print the usage on stdout and run nothing', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await finish(start(process.execPath, [LIVE, flag]))
    assert.is(r.code, 0, flag)
    assert.match(r.stdout.toString(), /^Usage: node dist\/bench\/live\.js .*--kill/, flag)
    assert.not.match(r.stdout.toString(), /listeners and .* readers on/, flag)
  }
})

test('an unknown option or argument is refused with exit 64', async () => {
  for (const args of [['--listeners', '5'], ['20']]) {
    const r = await finish(start(process.execPath, [LIVE, ...args]))
    assert.is(r.code, 64, args.join(' '))
    assert.match(r.stderr, /^live\.js: unknown (option --listeners|argument 20)/, args.join(' '))
  }
})

test.run()
