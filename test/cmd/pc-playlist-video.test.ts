import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, tempDir } from '../helpers.js'
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

test.run()
