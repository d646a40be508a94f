import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { probeMedia, probeSource } from '../../lib/media/probe.js'
import { HEAD_BYTES, type ByteSource } from '../../lib/core/byte-source.js'
import { DataError } from '../../lib/core/errors.js'
import { execFileSync } from 'node:child_process'
import { tempDir, withTimeout } from '../helpers.js'
import { startNginx } from '../../scripts/nginx.js'
import { CLIPS, FRAME_MS, ffprobeSeconds, makeClip, noise } from './media-video-fixtures.js'

let dir: { path: string, remove: () => Promise<void> }
const paths = new Map<string, string>()

test.before(async () => {
  dir = await tempDir('pc-video-probe-')
  for (const c of CLIPS) paths.set(c.name, makeClip(dir.path, c))
})
test.after(async () => { await dir.remove() })

/** An in-memory source that counts the reads a URL source would send as Range requests (the head is fetched once and kept). */
function counted (name: string, bytes: Buffer): ByteSource & { reads: number } {
  const s = {
    name,
    size: bytes.length,
    reads: 0,
    read: async (off: number, len: number) => { if (off === 0 || off + len > HEAD_BYTES) s.reads++; return bytes.subarray(off, Math.min(bytes.length, off + len)) },
    async * stream () { yield bytes },
    close: async () => {},
  }
  return s
}

async function refusal (p: Promise<unknown>): Promise<Error> {
  try { await p } catch (e) { return e as Error }
  throw new Error('expected a refusal')
}

for (const c of CLIPS) {
  test(`${c.name}: ${c.mime}, within one frame of ffprobe, from a few reads`, async () => {
    const path = paths.get(c.name) as string
    const m = await probeMedia(path)
    const ff = ffprobeSeconds(path) * 1000
    assert.is(m.mime, c.mime)
    assert.is(m.format, c.format)
    assert.ok(Math.abs(m.duration - ff) <= FRAME_MS, `ours ${m.duration} ms, ffprobe ${ff} ms`)
    const src = counted(c.name, readFileSync(path))
    assert.equal(await probeSource(src), { ...m, size: src.size })
    // head and tail; MP4 also the box heads on the way to 'moov' and the first fragment
    assert.ok(src.reads <= (c.format.endsWith('mp4') || c.format === 'mov' ? 5 : 3), `${src.reads} reads`)
  })
}

test('an audio-only transport stream ends where the frames of its last PES end (ffprobe -count_packets), MP2 and AAC', async () => {
  for (const [codec, samples] of [['mp2', 1152], ['aac', 1024]] as Array<[string, number]>) {
    const path = join(dir.path, `audio-${codec}.ts`)
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=7', '-c:a', codec, '-f', 'mpegts', path])
    const [rate, packets] = execFileSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=sample_rate,nb_read_packets', '-of', 'csv=p=0', path], { encoding: 'utf8' }).trim().split('\n')[0].split(',').map(Number)
    const m = await probeMedia(path)
    assert.is(m.mime, 'video/mp2t')
    assert.ok(Math.abs(m.duration - packets * samples / rate * 1000) <= 1, `${codec}: ours ${m.duration} ms, ${packets} frames of ${samples} at ${rate} Hz`)
  }
})

test('random bytes are refused as an unknown format, never given a duration', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const e = await refusal(probeSource(counted(`noise-${seed}`, noise(256 * 1024, seed))))
    assert.ok(e instanceof DataError && /noise-\d+: unknown media format/.test(e.message), String(e))
  }
})

test('a transport stream cut mid-packet is refused, not taken for the MPEG audio inside it', async () => {
  for (const name of ['mpeg2-mp2.ts', 'h264-aac.ts']) {
    const ts = readFileSync(paths.get(name) as string)
    for (const cut of [1, 100, 187 * 7 + 3]) {
      const e = await refusal(probeSource(counted(`cut-${name}`, ts.subarray(cut))))
      assert.ok(e instanceof DataError && /unknown media format/.test(e.message), `${name} less ${cut} bytes: ${String(e)}`)
    }
  }
})

test('a WebM or Matroska file without its EBML header is refused, not taken for MPEG audio', async () => {
  for (const name of ['vp8-opus.webm', 'vp9-opus.webm', 'h264-aac.mkv']) {
    const b = readFileSync(paths.get(name) as string)
    const e = await refusal(probeSource(counted(`headless-${name}`, b.subarray(4096))))
    assert.ok(e instanceof DataError && /unknown media format/.test(e.message), `${name}: ${String(e)}`)
  }
})

test('a WebM written live, with no Duration in Info, takes its length from the last Cluster', async () => {
  const path = join(dir.path, 'live.webm')
  const b = Buffer.from(readFileSync(paths.get('vp8-opus.webm') as string))
  const at = b.indexOf(Buffer.from([0x44, 0x89])) // the Duration element: its ID becomes a Void-like unknown one
  assert.ok(at > 0)
  b[at] = 0x4f // an unknown ID of the same length: readers skip it
  writeFileSync(path, b)
  const m = await probeMedia(path)
  assert.ok(Math.abs(m.duration - ffprobeSeconds(paths.get('vp8-opus.webm') as string) * 1000) <= 2 * FRAME_MS, `${m.duration} ms`)
})

test('probes long clips over HTTP with Range requests: the same answer as the file, a small part of its bytes', async () => {
  const long = join(dir.path, 'long')
  execFileSync('mkdir', ['-p', long])
  const SRC = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=40', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=40']
  const enc = ['-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '800k', '-g', '50', '-c:a', 'aac']
  const made: Array<[string, string[]]> = [
    ['long.ts', enc], ['long.webm', ['-c:v', 'libvpx', '-b:v', '800k', '-deadline', 'realtime', '-cpu-used', '8', '-c:a', 'libopus']],
    ['long.mp4', [...enc, '-movflags', 'frag_keyframe+empty_moov+default_base_moof']],
  ]
  for (const [name, args] of made) execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...SRC, ...args, join(long, name)])
  const nginx = await startNginx({ root: long })
  try {
    for (const [name] of made) {
      const before = await nginx.bytesSent()
      const fromUrl = await withTimeout(probeMedia(nginx.url + name), 10_000, name)
      const fromFile = await probeMedia(join(long, name))
      assert.equal({ ...fromUrl }, { ...fromFile })
      let sent = 0
      for (let i = 0; i < 100 && sent === 0; i++) { await new Promise(resolve => setTimeout(resolve, 50)); sent = (await nginx.bytesSent()) - before }
      assert.ok(sent > 0 && sent <= 64 * 1024 + 1024 * 1024 + 64 * 1024 && sent < fromFile.size / 2, `${name}: nginx sent ${sent} of ${fromFile.size} bytes`)
    }
  } finally { await nginx.stop() }
})

test('a fragmented MP4 whose last fragment is bigger than the tail read is walked box by box', async () => {
  const path = join(dir.path, 'one-fragment.mp4')
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'nullsrc=size=320x240:rate=25:duration=4,geq=lum=random(1)*255:cb=128:cr=128', // noise: lossless frames stay big
    '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '1000', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', path])
  const size = readFileSync(path).length
  assert.ok(size > 9 * 1024 * 1024, `${size} bytes: more than the largest tail read`)
  const m = await probeMedia(path)
  assert.ok(Math.abs(m.duration - ffprobeSeconds(path) * 1000) <= FRAME_MS, `${m.duration} ms`)
})

test.run()
