import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { execSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { run, tempDir } from '../helpers.js'
import { startNginx } from '../../scripts/nginx.js'
import { CLIPS, makeClip, noise } from '../lib/media-video-fixtures.js'

let dir: { path: string, remove: () => Promise<void> }
test.before(async () => { dir = await tempDir('pc-playlist-video-') })
test.after(async () => { await dir.remove() })

test('lists video items with their container MIME types', async () => {
  const clips = CLIPS.filter(c => ['h264-aac.ts', 'vp8-opus.webm', 'frag.mp4', 'theora.ogv'].includes(c.name))
  const paths = clips.map(c => makeClip(dir.path, c))
  const r = await run('pc-playlist', ['-b', 'https://tv.example/', '--root', dir.path, ...paths])
  assert.is(r.code, 0, r.stderr)
  const out = r.stdout.toString()
  const formats = [...out.matchAll(/<link>https:\/\/tv\.example\/([^<]+)<\/link>[^]*?<dc:format>([^<]+)<\/dc:format>/g)].map(m => [m[1], m[2]])
  assert.equal(formats, clips.map(c => [c.name, c.mime]))
})

test('refuses a file it cannot confirm, naming it, with exit 65 and no playlist', async () => {
  const path = join(dir.path, 'static.mp3')
  writeFileSync(path, noise(300_000, 7))
  const r = await run('pc-playlist', ['-b', 'https://tv.example/', '--root', dir.path, path])
  assert.is(r.code, 65)
  assert.is(r.stdout.length, 0)
  assert.match(r.stderr, /^pc-playlist: .*static\.mp3: unknown media format/)
})

test('refuses a plain MP4 or MOV with video, naming the ffmpeg command that converts it; that command works', async () => {
  for (const name of ['faststart.mp4', 'plain.mov']) {
    const path = makeClip(dir.path, CLIPS.find(c => c.name === name) as typeof CLIPS[number])
    const r = await run('pc-playlist', ['-b', 'https://tv.example/', '--root', dir.path, path])
    assert.is(r.code, 65, r.stderr)
    assert.is(r.stdout.length, 0)
    const m = /^pc-playlist: (.*): a plain (MP4|MOV) with video cannot be joined mid-item; .*?: (ffmpeg .*) \(or pass --remux\)$/m.exec(r.stderr)
    assert.ok(m, r.stderr)
    assert.is((m as RegExpExecArray)[1], path)
    execSync((m as RegExpExecArray)[3].replace(/^ffmpeg /, 'ffmpeg -loglevel error -y '))
    const made = path.replace(/\.[a-z0-9]+$/, '.frag.mp4')
    const p = await run('pc-playlist', ['-v', '-b', 'https://tv.example/', '--root', dir.path, made])
    assert.is(p.code, 0, p.stderr)
    assert.match(p.stderr, /fmp4, video\/mp4/)
  }
})

test('a plain MP4 at a URL is refused even with --remux, with the command to run on its server', async () => {
  const sub = join(dir.path, 'web')
  execSync(`mkdir -p '${sub}'`)
  makeClip(sub, CLIPS.find(c => c.name === 'faststart.mp4') as typeof CLIPS[number])
  const nginx = await startNginx({ root: sub })
  try {
    const r = await run('pc-playlist', ['--remux', nginx.url + 'faststart.mp4'])
    assert.is(r.code, 65, r.stderr)
    assert.match(r.stderr, `pc-playlist: ${nginx.url}faststart.mp4: a plain MP4 with video cannot be joined mid-item; on its server, copy it into fragmented MP4 without re-encoding: ffmpeg -i faststart.mp4 -map 0 -c copy -movflags frag_keyframe+empty_moov+default_base_moof faststart.frag.mp4\n`)
  } finally { await nginx.stop() }
})

test('--remux copies it into NAME.frag.mp4 beside it, lists that, and reuses the copy next time', async () => {
  const clip = CLIPS.find(c => c.name === 'faststart.mp4') as typeof CLIPS[number]
  const sub = join(dir.path, 'remux')
  execSync(`mkdir -p '${sub}'`)
  const path = makeClip(sub, clip)
  const args = ['-v', '--remux', '-b', 'https://tv.example/', '--root', dir.path, path]
  const r = await run('pc-playlist', args)
  assert.is(r.code, 0, r.stderr)
  const copy = join(sub, 'faststart.frag.mp4')
  assert.ok(existsSync(copy))
  assert.match(r.stderr, `remuxed into ${copy}`)
  const out = r.stdout.toString()
  assert.match(out, '<link>https://tv.example/remux/faststart.frag.mp4</link>')
  assert.match(out, '<dc:format>video/mp4</dc:format>')
  const dec = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-i', copy, '-f', 'null', '-'])
  assert.is(dec.status, 0)
  assert.is(dec.stderr.toString(), '')
  const mtime = statSync(copy).mtimeMs
  const again = await run('pc-playlist', args)
  assert.is(again.code, 0, again.stderr)
  assert.match(again.stderr, `reusing ${copy}`)
  assert.is(statSync(copy).mtimeMs, mtime)
})

test.run()
