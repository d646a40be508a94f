// Television (issue 11): a viewer tuning in mid-item gets the container's header and
// then data from a random-access point, and items follow each other as one stream.
// The viewers are real players (ffmpeg, mpv) reading the mount over HTTP; the input is
// a frame stream as pc-fetch writes it, the first item already 1.5 s on air.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { killChildren, tempDir } from '../helpers.js'
import { startIcecast, frameStream, get, rawRequest, tool, type ItemSpec } from './icecast-helpers.js'
import { CLIPS, FPS, makeClip, ffprobeSeconds, type VideoClip } from '../lib/media-video-fixtures.js'

/** how long each player decodes: from about 1.5 s into the first item, past its end */
const DECODE_S = 8
/** how far into the first item the station is when pc-icecast starts */
const ON_AIR_MS = 1500

const dir = await tempDir('pc-video-')
const clip = (name: string): { c: VideoClip, data: Buffer, ms: number } => {
  const c = CLIPS.find(x => x.name === name) as VideoClip
  const path = makeClip(dir.path, c)
  return { c, data: readFileSync(path), ms: Math.round(ffprobeSeconds(path) * 1000) }
}
const TS = clip('h264-aac.ts')
const VP8 = clip('vp8-opus.webm')
const VP9 = clip('vp9-opus.webm')
const FMP4 = clip('frag.mp4')
const THEORA = clip('theora.ogv')

test.after.each(() => { killChildren() })
test.after(async () => { await dir.remove() })

/** The clips as consecutive items, the first on air for ON_AIR_MS. */
function station (clips: Array<{ data: Buffer, ms: number, c: VideoClip }>): Buffer {
  const now = Date.now()
  let at = now - ON_AIR_MS
  const items: ItemSpec[] = clips.map((k, i) => {
    const it = { data: k.data, title: `item ${i}`, startMs: at, durationMs: k.ms, mime: k.c.mime }
    at += k.ms
    return it
  })
  return frameStream(items, now)
}

/** Everything the mount sends a viewer from now until the station ends. */
async function whole (port: number): Promise<Buffer> {
  return (await rawRequest(port, `GET /stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, { ms: 60_000 })).body
}

interface Decoded { code: number | null, errors: string, video: number, audio: number, lastVideoS: number }

/** ffmpeg decoding the mount for DECODE_S (or `seconds`) seconds: frames per stream, and what it said at level error. */
async function decode (url: string, seconds = DECODE_S): Promise<Decoded> {
  const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-i', url, '-t', String(seconds), '-f', 'framecrc', '-'], 60_000)
  const lines = r.stdout.toString().split('\n').filter(l => /^\d+,/.test(l)).map(l => l.split(',').map(s => s.trim()))
  const video = lines.filter(l => l[0] === '0')
  return { code: r.code, errors: r.stderr, video: video.length, audio: lines.filter(l => l[0] === '1').length, lastVideoS: video.length ? Number(video[video.length - 1][1]) / FPS : 0 }
}

for (const [name, k, magic] of [['H.264/AAC in MPEG-TS', TS, (b: Buffer) => b[0] === 0x47 && (((b[1] & 0x1f) << 8) | b[2]) === 0],
  ['VP8/Opus in WebM', VP8, (b: Buffer) => b.readUInt32BE(0) === 0x1a45dfa3],
  ['VP9/Opus in WebM', VP9, (b: Buffer) => b.readUInt32BE(0) === 0x1a45dfa3],
  ['H.264/AAC in fragmented MP4', FMP4, (b: Buffer) => b.toString('latin1', 4, 8) === 'ftyp']] as const) {
  test(`${name}: a viewer tuning in mid-item decodes video and audio with no error, across the item boundary`, async () => {
    const ic = await startIcecast([], station([k, k]))
    const head = await get(ic.port, '/stream', {}, { maxBody: 8 })
    assert.is(head.headers.get('content-type'), k.c.mime)
    assert.ok(magic(head.body), `the stream opens with the container's header: ${head.body.toString('hex')}`)
    const d = await decode(`${ic.base}/stream`)
    assert.is(d.errors, '', 'ffmpeg said nothing at level error')
    assert.is(d.code, 0)
    // most of DECODE_S seconds of pictures, more than the first item had left: the second item played on
    const left = (k.ms - ON_AIR_MS) / 1000
    assert.ok(d.video >= (DECODE_S - 1) * FPS, `${d.video} video frames`)
    assert.ok(d.lastVideoS > left + 1, `video ran to ${d.lastVideoS} s of the stream, past the first item's ${left} s`)
    assert.ok(d.audio > DECODE_S * 10, `${d.audio} audio frames`)
  })
}

test('Ogg Theora with Vorbis is served as video/ogg, and a viewer tuning in mid-item gets all three Theora headers and decodes', async () => {
  const ic = await startIcecast([], station([THEORA]))
  assert.is((await get(ic.port, '/stream', {}, { maxBody: 8 })).headers.get('content-type'), 'video/ogg')
  // one item: decode less than is left of it
  const d = await decode(`${ic.base}/stream`, 3)
  assert.is(d.errors, '', 'ffmpeg said nothing at level error')
  assert.ok(d.video > FPS, `${d.video} video frames`)
  assert.ok(d.audio > 10, `${d.audio} audio frames`)
})

test('plain WebM files back to back on stdin (cat a.webm a.webm | pc-icecast) decode as one stream across the join', async () => {
  const ic = await startIcecast([], Buffer.concat([VP8.data, VP8.data]))
  const d = await decode(`${ic.base}/stream`)
  assert.is(d.errors, '', 'ffmpeg said nothing at level error')
  assert.ok(d.lastVideoS > VP8.ms / 1000 + 0.5, `video ran to ${d.lastVideoS} s, past the first file's ${VP8.ms / 1000} s`)
  assert.ok(d.video >= (DECODE_S - 1) * FPS, `${d.video} video frames`)
})

for (const [name, k, stop] of [['MPEG-TS', TS, '--length=3'], ['WebM', VP8, '--length=3'],
  // mpv counts --length from 0 for MP4, and a viewer who tuned in has later timestamps: stop by frames
  ['fragmented MP4', FMP4, '--frames=75']] as const) {
  test(`mpv plays the ${name} station tuned in mid-item`, async () => {
    const ic = await startIcecast([], station([k, k]))
    const r = await tool('mpv', ['--no-config', '--vo=null', '--ao=null', stop, `${ic.base}/stream`], 60_000)
    assert.is(r.code, 0, r.stdout.toString() + r.stderr)
    assert.match(r.stdout.toString(), /Video --vid=1/)
  })
}

test('a WebM item with the same codecs but another picture size is sent with its own header, and said so on stderr', async () => {
  const small = join(dir.path, 'small.webm')
  const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=160x120:rate=${FPS}:duration=3`, '-f', 'lavfi', '-i', 'sine=duration=3',
    '-c:v', 'libvpx', '-b:v', '200k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '25', '-c:a', 'libopus', small])
  assert.is(r.code, 0, r.stderr)
  const s = { c: VP8.c, data: readFileSync(small), ms: Math.round(ffprobeSeconds(small) * 1000) }
  const ic = await startIcecast([], station([VP8, s]))
  const body = await whole(ic.port)
  let headers = 0
  for (let i = body.indexOf(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])); i >= 0; i = body.indexOf(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), i + 4)) headers++
  assert.is(headers, 2, 'an EBML header for each item')
  assert.match(ic.stderr(), /item 1 \(item 1\): video or audio setup differs from the previous item \(same codecs; track 1: [^;)]*Video\.PixelWidth, Video\.PixelHeight\b/)
})

for (const [codec, args] of [['H.264', ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac']], ['MPEG-2', ['-c:v', 'mpeg2video', '-g', '25', '-c:a', 'mp2']]] as const) {
  test(`MPEG-TS (${codec}): an item with another picture size is said on stderr, from its SPS or sequence header; one with the same size is not`, async () => {
    const make = async (size: string): Promise<{ c: VideoClip, data: Buffer, ms: number }> => {
      const f = join(dir.path, `${codec}-${size}.ts`)
      const r = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${FPS}:duration=3`, '-f', 'lavfi', '-i', 'sine=duration=3', ...args, f])
      assert.is(r.code, 0, r.stderr)
      return { c: TS.c, data: readFileSync(f), ms: Math.round(ffprobeSeconds(f) * 1000) }
    }
    // 1280x720 is 80x45 macroblocks: H.264 crops nothing; 1366x768 is cropped from 1376x768
    const [a, b, c] = [await make('1280x720'), await make('1366x768'), await make('1366x768')]
    const ic = await startIcecast([], station([a, b, c]))
    await whole(ic.port)
    assert.match(ic.stderr(), /item 1 \(item 1\): picture size 1280x720 → 1366x768 after the previous item/)
    assert.not.match(ic.stderr(), /item 2 \(item 2\): picture size/)
  })
}

for (const [name, k, ext, header] of [['WebM', VP8, 'webm', Buffer.from([0x1a, 0x45, 0xdf, 0xa3])], ['fragmented MP4', FMP4, 'mp4', Buffer.from('moov')],
  ['MPEG-TS', TS, 'ts', undefined]] as const) {
  test(`${name}: an item after one with the same setup continues the stream, its header not repeated, timestamps running on`, async () => {
    const ic = await startIcecast([], station([k, k]))
    const body = await whole(ic.port)
    if (header) assert.is(body.indexOf(header, body.indexOf(header) + 4), -1, 'the header once')
    assert.not.match(ic.stderr(), /differs/)
    const f = join(dir.path, `got.${ext}`)
    writeFileSync(f, body)
    const p = await tool('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=dts_time', '-of', 'csv=p=0', f])
    const dts = p.stdout.toString().split('\n').map(l => l.replace(/,+$/, '')).filter(l => l !== '').map(Number)
    for (let i = 1; i < dts.length; i++) assert.ok(dts[i] > dts[i - 1], `video decode times increase: ${dts[i - 1]} then ${dts[i]}`)
    assert.ok(dts[dts.length - 1] - dts[0] > (k.ms - ON_AIR_MS) / 1000 + 1, 'into the second item')
  })
}

test.run()
