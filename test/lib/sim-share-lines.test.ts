// bench/sim run.js --max-share-lines: only the listeners on the line classes named set
// --max-share (day.ts maxShareClasses), and a name it does not know stops the run with why.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const RUN = fileURLToPath(new URL('../../bench/sim/run.js', import.meta.url))

function run (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [RUN, ...args], { maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e ? (e as { code?: number }).code ?? 1 : 0, stdout, stderr })
    })
  })
}

test('--max-share-lines slow: the bounded listeners are those on reachable slow lines, and none of them passes the bound', async () => {
  const r = await run(['--scenario', 'day', '--listeners', '30', '--items', '2', '--seed', '2', '--max-share', '1', '--max-share-lines', 'slow'])
  assert.is(r.code, 0, r.stderr)
  const d = JSON.parse(r.stdout)
  const slow = d.byClass['reachable slow']
  assert.ok(slow.listeners > 0, 'some listener on a reachable slow line')
  assert.is(d.byBound.bounded.share.listeners, slow.listeners, 'bounded: exactly the reachable slow lines')
  assert.is(d.byBound.others.share.listeners, d.listeners - slow.listeners)
  assert.ok(d.byBound.bounded.share.max <= 1 + 1e-9, `bounded max ${d.byBound.bounded.share.max}`)
})

test('--max-share-lines with a name it does not know: exit 64 and why', async () => {
  const r = await run(['--scenario', 'day', '--listeners', '5', '--items', '1', '--max-share', '1', '--max-share-lines', 'slow,dsl'])
  assert.is(r.code, 64)
  assert.match(r.stderr, "--max-share-lines wants fast, slow or nat, comma-separated, not 'dsl'")
  assert.is(r.stdout, '')
})

test.run()
