// A live show to N listeners, and icecast2 relaying the same source in the same run.
// One ffmpeg encodes a tone with noise (so no two MP3 frames are alike) at 128 kbit/s in
// real time; this process hands each of its writes to pc-live's stdin and, as an Icecast
// source (PUT), to icecast2, noting the time. pc-live --key --dir, nginx on the dir,
// pc-tracker; per listener `pc-fetch --key KEY.pub --tracker … MOUNT_URL | pc-icecast`
// and one HTTP reader of it; N HTTP readers of icecast2. A chunk file's first 48
// bytes are found in the source stream and in every reader's stream: glass to ear is the
// arrival time minus the time the source wrote those bytes (the same clock, one host).
//   node dist/bench/live.js [--n 20] [--minutes 2] [--kill 3] [--warm 20s] [--delay 3s]
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir, loadavg } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request as httpRequest, type ClientRequest } from 'node:http'
import minimist from 'minimist'
import split2 from 'split2'
import { parseDuration } from '../lib/core/units.js'
import { parseManifest, type ChunkEntry } from '../lib/live/manifest.js'
import { readClaims } from '../lib/live/window.js'
import { cpuSeconds, peakRssBytes, median, MIB } from './proc.js'
import { startIcecast2 } from '../test/cmd/icecast-helpers.js'
import { startNginx } from '../scripts/nginx.js'
import { freePort } from '../scripts/free-port.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const bin = (name: string): string => join(ROOT, 'dist', 'bin', `${name}.js`)
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const PROBE = 48 // bytes of a chunk's start (and end) looked for in a stream
const PASSWORD = 'bench-live'
const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } } })

function node (name: string, args: string[], stdin: 'ignore' | 'pipe' | NodeJS.ReadableStream = 'ignore'): ChildProcess {
  const c = spawn(process.execPath, [bin(name), ...args], { stdio: [stdin as 'ignore', 'pipe', 'pipe'] })
  children.push(c)
  c.stderr!.on('data', () => {})
  return c
}

/** Bytes as they arrive, with the arrival time of each piece: the time a given offset arrived. */
class Recorded {
  private parts: Buffer[] = []
  private ends: number[] = [] // cumulative end offset of each piece
  private times: number[] = []
  length = 0
  private joined?: Buffer
  push (b: Buffer, t = performance.now()): void {
    this.parts.push(b); this.length += b.length; this.ends.push(this.length); this.times.push(t); this.joined = undefined
  }

  bytes (): Buffer { return (this.joined ??= Buffer.concat(this.parts)) }
  /** when the byte at `off` arrived */
  timeAt (off: number): number {
    let lo = 0; let hi = this.ends.length - 1
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.ends[m] > off) hi = m; else lo = m + 1 }
    return this.times[lo]
  }
}

/** Where each chunk's first PROBE bytes are in `r` (searching forward), or undefined. */
function locate (r: Recorded, chunks: Buffer[]): Array<number | undefined> {
  const hay = r.bytes()
  let from = 0
  return chunks.map(c => {
    const a = hay.indexOf(c.subarray(0, PROBE), from)
    if (a < 0) return undefined
    from = a + PROBE
    return a
  })
}

function reader (port: number, path: string): { rec: Recorded, req: ClientRequest } {
  const rec = new Recorded()
  const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, res => { res.on('data', (d: Buffer) => rec.push(d)) })
  req.on('error', () => {})
  req.end()
  return { rec, req }
}

function pct (xs: number[], p: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN
}

async function waitFor (what: string, ms: number, pred: () => Promise<boolean> | boolean): Promise<void> {
  const t0 = Date.now()
  while (!(await pred())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function untilLine (c: ChildProcess, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  let text = ''
  return await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${text}`)), ms)
    c.stderr!.on('data', (d: Buffer) => {
      text += d.toString()
      const m = re.exec(text)
      if (m) { clearTimeout(t); resolve(m) }
    })
  })
}

interface Listener { k: number, fetch: ChildProcess, icecast: ChildProcess, rec: Recorded, late: Array<{ at: number, units: number }>, killedAt?: number }

async function main (): Promise<void> {
  const usage = 'Usage: node dist/bench/live.js [--n 20] [--minutes 2] [--kill 3] [--warm 20s] [--delay 3s]\n' +
    '  a live show to N pc listeners (pc-live, nginx, pc-tracker, pc-fetch | pc-icecast) beside icecast2 with N readers;\n' +
    '  --kill SIGKILLs that many listeners during the run, --warm is not measured, --delay is pc-icecast --live-delay\n'
  const known = new Set(['n', 'minutes', 'kill', 'warm', 'delay', 'help', 'h', '_'])
  const argv = minimist(process.argv.slice(2), { string: ['warm', 'delay'], boolean: ['help'], alias: { h: 'help' }, default: { n: 20, minutes: 2, kill: 3, warm: '20s', delay: '3s' } })
  if (argv.help) { process.stdout.write(usage); return }
  const unknown = Object.keys(argv).filter(k => !known.has(k))
  if (unknown.length || argv._.length) { process.stderr.write(`live.js: unknown ${unknown.length ? `option --${unknown[0]}` : `argument ${String(argv._[0])}`}\n${usage}`); process.exitCode = 64; return }
  const n = Number(argv.n); const minutes = Number(argv.minutes); const kills = Number(argv.kill)
  const warmMs = parseDuration(String(argv.warm)); const delay = String(argv.delay)
  const runMs = minutes * 60_000
  const tmp = await mkdtemp(join(tmpdir(), 'pc-bench-live-'))
  const dir = join(tmp, 'www')
  const key = join(tmp, 'station')
  await new Promise(resolve => node('pc-hash', ['--keygen', key]).once('exit', resolve))

  // the origin: a tracker, pc-live on stdin announcing the swarm at its port as a station does, nginx on its dir
  const tr = node('pc-tracker', ['-v', '127.0.0.1:0'])
  const trPort = (await untilLine(tr, /listening on [^:]+:(\d+)/, 15_000, 'pc-tracker'))[1]
  const tracker = `http://127.0.0.1:${trPort}/announce`
  const live = node('pc-live', ['127.0.0.1:0', '--tracker', tracker, '--dir', dir, '--window', `${minutes + 10}m`, '--key', key, '-'], 'pipe')
  live.stdin!.on('error', () => {})
  const nginx = await startNginx({ root: dir })
  // the reference
  const ice = await startIcecast2({ sourcePassword: PASSWORD, clients: n + 10 })
  children.push(ice.proc) // gone with us if the run fails
  const put = httpRequest({ host: '127.0.0.1', port: ice.port, path: '/ref', method: 'PUT', agent: false, headers: { Authorization: 'Basic ' + Buffer.from(`source:${PASSWORD}`).toString('base64'), 'Content-Type': 'audio/mpeg', 'Ice-Public': '0' } })
  put.on('error', e => process.stderr.write(`icecast2 source: ${e.message}\n`))
  put.flushHeaders()

  // the source: one encoder, each write to both at once
  const source = new Recorded()
  const ff = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-f', 'lavfi', '-i', 'anoisesrc=color=pink:amplitude=0.05:sample_rate=44100',
    '-filter_complex', 'amix=inputs=2', '-t', String(runMs / 1000 + 15), '-ac', '2', '-b:a', '128k', '-f', 'mp3', '-'], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(ff)
  ff.stdout!.on('data', (d: Buffer) => {
    const t = performance.now()
    live.stdin!.write(d); put.write(d)
    source.push(d, t)
  })
  await waitFor('the first chunk', 20_000, async () => { try { return parseManifest(await readFile(join(dir, 'live.json'), 'utf8'), 'm').chunks.length > 0 } catch { return false } })
  const url = nginx.url + 'live'

  // listeners, started a little apart (as people tune in)
  const tListen = performance.now() // nginx's bytes are counted from here
  const listeners: Listener[] = []
  for (let k = 0; k < n; k++) {
    const port = await freePort()
    const fetch = node('pc-fetch', ['--tracker', tracker, '--key', key + '.pub', url])
    const icecast = spawn(process.execPath, [bin('pc-icecast'), '-v', '--live-delay', delay, `127.0.0.1:${port}`], { stdio: [fetch.stdout!, 'ignore', 'pipe'] })
    children.push(icecast)
    // units that came after their play time and were skipped (inside a chunk: the 48-byte match cannot see them)
    const late: Listener['late'] = []
    icecast.stderr!.pipe(split2()).on('data', (line: string) => {
      const m = /live chunk \d+: (\d+) units? arrived after their play time/.exec(line)
      if (m) late.push({ at: performance.now(), units: Number(m[1]) })
    })
    await waitFor(`listener ${k}'s pc-icecast`, 90_000, async () => await new Promise<boolean>(resolve => {
      const r = httpRequest({ host: '127.0.0.1', port, path: '/status-json.xsl', agent: false }, res => { res.resume(); resolve(res.statusCode === 200) })
      r.on('error', () => resolve(false)); r.end()
    }))
    listeners.push({ k, fetch, icecast, rec: reader(port, '/stream').rec, late })
    await sleep(200)
  }
  const refs = Array.from({ length: n }, () => reader(ice.port, '/ref').rec)
  const srcAtRefs = source.length // icecast2's copies are counted from here
  const t0 = performance.now() // everyone is on: the run (and its warm-up) starts
  const cpu0 = { f: cpuSeconds(listeners[0].fetch.pid!) ?? 0, i: cpuSeconds(listeners[0].icecast.pid!) ?? 0, t: performance.now() }
  process.stderr.write(`live.js: ${n} listeners and ${n} icecast2 readers on; running ${minutes} min, killing ${kills}\n`)

  // the run; K relays (not listener 0, whose CPU is measured) SIGKILLed spread over it
  const tEnd = t0 + runMs
  const victims = listeners.slice(1).sort(() => Math.random() - 0.5).slice(0, kills)
  for (let i = 0; i < victims.length; i++) {
    const at = t0 + runMs * (i + 1) / (victims.length + 1)
    setTimeout(() => { victims[i].fetch.kill('SIGKILL'); victims[i].icecast.kill('SIGKILL'); victims[i].killedAt = performance.now(); process.stderr.write(`live.js: killed listener ${victims[i].k}\n`) }, at - performance.now())
  }
  const loads: number[] = []
  while (performance.now() < tEnd) { await sleep(5000); loads.push(loadavg()[0]) }
  const cpu1 = { f: cpuSeconds(listeners[0].fetch.pid!) ?? 0, i: cpuSeconds(listeners[0].icecast.pid!) ?? 0, t: performance.now() }
  const rss = { f: peakRssBytes(listeners[0].fetch.pid!) ?? 0, i: peakRssBytes(listeners[0].icecast.pid!) ?? 0 }
  await sleep(3000) // the last chunks reach the ears
  const nginxBytes = await nginx.bytesSent() // manifests, claims and chunks, requests ended so far
  // every chunk of the window, from its claim file (SEQ.json): the manifest names only the
  // newest few (lib/live/window.ts LISTED_CHUNKS)
  const claims = await readClaims(join(dir, 'live'), true)

  // the chunks measured: after the warm-up, before the end of the run
  const measured: ChunkEntry[] = []
  const data: Buffer[] = []
  for (const c of claims) {
    const b = await readFile(join(dir, 'live', c.name.replace(/^.*\//, ''))).catch(() => undefined)
    if (!b || b.length < 2 * PROBE) continue
    measured.push(c); data.push(b)
  }
  const srcAt = locate(source, data)
  const sendTime = srcAt.map(p => p !== undefined ? source.timeAt(p) : NaN)
  const inRun = (i: number): boolean => sendTime[i] > t0 + warmMs && sendTime[i] < tEnd - 5000
  const originChunks = measured.filter((_c, i) => sendTime[i] > tListen - 2000)
  const streamBytes = originChunks.reduce((a, c) => a + c.size, 0)

  const g2e = (rs: Recorded[]): { lat: number[], spread: number[], onTime: number[] } => {
    const at = rs.map(r => locate(r, data))
    const lat: number[] = []; const spread: number[] = []
    const onTime: number[] = rs.map(() => 0)
    let counted = 0
    for (let i = 0; i < data.length; i++) {
      if (!inRun(i)) continue
      counted++
      const arr: number[] = []
      rs.forEach((r, j) => { const p = at[j][i]; if (p !== undefined) { const t = r.timeAt(p); arr.push(t); lat.push(t - sendTime[i]); onTime[j]++ } })
      if (arr.length > 1) spread.push(Math.max(...arr) - Math.min(...arr))
    }
    return { lat, spread, onTime: onTime.map(x => x / counted) }
  }
  const alive = listeners.filter(l => l.killedAt === undefined)
  const pc = g2e(alive.map(l => l.rec))
  if (process.env.BENCH_LIVE_DUMP) { const { writeFileSync } = await import('node:fs'); writeFileSync(join(process.env.BENCH_LIVE_DUMP, 'src'), source.bytes()); writeFileSync(join(process.env.BENCH_LIVE_DUMP, 'ref0'), refs[0].bytes()); writeFileSync(join(process.env.BENCH_LIVE_DUMP, 'pc0'), alive[0].rec.bytes()); data.forEach((d, i) => writeFileSync(join(process.env.BENCH_LIVE_DUMP!, `c${i}`), d)) }
  const ref = g2e(refs)
  // late units per surviving listener over the measured run, as a share of the units it should have played (MP3 at 44.1 kHz: 1152 samples a unit)
  const unitsPerS = 44100 / 1152
  const measuredS = (tEnd - 5000 - (t0 + warmMs)) / 1000
  const lateShare = alive.map(l => l.late.filter(x => x.at > t0 + warmMs && x.at < tEnd - 5000).reduce((a, x) => a + x.units, 0) / (unitsPerS * measuredS))
  const refBytes = refs.reduce((a, r) => a + r.length, 0)
  const srcBytes = source.length - srcAtRefs
  const cpuPct = (x: 'f' | 'i'): number => 100 * (cpu1[x] - cpu0[x]) / ((cpu1.t - cpu0.t) / 1000)

  const row = (name: string, a: number, b: number, unit = 'ms'): string =>
    `${name.padEnd(34)} ${(a.toFixed(unit === 'ms' ? 0 : 3) + ' ' + unit).padStart(12)} ${(b.toFixed(unit === 'ms' ? 0 : 3) + ' ' + unit).padStart(12)} ${(a / b).toFixed(2).padStart(8)}x`
  const lines = [
    `live: N=${n}, ${minutes} min (warm-up ${warmMs / 1000}s not measured), ${kills} listener(s) SIGKILLed, --live-delay ${delay}, ${data.filter((_d, i) => inRun(i)).length} chunks measured, load avg ${median(loads).toFixed(1)} on ${(await import('node:os')).cpus().length} cores`,
    `${''.padEnd(34)} ${'pc'.padStart(12)} ${'icecast2'.padStart(12)} ${'ratio'.padStart(9)}`,
    row('glass to ear, median', median(pc.lat), median(ref.lat)),
    row('glass to ear, p95', pct(pc.lat, 0.95), pct(ref.lat, 0.95)),
    row('spread between listeners, median', median(pc.spread), median(ref.spread)),
    row('origin bytes / stream bytes', nginxBytes / streamBytes, refBytes / srcBytes, 'x'),
    row('chunks on time, worst listener', Math.min(...pc.onTime), Math.min(...ref.onTime), ''),
    row('chunks on time, median listener', median(pc.onTime), median(ref.onTime), ''),
    `${'units skipped late, worst / median'.padEnd(34)} ${(100 * Math.max(...lateShare)).toFixed(2).padStart(9)} %  ${(100 * median(lateShare)).toFixed(2)} % (pc-icecast -v; icecast2 skips none)`,
    '(a chunk counts as on time when its first 48 bytes are in the stream: icecast2 rewrites some bytes inside chunks, so it is matched on chunk starts only; origin bytes from the first listener on, icecast2 from its readers on)',
    `origin: nginx sent ${(nginxBytes / MIB).toFixed(2)} MiB for ${(streamBytes / MIB).toFixed(2)} MiB of chunks; icecast2 sent ${(refBytes / MIB).toFixed(2)} MiB for ${(srcBytes / MIB).toFixed(2)} MiB of source since its readers connected`,
    `one listener: pc-fetch ${cpuPct('f').toFixed(1)}% CPU, peak RSS ${(rss.f / MIB).toFixed(0)} MiB; pc-icecast ${cpuPct('i').toFixed(1)}% CPU, peak RSS ${(rss.i / MIB).toFixed(0)} MiB`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
  // a run that measured nothing is a broken bench, not a figure (it printed NaN when it read
  // the chunks from the manifest, which names only the newest three)
  if (!data.some((_d, i) => inRun(i))) { process.stderr.write(`live.js: no chunk of ${dir} was measured; the figures above mean nothing\n`); process.exitCode = 1 }

  put.destroy()
  for (const c of children) c.kill('SIGKILL')
  await nginx.stop()
  await ice.stop()
  await rm(tmp, { recursive: true, force: true })
  process.exit(0)
}

main().catch(e => { process.stderr.write(`live.js: ${(e as Error).stack ?? String(e)}\n`); process.exit(1) })
