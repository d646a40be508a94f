// The soak benchmark's command line: item lengths it cannot lay out are refused with
// exit 64 before anything starts (no origin, no tracker, no pipeline). Its heap sampler
// (--heap) writes what is left after a full collection, and how much of it is V8's code,
// and only where gc() is exposed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { readFile, readdir } from 'node:fs/promises'
import { pathToFileURL } from 'node:url'
import { ROOT, finish, start, killChildren, tempDir } from '../helpers.js'
import { HEAP_SAMPLE_MS } from '../../bench/heap-sampler.js'

const SOAK = join(ROOT, 'dist', 'bench', 'soak.js')
const SAMPLER = pathToFileURL(join(ROOT, 'dist', 'bench', 'heap-sampler.js')).href

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

test('--node-flags that are not flags are refused with exit 64', async () => {
  const r = await finish(start(process.execPath, [SOAK, '--node-flags=max-opt=1']))
  assert.is(r.code, 64)
  assert.match(r.stderr, /^soak: --node-flags wants flags that start with --, not max-opt=1 \(try --help\)/)
})

test('the heap sampler appends the heap after a full collection, only with gc() exposed', async () => {
  const tmp = await tempDir()
  const dir = tmp.path
  // keeps 4 MB alive through the first sample, so that the heap used is known to be above it
  const keep = `const kept = Array.from({ length: 500_000 }, (_, i) => i + 0.5); setTimeout(() => kept.length, ${HEAP_SAMPLE_MS + 1500})`
  const env = { ...process.env, PC_SOAK_HEAP_DIR: dir }
  const withGc = start(process.execPath, ['--expose-gc', '--import', SAMPLER, '-e', keep], { env })
  const without = start(process.execPath, ['--import', SAMPLER, '-e', keep], { env })
  const [a, b] = await Promise.all([finish(withGc), finish(without)])
  assert.is(a.code, 0, a.stderr)
  assert.is(b.code, 0, b.stderr)
  assert.equal(await readdir(dir), [`${withGc.pid ?? 0}.csv`])
  const lines = (await readFile(join(dir, `${withGc.pid ?? 0}.csv`), 'utf8')).trim().split('\n')
  assert.is(lines.length, 1)
  const fields = lines[0].split(',').map(Number)
  assert.is(fields.length, 7, lines[0])
  const [at, used, total, external, arrayBuffers, code, bytecode] = fields
  assert.ok(Math.abs(at - Date.now()) < 60_000, `a time in ms since the epoch: ${at}`)
  assert.ok(used > 4e6 && used <= total, `heap used ${used} of ${total}`)
  assert.ok(external >= arrayBuffers && arrayBuffers >= 0)
  // V8's compiled code and bytecode are part of the heap used, and node's own start-up makes some of each
  assert.ok(code > 0 && bytecode > 0 && code + bytecode < used, `code ${code}, bytecode ${bytecode} of ${used}`)
  await tmp.remove()
})

test.run()
