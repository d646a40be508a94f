// "Up next" from the whole schedule (issue 12): pc-schedule --follow announces what is
// coming, pc-fetch passes it on as NEXT frames without fetching it, pc-icecast lists it
// in /next.json and on its page, from the first item on — not only the item being fetched.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { freePort } from '../../scripts/free-port.js'
import { MEDIA, run, tempDir, withTimeout, sleep, killChildren, killGroups, startPipeline } from '../helpers.js'
import { get } from './icecast-helpers.js'


let origin: OriginServer | undefined
let cleanup: (() => Promise<void>) | undefined

test.after.each(async () => {
  await killGroups()
  killChildren()
  await origin?.close()
  origin = undefined
  await cleanup?.()
})

interface Next { now: { url: string, title?: string, start: string } | null, next: Array<{ url: string, title?: string, start: string }> }

test('pc-schedule --follow | pc-fetch | pc-icecast: /next.json lists the rest of the horizon from the first item on, and drops what has begun', async () => {
  const dir = await tempDir('pc-test-next-')
  cleanup = dir.remove
  const names = ['one', 'two', 'three', 'four', 'five', 'six']
  for (const [i, n] of names.entries()) await copyFile(join(MEDIA, i % 2 ? 'timeline-b.mp3' : 'timeline-a.mp3'), join(dir.path, `${n}.mp3`))
  origin = await startOrigin({ dir: dir.path, host: '127.0.0.1', port: 0 })
  const base = origin.url.replace(/\/$/, '') + '/'
  const t0 = Date.now() + 3000
  const pl = await run('pc-playlist', ['-b', base, '--root', dir.path, '--start', new Date(t0).toISOString(), '--hash', '-o', join(dir.path, 'list.rss'),
    ...names.map(n => join(dir.path, `${n}.mp3`))], undefined, { timeoutMs: 60_000 })
  assert.is(pl.code, 0, pl.stderr)
  const port = await freePort()
  const { stderr: log } = startPipeline([
    ['pc-schedule', ['--follow', '--lead', '2s', '--announce', '90s', base + 'list.rss']],
    ['pc-fetch', ['--host', '127.0.0.1']],
    ['pc-icecast', [`127.0.0.1:${port}`]],
  ])

  const nextJson = async (): Promise<Next | undefined> => {
    try { return JSON.parse((await get(port, '/next.json')).body.toString()) as Next } catch { return undefined }
  }
  // as soon as the first item is on air
  let got: Next | undefined
  await withTimeout((async () => { while (!(got = await nextJson())?.now || Date.now() < t0 + 1000) await sleep(200) })(), 30_000, `the first item on air (${log()})`)
  const titles = (n: Next): string[] => n.next.map(i => i.url.split('/').pop() as string)
  assert.is(got!.now!.url, base + 'one.mp3')
  // 90 s of 20 s items: the four after the one on air, in order; six.mp3 begins 100 s in, past the horizon
  assert.equal(titles(got!), ['two.mp3', 'three.mp3', 'four.mp3', 'five.mp3'], JSON.stringify(got))
  for (const [i, it] of got!.next.entries()) assert.is(Date.parse(it.start), t0 + (i + 1) * 20_036, `${it.url} at its slot`)
  const page = (await get(port, '/')).body.toString()
  for (const t of ['Timeline B', 'Timeline A']) assert.match(page, new RegExp(`<li><time>[0-9:]+</time> ${t}</li>`))

  // once two.mp3 is on air it is no longer "next"; the horizon moved on to six.mp3
  await withTimeout((async () => { while ((got = await nextJson())?.now?.url !== base + 'two.mp3') await sleep(500) })(), 40_000, `the second item on air (${log()})`)
  assert.equal(titles(got!), ['three.mp3', 'four.mp3', 'five.mp3', 'six.mp3'], JSON.stringify(got))
})

test.run()
