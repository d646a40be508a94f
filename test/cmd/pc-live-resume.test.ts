// pc-live restarted mid-show (pc-live(1) --resume): killed and started again on the same
// directory, it takes the stream up where it was, and a listener following the show goes
// on from the next chunk instead of waiting for a stream that is gone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { killChildren, run, start, tempDir, waitUntil, withTimeout } from '../helpers.js'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { startFetch } from './pc-fetch-helpers.js'
import { FrameDecoder } from '../../lib/frames/frame.js'
import { parseManifest, type LiveManifest } from '../../lib/live/manifest.js'

let nginx: Nginx | undefined
let cleanup: (() => Promise<void>) | undefined
test.after.each(async () => {
  killChildren()
  await nginx?.stop(); nginx = undefined
  await cleanup?.(); cleanup = undefined
})

/** ffmpeg -re (a sine as MP3, `seconds` long) | pc-live --dir DIR --key KEY - [extra] */
function onAir (dir: string, key: string, seconds: number, extra: string[] = []): { live: ChildProcess, ff: ChildProcess, stderr: () => string } {
  const live = start('pc-live', ['--dir', dir, '--window', '5m', '--key', key, ...extra, '-'])
  const ff = start('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', String(seconds), '-b:a', '64k', '-f', 'mp3', '-'])
  ff.stdout!.pipe(live.stdin!)
  live.stdin!.on('error', () => {})
  let err = ''
  live.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  return { live, ff, stderr: () => err }
}

async function manifestOf (dir: string): Promise<LiveManifest | undefined> {
  try { return parseManifest(await readFile(join(dir, 'live.json'), 'utf8'), 'live.json') } catch { return undefined }
}

async function setup (): Promise<{ dir: string, key: string }> {
  const tmp = await tempDir('pc-live-resume-')
  cleanup = tmp.remove
  const key = join(tmp.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  return { dir: join(tmp.path, 'www'), key }
}

test('killed and restarted mid-show: the same stream goes on at the next chunk, and a listener plays across the restart', async () => {
  const { dir, key } = await setup()
  const first = onAir(dir, key, 60)
  await waitUntil(async () => ((await manifestOf(dir))?.chunks.length ?? 0) >= 2, 20_000, 'two chunks of the first run')
  nginx = await startNginx({ root: dir })
  const listener = await startFetch(['--key', `${key}.pub`, nginx.url + 'live'])
  await waitUntil(async () => ((await manifestOf(dir))?.chunks.at(-1)?.seq ?? 0) >= 3, 20_000, 'four chunks of the first run')
  const before = await manifestOf(dir) as LiveManifest
  first.live.kill('SIGKILL'); first.ff.kill('SIGKILL') // a crash: no goodbye, the manifest not marked ended
  await new Promise(resolve => first.live.once('close', resolve))
  const killedAt = (await manifestOf(dir) as LiveManifest).chunks.at(-1)!.seq

  const second = onAir(dir, key, 4)
  assert.is(await withTimeout(new Promise(resolve => second.live.once('close', resolve)), 30_000, 'the second run to end'), 0, second.stderr())
  assert.match(second.stderr(), new RegExp(`resuming the show left in .* at chunk ${killedAt + 1}`))
  const after = await manifestOf(dir) as LiveManifest
  assert.is(after.stream, before.stream, 'the same stream id')
  assert.ok(after.ended)
  const seqs = after.chunks.map(c => c.seq)
  assert.equal(seqs, seqs.map((_s, i) => seqs[0] + i), 'one numbering, without a gap or a repeat')
  assert.ok(seqs.at(-1)! > killedAt, 'the second run added chunks')

  assert.is(await withTimeout(listener.exited, 60_000, 'the listener to end with the show'), 0, listener.stderr())
  const d = new FrameDecoder('listener')
  const frames = d.push(listener.stdout())
  d.end()
  const heard = frames.flatMap(f => f.type === 'mark' ? [f.mark.seq] : [])
  assert.ok(heard.some(s => s <= killedAt) && heard.some(s => s > killedAt), `the listener played both runs: ${heard.join(',')}`)
  assert.is(heard.at(-1), seqs.at(-1), 'to the last chunk of the show')
  assert.is(frames.at(-1)?.type, 'end')
})

test('--resume 0, another key, or a show gone quiet for longer than --resume: a new stream', async () => {
  const { dir, key } = await setup()
  const run1 = onAir(dir, key, 2)
  assert.is(await withTimeout(new Promise(resolve => run1.live.once('close', resolve)), 30_000, 'the first run'), 0, run1.stderr())
  const s1 = (await manifestOf(dir) as LiveManifest).stream
  const run2 = onAir(dir, key, 2, ['--resume', '0', '-v'])
  assert.is(await withTimeout(new Promise(resolve => run2.live.once('close', resolve)), 30_000, 'the second run'), 0, run2.stderr())
  const m2 = await manifestOf(dir) as LiveManifest
  assert.is.not(m2.stream, s1)
  assert.is(m2.chunks[0].seq, 0)
  const other = `${key}-other`
  assert.is((await run('pc-hash', ['--keygen', other])).code, 0)
  const run3 = onAir(dir, other, 2, ['-v'])
  assert.is(await withTimeout(new Promise(resolve => run3.live.once('close', resolve)), 30_000, 'the third run'), 0, run3.stderr())
  assert.match(run3.stderr(), /a new stream: the earlier show was signed with another key/)
  assert.is.not((await manifestOf(dir) as LiveManifest).stream, m2.stream)
  await new Promise(resolve => setTimeout(resolve, 1500))
  const run4 = onAir(dir, other, 2, ['-v', '--resume', '1s'])
  assert.is(await withTimeout(new Promise(resolve => run4.live.once('close', resolve)), 30_000, 'the fourth run'), 0, run4.stderr())
  assert.match(run4.stderr(), /a new stream: the earlier show's last chunk ended \d+ s ago/)
})

test.run()
