// `npm start`: the demo station comes up, its live show is in the playlist and a
// listener's stream plays it (the slot placed from now here, not in a minute), and
// Ctrl-C leaves nothing running and nothing behind.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, waitForOutput, withTimeout, killChildren } from '../helpers.js'

test.after.each(() => killChildren())

test('the demo station serves two listeners its live show and stops cleanly on SIGINT', async () => {
  // its own process group: if the test fails, the demo and every pipeline it started go together
  const demo = spawn(process.execPath, [join(ROOT, 'dist', 'scripts', 'demo.js'), '--live-at', 'now', '--live-for', '10m'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let err = ''
  let out = ''
  demo.stderr.on('data', (d: Buffer) => { err += d.toString() })
  demo.stdout.on('data', (d: Buffer) => { out += d.toString() })
  try {
    const banner = await waitForOutput(demo.stdout, t => /listener 2 http:\/\/\S+/.test(t) && /origin sent/.test(t), 30_000, 'the demo to come up')
    const sinks = [...banner.matchAll(/listener \d http:\/\/(\S+?)\//g)].map(m => m[1])
    assert.is(sinks.length, 2)
    const list = /playlist (http:\/\/\S+)\)/.exec(banner)
    assert.ok(list, banner)
    const live = /live +(http:\/\/\S+) .*on air/.exec(banner)
    assert.ok(live, banner)
    // the live slot is in the playlist, as a live event at the mount
    const rss = await (await fetch(list[1])).text()
    assert.ok(rss.includes(live[1]), rss)
    assert.match(rss, /<dc:type rdf:resource="[^"]*Event"\/>/)
    // each listener's stream gives the live show's audio, and its page has a player
    for (const s of sinks) {
      const ctl = new AbortController()
      const res = await fetch(`http://${s}/stream`, { signal: ctl.signal })
      assert.is(res.status, 200)
      const reader = res.body!.getReader()
      const manifestUrl = `${live[1]}.json`
      // the bytes are pc-live's chunks: a chunk in its window begins in them. Read until one
      // does, up to ~40 s of audio (a loaded machine may start a listener on what came
      // before the show, or late), checking after each ~4 s read
      const got: Uint8Array[] = []
      let n = 0
      let checked = 0
      let found = false
      while (!found && n < 655_360) {
        const r = await withTimeout(reader.read(), 30_000, `audio from ${s}`)
        if (r.done) break
        got.push(r.value); n += r.value.length
        if (n - checked < 65_536) continue
        checked = n
        const heard = Buffer.concat(got)
        const m = await (await fetch(manifestUrl)).json() as { base: string, chunks: Array<{ name: string }> }
        const chunks = await Promise.all(m.chunks.map(async c => Buffer.from(await (await fetch(new URL(m.base + c.name, manifestUrl))).arrayBuffer())))
        found = chunks.some(c => c.length > 64 && heard.includes(c.subarray(0, 64)))
      }
      ctl.abort()
      assert.ok(found, `no live chunk in the ${n} bytes ${s} played`)
      const status = await (await fetch(`http://${s}/status-json.xsl`)).json() as { icestats: { source: { title?: string } } }
      assert.is(status.icestats.source.title, 'pc demo live show')
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
    // its pipelines run in groups of their own: find them by the station directory and the ports they name
    const names = [/station directory (\S+)\)/.exec(out)?.[1], ...[...out.matchAll(/(?:tracker|listener \d) +http:\/\/(127\.0\.0\.1:\d+)\//g)].map(m => m[1])]
    for (const name of names.filter((n): n is string => n !== undefined)) {
      let pids = ''
      try { pids = execFileSync('pgrep', ['-f', name], { encoding: 'utf8' }) } catch { /* none */ }
      for (const pid of pids.split('\n').filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ }
    }
  }
  assert.not.match(err, /internal error|Error:/)
})

test.run()
