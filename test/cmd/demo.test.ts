// `npm start`: the demo station comes up, a listener's stream plays, and Ctrl-C leaves
// nothing running and nothing behind.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, waitForOutput, withTimeout, killChildren } from '../helpers.js'

test.after.each(() => killChildren())

test('the demo station serves two listeners and stops cleanly on SIGINT', async () => {
  // its own process group: if the test fails, the demo and every pipeline it started go together
  const demo = spawn(process.execPath, [join(ROOT, 'dist', 'scripts', 'demo.js')], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let err = ''
  demo.stderr.on('data', (d: Buffer) => { err += d.toString() })
  try {
    const banner = await waitForOutput(demo.stdout, t => /listener 2 http:\/\/\S+/.test(t) && /origin sent/.test(t), 30_000, 'the demo to come up')
    const sinks = [...banner.matchAll(/listener \d http:\/\/(\S+?)\//g)].map(m => m[1])
    assert.is(sinks.length, 2)
    const dir = /playlist (http:\/\/\S+)\)/.exec(banner)
    assert.ok(dir, banner)
    // each listener's stream gives audio, and its page has a player
    for (const s of sinks) {
      const ctl = new AbortController()
      const res = await fetch(`http://${s}/stream`, { signal: ctl.signal })
      assert.is(res.status, 200)
      const reader = res.body!.getReader()
      let got = 0
      while (got < 16_384) { const r = await withTimeout(reader.read(), 20_000, `audio from ${s}`); if (r.done) break; got += r.value.length }
      ctl.abort()
      assert.ok(got >= 16_384, `only ${got} bytes from ${s}`)
      const page = await (await fetch(`http://${s}/`)).text()
      assert.match(page, /<audio[^>]+src=/)
    }
    const exited = new Promise<number | null>(resolve => demo.on('exit', code => resolve(code)))
    const out = waitForOutput(demo.stdout, t => /stopped; removed (\S+)/.test(t), 15_000, 'the demo to stop')
    demo.kill('SIGINT')
    const removed = /stopped; removed (\S+)/.exec(await out)![1]
    assert.is(await withTimeout(exited, 15_000, 'the demo to exit'), 130)
    assert.not.ok(existsSync(removed), `${removed} left behind`)
    let left = ''
    try { left = execFileSync('pgrep', ['-f', removed], { encoding: 'utf8' }) } catch { /* none: pgrep exits 1 */ }
    assert.is(left.trim(), '', `processes left running: ${left}`)
  } catch (e) {
    // what the demo's pipelines said is the only clue to a failure here
    throw new Error(`${(e as Error).message}\n--- demo stderr ---\n${err.slice(-3000)}`)
  } finally {
    // a failed run must not leave its tracker and listeners behind (one did, for 40 minutes)
    try { process.kill(-demo.pid!, 'SIGKILL') } catch { /* the group is gone: it stopped cleanly */ }
  }
  assert.not.match(err, /internal error|Error:/)
})

test.run()
