// pc-fetch at the live edge, as real processes: ffmpeg -re into pc-live's stdin, nginx
// serving its --dir, pc-tracker, several pc-fetch listeners. Their frames, their bytes
// against pc-live's chunk files, a lying peer, a listener killed mid-show.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, type Server, type AddressInfo } from 'node:net'
import { createServer as createHttpServer, request as httpRequest } from 'node:http'
import type { ChildProcess } from 'node:child_process'
import { killChildren, run, start, tempDir, waitForOutput, withTimeout, ROOT } from '../helpers.js'
import { spawn } from 'node:child_process'
import { freePort } from '../../scripts/free-port.js'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { startFetch, type FetchProc } from './pc-fetch-helpers.js'
import { decode } from './pc-live-helpers.js'
import { FrameDecoder } from '../../lib/frames/frame.js'
import { parseManifest, type ChunkEntry } from '../../lib/live/manifest.js'
import { encodeHandshake, encodeMessage, WireDecoder, WIRE_VERSION_LIVE } from '../../lib/swarm/wire.js'
import { pieceOf } from '../../lib/swarm/live-swarm.js'

const cleanups: Array<() => Promise<unknown> | unknown> = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

interface Show { dir: string, nginx: Nginx, tracker: string, key: string, live: ChildProcess, url: string }

/** ffmpeg -re (a sine as MP3, `seconds` long) | pc-live --key --dir, nginx on the dir, pc-tracker. */
async function onAir (seconds: number): Promise<Show> {
  const tmp = await tempDir('pc-fetch-live-')
  cleanups.push(tmp.remove)
  const key = join(tmp.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  const dir = join(tmp.path, 'www')
  const live = start('pc-live', ['--dir', dir, '--window', '5m', '--key', key, '-'])
  const ff = start('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', String(seconds), '-b:a', '64k', '-f', 'mp3', '-'])
  ff.stdout!.pipe(live.stdin!)
  live.stdin!.on('error', () => {})
  const nginx = await startNginx({ root: dir })
  cleanups.push(() => nginx.stop())
  const tr = start('pc-tracker', ['-v', '127.0.0.1:0'])
  const text = await waitForOutput(tr.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-tracker to listen')
  const tracker = `http://127.0.0.1:${/listening on [^:]+:(\d+)/.exec(text)![1]}/announce`
  // the first chunk is out
  await withTimeout((async () => { for (;;) { try { if (parseManifest(await readFile(join(dir, 'live.json'), 'utf8'), 'm').chunks.length) return } catch {} await new Promise(resolve => setTimeout(resolve, 100)) } })(), 15_000, 'the first chunk')
  return { dir, nginx, tracker, key: key + '.pub', live, url: nginx.url + 'live' }
}

interface Heard { seqs: number[], bytes: Buffer, ended: boolean }

/** A listener's frames: START of a live item, MARK before each DATA, offsets contiguous, END. */
function framesOf (out: Buffer, where: string): Heard {
  const d = new FrameDecoder(where)
  const frames = d.push(out)
  d.end()
  assert.is(frames[0]?.type, 'start', `${where}: START first`)
  const h = frames[0].type === 'start' ? frames[0].header : undefined
  assert.is(h?.size, null)
  assert.is(h?.live, true)
  const seqs: number[] = []
  const parts: Buffer[] = []
  let off = 0
  for (let i = 1; i < frames.length; i++) {
    const f = frames[i]
    if (f.type === 'mark') {
      assert.is(f.offset, off, `${where}: MARK at the next offset`)
      assert.is(frames[i + 1]?.type, 'data', `${where}: DATA after each MARK`)
      assert.ok(!seqs.length || f.mark.seq > seqs[seqs.length - 1], `${where}: chunks in order`)
      seqs.push(f.mark.seq)
    } else if (f.type === 'data') {
      assert.is(f.offset, off, `${where}: contiguous DATA`)
      off += f.data.length
      parts.push(f.data)
    }
  }
  return { seqs, bytes: Buffer.concat(parts), ended: frames[frames.length - 1].type === 'end' }
}

/** The chunk files pc-live wrote, joined, for the chunks a listener played. */
async function chunksOf (show: Show, seqs: number[]): Promise<Buffer> {
  return Buffer.concat(await Promise.all(seqs.map(async s => await readFile(join(show.dir, 'live', `${s}.mp3`)))))
}

async function listen (show: Show, extra: string[] = []): Promise<FetchProc> {
  return await startFetch(['--tracker', show.tracker, '--key', show.key, ...extra, show.url])
}

async function checkListener (show: Show, p: FetchProc, k: number, maxLost: number): Promise<Heard> {
  const code = await withTimeout(p.exited, 60_000, `listener ${k} to end with the show`)
  assert.is(code, 0, p.stderr())
  const heard = framesOf(p.stdout(), `listener ${k}`)
  assert.ok(heard.ended, 'END at the end of the show')
  const m = parseManifest(await readFile(join(show.dir, 'live.json'), 'utf8'), 'live.json')
  assert.ok(m.ended)
  const first = heard.seqs[0]
  const last = m.chunks[m.chunks.length - 1].seq
  assert.is(heard.seqs[heard.seqs.length - 1], last, `listener ${k} played to the last chunk`)
  const lost = last - first + 1 - heard.seqs.length
  assert.ok(lost <= maxLost, `listener ${k} lost ${lost} chunks: ${p.stderr()}`)
  assert.ok(heard.bytes.equals(await chunksOf(show, heard.seqs)), `listener ${k}: the bytes pc-live wrote`)
  const file = join(show.dir, `heard-${k}.mp3`)
  await writeFile(file, heard.bytes)
  const d = await decode(file)
  assert.is(d.code, 0, d.stderr)
  return heard
}

test('four listeners through pc-tracker: every chunk, in order, as pc-live wrote it, decodable; the origin sends well under four copies', async () => {
  const show = await onAir(14)
  const ps: FetchProc[] = []
  for (let k = 0; k < 4; k++) ps.push(await listen(show, ['--stats', join(show.dir, `stats-${k}`)]))
  let streamBytes = 0
  for (let k = 0; k < 4; k++) {
    const h = await checkListener(show, ps[k], k, 0)
    streamBytes = Math.max(streamBytes, h.bytes.length)
  }
  const stats = await Promise.all(ps.map(async (_p, k) => JSON.parse((await readFile(join(show.dir, `stats-${k}`), 'utf8')).split('\n')[0]) as { bytesFromPeers: number, bytesFromOrigin: number }))
  assert.ok(stats.some(s => s.bytesFromPeers > 0), `peers relayed: ${JSON.stringify(stats)}`)
  const sent = await show.nginx.bytesSent()
  console.log(`  nginx sent ${sent} bytes (manifests, claims, chunks) for a stream of ${streamBytes} to 4 listeners: ${(sent / streamBytes).toFixed(2)}x; from peers ${stats.map(s => s.bytesFromPeers).join(',')}`)
  assert.ok(sent < 2.5 * streamBytes, `nginx sent ${sent} bytes for a stream of ${streamBytes}`)
})

test('a peer sending a forged chunk is refused and dropped; the chunk comes from elsewhere', async () => {
  const show = await onAir(10)
  const m = parseManifest(await readFile(join(show.dir, 'live.json'), 'utf8'), 'live.json')
  let forged = 0
  let closed = false
  const server: Server = createServer(s => {
    const d = new WireDecoder()
    let timer: NodeJS.Timeout | undefined
    s.on('error', () => {})
    s.on('close', () => { closed = true; clearInterval(timer) })
    s.on('data', (b: Buffer) => {
      let msgs
      try { msgs = d.push(b) } catch { s.destroy(); return }
      for (const x of msgs) {
        if (x.type === 'handshake') {
          s.write(encodeHandshake({ infoHash: x.handshake.infoHash, peerId: Buffer.alloc(20, 9), port: 0, version: WIRE_VERSION_LIVE }))
          // it claims every chunk the moment pc-live writes it
          const said = new Set<number>()
          timer = setInterval(() => {
            void readFile(join(show.dir, 'live.json'), 'utf8').then(t => {
              for (const c of parseManifest(t, 'm').chunks) if (!said.has(c.seq)) { said.add(c.seq); s.write(encodeMessage({ type: 'live-have', seq: c.seq })) }
            }, () => {})
          }, 50)
        } else if (x.type === 'live-request') {
          void readFile(join(show.dir, 'live', `${x.seq}.json`), 'utf8').then(async t => {
            const e = JSON.parse(t) as ChunkEntry
            const bytes = Buffer.from(await readFile(join(show.dir, 'live', e.name)))
            bytes[bytes.length >> 1] ^= 0x20
            forged++
            s.write(encodeMessage(pieceOf(e, bytes)))
          }, () => {})
        }
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise(resolve => server.close(resolve)))
  const port = (server.address() as { port: number }).port
  const p = await startFetch(['--key', show.key, '--peer', `127.0.0.1:${port}`, show.url])
  await checkListener(show, p, 0, 0)
  assert.ok(forged >= 1, 'the liar was asked')
  assert.ok(closed, 'the liar was disconnected')
  assert.match(p.stderr(), /live chunk \d+ does not verify; disconnected and avoided/)
  assert.ok(m.publicKey)
})

test('a listener SIGKILLed mid-show: the others lose at most one chunk', async () => {
  const show = await onAir(16)
  const ps: FetchProc[] = []
  for (let k = 0; k < 4; k++) ps.push(await listen(show))
  await new Promise(resolve => setTimeout(resolve, 5000))
  ps[0].child.kill('SIGKILL')
  for (let k = 1; k < 4; k++) await checkListener(show, ps[k], k, 1)
})

test('a live record on stdin (its publicKey from the record), listeners meeting through Debian opentracker with a whitelist', async () => {
  const show = await onAir(12)
  const m = parseManifest(await readFile(join(show.dir, 'live.json'), 'utf8'), 'live.json')
  const hashes = join(show.dir, 'whitelist.hashes')
  await writeFile(hashes, m.infoHash + '\n')
  const port = await freePort()
  const ot = spawn('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(port), hashes], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: show.dir } })
  cleanups.push(() => ot.kill('SIGKILL'))
  await waitForOutput(ot.stderr!, t => /announce http/.test(t), 10_000, 'opentracker to start')
  const rec = JSON.stringify({ url: show.url, live: true, title: 'the show', start: new Date().toISOString(), offset: 0, publicKey: m.publicKey }) + '\n'
  const ps: FetchProc[] = []
  for (let k = 0; k < 3; k++) ps.push(await startFetch(['--tracker', `http://127.0.0.1:${port}/announce`, '--stats', join(show.dir, `stats-${k}`)], rec))
  for (let k = 0; k < 3; k++) await checkListener(show, ps[k], k, 0)
  const stats = await Promise.all(ps.map(async (_p, k) => JSON.parse((await readFile(join(show.dir, `stats-${k}`), 'utf8')).split('\n')[0]) as { peersSeen: number, live: boolean }))
  assert.ok(stats.every(s => s.live && s.peersSeen >= 1), `every listener met a peer: ${JSON.stringify(stats)}`)
})

test('a claim file the web server holds up does not hold back the next chunk: it is asked for when due (LATE_AHEAD)', async () => {
  const show = await onAir(16)
  // a web server in front of nginx that holds up the answer for one claim file, that of the
  // fourth chunk after the first the listener asks for, HOLD_MS (less than -d, 2 s)
  const HOLD_MS = 1500
  const asked: Array<{ seq: number, at: number }> = []
  let first: number | undefined
  let held: { seq: number, from: number, until: number } | undefined
  const upstream = new URL(show.nginx.url)
  const proxy = createHttpServer((req, res) => {
    const m = /\/live\/(\d+)\.json$/.exec(req.url ?? '')
    const seq = m ? Number(m[1]) : undefined
    const now = Date.now()
    if (seq !== undefined) { asked.push({ seq, at: now }); first ??= seq }
    const hold = seq !== undefined && first !== undefined && held === undefined && seq >= first + 4
    if (hold) held = { seq: seq!, from: now, until: now + HOLD_MS }
    const forward = (): void => {
      const up = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      up.on('error', () => res.destroy())
      req.pipe(up)
    }
    if (hold) setTimeout(forward, HOLD_MS)
    else forward()
  })
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => proxy.close())
  const p = await startFetch(['--tracker', show.tracker, '--key', show.key, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/live`])
  await checkListener(show, p, 0, 1)
  const h = held as { seq: number, from: number, until: number } | undefined
  assert.ok(h, `a claim was held up: asked ${JSON.stringify(asked)}`)
  const next = asked.find(a => a.seq === h.seq + 1)
  assert.ok(next, `the chunk after the held one was asked for: ${JSON.stringify(asked)}`)
  // asked while the held claim was still on its way (it was due a chunk, 1 s, after it)
  console.log(`  claim ${h.seq} held ${HOLD_MS} ms; claim ${h.seq + 1} asked ${next.at - h.from} ms after it`)
  assert.ok(next.at < h.until, `claim ${h.seq + 1} asked ${next.at - h.from} ms after ${h.seq}'s, which was held ${HOLD_MS} ms`)
})

test.run()
