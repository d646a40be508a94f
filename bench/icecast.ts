// pc-icecast against Debian's icecast2, same stream, same run: N listeners at
// 128 kbit/s each (one load-generator process holding N sockets), how many are held
// at the real-time rate, server CPU and memory per listener, time to first byte.
// --media FILE streams that file (a WebM, say) looped instead, held at its own rate.
//   node dist/bench/icecast.js [--n 100,1000,3000] [--hold 15s] [--warm 8s] [--ramp 500] [--media FILE]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir, loadavg } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import minimist from 'minimist'
import { MediaParser } from '../lib/media/media.js'
import { parseDuration } from '../lib/core/units.js'
import { cpuSeconds, median } from './proc.js'
import { startIcecast2, get } from '../test/cmd/icecast-helpers.js'
import { freePort } from '../scripts/free-port.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** the stream's rate: 128 kbit/s for the MP3, else the media file's size over its duration */
let rateBytes = 16000
const FD_LIMIT = 20000

interface Result {
  server: string
  n: number
  held: number
  refused: number
  ttfbMedianMs: number
  ttfbP95Ms: number
  cpuPct: number
  rssBaseMiB: number
  rssMiB: number
}

function rssBytes (pid: number): number {
  try { return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024 } catch { return 0 }
}

/** CPU of a process and its threads (icecast2 is one process; so is node). */
function cpuOf (pid: number): number { return cpuSeconds(pid) ?? 0 }

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function pct (xs: number[], p: number): number {
  const s = xs.filter(x => x >= 0).sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN
}

/** Run the load generator; sample the server's CPU over exactly its window. */
async function load (pid: number, port: number, path: string, n: number, ramp: number, warmMs: number, holdMs: number): Promise<{ out: { ok: number, refused: number, rates: number[], ttfbMs: number[] }, cpuPct: number, rss: number }> {
  const c = spawn('sh', ['-c', `ulimit -n ${FD_LIMIT}; exec "$0" "$@"`, process.execPath, join(ROOT, 'dist', 'bench', 'icecast-listeners.js'),
    '127.0.0.1', String(port), path, String(n), String(ramp), String(warmMs), String(holdMs)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let cpu0 = 0; let t0 = 0; let cpu1 = 0; let t1 = 0; let rss = 0
  c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  c.stderr.on('data', (d: Buffer) => {
    if (d.toString().includes('window')) {
      cpu0 = cpuOf(pid); t0 = performance.now()
      setTimeout(() => { cpu1 = cpuOf(pid); t1 = performance.now(); rss = rssBytes(pid) }, holdMs - 200)
    }
  })
  await new Promise(resolve => c.on('close', resolve))
  const out = JSON.parse(stdout)
  return { out, cpuPct: (cpu1 - cpu0) / ((t1 - t0) / 1000) * 100, rss }
}

function summarize (server: string, n: number, r: Awaited<ReturnType<typeof load>>, rssBase: number): Result {
  return {
    server, n,
    held: r.out.rates.filter(x => x >= 0.9 * rateBytes).length,
    refused: r.out.refused,
    ttfbMedianMs: median(r.out.ttfbMs.filter(x => x >= 0)),
    ttfbP95Ms: pct(r.out.ttfbMs, 0.95),
    cpuPct: r.cpuPct,
    rssBaseMiB: rssBase / 2 ** 20,
    rssMiB: r.rss / 2 ** 20,
  }
}

function stop (c: ChildProcess): Promise<void> {
  return new Promise(resolve => {
    if (c.exitCode !== null || c.signalCode !== null) { resolve(); return }
    c.once('exit', () => resolve())
    c.kill('SIGTERM')
    setTimeout(() => c.kill('SIGKILL'), 3000).unref()
  })
}

async function main (): Promise<void> {
  const argv = minimist(process.argv.slice(2), { string: ['n', 'hold', 'ramp', 'warm', 'media'] })
  const ns = String(argv.n ?? '100,1000,3000').split(',').map(Number)
  const holdMs = parseDuration(String(argv.hold ?? '15s'))
  const warmMs = parseDuration(String(argv.warm ?? '8s'))
  const ramp = Number(argv.ramp ?? 500)
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-icecast-'))
  // the same stream for both: media/tone-cbr.mp3's frames (128 kbit/s CBR, tags left
  // out) or the --media file, looped (WebM files back to back are items of one stream)
  const media = argv.media === undefined ? undefined : String(argv.media)
  let one: Buffer
  let oneMs = 20_000
  if (media) {
    one = readFileSync(media)
    oneMs = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', media], { encoding: 'utf8' })) * 1000
    rateBytes = one.length / (oneMs / 1000)
  } else {
    one = Buffer.concat(new MediaParser('mp3').push(readFileSync(join(ROOT, 'media', 'tone-cbr.mp3'))).map(u => u.bytes))
  }
  const longest = Math.max(...ns) / ramp * 1000 + warmMs + holdMs + 30_000
  const reps = Math.ceil(longest / oneMs)
  const stream = join(dir, media ? `stream${media.slice(media.lastIndexOf('.'))}` : 'stream.mp3')
  await writeFile(stream, Buffer.concat(Array.from({ length: reps }, () => one)))
  const results: Result[] = []
  try {
    for (const n of ns) {
      // pc-icecast, fed the file as plain bytes (clock from the first byte)
      {
        const port = await freePort()
        const pc = spawn('sh', ['-c', `ulimit -n ${FD_LIMIT}; exec "$0" "$@"`, process.execPath, join(ROOT, 'dist', 'bin', 'pc-icecast.js'),
          '-q', `127.0.0.1:${port}`, stream, '--max-listeners', String(n + 100)], { stdio: ['ignore', 'ignore', 'inherit'] })
        try {
          for (let i = 0; i < 100; i++) { try { if ((await get(port, '/status-json.xsl')).status === 200) break } catch { /* not yet */ } await sleep(100) }
          await sleep(1000)
          const base = rssBytes(pc.pid!)
          results.push(summarize('pc-icecast', n, await load(pc.pid!, port, '/stream', n, ramp, warmMs, holdMs), base))
        } finally { await stop(pc) }
      }
      // icecast2, fed by ffmpeg as a real-time source client
      {
        const ice = await startIcecast2({ sourcePassword: 'bench', clients: n + 100 })
        // the source is pc-icecast --relay with no listeners of its own: the same pacing as
        // above (ffmpeg -re fell behind real time on this loaded machine); not measured
        const ff = spawn(process.execPath, [join(ROOT, 'dist', 'bin', 'pc-icecast.js'), '-q', `127.0.0.1:${await freePort()}`, stream,
          '--relay', `icecast://source:bench@127.0.0.1:${ice.port}/stream`], { stdio: ['ignore', 'ignore', 'inherit'] })
        try {
          for (let i = 0; i < 100; i++) {
            // icecast2 2.4.4's JSON is malformed while no source is connected: look for the key
            if ((await get(ice.port, '/status-json.xsl')).body.toString().includes('"source"')) break
            await sleep(100)
          }
          await sleep(4000) // let icecast2 fill its burst buffer
          const base = rssBytes(ice.proc.pid!)
          results.push(summarize('icecast2', n, await load(ice.proc.pid!, ice.port, '/stream', n, ramp, warmMs, holdMs), base))
        } finally { await stop(ff); await ice.stop() }
      }
      printTable(results)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  process.stdout.write(`\nload average at the end: ${loadavg().map(x => x.toFixed(2)).join(' ')}; cores: ${readdirSync('/sys/devices/system/cpu').filter(d => /^cpu\d+$/.test(d)).length}\n`)
}

function printTable (rs: Result[]): void {
  const lines = ['', `| N | server | held at ${Math.round(rateBytes * 8 / 1000)} kbit/s | refused | TTFB median | TTFB p95 | CPU % of a core | CPU per 1000 listeners | RSS MiB (idle → loaded) | RSS per listener | CPU ratio | RSS/listener ratio |`, '|---|---|---|---|---|---|---|---|---|---|---|---|']
  for (const r of rs) {
    const ref = rs.find(x => x.server === 'icecast2' && x.n === r.n)
    const perL = (r.rssMiB - r.rssBaseMiB) * 1024 / r.n
    const refPerL = ref ? (ref.rssMiB - ref.rssBaseMiB) * 1024 / ref.n : NaN
    const ratio = (a: number, b: number): string => Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–'
    lines.push(`| ${r.n} | ${r.server} | ${r.held}/${r.n} | ${r.refused} | ${r.ttfbMedianMs.toFixed(1)} ms | ${r.ttfbP95Ms.toFixed(1)} ms | ${r.cpuPct.toFixed(1)} | ${(r.cpuPct / r.n * 1000).toFixed(2)} | ${r.rssBaseMiB.toFixed(1)} → ${r.rssMiB.toFixed(1)} | ${perL.toFixed(1)} KiB | ${ref ? ratio(r.cpuPct, ref.cpuPct) : '–'} | ${ref ? ratio(perL, refPerL) : '–'} |`)
  }
  process.stdout.write(lines.join('\n') + '\n')
}

void main()
