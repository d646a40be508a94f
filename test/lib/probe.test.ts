import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { probeMedia, probeSource, type MediaInfo } from '../../lib/media/probe.js'
import { getBody, type ByteSource } from '../../lib/core/byte-source.js'
import { DataError, NoInputError, UnavailableError } from '../../lib/core/cli.js'
import { MEDIA, FIXTURES, tempDir, withTimeout, waitUntil } from '../helpers.js'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { freePort } from '../../scripts/free-port.js'

const PL = join(FIXTURES, 'playlist')

// Durations pinned from how the clips were made (scripts/make-media.sh, test/fixtures/playlist/make.sh).
const EXPECT: Array<[string, Partial<MediaInfo>]> = [
  [join(MEDIA, 'tone-cbr.mp3'), { format: 'mp3', mime: 'audio/mpeg', duration: 20036, title: 'A 440 Hz tone (MP3 CBR)' }],
  [join(MEDIA, 'chirp-vbr.mp3'), { format: 'mp3', mime: 'audio/mpeg', duration: 20036, title: 'A rising chirp (MP3 VBR)' }],
  [join(MEDIA, 'tone.ogg'), { format: 'vorbis', mime: 'audio/ogg', duration: 15000, title: 'A 330 Hz tone (Ogg Vorbis)' }],
  [join(MEDIA, 'tone.opus'), { format: 'opus', mime: 'audio/ogg', duration: 15000, title: 'A 550 Hz tone (Ogg Opus)' }],
  // 647 ADTS frames of 1024 samples at 44.1 kHz (15 s plus the encoder's priming frame)
  [join(MEDIA, 'tone.aac'), { format: 'adts', mime: 'audio/aac', duration: 15023 }],
  [join(MEDIA, 'tone.m4a'), { format: 'mp4', mime: 'audio/mp4', duration: 10000, title: 'A 660 Hz tone (AAC in M4A)' }],
  [join(MEDIA, 'tone.wav'), { format: 'wav', mime: 'audio/wav', duration: 5000, title: 'A 220 Hz tone (WAV)' }],
  [join(PL, 'cbr-noxing.mp3'), { format: 'mp3', mime: 'audio/mpeg', duration: 6061, title: 'No header' }],
  [join(PL, 'fast.m4a'), { format: 'mp4', mime: 'audio/mp4', duration: 3000, title: 'Fast start' }],
  [join(PL, 'clip.mp4'), { format: 'fmp4', mime: 'video/mp4', duration: 2000 }],
]

async function rejects (p: Promise<unknown>, ok: (e: Error) => boolean): Promise<void> {
  let err: Error | undefined
  try { await p } catch (e) { err = e as Error }
  assert.ok(err, 'expected a rejection')
  assert.ok(ok(err as Error), `unexpected error: ${String(err)}`)
}

function pick (m: MediaInfo, want: Partial<MediaInfo>): Partial<MediaInfo> {
  return Object.fromEntries(Object.keys(want).map(k => [k, m[k as keyof MediaInfo]]))
}

/** An in-memory source whose stream yields the chunk sizes `split` chooses; it records reads. */
function memorySource (name: string, bytes: Buffer, split: () => number = () => 65536): ByteSource & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = []
  return {
    name,
    size: bytes.length,
    reads,
    read: async (off, len) => { reads.push([off, len]); return bytes.subarray(off, Math.min(bytes.length, off + len)) },
    async * stream () { for (let i = 0; i < bytes.length;) { const n = split(); yield bytes.subarray(i, i + n); i += n } },
    close: async () => {},
  }
}

for (const [path, want] of EXPECT) {
  test(`probes ${path.split('/').pop()} as ${want.format}, ${want.duration} ms`, async () => {
    const m = await probeMedia(path)
    assert.equal(pick(m, want), want)
    assert.is(m.size, readFileSync(path).length)
  })
}

test('agrees with ffprobe within 40 ms wherever ffprobe reads an exact duration (not ADTS, which it estimates)', async () => {
  for (const [path] of EXPECT) {
    if (path.endsWith('.aac')) continue
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' })
    const ours = (await probeMedia(path)).duration
    assert.ok(Math.abs(ours - Number(out) * 1000) <= 40, `${path}: ours ${ours} ms, ffprobe ${out.trim()} s`)
  }
})

test('agrees with ffprobe on other layouts made here: MPEG-2 and 2.5, Layer II, 8 kHz Vorbis, 24-bit 96 kHz WAV, FLAC', async () => {
  const dir = await tempDir()
  try {
    const cases: Array<[string, string[], string]> = [
      ['mpeg25.mp3', ['-ar', '8000', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '16k'], 'mp3'],
      ['mpeg25-noxing.mp3', ['-ar', '11025', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '16k', '-write_xing', '0'], 'mp3'],
      ['layer2.mp2', ['-ar', '48000', '-ac', '2', '-c:a', 'mp2', '-b:a', '192k', '-f', 'mp2'], 'mp3'],
      ['low.ogg', ['-ar', '8000', '-ac', '1', '-c:a', 'libvorbis'], 'vorbis'],
      ['deep.wav', ['-ar', '96000', '-ac', '2', '-c:a', 'pcm_s24le'], 'wav'],
      ['lossless.flac', ['-ar', '44100', '-ac', '2', '-c:a', 'flac'], 'flac'],
    ]
    for (const [name, codec, format] of cases) {
      const path = join(dir.path, name)
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=500:duration=7', ...codec, path])
      const m = await probeMedia(path)
      const ff = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path], { encoding: 'utf8' })) * 1000
      assert.is(m.format, format, name)
      assert.ok(Math.abs(m.duration - ff) <= 40, `${name}: ours ${m.duration} ms, ffprobe ${ff} ms`)
    }
  } finally { await dir.remove() }
})

test('counts ADTS frames identically whatever the chunking, one byte at a time included', async () => {
  const bytes = readFileSync(join(MEDIA, 'tone.aac'))
  const one = await probeSource(memorySource('aac', bytes, () => 1))
  const rnd = await probeSource(memorySource('aac', bytes, () => 1 + Math.floor(Math.random() * 50)))
  assert.is(one.duration, 15023)
  assert.is(rnd.duration, 15023)
})

test('reads only the head of an MP3 with a Xing header, and head plus tail of an Ogg file', async () => {
  const mp3 = memorySource('mp3', readFileSync(join(MEDIA, 'tone-cbr.mp3')))
  await probeSource(mp3)
  assert.ok(mp3.reads.every(([off]) => off < 65536), JSON.stringify(mp3.reads))
  const ogg = memorySource('opus', readFileSync(join(MEDIA, 'timeline-a.opus')))
  const m = await probeSource(ogg)
  assert.is(m.duration, 20000)
  const bytesRead = ogg.reads.reduce((n, [, len]) => n + len, 0)
  assert.ok(bytesRead < ogg.size, `read ${bytesRead} of ${ogg.size}`)
})

test('takes an MP3 duration from a VBRI header', async () => {
  // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo: 417-byte frames of 1152 samples.
  const frame = Buffer.alloc(417)
  frame.set([0xff, 0xfb, 0x90, 0x00])
  frame.write('VBRI', 36, 'latin1')
  frame.writeUInt32BE(1000, 36 + 14) // frames
  const bytes = Buffer.concat([frame, frame.subarray(0, 4), Buffer.alloc(413)])
  const m = await probeSource(memorySource('vbri.mp3', bytes))
  assert.is(m.duration, Math.round(1000 * 1152 / 44100 * 1000))
})

test('refuses junk, empty and truncated files as bad data naming the file; a missing one as no input', async () => {
  await rejects(probeMedia(join(PL, 'junk.mp3')), (e: Error) => e instanceof DataError && e.message.includes('junk.mp3') && /unknown media format/.test(e.message))
  await rejects(probeMedia(join(PL, 'empty.ogg')), (e: Error) => e instanceof DataError && /empty\.ogg: empty file/.test(e.message))
  await rejects(probeMedia(join(PL, 'nothing-here.mp3')), (e: Error) => e instanceof NoInputError && /nothing-here\.mp3: cannot open/.test(e.message))
  const dir = await tempDir()
  try {
    const m4a = readFileSync(join(MEDIA, 'tone.m4a')) // 'moov' at the end: cut into it
    writeFileSync(join(dir.path, 'cut.m4a'), m4a.subarray(0, m4a.length - 100))
    await rejects(probeMedia(join(dir.path, 'cut.m4a')), (e: Error) => e instanceof DataError && /cut\.m4a: truncated 'moov'/.test(e.message))
    const ogg = readFileSync(join(MEDIA, 'tone.ogg'))
    writeFileSync(join(dir.path, 'head.ogg'), ogg.subarray(0, 200))
    await rejects(probeMedia(join(dir.path, 'head.ogg')), (e: Error) => e instanceof DataError && e.message.includes('head.ogg'))
  } finally { await dir.remove() }
})

test('reads the title from an ID3v2 tag longer than the head (a big cover), and still finds the audio after it', async () => {
  const body = Buffer.concat([Buffer.from('TIT2'), Buffer.alloc(4), Buffer.of(0, 0, 0), Buffer.from('Big tag', 'latin1')])
  body.writeUInt32BE(1 + 7, 4) // ID3v2.3 frame size: not syncsafe
  const tagBody = Buffer.concat([body, Buffer.alloc(200_000)]) // padding
  const n = tagBody.length
  const header = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, (n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f])
  const mp3 = readFileSync(join(PL, 'cbr-noxing.mp3'))
  const m = await probeSource(memorySource('big-tag.mp3', Buffer.concat([header, tagBody, mp3])))
  assert.is(m.title, 'Big tag')
  assert.is(m.duration, 6061)
})

test('works with a server that ignores Range, reading the whole body only when it must', async () => {
  const server = createServer((req, res) => {
    const path = join(MEDIA, (req.url ?? '/').slice(1))
    if (!existsSync(path)) { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-length': statSync(path).size })
    createReadStream(path).pipe(res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const port = (server.address() as AddressInfo).port
    for (const name of ['tone-cbr.mp3', 'tone.m4a', 'tone.opus', 'tone.wav']) {
      assert.equal(await withTimeout(probeMedia(`http://127.0.0.1:${port}/${name}`), 10_000, name), await probeMedia(join(MEDIA, name)))
    }
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
})

test('a body that stops sending is given up on after the idle timeout, as unavailable', async () => {
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-length': '1000' }); res.write(Buffer.alloc(10)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stall`
    const b = await getBody(url, { idleTimeoutMs: 200 })
    await rejects((async () => { for await (const _ of b.chunks) { /* drain */ } })(), (e: Error) => e instanceof UnavailableError && /stall: cannot fetch: no data for 200 ms/.test(e.message))
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
})

let nginx: Nginx | undefined
test('probes URLs with Range requests: same answers as the files, fewer bytes than the files', async () => {
  nginx = await startNginx({ root: MEDIA })
  try {
    // at most: one 64 KiB head for MP3 and WAV, plus a 16 KiB tail for Ogg; M4A walks to its trailing 'moov'
    const LIMIT: Record<string, number> = { 'tone-cbr.mp3': 65536, 'timeline-a.opus': 65536 + 16384, 'tone.m4a': 122969 - 1, 'tone.wav': 65536 }
    for (const name of ['tone-cbr.mp3', 'timeline-a.opus', 'tone.m4a', 'tone.wav']) {
      const before = await nginx.bytesSent()
      const url = nginx.url + name
      const fromUrl = await withTimeout(probeMedia(url), 10_000, `probe ${url}`)
      const fromFile = await probeMedia(join(MEDIA, name))
      assert.equal(fromUrl, fromFile)
      const sent = await withTimeout(waitForLog(nginx, before), 5000, 'the access log')
      assert.ok(sent <= LIMIT[name] && sent < fromFile.size, `${name}: nginx sent ${sent} of ${fromFile.size} bytes`)
    }
    await rejects(probeMedia(nginx.url + 'absent.mp3'), (e: Error) => e instanceof NoInputError && /absent\.mp3: HTTP 404/.test(e.message))
  } finally { await nginx.stop(); nginx = undefined }
  const port = await freePort()
  await rejects(probeMedia(`http://127.0.0.1:${port}/x.mp3`), (e: Error) => e instanceof UnavailableError && /cannot fetch/.test(e.message))
})

/** nginx logs a request when it ends: wait until the count has moved and then held still a while. */
async function waitForLog (n: Nginx, before: number): Promise<number> {
  let last = -1
  let still = 0
  await waitUntil(async () => {
    const now = await n.bytesSent()
    still = now === last ? still + 1 : 0
    last = now
    return now > before && still >= 3
  }, 10_000, 'nginx to log the request', 50)
  return last - before
}

test.run()
