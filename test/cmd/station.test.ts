// The whole station as a broadcaster and five listeners would run it: Debian's nginx
// serving media, hash trees and the playlist (application/x-alluvium), pc-tracker, and
// five `pc-schedule --follow | pc-fetch | pc-icecast` pipelines started at staggered
// times, one of them 60 % into an item. Each listener's stream is decoded with ffmpeg:
// it must decode without error across the item boundary, start within a second of the
// scheduled position, and follow a playlist that "cron" rewrote mid-run. nginx's own
// access log says how much the origin sent.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { copyFile, readFile, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { freePort } from '../../scripts/free-port.js'
import { MEDIA, bin, run, tempDir, withTimeout, sleep, killChildren, killGroups, startGroup, startPipeline } from '../helpers.js'
import { decodeToPcm, heardPosition, toneAt, SAMPLE_RATE } from '../timeline.js'

const ITEM_S = 20

interface Capture { firstByteAt: number, bytes: Buffer, status: number }

/** GET the stream until `untilMs` (epoch), noting when the first body byte arrived. */
function capture (url: string, untilMs: number): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let firstByteAt = 0
    const req = request(url, (res) => {
      res.on('data', (d: Buffer) => { if (!firstByteAt) firstByteAt = Date.now(); parts.push(d) })
      const stop = (): void => { req.destroy(); resolve({ firstByteAt, bytes: Buffer.concat(parts), status: res.statusCode ?? 0 }) }
      const t = setTimeout(stop, Math.max(0, untilMs - Date.now()))
      res.on('end', () => { clearTimeout(t); stop() })
    })
    req.on('error', reject)
    req.end()
  })
}

async function decodeErrors (media: Buffer): Promise<string> {
  return await new Promise((resolve) => {
    const ff = spawn('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-f', 'null', '-'])
    let err = ''
    ff.stderr.on('data', (d: Buffer) => { err += d.toString() })
    ff.stdin.on('error', () => {})
    ff.on('close', () => resolve(err))
    ff.stdin.end(media)
  })
}

let nginx: Nginx | undefined
let cleanup: (() => Promise<void>) | undefined

test.after.each(async () => {
  await killGroups()
  killChildren()
  await nginx?.stop()
  nginx = undefined
  await cleanup?.()
})

test('five staggered listeners hear the scheduled moment, decode across items, follow a rewritten playlist, and the origin sends each item about once', async () => {
  const dir = await tempDir('pc-station-')
  cleanup = dir.remove
  for (const f of ['timeline-a.mp3', 'timeline-b.mp3', 'tone-cbr.mp3']) await copyFile(join(MEDIA, f), join(dir.path, f))
  nginx = await startNginx({ root: dir.path })
  const base = nginx.url
  const list = join(dir.path, 'list.rss')
  const t0 = Date.now() + 6000
  const startIso = new Date(t0).toISOString()
  const layout = async (files: string[]): Promise<void> => {
    const r = await run('pc-playlist', ['-b', base, '--root', dir.path, '--start', startIso, '--hash', '-o', list, ...files.map(f => join(dir.path, f))], undefined, { timeoutMs: 30_000 })
    assert.is(r.code, 0, r.stderr)
  }
  // what is first published: timeline A, then a plain tone; cron later replaces the tone with timeline B
  await layout(['timeline-a.mp3', 'tone-cbr.mp3'])
  const rssType = await new Promise<string>((resolve, reject) => {
    request(base + 'list.rss', { method: 'HEAD' }, (res) => { res.resume(); resolve(String(res.headers['content-type'])) }).on('error', reject).end()
  })
  assert.match(rssType, /application\/x-alluvium/)

  const trackerPort = await freePort()
  const tracker = startGroup(process.execPath, [bin('pc-tracker'), `127.0.0.1:${trackerPort}`], { stdio: 'ignore' })
  await sleep(300)

  // join times relative to t0 (ms): before the start, just after, and 60 % into item A
  const joins = [-4000, 0, 3000, 7000, 0.6 * ITEM_S * 1000]
  const listenUntil = t0 + (ITEM_S + 5) * 1000
  const captures: Promise<Capture>[] = []
  const logs: Array<() => string> = []
  for (const [i, at] of joins.entries()) {
    await sleep(Math.max(0, t0 + at - 2000 - Date.now())) // start the pipeline 2 s before its listener connects
    const port = await freePort()
    logs[i] = startPipeline([
      ['pc-schedule', ['--follow', '--lead', '8s', '--poll', '1s', base + 'list.rss']],
      ['pc-fetch', ['-t', `http://127.0.0.1:${trackerPort}/announce`, '--host', '127.0.0.1']],
      ['pc-icecast', [`127.0.0.1:${port}`, '--name', `listener ${i + 1}`]],
    ]).stderr
    await sleep(Math.max(0, t0 + at - Date.now()))
    captures.push((async () => {
      // the sink may take a moment to listen
      for (let tries = 0; ; tries++) {
        try { return await capture(`http://127.0.0.1:${port}/stream`, listenUntil) } catch (e) {
          if (tries > 40) throw e
          await sleep(100)
        }
      }
    })())
    if (i === 1) {
      // cron rewrites the playlist while the first listeners are already running
      await sleep(1500)
      await layout(['timeline-a.mp3', 'timeline-b.mp3'])
    }
  }
  const got = await withTimeout(Promise.all(captures), (ITEM_S + 30) * 1000, 'the listeners\' captures')

  for (const [i, c] of got.entries()) {
    const who = `listener ${i + 1} (joined at ${(joins[i] / 1000).toFixed(1)} s): ${logs[i]().slice(-800)}`
    assert.is(c.status, 200, who)
    assert.ok(c.bytes.length > 100_000, `${who}: only ${c.bytes.length} bytes`)
    assert.is(await decodeErrors(c.bytes), '', who)
    const pcm = await decodeToPcm(c.bytes)
    const heard = heardPosition(pcm)
    assert.ok(heard !== undefined, `${who}: no tone change heard`)
    const scheduled = (c.firstByteAt - t0) / 1000
    const skew = (heard as number) - Math.max(0, scheduled)
    assert.ok(Math.abs(skew) < 1, `${who}: heard ${heard?.toFixed(3)} s, scheduled ${scheduled.toFixed(3)} s`)
    // after the boundary the rewritten playlist's item B (tones k ≥ 20) plays, on time:
    // the tone at capture time t is the programme second heard + t
    const atS = pcm.length / SAMPLE_RATE - 1.5
    const k = toneAt(pcm, Math.floor(atS * SAMPLE_RATE))
    const want = Math.floor((heard as number) + atS + 0.025)
    assert.ok(want >= 20, `${who}: capture too short to reach item B (${atS.toFixed(1)} s)`)
    assert.ok(Math.abs(k - want) <= 1, `${who}: expected timeline B tone ${want} ${atS.toFixed(1)} s into the capture, heard tone ${k}`)
  }

  // the origin's own account: media bytes per file
  const logText = await readFile(nginx.accessLog, 'utf8')
  const perFile = new Map<string, number>()
  for (const line of logText.split('\n')) {
    const m = /^(\d+) \d+ \w+ "([^"]+)"/.exec(line)
    if (m && m[2].endsWith('.mp3')) perFile.set(m[2], (perFile.get(m[2]) ?? 0) + Number(m[1]))
  }
  const aSize = (await stat(join(dir.path, 'timeline-a.mp3'))).size
  const sentA = perFile.get('/timeline-a.mp3') ?? 0
  assert.ok(sentA > 0, 'origin never sent item A')
  assert.ok(sentA < 2 * aSize, `origin sent ${sentA} bytes of item A (${aSize} bytes) to five listeners`)
  const total = [...perFile.values()].reduce((a, b) => a + b, 0)
  assert.ok(total < 2 * 2 * aSize, `origin sent ${total} media bytes for two items of ${aSize} bytes`)
})

test.run()

