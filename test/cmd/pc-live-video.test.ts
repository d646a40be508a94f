// Live television (issue 11): a DJ's ffmpeg pushes WebM (VP8/Opus), MPEG-TS (H.264/AAC) or
// fragmented MP4 to pc-live as to an Icecast mount; a listener's `pc-schedule | pc-fetch | pc-icecast`
// pipeline tunes in mid-show, and real players (ffmpeg decoding to null, mpv) read its
// stream: video and audio with no decoder error, for a first viewer and a later one. A
// header blob altered on the origin is refused as a forged chunk is.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bin, killChildren, run, start, tempDir, sleep, waitUntil } from '../helpers.js'
import { freePort } from '../../scripts/free-port.js'
import { get, tool } from './icecast-helpers.js'
import { startFetch } from './pc-fetch-helpers.js'
import { startLive, waitManifest, PASSWORD, type Live } from './pc-live-helpers.js'
import { FrameDecoder } from '../../lib/frames/frame.js'

const FPS = 25
/** the listener plays this far behind the source clock: a real-time VP8 encoder on a loaded machine stalls for seconds */
const LIVE_DELAY_S = 4
const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
const node = (name: string, args: string[]): string => [process.execPath, bin(name), ...args].map(q).join(' ')

const FORMATS = {
  webm: { mime: 'video/webm', ext: 'webm', args: ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', String(FPS), '-c:a', 'libopus', '-f', 'webm'] },
  ts: { mime: 'video/mp2t', ext: 'ts', args: ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(FPS), '-c:a', 'aac', '-f', 'mpegts'] },
  mp4: { mime: 'video/mp4', ext: 'mp4', args: ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(FPS), '-c:a', 'aac', '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof'] },
} as const
type Format = keyof typeof FORMATS

const groups: ChildProcess[] = []
const cleanups: Array<() => Promise<unknown> | unknown> = []
test.after.each(async () => {
  for (const g of groups.splice(0)) { try { process.kill(-(g.pid ?? 0), 'SIGKILL') } catch { /* gone */ } }
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

interface Show { live: Live, key: string, url: string }

/** pc-live --key on a free port; a DJ's ffmpeg -re pushing `seconds` of testsrc and a sine in `fmt` with its content type; the first chunk out. */
async function onAir (fmt: Format, seconds: number): Promise<Show> {
  const tmp = await tempDir('pc-live-video-')
  cleanups.push(tmp.remove)
  const key = join(tmp.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  const live = await startLive(['--key', key])
  cleanups.push(live.remove)
  const f = FORMATS[fmt]
  const dj = start('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${FPS}`, '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', String(seconds), ...f.args, '-content_type', f.mime, `icecast://source:${PASSWORD}@127.0.0.1:${live.port}/live`])
  dj.stdout?.resume()
  const m = await waitManifest(live.port, x => x.chunks.length > 0, 20_000, 'the first chunk')
  assert.is(m.mime, f.mime)
  assert.is(m.headers.length, 1, 'the manifest names the header blob')
  assert.match(m.headers[0].name, new RegExp(`^header-0\\.${f.ext}$`))
  assert.is(m.chunks[0].header, m.headers[0].hash)
  return { live, key, url: `http://127.0.0.1:${live.port}/live` }
}

/** A listener as a user runs one: a playlist with the show's slot (now), then pc-schedule | pc-fetch | pc-icecast in a process group. */
async function tuneIn (show: Show): Promise<{ base: string, stderr: () => string }> {
  const dir = await tempDir('pc-live-video-list-')
  cleanups.push(dir.remove)
  const list = join(dir.path, 'list.rss')
  const from = new Date(Date.now() - 60_000).toISOString()
  const pl = await run('pc-playlist', ['--start', from, '--live', `${show.url}@${from}/10m/TV`, '--sign', show.key, '-o', list], undefined, { stdio: ['pipe', 'pipe', 'pipe'] })
  assert.is(pl.code, 0, pl.stderr)
  const port = await freePort()
  const sh = `${node('pc-schedule', ['--key', `${show.key}.pub`, list])} | ${node('pc-fetch', ['--host', '127.0.0.1', '--port', '0'])} | ${node('pc-icecast', ['--live-delay', `${LIVE_DELAY_S}s`, `127.0.0.1:${port}`])}`
  const g = spawn('sh', ['-c', sh], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  groups.push(g)
  let err = ''
  g.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const base = `http://127.0.0.1:${port}`
  // the mount answers once the first chunk has come through
  await waitUntil(async () => {
    const r = await get(port, '/stream', {}, { maxBody: 8 }).catch(() => undefined)
    return r?.status === 200 && r.body.length > 0
  }, 45_000, 'the listener\'s pc-icecast to serve', 200).catch((e: Error) => { throw new Error(`${e.message}: ${err}`) })
  return { base, stderr: () => err }
}

interface Decoded { code: number | null, errors: string, video: number, audio: number }

/** ffmpeg decoding `seconds` of a stream: frames per stream, and what it said at level error. */
async function decode (url: string, seconds: number): Promise<Decoded> {
  const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-i', url, '-t', String(seconds), '-f', 'framecrc', '-'], 60_000)
  const lines = r.stdout.toString().split('\n').filter(l => /^\d+,/.test(l))
  return { code: r.code, errors: r.stderr, video: lines.filter(l => l.startsWith('0,')).length, audio: lines.filter(l => l.startsWith('1,')).length }
}

function checkDecoded (d: Decoded, seconds: number, who: string): void {
  assert.is(d.errors, '', `${who}: ffmpeg said nothing at level error`)
  assert.is(d.code, 0, who)
  // most of the pictures: a late chunk on a loaded machine may cost some, never a decoder error
  assert.ok(d.video >= (seconds - 2) * FPS, `${who}: ${d.video} video frames in ${seconds} s`)
  assert.ok(d.audio >= (seconds - 2) * 10, `${who}: ${d.audio} audio frames`)
}

for (const fmt of ['webm', 'ts', 'mp4'] as const) {
  test(`${fmt}: ffmpeg pushes ${FORMATS[fmt].mime} to pc-live; a listener's pipeline tuned in mid-show serves ffmpeg and mpv video and audio with no decoder error, and a viewer joining later too`, async () => {
    const show = await onAir(fmt, 40)
    await sleep(3000)
    const l = await tuneIn(show)
    const first = await decode(`${l.base}/stream`, 6)
    checkDecoded(first, 6, 'the first viewer')
    // by frames: mpv's --length counts from an MP4 stream's time 0, which a viewer tuning in is long past (pc-icecast(1))
    const mpv = await tool('mpv', ['--no-config', '--vo=null', '--ao=null', '--frames=50', `${l.base}/stream`], 60_000)
    assert.is(mpv.code, 0, mpv.stdout.toString() + mpv.stderr)
    assert.match(mpv.stdout.toString(), /Video --vid=1/)
    assert.match(mpv.stdout.toString(), /Audio --aid=1/)
    await sleep(2000)
    checkDecoded(await decode(`${l.base}/stream`, 5), 5, 'a later viewer')
    // a plain player on pc-live's own mount starts at a chunk that opens with a keyframe, after the header
    checkDecoded(await decode(show.url, 4), 4, 'a player on the mount')
    assert.not.match(l.stderr(), /does not verify|source changed|skipped \(/, l.stderr())
  })
}

test('webm: a header blob altered on the origin is refused as a forged chunk is, and nothing is played from it', async () => {
  const show = await onAir('webm', 30)
  const dir = join(show.live.dir, 'live')
  const name = (await readdir(dir)).find(f => f.startsWith('header-')) as string
  const good = await readFile(join(dir, name))
  const forged = Buffer.from(good)
  // the Tracks element's last byte (inside a codec or track setting)
  forged[forged.indexOf(Buffer.from([0x16, 0x54, 0xae, 0x6b])) + 20] ^= 0x01
  await writeFile(join(dir, name), forged)
  const p = await startFetch(['--key', `${show.key}.pub`, show.url])
  await waitUntil(() => /does not verify/.test(p.stderr()), 20_000, 'pc-fetch to refuse the chunk', 100).catch((e: Error) => { throw new Error(`${e.message}: ${p.stderr()}`) })
  await sleep(2000)
  const frames = new FrameDecoder('pc-fetch').push(p.stdout())
  assert.not.ok(frames.some(f => f.type === 'data'), 'no byte of the show was written')
  assert.match(p.stderr(), /live chunk \d+ from the origin does not verify; not played/)
  p.child.kill()
})

test.run()
