// Soak benchmark: a day on air compressed into minutes. A station of one- and two-second
// MP3 items laid out for hours on an origin without ETag, pc-tracker, and listener
// pipelines `pc-schedule --follow | pc-fetch | pc-icecast`; players connect and leave
// all along and one is recorded whole. Prints each process's resident and anonymous
// memory and open fds at the start, middle and end, the slope per thousand item changes,
// and whether it grows beyond noise over the second half, then checks the recording for
// gaps and decoder errors.
// With --heap each command also samples its JS heap after a full garbage collection
// (heap-sampler.ts), judged the same way: what the program keeps, without the spare pages
// and free lists of V8 and malloc that the anonymous memory also counts. Beside it, the part
// of that heap that is V8's compiled code and bytecode, and the bytes per item change of
// both; --node-flags=--max-opt=1 runs the commands without the optimizing compiler.
//   node dist/bench/soak.js [--minutes 20] [--listeners 3] [--poll 30s] [--items 40] [--lengths 1,1,2,1,1] [--keep 20s] [--heap] [--node-flags FLAGS] [--samples FILE] [--write]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs, helpText, intOption, durationOption, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { startOrigin } from '../scripts/origin.js'
import { freePort } from '../scripts/free-port.js'
import { median } from './proc.js'
import { table, writeSection } from './report.js'
import { growth, perChange, type Growth } from './growth.js'
import { HEAP_SAMPLE_MS } from './heap-sampler.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = (name: string): string => join(ROOT, 'dist', 'bin', `${name}.js`)
const SAMPLER = join(ROOT, 'dist', 'bench', 'heap-sampler.js')
const HOST = '127.0.0.1'
const SAMPLE_MS = 10_000
/** samples before this are start-up (node's heap and pools growing to their working size) */
const WARMUP_MS = 60_000
/** a silence this long in the recording is a gap (items are tones; MP3 padding is ~50 ms) */
const GAP_S = 0.25

const OPTIONS: OptionTable = {
  minutes: { type: 'string', default: '20', arg: 'N', help: 'how long the station runs' },
  listeners: { type: 'string', default: '3', arg: 'N', help: 'listener pipelines' },
  poll: { type: 'string', default: '30s', arg: 'DURATION', help: 'pc-schedule --poll' },
  hours: { type: 'string', default: '2', arg: 'N', help: 'how long the playlist is laid out for' },
  churn: { type: 'string', default: '10s', arg: 'DURATION', help: 'a player connects this often, for 5 to 40 s' },
  items: { type: 'string', default: '40', arg: 'N', help: 'distinct items, played in turn again and again' },
  lengths: { type: 'string', default: '1,1,2,1,1', arg: 'S,S,…', help: 'item lengths in whole seconds, in turn: the k-th distinct item lasts the (k mod n)-th' },
  keep: { type: 'string', default: '20s', arg: 'DURATION', help: 'pc-fetch --keep: shorter than a turn of the items, so that every item is a new swarm' },
  heap: { type: 'boolean', help: 'also sample each command\'s JS heap after a full garbage collection every 10 s (node --expose-gc, heap-sampler.js), and judge it as the anonymous memory is' },
  'node-flags': { type: 'string', arg: 'FLAGS', help: 'node or V8 flags for every command, e.g. --node-flags=--max-opt=1 (no optimizing compiler: to tell its code from what the program keeps)' },
  samples: { type: 'string', arg: 'FILE', help: 'write every sample to FILE as CSV (seconds, item changes, then RSS, anonymous MB and fds of each process)' },
  write: { type: 'boolean', help: 'replace the soak section of BENCHMARKS.md' },
}
const INFO: CommandInfo = {
  usage: '[--minutes 20] [--listeners 3] [--poll 30s] [--items 40] [--lengths 1,1,2,1,1] [--keep 20s] [--heap] [--node-flags FLAGS] [--samples FILE] [--write]',
  summary: 'Soak benchmark: memory of every command over thousands of item changes, and a recorded stream checked for gaps.',
  examples: ['node dist/bench/soak.js --minutes 5', 'node dist/bench/soak.js --minutes 30 --write'],
  maxArgs: 0,
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Mem { rss: number, anon: number, fds: number }
/**
 * A live process's resident set, the anonymous part of it (heap, buffers, malloc: what
 * a leak grows; the rest is the node binary and libraries mapped from disk, shared, and
 * paged in and out by the kernel) and its open file descriptors; undefined once it is gone.
 */
function memOf (pid: number | undefined): Mem | undefined {
  try {
    const st = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? NaN) * 1024
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), fds: readdirSync(`/proc/${pid ?? 0}/fd`).length }
  } catch { return undefined }
}

/** `pipe`: the index of its listener pipeline (undefined for pc-tracker) */
interface Proc { name: string, child: ChildProcess, stderr: string, pipe?: number }
const procs: Proc[] = []
/** with --heap: where each command's heap-sampler.js writes */
let heapDir: string | undefined
/** --node-flags: given to node before each command's script */
let nodeFlags: string[] = []
function startProc (name: string, args: string[], stdin: 'ignore' | NodeJS.ReadableStream = 'ignore', pipe?: number): Proc {
  const flags = [...(heapDir !== undefined ? ['--expose-gc', '--import', pathToFileURL(SAMPLER).href] : []), ...nodeFlags]
  const env = heapDir !== undefined ? { ...process.env, PC_SOAK_HEAP_DIR: heapDir } : process.env
  const child = spawn(process.execPath, [...flags, BIN(name.replace(/#.*/, '')), ...args], { stdio: [stdin as 'ignore', 'pipe', 'pipe'], env })
  const p: Proc = { name, child, stderr: '', pipe }
  child.stderr?.on('data', (d: Buffer) => { p.stderr = (p.stderr + d.toString()).slice(-2000) })
  procs.push(p)
  return p
}

async function waitHttp (url: string, ms: number): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    try { if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return } catch { /* not yet */ }
    await sleep(200)
  }
  throw new Error(`${url} did not answer within ${ms} ms`)
}

/** Item records pc-fetch --stats has appended so far: one per item change. */
function itemsFetched (stats: string): number {
  return readText(stats).split('\n').filter(l => l.includes('"type":"item"')).length
}

/** A file's text, '' while it does not exist. */
function readText (file: string): string {
  try { return readFileSync(file, 'utf8') } catch { return '' }
}

interface Check { decodedS: number, warnings: string[], gaps: number[] }
/** Decode the recording whole: its length, anything the decoder said, and silences ≥ GAP_S. */
function checkRecording (file: string): Check {
  const loud = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'warning', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' })
  const warnings = loud.stderr.split('\n').filter(l => l.trim())
  const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-i', file, '-af', `silencedetect=n=-40dB:d=${GAP_S}`, '-f', 'null', '-'], { encoding: 'utf8' })
  const gaps = [...r.stderr.matchAll(/silence_duration: ([\d.]+)/g)].map(m => Number(m[1]))
  const times = [...r.stderr.matchAll(/time=(\d+):(\d+):([\d.]+)/g)]
  const last = times[times.length - 1]
  const decodedS = last ? Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]) : 0
  return { decodedS, warnings, gaps }
}

async function main (): Promise<void> {
  let opts: ReturnType<typeof parseArgs>
  try { opts = parseArgs(process.argv.slice(2), OPTIONS, INFO) } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message}\n${helpText('soak.js', INFO, OPTIONS)}`)
    process.exitCode = 64
    return
  }
  if (opts.help) { process.stdout.write(helpText('soak.js', INFO, OPTIONS)); return }
  let minutes: number, listeners: number, hours: number, churnMs: number, distinct: number, keep: string, lengths: number[]
  try {
    minutes = intOption(opts, 'minutes', 1, 24 * 60)
    listeners = intOption(opts, 'listeners', 1, 20)
    hours = intOption(opts, 'hours', 1, 48)
    churnMs = durationOption(opts, 'churn')
    distinct = intOption(opts, 'items', 1, 1000)
    keep = `${durationOption(opts, 'keep') / 1000}s`
    lengths = String(opts.lengths).split(',').map(Number)
    if (lengths.some(n => !Number.isInteger(n) || n < 1 || n > 600)) throw new Error(`--lengths wants whole seconds from 1 to 600, separated by commas, not ${String(opts.lengths)}`)
    nodeFlags = opts.nodeFlags === undefined ? [] : String(opts.nodeFlags).split(/\s+/).filter(Boolean)
    if (nodeFlags.some(f => !f.startsWith('--'))) throw new Error(`--node-flags wants flags that start with --, not ${String(opts.nodeFlags)}`)
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message} (try --help)\n`)
    process.exitCode = 64
    return
  }
  const poll = String(opts.poll)

  const dir = await mkdtemp(join(tmpdir(), 'pc-soak-'))
  if (opts.heap) { heapDir = join(dir, 'heap'); await mkdir(heapDir) }
  const log = (s: string): void => { process.stderr.write(`soak: ${s}\n`) }
  const names: string[] = []
  for (let i = 0; i < distinct; i++) {
    // a tone of its own for each item, so that no two items share a hash tree
    const s = lengths[i % lengths.length]
    const hz = 220 + 10 * i
    const name = `item${i}-${s}s.mp3`
    const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `sine=f=${hz}:d=${s}`, '-ac', '2', '-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k', join(dir, name)])
    if (r.status !== 0) throw new Error(`ffmpeg could not make ${name}`)
    names.push(name)
  }
  // scripts/origin.ts sends no ETag or Last-Modified: every poll gets the playlist whole
  const origin = await startOrigin({ dir, host: HOST, port: 0 })
  const base = origin.url.replace(/\/$/, '') + '/'
  const pl = spawnSync(process.execPath, [BIN('pc-playlist'), '-q', '-b', base, '--root', dir, '--start', 'now', '--until', `+${hours}h`, '--hash', '-o', join(dir, 'list.rss'), ...names.map(n => join(dir, n))], { encoding: 'utf8' })
  if (pl.status !== 0) throw new Error(`pc-playlist: ${pl.stderr}`)
  const playlistItems = (readFileSync(join(dir, 'list.rss'), 'utf8').match(/<item[ >]/g) ?? []).length

  const trackerPort = await freePort()
  startProc('pc-tracker', [`${HOST}:${trackerPort}`])
  const pipes: Array<{ port: number, stats: string }> = []
  for (let i = 1; i <= listeners; i++) {
    const port = await freePort()
    const stats = join(dir, `fetch-${i}.ndjson`)
    const sched = startProc(`pc-schedule#${i}`, ['--follow', '--lead', '5s', '--poll', poll, base + 'list.rss'], 'ignore', i - 1)
    const fetch = startProc(`pc-fetch#${i}`, ['-q', '-t', `http://${HOST}:${trackerPort}/announce`, '--host', HOST, '--stats', stats, '--keep', keep], sched.child.stdout as NodeJS.ReadableStream, i - 1)
    startProc(`pc-icecast#${i}`, ['-q', `${HOST}:${port}`], fetch.child.stdout as NodeJS.ReadableStream, i - 1)
    pipes.push({ port, stats })
  }
  for (const p of pipes) await waitHttp(`http://${HOST}:${p.port}/status-json.xsl`, 30_000)

  // one player recorded from start to end, the others come and go
  const recording = join(dir, 'listener-1.mp3')
  const recorder = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-i', `http://${HOST}:${pipes[0].port}/stream`, '-c', 'copy', '-f', 'mp3', recording], { stdio: ['ignore', 'ignore', 'pipe'] })
  let recorderErr = ''
  recorder.stderr?.on('data', (d: Buffer) => { recorderErr = (recorderErr + d.toString()).slice(-2000) })
  // recorded time counts from the first bytes on disk: before them pc-icecast had nothing yet
  const size = (): number => { try { return statSync(recording).size } catch { return 0 } }
  for (let i = 0; i < 300 && size() === 0; i++) await sleep(100)
  const recordStart = Date.now()
  const players = { started: 0, failed: 0, live: new Set<ChildProcess>() }
  const t0 = Date.now()
  const end = t0 + minutes * 60_000
  const churn = setInterval(() => {
    const p = pipes[Math.floor(Math.random() * pipes.length)]
    const s = 5 + Math.floor(Math.random() * 36)
    const c = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-t', String(s), '-i', `http://${HOST}:${p.port}/stream`, '-f', 'null', '-'], { stdio: 'ignore' })
    players.started++
    players.live.add(c)
    c.once('exit', (code, signal) => { players.live.delete(c); if (code !== 0 && signal === null) players.failed++ })
  }, churnMs)

  // memory samples: ms since start, item changes of each pipeline, memory of each process
  const samples: Array<{ t: number, changes: number[], mem: Array<Mem | undefined> }> = []
  log(`${listeners} listeners, ${playlistItems} playlist items, ${minutes} min; a sample every ${SAMPLE_MS / 1000} s`)
  while (Date.now() < end) {
    await sleep(Math.min(SAMPLE_MS, end - Date.now()))
    const changes = pipes.map(p => itemsFetched(p.stats))
    samples.push({ t: Date.now() - t0, changes, mem: procs.map(p => memOf(p.child.pid)) })
    const dead = procs.filter(p => p.child.exitCode !== null || p.child.signalCode !== null)
    if (dead.length) { log(`exited early: ${dead.map(p => `${p.name} (${p.child.exitCode ?? p.child.signalCode}): ${p.stderr.trim()}`).join('; ')}`); break }
    if (samples.length % 6 === 0) log(`${Math.round((Date.now() - t0) / 1000)} s, ${median(changes)} item changes per listener`)
  }
  clearInterval(churn)
  recorder.kill('SIGINT')
  await new Promise(resolve => recorder.once('exit', resolve))
  const recordedS = (Date.now() - recordStart) / 1000
  for (const c of players.live) c.kill('SIGKILL')
  for (const p of procs) p.child.kill('SIGTERM')
  await Promise.all(procs.map(p => p.child.exitCode !== null ? undefined : new Promise(resolve => p.child.once('exit', resolve))))
  await origin.close()

  const check = checkRecording(recording)
  const steady = samples.filter(s => s.t >= WARMUP_MS)
  // the verdict is judged on the second half: by then the allocator has reached its working size
  const judged = steady.slice(steady.length >> 1)
  // a pipeline's processes count its own item changes; pc-tracker counts them all
  const changesOf = (p: Proc, s: { changes: number[] }): number => p.pipe === undefined ? s.changes.reduce((a, b) => a + b, 0) : s.changes[p.pipe]
  const mb = (b: number | undefined, digits = 1): string => b === undefined || !Number.isFinite(b) ? '–' : (b / 1e6).toFixed(digits)
  const f2 = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : '–'
  const first = steady[0]
  const half = judged[0]
  /** A series of (ms since start, item changes, bytes) from the steady span: start / middle / end in MB, slopes whole and over the second half, and the verdict. */
  const judge = (pts: Array<{ t: number, changes: number, bytes: number }>, digits = 1): { cells: string[], verdict: string } => {
    const fit = (q: typeof pts): Growth => growth(q.map(s => s.changes / 1000), q.map(s => s.bytes / 1e6))
    const whole = fit(pts)
    const g = fit(pts.filter(s => s.t >= (half?.t ?? Infinity)))
    const verdict = !Number.isFinite(g.slope) ? 'too few samples' : g.grows ? 'GROWS' : 'no growth beyond noise'
    const three = `${mb(pts[0]?.bytes, digits)} / ${mb(pts[pts.length >> 1]?.bytes, digits)} / ${mb(pts[pts.length - 1]?.bytes, digits)}`
    return { cells: [three, f2(whole.slope), `${f2(g.slope)} ± ${f2(g.slopeSe)}`, `${f2(g.rise)} / ${f2(g.noise)}`, verdict], verdict }
  }
  const verdicts: string[] = []
  const rows = procs.map((p, i) => {
    const pts = steady.filter(s => s.mem[i] !== undefined)
    const at = (k: number): Mem | undefined => pts[k]?.mem[i]
    const fds = pts.map(s => (s.mem[i] as Mem).fds)
    const j = judge(pts.map(s => ({ t: s.t, changes: changesOf(p, s), bytes: (s.mem[i] as Mem).anon })))
    verdicts.push(`${p.name}: ${j.verdict}`)
    return [p.name, `${mb(at(0)?.rss)} / ${mb(at(pts.length >> 1)?.rss)} / ${mb(at(pts.length - 1)?.rss)}`, j.cells[0], fds.length ? `${Math.min(...fds)}–${Math.max(...fds)}` : '–', ...j.cells.slice(1)]
  })
  // --heap: each command's JS heap after a full collection, at the item changes of the sample before it
  const heapVerdicts: string[] = []
  const heapRows = heapDir === undefined ? [] : procs.map(p => {
    const lines = readText(join(heapDir as string, `${p.child.pid ?? 0}.csv`)).split('\n').filter(Boolean).map(l => l.split(',').map(Number))
    const pts = lines.map(([at, used, , , , code, bytecode]) => ({ t: at - t0, used, code: code + bytecode })).filter(h => h.t >= WARMUP_MS).map(h => {
      const before = samples.filter(s => s.t <= h.t)
      return { t: h.t, changes: before.length ? changesOf(p, before[before.length - 1]) : 0, bytes: h.used, code: h.code }
    })
    // it scatters by tens of KB: two decimals
    const j = judge(pts, 2)
    heapVerdicts.push(`${p.name}: ${j.verdict}`)
    const code = `${mb(pts[0]?.code, 2)} / ${mb(pts[pts.length >> 1]?.code, 2)} / ${mb(pts[pts.length - 1]?.code, 2)}`
    const late = pts.filter(s => s.t >= (half?.t ?? Infinity))
    const per = perChange(late.map(s => s.changes), late.map(s => s.bytes), late.map(s => s.code))
    const bytes = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : '–'
    return [p.name, j.cells[0], code, ...j.cells.slice(1, 4), `${bytes(per.heap)} / ${bytes(per.code)}`, j.cells[4]]
  })
  const last = samples[samples.length - 1]
  const changes = last?.changes ?? []
  const total = changes.reduce((a, b) => a + b, 0)
  const text = [
    `Command: \`node dist/bench/soak.js --minutes ${minutes} --listeners ${listeners} --poll ${poll} --items ${distinct} --lengths ${lengths.join(',')} --keep ${keep}${heapDir !== undefined ? ' --heap' : ''}${nodeFlags.length ? ` --node-flags='${nodeFlags.join(' ')}'` : ''}\`: ${distinct} distinct MP3 items of ${lengths.join(', ')}… s played in turn, laid out for ${hours} h (${playlistItems} playlist items) on scripts/origin.ts (no ETag, so every poll sends the playlist whole), pc-tracker, ${listeners} pipelines \`pc-schedule --follow --poll ${poll} | pc-fetch --keep ${keep} | pc-icecast\` (an item's swarm is left ${keep} after it was written, before its next turn: every item change opens a swarm and closes one); a player connected every ${churnMs / 1000} s for 5–40 s (${players.started} in all, ${players.failed} failed), one recorded from start to end. ${median(changes)} item changes per listener (${total} in all) in ${Math.round((last?.t ?? 0) / 1000)} s.`,
    '',
    `Memory (MB) sampled every ${SAMPLE_MS / 1000} s, from the first sample after ${WARMUP_MS / 1000} s (${first ? `${median(first.changes)} item changes per listener` : '–'}) to the end: resident (RSS) and its anonymous part (heap, buffers, malloc; the rest is the node binary and libraries mapped from disk) at the start, middle and end, and open file descriptors. Slopes are least-squares fits of the anonymous memory in MB per 1000 item changes (a pipeline's own, or all of them for pc-tracker): over the whole span, and over the second half (from ${half ? `${Math.round(half.t / 1000)} s, ${median(half.changes)} item changes per listener` : '–'}), which is judged: growth beyond noise is a slope more than 3 standard errors above 0 whose rise over the half is more than twice the scatter of the samples around it.`,
    '',
    table(['process', 'RSS start / middle / end', 'anonymous start / middle / end', 'fds', 'slope, whole', 'slope, 2nd half', 'rise / noise, 2nd half', 'verdict'], rows),
    '',
    `Verdict: ${verdicts.join('; ')}.`,
    '',
    ...(heapDir === undefined ? [] : [
      `JS heap after a full garbage collection (\`--heap\`: node --expose-gc, a collection every ${HEAP_SAMPLE_MS / 1000} s in each command, then process.memoryUsage().heapUsed), MB, judged by the same rule; beside it the part of that heap that is V8's compiled code and bytecode with their metadata (v8.getHeapCodeStatistics()), which grows as functions become hot for the first time, and the bytes per item change over the second half of both:`,
      '',
      table(['process', 'heap used start / middle / end', 'of it code, start / middle / end', 'slope, whole', 'slope, 2nd half', 'rise / noise, 2nd half', 'bytes per item change, 2nd half: heap / code', 'verdict'], heapRows),
      '',
      `Heap verdict: ${heapVerdicts.join('; ')}.`,
      '',
    ]),
    `Recording of listener 1: ${recordedS.toFixed(1)} s recorded, ${check.decodedS.toFixed(1)} s decoded, ${check.warnings.length} decoder message${check.warnings.length === 1 ? '' : 's'}${check.warnings.length ? ` (first: \`${check.warnings[0]}\`)` : ''}, ${check.gaps.length} silence${check.gaps.length === 1 ? '' : 's'} of ${GAP_S} s or more${check.gaps.length ? ` (longest ${Math.max(...check.gaps).toFixed(2)} s)` : ''}.${recorderErr.trim() ? ` The recorder said: \`${recorderErr.trim().split('\n')[0]}\`.` : ''}`,
  ].join('\n')
  process.stdout.write(text + '\n')
  if (opts.samples !== undefined) {
    const head = ['s', ...pipes.map((_, i) => `changes#${i + 1}`), ...procs.flatMap(p => [`${p.name} rss`, `${p.name} anon`, `${p.name} fds`])]
    const lines = samples.map(s => [(s.t / 1000).toFixed(0), ...s.changes, ...s.mem.flatMap(m => m ? [mb(m.rss), mb(m.anon), m.fds] : ['', '', ''])].join(','))
    await writeFile(String(opts.samples), [head.join(','), ...lines].join('\n') + '\n')
  }
  if (opts.write) await writeSection(join(ROOT, 'BENCHMARKS.md'), 'soak', text)
  await rm(dir, { recursive: true, force: true })
}

main().catch((e: unknown) => {
  for (const p of procs) p.child.kill('SIGKILL')
  process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`)
  process.exitCode = 70
})
