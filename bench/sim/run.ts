// The simulator's command line: one scenario, or a sweep over audience sizes and modes
// with an SVG plot; figures as JSON lines on stdout and a Markdown table on stderr.
//   node dist/bench/sim/run.js --scenario audio --listeners 1000
//   node dist/bench/sim/run.js --scenario audio --sweep 1000,10000 --modes pc,bt,http --plot sim.svg
import minimist from 'minimist'
import { writeFileSync, readFileSync, openSync, writeSync, closeSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { spawnSync } from 'node:child_process'
import { totalmem } from 'node:os'
import { runScenario, makeItem, DEFAULTS, type ScenarioOptions, type Result, type Mode } from './scenario.js'
import { plot } from './plot.js'
import { readTrace, summarizeTrace } from './trace.js'
import { runLive } from './live.js'
import { runSharded } from './shard.js'
import { runDay, DAY_DEFAULTS, CLASSES, type DayOptions, type DayResult, type LineClass } from './day.js'
import { HOME } from './population.js'
import { DEFAULT_FAIR_SHARE } from '../../lib/swarm/uploads.js'

/**
 * The old generation may grow by this much past what a full GC left live before the next
 * one. V8's own factor reaches 4 for a fast allocator, and the simulator is one: its
 * messages and timers wait in the clock's queue long enough to be promoted, so the heap
 * held ~3 × the live data and peak RSS followed it (audio N = 300: 398 MiB peak, ~116 MiB
 * live). At 50 % the peak was 226 MiB for no measurable wall time. V8 reads the flag at
 * each GC, so setting it once running is enough.
 */
const HEAP_GROWING_PERCENT = 50
setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)

/**
 * The young generation's semi-spaces, MiB. Messages and timers live tens to hundreds of
 * simulated milliseconds, thousands of events, and V8's default (16 MiB) copied most of
 * them at each of ~400 scavenges in the first 20 simulated seconds of audio N = 1,000
 * (6.0 s of 37.7 s). At 64: 102 scavenges, 4.1 s, 22.9 -> 19.5 s of CPU, +24 MiB peak;
 * 128 and 256 took as long and 140 and 360 MiB more. V8 sizes the young generation when
 * it starts, so the command runs itself again with the flag when it was not given.
 */
const SEMI_SPACE_MIB = 64
/**
 * From this audience (the largest of --listeners or --sweep), SEMI_SPACE_LARGE_MIB: at N =
 * 100,000 a message lives ten times the events it does at 10,000, and at 64 MiB about half
 * of each scavenge survived (first 5 simulated s of audio, 20 peers: 434 scavenges, 28.7 s;
 * at 256: 119, 19.4 s; 155 -> 143 s of wall time). Measured there only.
 */
const LARGE_AUDIENCE = 100_000
const SEMI_SPACE_LARGE_MIB = 256
/**
 * The old generation's limit, as a share of the machine's memory, unless given with
 * --max-old-space-size. V8's own is ~4 GiB here whatever the machine holds (23 GiB), and
 * V8 sets the next full collection at most halfway from the live data to that limit: past
 * ~2 GiB live (audio N = 10,000 from ~60 simulated s) the heap may grow by less than the
 * 50 % above, and each full collection, of all the live data, comes sooner. The limit
 * only allows the heap to grow; what it takes is set by the live data and the 50 %.
 */
const OLD_SPACE_SHARE = 0.75
/** a shard's semi-spaces are never smaller than V8's default (16 MiB) */
const MIN_SHARD_SEMI_SPACE_MIB = 16
if (!process.execArgv.some(a => a.startsWith('--max-semi-space-size'))) {
  const sizes = minimist(process.argv.slice(2), { string: ['listeners', 'sweep'] })
  const most = Math.max(...String(sizes.sweep ?? sizes.listeners ?? '0').split(',').map(Number).filter(Number.isFinite))
  const flags = [`--max-semi-space-size=${most >= LARGE_AUDIENCE ? SEMI_SPACE_LARGE_MIB : SEMI_SPACE_MIB}`]
  if (!process.execArgv.some(a => a.startsWith('--max-old-space-size'))) flags.push(`--max-old-space-size=${Math.floor(totalmem() * OLD_SPACE_SHARE / 2 ** 20)}`)
  const r = spawnSync(process.execPath, [...process.execArgv, ...flags, ...process.argv.slice(1)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

/** the named scenarios of issue 13 */
const SCENARIOS: Record<string, Partial<ScenarioOptions>> = {
  /** a 4-minute 128 kbit/s item, a flash crowd at the top of the hour */
  audio: { bitrate: 128_000, durationMs: 240_000, arrival: 'flash' },
  /** the same item, listeners tuning in and out all through it */
  steady: { bitrate: 128_000, durationMs: 240_000, arrival: 'steady' },
  /** a 4-minute 2 Mbit/s video item, a flash crowd */
  video: { bitrate: 2_000_000, durationMs: 240_000, arrival: 'flash' },
  /** the loopback bench of BENCHMARKS.md "swarm": 20 MiB, N listeners starting as N processes do on two cores, no latency, no upload limit, nobody leaves; then 5 joiners one after another */
  /** a live show at 128 kbit/s, pc-live's chunks of 1 s, a flash crowd at the live edge (bench/sim/live.ts) */
  live: { bitrate: 128_000, durationMs: 240_000, arrival: 'flash' },
  /** a day's schedule compressed: items of 4 minutes back to back, each its own swarm, one audience tuning in and out across them (bench/sim/day.ts) */
  day: { bitrate: 128_000, durationMs: 240_000, arrival: 'steady' },
  loopback: { bitrate: 20 * 1024 * 1024 * 8 / 240, durationMs: 240_000, arrival: 'together', population: 'loopback', originRateFactor: Infinity, churn: false, tailMs: 0, joiners: 5, quantumMs: 1 },
}

const argv = minimist(process.argv.slice(2), { string: ['scenario', 'listeners', 'sweep', 'modes', 'mode', 'seed', 'origin-rate', 'plot', 'until', 'quantum', 'nat', 'up-sigma', 'loss', 'rtt', 'deadline', 'live-delay', 'duration', 'from', 'items', 'lead', 'keep', 'max-share', 'fair-share', 'max-share-lines', 'max-peers', 'max-incoming', 'trace-origin', 'from-trace', 'rows', 'shards'], boolean: ['churn', 'help'], default: { churn: true } })
if (argv.help) {
  process.stdout.write(`Usage: node dist/bench/sim/run.js --scenario ${Object.keys(SCENARIOS).join('|')} [--listeners N | --sweep N,N,…] [--modes pc,bt,http] [--origin-rate X] [--seed S] [--no-churn] [--plot FILE.svg] [--from RUN.json --plot FILE.svg]\n` +
    '  live: [--live-delay MS (pc-icecast --live-delay, 3000)]\n' +
    '  day: [--items K (default 10)] [--lead MS (pc-schedule --lead, 10000)] [--keep MS (pc-fetch --keep, 300000)]\n' +
    '  population and item (to see what a figure depends on): [--nat SHARE] [--up-sigma S (0: every line the median)] [--loss P] [--rtt MS (every path)] [--deadline MS] [--duration MS] [--quantum MS]\n' +
    '  [--max-share R]: each pc listener\'s pc-fetch --max-share (default none, as pc-fetch\'s)\n' +
    `  [--fair-share R]: each pc listener's pc-fetch --fair-share (default ${DEFAULT_FAIR_SHARE}, as pc-fetch's; 0: none)\n` +
    '  day: [--max-share-lines fast,slow,nat]: only the listeners on these lines set --max-share (reachable at 10 Mbit/s up or more, reachable below, behind a NAT; default all)\n' +
    '  [--max-peers K]: each pc listener\'s swarm dials while it has fewer than K peers (default 50, members.ts MAX_PEERS)\n' +
    '  [--max-incoming M]: each host accepts at most M incoming connections (default 256, fetcher.ts MAX_CONNECTIONS; live 128)\n' +
    '  [--until MS]: stop at this simulated time (audio, steady, video, loopback: to profile a part of a run)\n' +
    '  [--shards K]: audio, steady, video, pc listeners: run on K threads, each the swarms of every K-th listener, stepping together one quantum at a time (default 1)\n' +
    '  [--trace-origin FILE]: audio, steady, video: each pc listener\'s origin requests, one NDJSON line each ({t, listener, line}: the swarm\'s debug line, with its place and holders)\n' +
    '  --from-trace FILE [--rows K]: only print that file\'s requests by chunk: how many, and the first K (default 12) with when, who and by which rule\n')
  process.exit(0)
}
// --from-trace FILE: only read a --trace-origin file, by chunk
if (argv['from-trace'] !== undefined) {
  const f = String(argv['from-trace'])
  try {
    process.stdout.write(summarizeTrace(readTrace(readFileSync(f === '-' ? 0 : f, 'utf8')), argv.rows !== undefined ? count('rows') : undefined))
  } catch (e) {
    process.stderr.write(`sim: ${f}: ${(e as Error).message}\n`)
    process.exit(65)
  }
  process.exit(0)
}
// --from FILE: only draw the plot again from a run's JSON lines
if (argv.from !== undefined) {
  const rs = readFileSync(String(argv.from), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Result & { scenario: string })
  const o = rs[0].options
  writeFileSync(String(argv.plot ?? 'scale.svg'), plot(rs, `${rs[0].scenario}: ${o.bitrate / 1000} kbit/s, ${o.durationMs / 60000} min, origin upload ${o.originRateFactor}× the stream`))
  process.exit(0)
}
const name = String(argv.scenario ?? 'audio')
const sc = SCENARIOS[name]
if (!sc) { process.stderr.write(`sim: unknown scenario '${name}'\n`); process.exit(64) }
if (argv['trace-origin'] !== undefined && (name === 'live' || name === 'day')) { process.stderr.write(`sim: --trace-origin is for audio, steady and video, not ${name}\n`); process.exit(64) }
// population overrides (population.ts HOME), for experiments on what a figure depends on
if (argv.nat !== undefined) HOME.natShare = Number(argv.nat)
if (argv['up-sigma'] !== undefined) HOME.upSigma = Number(argv['up-sigma'])
if (argv.loss !== undefined) { HOME.loss = Number(argv.loss); HOME.lossyLoss = Number(argv.loss) }
if (argv.rtt !== undefined) { HOME.rttMedianMs = Number(argv.rtt); HOME.rttSigma = 0 }
const sizes = String(argv.sweep ?? argv.listeners ?? '1000').split(',').map(Number)
const modes = String(argv.modes ?? argv.mode ?? 'pc').split(',') as Mode[]
const results: Result[] = []
const maxPeers = argv['max-peers'] !== undefined ? count('max-peers') : undefined
const maxIncoming = argv['max-incoming'] !== undefined ? count('max-incoming') : undefined
const shards = argv.shards !== undefined ? count('shards') : 1
if (shards > 1 && !['audio', 'steady', 'video'].includes(name)) { process.stderr.write(`sim: --shards is for audio, steady and video, not ${name}\n`); process.exit(64) }
if (shards > 1 && argv['trace-origin'] !== undefined) { process.stderr.write('sim: --trace-origin is for a run on one thread (no --shards)\n'); process.exit(64) }

const fmt = (ms: number): string => Number.isNaN(ms) ? '–' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
if (name !== 'day') process.stderr.write('| scenario | mode | N | origin ÷ item | listeners with a stall | stall time (total) | first audio median / p95 / p99 | upload ÷ item mean / max | complete | sim s per wall s | wall | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n')
for (const n of sizes) {
  const base: ScenarioOptions = { ...DEFAULTS, ...sc, listeners: n, seed: Number(argv.seed ?? 1) }
  if (argv['origin-rate'] !== undefined) base.originRateFactor = Number(argv['origin-rate'])
  if (argv.churn === false) base.churn = false // --no-churn
  if (argv.quantum !== undefined) base.quantumMs = Number(argv.quantum)
  if (argv.until !== undefined) base.untilMs = Number(argv.until)
  if (argv.deadline !== undefined) base.deadlineMs = Number(argv.deadline)
  if (argv.duration !== undefined) base.durationMs = Number(argv.duration)
  if (argv['live-delay'] !== undefined) base.liveDelayMs = Number(argv['live-delay'])
  if (argv['max-share'] !== undefined) base.maxShare = Number(argv['max-share'])
  if (argv['fair-share'] !== undefined) base.fairShare = Number(argv['fair-share'])
  if (maxPeers !== undefined) base.maxPeers = maxPeers
  if (maxIncoming !== undefined) base.maxIncoming = maxIncoming
  if (name === 'day') { await day(base); continue }
  const item = makeItem(Math.round(base.bitrate / 8 * base.durationMs / 1000), base.chunkBytes)
  for (const mode of modes) {
    const run: ScenarioOptions = { ...base, mode, progress: (l: string) => process.stderr.write(`sim: ${l}\n`) }
    const fd = argv['trace-origin'] !== undefined ? openSync(String(argv['trace-origin']), 'a') : undefined
    if (fd !== undefined) run.traceOrigin = (t, listener, line) => writeSync(fd, JSON.stringify({ mode, n, t, listener, line }) + '\n')
    const r = name === 'live' ? await runLive(run) : shards > 1 && mode === 'pc' ? await runSharded(run, item, shards, oldSpaceMiB(shards), semiSpaceMiB(n, shards)) : await runScenario(run, item)
    if (fd !== undefined) closeSync(fd)
    results.push(r)
    process.stdout.write(JSON.stringify({ scenario: name, ...r }) + '\n')
    const m = r.messages
    process.stderr.write(`sim: peer messages ${JSON.stringify(m.sent)}; pieces arriving still wanted ${m.piecesWanted}, after their request was cancelled ${m.piecesUnwanted}\n`)
    if (r.originAsked) process.stderr.write(`sim: origin asked for ${JSON.stringify(r.originAsked)}\n`)
    if (r.originCopies && r.originCopies.extraBy10s.length) process.stderr.write(`sim: the origin's copies after a chunk's first, by 10 s from the top: ${r.originCopies.extraBy10s.join(' ')}; copies by chunk: ${r.originCopies.byChunk.join(' ')}\n`)
    if (r.originChunks) process.stderr.write(`sim: chunks taken from the origin, by why ${JSON.stringify(r.originChunks)}\n`)
    if (r.joiners) process.stderr.write(`sim: joiners: first audio ${r.joiners.firstAudioMs.map(fmt).join(', ')}; origin for them ${r.joiners.originRatio.toFixed(2)}× the item\n`)
    process.stderr.write(`| ${name} | ${mode} | ${n} | ${r.originRatio.toFixed(2)} | ${(100 * r.stalledShare).toFixed(2)} % | ${r.stallSeconds.toFixed(0)} s | ${fmt(r.firstAudioMs.median)} / ${fmt(r.firstAudioMs.p95)} / ${fmt(r.firstAudioMs.p99)} | ${r.uploadRatio.mean.toFixed(2)} / ${r.uploadRatio.max.toFixed(2)} | ${(100 * r.completedShare).toFixed(1)} % | ${r.simPerWall.toFixed(2)} | ${r.wallSeconds.toFixed(0)} s | ${r.peakRssMiB.toFixed(0)} MiB |\n`)
  }
}
if (argv.plot) writeFileSync(String(argv.plot), plot(results, `${name}: ${sc.bitrate! / 1000} kbit/s, ${sc.durationMs! / 60000} min, origin upload ${base().originRateFactor}× the stream`))

/** each shard's old generation: the limit this process was given (or V8's), shared out */
function oldSpaceMiB (of: number): number {
  const given = process.execArgv.find(a => a.startsWith('--max-old-space-size='))
  return Math.floor((given !== undefined ? Number(given.split('=')[1]) : totalmem() * OLD_SPACE_SHARE / 2 ** 20) / of)
}

/**
 * Each of `of` shards' semi-spaces: this process's own for an audience of `n` (given, or
 * SEMI_SPACE_MIB) shared out, as each thread handles 1/`of` of the events, so that a message
 * lives as many of them there as on one thread; the young generations then take what one
 * thread's did (audio N = 10,000, 2 shards, seed 1, the same figures: 32 MiB each 197 s and
 * 1,181 MiB peak RSS, 64 MiB each 181 s and 1,258 MiB).
 */
function semiSpaceMiB (n: number, of: number): number {
  const given = process.execArgv.find(a => a.startsWith('--max-semi-space-size='))
  return Math.max(MIN_SHARD_SEMI_SPACE_MIB, Math.floor((given !== undefined ? Number(given.split('=')[1]) : n >= LARGE_AUDIENCE ? SEMI_SPACE_LARGE_MIB : SEMI_SPACE_MIB) / of))
}

/** a whole number of at least 1 given to --NAME, or the run stops with why */
function count (name: string): number {
  const v = Number(argv[name])
  if (!Number.isInteger(v) || v < 1) { process.stderr.write(`sim: --${name} wants a whole number of at least 1, not '${String(argv[name])}'\n`); process.exit(64) }
  return v
}

/** --max-share-lines: the line classes named, or the run stops with why */
function lines (v: string): LineClass[] {
  const names: Record<string, LineClass> = { fast: 'reachable fast', slow: 'reachable slow', nat: 'unreachable' }
  return v.split(',').map(w => {
    const c = names[w.trim()]
    if (c === undefined) { process.stderr.write(`sim: --max-share-lines wants fast, slow or nat, comma-separated, not '${w}'\n`); process.exit(64) }
    return c
  })
}

function base (): ScenarioOptions { return { ...DEFAULTS, ...sc, ...(argv['origin-rate'] !== undefined ? { originRateFactor: Number(argv['origin-rate']) } : {}) } }

/** the day's scenario: one JSON line on stdout, its figures on stderr */
async function day (b: ScenarioOptions): Promise<void> {
  const o: DayOptions = { ...b, ...DAY_DEFAULTS, progress: (l: string) => process.stderr.write(`sim: ${l}\n`) }
  if (argv.items !== undefined) o.items = Number(argv.items)
  if (argv.lead !== undefined) o.leadMs = Number(argv.lead)
  if (argv.keep !== undefined) o.keepMs = Number(argv.keep)
  if (argv['max-share-lines'] !== undefined) o.maxShareClasses = lines(String(argv['max-share-lines']))
  const r: DayResult = await runDay(o)
  process.stdout.write(JSON.stringify({ scenario: 'day', ...r }) + '\n')
  const s = (f: { listeners: number, mean: number, p99: number, max: number, over4: number }): string => `${f.listeners}: ${f.mean.toFixed(2)} / ${f.p99.toFixed(2)} / ${f.max.toFixed(2)} (${f.over4} over 4)`
  process.stderr.write(`sim: day of ${o.items} items, N = ${o.listeners}, seed ${o.seed}: ${r.listeners} listeners; origin ${r.originRatio.toFixed(2)} x the item per item (${r.originPerItem.map(x => x.toFixed(2)).join(', ')}); ` +
    `stalled ${(100 * r.stalledShare).toFixed(2)} %, ${r.stallSeconds.toFixed(0)} s; first audio mid-item median / p95 ${fmt(r.firstAudioMs.median)} / ${fmt(r.firstAudioMs.p95)}; per swarm upload / item mean ${r.perItem.mean.toFixed(2)}, max ${r.perItem.max.toFixed(2)}; pieces arriving still wanted ${r.pieces.wanted}, after their request was cancelled ${r.pieces.unwanted}; dials refused by a host at its connection limit ${r.refusedFull}, connections given up there to make room ${r.yielded}; ${r.wallSeconds.toFixed(0)} s wall, ${r.peakRssMiB.toFixed(0)} MiB\n`)
  process.stderr.write('sim: share over the day (upload ÷ the items listened to), listeners: mean / p99 / max (over 4 x)\n')
  process.stderr.write(`sim:   all ${s(r.share)}\n`)
  for (const c of CLASSES) process.stderr.write(`sim:   ${c} ${s(r.byClass[c])}\n`)
  process.stderr.write(`sim: requests refused at the share bound ${r.shareRefused}, at the fair share ${r.fairRefused}\n`)
}
