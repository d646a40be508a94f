// The swarm benchmark (issue 3): N pc-fetch listeners against N WebTorrent listeners on
// one item, same nginx origin, same tracker, same run; pc-fetch --raw against curl from
// the origin alone; peak memory of one pc-fetch on a 2 GiB item; idle CPU of a holder.
//   node dist/bench/swarm.js [--n 1,5,10,20] [--size 20M] [--write]
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, openSync, closeSync, statSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, dirname, basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, helpText, intOption, sizeOption, durationOption, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { CHUNK_BYTES, TreeBuilder, formatTree, hashStream, infoHash } from '../lib/hashing/hashtree.js'
import { formatTime } from '../lib/core/units.js'
import { startNginx, type Nginx } from '../scripts/nginx.js'
import { freePort } from '../scripts/free-port.js'
import { Measured, median, max, timedRun, cpuSeconds, MIB } from './proc.js'
import { table, writeSection, ms, ratio, mib } from './report.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
// the commands run from a snapshot of dist/ taken at the start (see snapshotDist)
let PC_FETCH = join(ROOT, 'dist', 'bin', 'pc-fetch.js')
let PC_TRACKER = join(ROOT, 'dist', 'bin', 'pc-tracker.js')
const WT_DIR = join(ROOT, 'bench', 'webtorrent')
const WT_RUN = join(WT_DIR, 'run.js')
/**
 * Preloaded (node --require) into every listener of both tools: notes the moment node had
 * booted and began loading the listener's own code, so that node's start-up under N-way
 * contention can be told apart from the listener's work. CommonJS, as --import costs a
 * listener ~7 ms of CPU where this costs ~3 ms (medians of 25 starts each, here).
 */
const STARTED_SOURCE = "const f = process.env.PC_BENCH_STARTED\nif (f) require('node:fs').writeFileSync(f, String(performance.timeOrigin + performance.now()))\n"
let STARTED = ''

const OPTIONS: OptionTable = {
  n: { type: 'string', default: '1,5,10,20', arg: 'LIST', help: 'listener counts, comma-separated' },
  size: { type: 'string', default: '20M', arg: 'SIZE', help: 'swarmed item (random bytes)' },
  media: { type: 'string', arg: 'FILE', help: 'swarm this media file instead of --size random bytes' },
  'throughput-size': { type: 'string', default: '256M', arg: 'SIZE', help: 'item for pc-fetch against curl' },
  rounds: { type: 'string', default: '5', arg: 'N', help: 'rounds of pc-fetch against curl' },
  big: { type: 'string', default: '2G', arg: 'SIZE', help: 'item for peak memory (a sparse file)' },
  idle: { type: 'string', default: '10s', arg: 'DURATION', help: 'how long a complete holder is watched for idle CPU' },
  joiners: { type: 'string', default: '5', arg: 'K', help: 'listeners that tune in one after another once a swarm holds the item' },
  only: { type: 'string', default: 'swarm,webtorrent,curl,memory', arg: 'PARTS', help: 'parts to run' },
  tracker: { type: 'string', default: 'pc', arg: 'pc|opentracker', help: 'tracker for both swarms' },
  scheduled: { type: 'boolean', help: 'also run pc-fetch on schedule records (stdin) at the largest N' },
  timeout: { type: 'string', default: '300s', arg: 'DURATION', help: 'give up on a swarm run after this' },
  write: { type: 'boolean', help: 'write the figures into BENCHMARKS.md (## swarm)' },
  verbose: { alias: 'v', type: 'boolean', help: 'show progress and listeners\' stderr' },
}
const INFO: CommandInfo = {
  usage: '[--n 1,5,10,20] [--size 20M] [--only swarm,webtorrent,curl,memory] [--write]',
  summary: 'Swarm benchmark: pc-fetch beside WebTorrent and curl on one nginx origin and tracker.',
  examples: ['node dist/bench/swarm.js --n 5 --only swarm,webtorrent', 'node dist/bench/swarm.js --write'],
  maxArgs: 0,
}

interface Ctx {
  work: string
  ngx: Nginx
  trackerUrl: string
  trackerName: string
  item: { name: string, size: number, sha256: string, root: string, url: string }
  torrent: string
  timeoutMs: number
  idleMs: number
  joiners: number
  verbose: boolean
  log: (s: string) => void
}

interface SwarmResult {
  tool: string
  n: number
  originBytes: number
  firstByte: number[]
  /** first byte timed from the moment node began loading the listener's code (STARTED_SOURCE) */
  firstByteFromScript: number[]
  firstMib: number[]
  totalMs: number
  cpu: number
  identical: number
  complete: number
  /** CPU seconds over the first idle window after the item was complete, and over the next */
  idleCpu?: [number, number]
  /** listeners that joined one at a time once the N held the whole item (tuning in to a running station) */
  join: { firstByte: number[], firstByteFromScript: number[], doneMs: number[], originBytes: number, identical: number }
  /** what the listeners themselves say they got from peers and from the origin */
  selfPeers: number
  selfOrigin: number
  failures: string[]
}

const live = new Set<Measured>()
process.on('exit', () => { for (const m of live) { try { m.child.kill('SIGKILL') } catch { /* gone */ } } })
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))

const sleep = (t: number): Promise<void> => new Promise(resolve => setTimeout(resolve, t))

async function waitPort (port: number, ms: number, alive: () => boolean): Promise<void> {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    if (!alive()) throw new Error('exited before listening')
    const ok = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listening on port ${port} after ${ms} ms`)
}

/** Random bytes (or the bytes of `from`) to `path`, with its sha256 and hash tree (written as PATH.hashtree). */
async function makeItem (path: string, size: number, from?: Buffer): Promise<{ sha256: string, root: string }> {
  const out = createWriteStream(path)
  const sha = createHash('sha256')
  const tree = new TreeBuilder(CHUNK_BYTES)
  for (let left = size; left > 0;) {
    const n = Math.min(left, 4 * MIB)
    const b = from ? from.subarray(size - left, size - left + n) : randomBytes(n)
    left -= b.length
    sha.update(b); tree.update(b)
    if (!out.write(b)) await new Promise<void>(resolve => out.once('drain', () => resolve()))
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => e ? reject(e) : resolve()))
  const t = tree.finish()
  await writeFile(path + '.hashtree', formatTree(t))
  return { sha256: sha.digest('hex'), root: t.root.toString('hex') }
}

async function startTracker (kind: string, work: string, port: number, hashes: string[], log: (s: string) => void): Promise<{ name: string, stop: () => Promise<void> }> {
  let child
  let name
  if (kind === 'pc' && existsSync(PC_TRACKER)) {
    name = 'pc-tracker'
    child = spawn(process.execPath, [PC_TRACKER, `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  } else {
    if (kind === 'pc') log('pc-tracker is not built yet: using opentracker for both swarms')
    name = 'opentracker'
    const list = join(work, 'infohashes.txt')
    await writeFile(list, hashes.join('\n') + '\n')
    child = spawn('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(port), list], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: work } })
  }
  let err = ''
  child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000) })
  const exited = new Promise<void>(resolve => child.once('close', () => resolve()))
  let gone = false
  void exited.then(() => { gone = true })
  try {
    await waitPort(port, 10_000, () => !gone)
  } catch (e) {
    child.kill('SIGKILL')
    throw new Error(`${name}: ${(e as Error).message}: ${err.trim()}`)
  }
  process.on('exit', () => child.kill('SIGKILL'))
  return { name, stop: async () => { if (!gone) { child.kill('SIGTERM'); await Promise.race([exited, sleep(3000)]); child.kill('SIGKILL') } } }
}

function ensureWebTorrent (log: (s: string) => void): void {
  if (existsSync(join(WT_DIR, 'node_modules', 'webtorrent', 'package.json'))) return
  log('installing WebTorrent into bench/webtorrent (npm install --ignore-scripts --no-audit)')
  const r = spawnSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: WT_DIR, stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error('npm install in bench/webtorrent failed')
}

function listener (ctx: Ctx, tool: string, i: number, runDir: string): Measured {
  const { item, trackerUrl } = ctx
  let m: Measured
  const env: NodeJS.ProcessEnv = { ...process.env, PC_BENCH_STARTED: join(runDir, `started-${i}`) }
  if (tool === 'WebTorrent') {
    m = new Measured(process.execPath, ['--require', STARTED, WT_RUN, 'listen', ctx.torrent, join(runDir, `wt-${i}`)], item.size, { env })
  } else {
    // listeners stay and serve the others until the run is over (--keep), as a radio's would
    const args = ['--require', STARTED, PC_FETCH, '--raw', '--tracker', trackerUrl, '--port', '0', '--host', '127.0.0.1', '--keep', '10m', '--stats', join(runDir, `stats-${i}.ndjson`)]
    if (ctx.verbose) args.push('-v')
    if (tool === 'pc-fetch') args.push(item.url)
    m = new Measured(process.execPath, args, item.size, { env })
    if (tool === 'pc-fetch records') {
      const now = Date.now()
      const rec = { url: item.url, title: item.name, start: formatTime(now - (now % 1000)), end: formatTime(now - (now % 1000) + 600_000), duration: 600_000, offset: 0, root: item.root, hashtree: item.url + '.hashtree' }
      m.child.stdin?.write(JSON.stringify(rec) + '\n') // stdin stays open, as from pc-schedule --follow
    }
  }
  live.add(m)
  void m.exited.then(() => live.delete(m))
  return m
}

/** Read the origin's count until two reads agree: a killed client's request is logged a moment later. */
async function settledBytes (ngx: Nginx): Promise<number> {
  let last = await ngx.bytesSent()
  for (let i = 0; i < 10; i++) {
    await sleep(200)
    const now = await ngx.bytesSent()
    if (now === last) return now
    last = now
  }
  return last
}

async function runSwarm (ctx: Ctx, tool: string, n: number, idle: boolean): Promise<SwarmResult> {
  const before = await settledBytes(ctx.ngx)
  const runDir = await mkdtemp(join(ctx.work, 'run-'))
  const t0 = performance.now()
  const ps: Measured[] = []
  for (let i = 0; i < n; i++) ps.push(listener(ctx, tool, i, runDir))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([Promise.all(ps.map(p => p.done)), new Promise(resolve => { timer = setTimeout(resolve, ctx.timeoutMs) })])
  clearTimeout(timer)
  const totalMs = Math.max(...ps.map(p => p.doneMs === undefined ? NaN : p.t0 - t0 + p.doneMs))
  let idleCpu: [number, number] | undefined
  if (idle && ps.every(p => p.bytes === ctx.item.size && p.exit === undefined)) {
    const pid = ps[0].child.pid ?? 0
    // two windows: the first holds the completed announce, the stats record and V8's
    // memory reducer (a garbage collection some seconds after allocation stops); the
    // second is what a holder costs from then on
    const c0 = cpuSeconds(pid) ?? NaN
    await sleep(ctx.idleMs)
    const c1 = cpuSeconds(pid) ?? NaN
    await sleep(ctx.idleMs)
    idleCpu = [c1 - c0, (cpuSeconds(pid) ?? NaN) - c1]
  }
  const after = await settledBytes(ctx.ngx)
  // then K more listeners tune in, one after another, each while the N (and the joiners
  // before it) are running: what a listener of a station already on air meets
  const js: Measured[] = []
  if (ps.every(p => p.bytes === ctx.item.size)) {
    for (let j = 0; j < ctx.joiners; j++) {
      const m = listener(ctx, tool, n + j, runDir)
      js.push(m)
      let jt: NodeJS.Timeout | undefined
      await Promise.race([m.done, new Promise(resolve => { jt = setTimeout(resolve, ctx.timeoutMs) })])
      clearTimeout(jt)
    }
  }
  const afterJoins = js.length ? await settledBytes(ctx.ngx) : after
  for (const p of [...ps, ...js]) p.sample()
  await Promise.all([...ps, ...js].map(p => p.stop()))
  let selfPeers = 0
  let selfOrigin = 0
  for (let i = 0; i < ps.length; i++) {
    const c = tool === 'WebTorrent' ? wtCounters(ps[i].stderr) : await pcCounters(join(runDir, `stats-${i}.ndjson`))
    selfPeers += c.peers
    selfOrigin += c.origin
  }
  const fromScriptOf = async (list: Measured[], first: number): Promise<number[]> => {
    const r: number[] = []
    for (let i = 0; i < list.length; i++) {
      const p = list[i]
      const at = Number(await readFile(join(runDir, `started-${first + i}`), 'utf8').catch(() => 'NaN'))
      // both clocks are the epoch in ms: the child's from performance.timeOrigin, ours at spawn
      if (p.firstByteMs !== undefined && Number.isFinite(at)) r.push(p.firstByteMs - (at - (performance.timeOrigin + p.t0)))
    }
    return r
  }
  const fromScript = await fromScriptOf(ps, 0)
  const joins = {
    firstByte: js.flatMap(p => p.firstByteMs === undefined ? [] : [p.firstByteMs]),
    firstByteFromScript: await fromScriptOf(js, n),
    doneMs: js.flatMap(p => p.doneMs === undefined ? [] : [p.doneMs]),
    originBytes: afterJoins - after,
    identical: js.filter(p => p.bytes === ctx.item.size && p.sha256() === ctx.item.sha256).length,
  }
  ps.forEach((p, i) => ctx.log(p.bytes === ctx.item.size
    ? `${tool} ×${n} listener ${i} stderr: ${p.stderr.trim().split('\n').slice(-2).join(' / ').slice(0, 400)}`
    : `${tool} ×${n} listener ${i} did not finish (${p.bytes} bytes); the end of its stderr:\n${p.stderr.trim()}`))
  await rm(runDir, { recursive: true, force: true })
  const complete = ps.filter(p => p.bytes === ctx.item.size)
  const failures: string[] = []
  ps.forEach((p, i) => {
    if (p.bytes !== ctx.item.size) failures.push(`listener ${i}: ${p.bytes} of ${ctx.item.size} bytes${p.exitedEarly ? `, exited on its own (${p.exit?.code ?? p.exit?.signal})` : ', still running at the timeout'}: ${firstError(p.stderr)}`)
    else if (p.sha256() !== ctx.item.sha256) failures.push(`listener ${i}: output differs from the item`)
  })
  return {
    tool, n,
    originBytes: after - before,
    firstByte: ps.flatMap(p => p.firstByteMs === undefined ? [] : [p.firstByteMs]),
    firstByteFromScript: fromScript,
    firstMib: ps.flatMap(p => p.firstMibMs === undefined ? [] : [p.firstMibMs]),
    totalMs: complete.length === n ? totalMs : NaN,
    cpu: ps.reduce((s, p) => s + p.cpu, 0),
    identical: complete.filter(p => p.sha256() === ctx.item.sha256).length,
    complete: complete.length,
    idleCpu,
    join: joins,
    selfPeers,
    selfOrigin,
    failures,
  }
}

/** pc-fetch --stats: the exit record, else the last item record */
async function pcCounters (file: string): Promise<{ peers: number, origin: number }> {
  const text = await readFile(file, 'utf8').catch(() => '')
  let best: { peers: number, origin: number } = { peers: 0, origin: 0 }
  for (const line of text.split('\n')) {
    try {
      const r = JSON.parse(line) as { type?: string, bytesFromPeers?: number, bytesFromOrigin?: number }
      if (typeof r.bytesFromPeers === 'number' && typeof r.bytesFromOrigin === 'number') best = { peers: r.bytesFromPeers, origin: r.bytesFromOrigin }
    } catch { /* not a record */ }
  }
  return best
}

/** bench/webtorrent/run.js prints its counters as the last stderr line on SIGTERM */
function wtCounters (stderr: string): { peers: number, origin: number } {
  const line = stderr.trim().split('\n').reverse().find(l => l.startsWith('{"type":"exit"'))
  if (!line) return { peers: 0, origin: 0 }
  const r = JSON.parse(line) as { downloaded: number, fromWebSeed: number }
  return { peers: r.downloaded - r.fromWebSeed, origin: r.fromWebSeed }
}

function share (r: SwarmResult): string {
  const all = r.selfPeers + r.selfOrigin
  return all > 0 ? `${Math.round(100 * r.selfPeers / all)} %` : '–'
}

function swarmRows (rs: SwarmResult[], size: number): string[][] {
  const rows: string[][] = []
  // unfinished listeners did not ask for their share yet: the origin figure is then a floor
  const fmt = (r: SwarmResult): string[] => [String(r.n), r.tool, (r.originBytes / size).toFixed(2) + (r.complete < r.n ? ` (${r.n - r.complete} unfinished)` : ''), `${ms(median(r.firstByte))} / ${ms(max(r.firstByte))}`,
    `${ms(median(r.firstByteFromScript))} / ${ms(max(r.firstByteFromScript))}`, `${ms(median(r.firstMib))} / ${ms(max(r.firstMib))}`, ms(r.totalMs), r.cpu.toFixed(1), share(r), `${r.identical}/${r.n}`]
  for (const n of [...new Set(rs.map(r => r.n))]) {
    const group = rs.filter(r => r.n === n)
    for (const r of group) rows.push(fmt(r))
    const pc = group.find(r => r.tool === 'pc-fetch')
    const wt = group.find(r => r.tool === 'WebTorrent')
    if (pc && wt) {
      rows.push([String(n), '*pc-fetch ÷ WebTorrent*', ratio(pc.originBytes, wt.originBytes), `${ratio(median(pc.firstByte), median(wt.firstByte))} / ${ratio(max(pc.firstByte), max(wt.firstByte))}`,
        `${ratio(median(pc.firstByteFromScript), median(wt.firstByteFromScript))} / ${ratio(max(pc.firstByteFromScript), max(wt.firstByteFromScript))}`,
        `${ratio(median(pc.firstMib), median(wt.firstMib))} / ${ratio(max(pc.firstMib), max(wt.firstMib))}`, ratio(pc.totalMs, wt.totalMs), ratio(pc.cpu, wt.cpu), '', ''])
    }
  }
  return rows
}

function firstError (stderr: string): string {
  const lines = stderr.trim().split('\n').filter(l => l.trim() !== '')
  return (lines.find(l => /error|fail|refus|cannot/i.test(l)) ?? lines[lines.length - 1] ?? '').slice(0, 300)
}

async function sha256File (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const d of createReadStream(path)) h.update(d as Buffer)
  return h.digest('hex')
}

async function curlVsFetch (ctx: Ctx, rounds: number, size: number, out: string[]): Promise<void> {
  const name = 'throughput.bin'
  ctx.log(`generating ${mib(size)} for pc-fetch against curl`)
  const { sha256 } = await makeItem(join(ctx.work, 'www', name), size)
  const url = ctx.ngx.url + name
  const dest = join(ctx.work, 'out.bin')
  const fetchArgs = ['--raw', '--port', '0', '--host', '127.0.0.1', '--keep', '0', url]
  // each tool's command line, its stdout the output file. pc-fetch into a file uses the file
  // as its store (and verifier threads); into a pipe, the cache. curl | tee | b2sum: the
  // nearest plain-tools way to have the bytes and a hash of them
  const commands: Record<string, [string, string[]]> = {
    curl: ['curl', ['-sS', '--fail', url]],
    'curl | b2sum': ['bash', ['-c', 'set -o pipefail; exec 3>&1; curl -sS --fail "$0" | tee /dev/fd/3 | b2sum >&2', url]],
    'pc-fetch': [process.execPath, [PC_FETCH, ...fetchArgs]],
    'pc-fetch | cat': ['bash', ['-c', 'set -o pipefail; "$0" "$@" | cat', process.execPath, PC_FETCH, ...fetchArgs]],
  }
  const tools = Object.keys(commands)
  const runs: Record<string, number[]> = Object.fromEntries(tools.map(t => [t, []]))
  const rss: Record<string, number[]> = Object.fromEntries(tools.map(t => [t, []]))
  const notes: string[] = []
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? tools : [...tools].reverse()
    for (const tool of order) {
      // a fresh file each time: truncating the last tool's output would make ext4 flush it
      // when this one closes (auto_da_alloc), a cost that fell on whichever tool ran second
      await unlink(dest).catch(() => {})
      const fd = openSync(dest, 'w')
      const res = await timedRun(...commands[tool], fd)
      closeSync(fd)
      if (res.code !== 0) { notes.push(`${tool} round ${r + 1}: exit ${res.code}: ${firstError(res.stderr)}`); continue }
      if (r === 0 && await sha256File(dest) !== sha256) { notes.push(`${tool}: output differs from the item`); continue }
      runs[tool].push(size / MIB / (res.ms / 1000))
      if (res.peakRss && !tool.includes('|')) rss[tool].push(res.peakRss) // of bash, for a pipe
      ctx.log(`${tool} round ${r + 1}: ${(size / MIB / (res.ms / 1000)).toFixed(0)} MiB/s`)
    }
    await unlink(dest).catch(() => {})
  }
  await unlink(join(ctx.work, 'www', name)).catch(() => {})
  const c = median(runs.curl)
  const row = (label: string, tool: string, target: string): string[] => {
    const m = median(runs[tool])
    return [label, Number.isFinite(m) ? m.toFixed(0) : '–', runs[tool].map(x => x.toFixed(0)).join(', '), rss[tool].length ? mib(median(rss[tool])) : '–', tool === 'curl' ? '' : ratio(m, c) + target]
  }
  out.push(`### pc-fetch --raw against curl, origin alone (${mib(size)}, ${rounds} rounds alternating, each to a file)`, '',
    table(['tool', 'median MiB/s', 'rounds', 'peak RSS', 'pc-fetch ÷ curl'], [
      row('curl -o', 'curl', ''),
      row('curl \\| tee file \\| b2sum (the bytes and their BLAKE2b with plain tools)', 'curl | b2sum', ''),
      row('pc-fetch --raw > file (the file is the store; two verifier threads)', 'pc-fetch', ' (target ≥ 0.9)'),
      row('pc-fetch --raw \\| cat > file (through the cache; main thread)', 'pc-fetch | cat', ''),
    ]), ...notes.map(n => `- ${n}`), '')
}

async function memory (ctx: Ctx, size: number, out: string[]): Promise<void> {
  const name = 'huge.bin'
  const path = join(ctx.work, 'www', name)
  await writeFile(path, '')
  await truncate(path, size) // sparse: reads as zeros, costs no disk
  ctx.log(`hashing the ${mib(size)} sparse item`)
  const tree = await hashStream(createReadStream(path, { highWaterMark: 4 * MIB }))
  await writeFile(path + '.hashtree', formatTree(tree))
  const url = ctx.ngx.url + name
  const notes: string[] = []
  const m = new Measured(process.execPath, [PC_FETCH, '--raw', '--port', '0', '--host', '127.0.0.1', '--keep', '1m', url], size, {}, false)
  live.add(m)
  let timer: NodeJS.Timeout | undefined
  await Promise.race([m.done, new Promise(resolve => { timer = setTimeout(resolve, ctx.timeoutMs) })])
  clearTimeout(timer)
  m.sample()
  const pcPeak = m.peakRss
  const pcMs = m.doneMs ?? NaN
  if (m.bytes !== size) notes.push(`pc-fetch: ${m.bytes} of ${size} bytes: ${firstError(m.stderr)}`)
  await m.stop()
  live.delete(m)
  const curl = await timedRun('curl', ['-sS', '--fail', '-o', '/dev/null', url], 'ignore')
  if (curl.code !== 0) notes.push(`curl: exit ${curl.code}: ${curl.stderr.trim()}`)
  await unlink(path).catch(() => {})
  out.push(`### Peak memory on a ${mib(size)} item (VmHWM, sparse file, stdout read and discarded)`, '',
    table(['tool', 'peak RSS', 'wall time', 'pc-fetch ÷ curl'], [
      ['curl -o /dev/null', mib(curl.peakRss), ms(curl.ms), ''],
      ['pc-fetch --raw', mib(pcPeak) + ' (target ≤ 80 MB)', ms(pcMs), `${ratio(pcPeak, curl.peakRss)} memory, ${ratio(pcMs, curl.ms)} time`],
    ]), ...notes.map(n => `- ${n}`), '')
}

/**
 * Copy the built commands and libraries into `work`, so that a rebuild of dist/ during
 * a long run (other people work in this tree) cannot change or break the listeners
 * half-way. Dependencies still come from the tree's node_modules (a symlink).
 */
async function snapshotDist (work: string): Promise<string> {
  const snap = join(work, 'snap')
  await mkdir(join(snap, 'dist'), { recursive: true })
  await cp(join(ROOT, 'package.json'), join(snap, 'package.json'))
  await symlink(join(ROOT, 'node_modules'), join(snap, 'node_modules'))
  for (const d of ['bin', 'cmd', 'lib']) await cp(join(ROOT, 'dist', d), join(snap, 'dist', d), { recursive: true })
  for (const c of ['pc-fetch', 'pc-tracker']) {
    const file = join(snap, 'dist', 'bin', `${c}.js`)
    if (!existsSync(file)) continue
    const r = spawnSync(process.execPath, [file, '--version'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${c} from the snapshot of dist/ does not start (a build in progress? run again): ${r.stderr.trim().split('\n').slice(0, 5).join(' / ')}`)
  }
  PC_FETCH = join(snap, 'dist', 'bin', 'pc-fetch.js')
  PC_TRACKER = join(snap, 'dist', 'bin', 'pc-tracker.js')
  return snap
}

async function main (): Promise<void> {
  let opts
  try { opts = parseArgs(process.argv.slice(2), OPTIONS, INFO) } catch (e) {
    process.stderr.write(`swarm: ${(e as Error).message}\n${helpText('swarm.js', INFO, OPTIONS)}`)
    process.exitCode = 64
    return
  }
  if (opts.help) { process.stdout.write(helpText('swarm.js', INFO, OPTIONS)); return }
  const ns = String(opts.n).split(',').map(s => Number(s.trim()))
  const parts = new Set(String(opts.only).split(','))
  let size: number
  try {
    if (ns.some(n => !Number.isInteger(n) || n < 1 || n > 200)) throw new Error(`--n: not a list of counts 1..200: '${String(opts.n)}'`)
    const unknown = [...parts].filter(p => !['swarm', 'webtorrent', 'curl', 'memory'].includes(p))
    if (unknown.length) throw new Error(`--only: unknown part '${unknown[0]}' (swarm, webtorrent, curl, memory)`)
    if (!['pc', 'opentracker'].includes(String(opts.tracker))) throw new Error(`--tracker: pc or opentracker, not '${String(opts.tracker)}'`)
    size = opts.media === undefined ? sizeOption(opts, 'size') : statSync(String(opts.media)).size
    for (const k of ['throughputSize', 'big']) sizeOption(opts, k)
    for (const k of ['timeout', 'idle']) durationOption(opts, k)
    intOption(opts, 'rounds', 1, 100)
  } catch (e) {
    process.stderr.write(`swarm: ${(e as Error).message}\n`)
    process.exitCode = 64
    return
  }
  const verbose = !!opts.verbose
  const log = (s: string): void => { if (verbose) process.stderr.write(`swarm: ${s}\n`) }
  const work = await mkdtemp(join(tmpdir(), 'pc-bench-swarm-'))
  try { await snapshotDist(work) } catch (e) {
    await rm(work, { recursive: true, force: true })
    throw e
  }
  STARTED = join(work, 'started.cjs')
  await writeFile(STARTED, STARTED_SOURCE)
  const hasFetch = existsSync(PC_FETCH)
  const www = join(work, 'www')
  await mkdir(www)
  const out: string[] = []
  const started = new Date()
  let ngx: Nginx | undefined
  let tracker: { name: string, stop: () => Promise<void> } | undefined
  try {
    ngx = await startNginx({ root: www })
    const itemName = opts.media === undefined ? 'item.bin' : basename(String(opts.media))
    log(`generating ${mib(size)} item`)
    const made = await makeItem(join(www, itemName), size, opts.media === undefined ? undefined : await readFile(String(opts.media)))
    const item = { name: itemName, size, ...made, url: ngx.url + itemName }
    const trackerPort = await freePort()
    const trackerUrl = `http://127.0.0.1:${trackerPort}/announce`
    const hashes = [infoHash(Buffer.from(item.root, 'hex')).toString('hex')]
    const torrent = join(work, 'item.torrent')
    if (parts.has('webtorrent')) {
      ensureWebTorrent(log)
      const r = spawnSync(process.execPath, [WT_RUN, 'create', join(www, itemName), trackerUrl, item.url, String(CHUNK_BYTES), torrent], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`webtorrent create: ${r.stderr}`)
      hashes.push(r.stdout.trim())
    }
    tracker = await startTracker(String(opts.tracker), work, trackerPort, hashes, log)
    const ctx: Ctx = { work, ngx, trackerUrl, trackerName: tracker.name, item, torrent, timeoutMs: durationOption(opts, 'timeout'), idleMs: durationOption(opts, 'idle'), joiners: intOption(opts, 'joiners', 0, 100), verbose, log }

    const load0 = loadavg()[0]
    const nodeStart: number[] = []
    for (let i = 0; i < 5; i++) nodeStart.push((await timedRun(process.execPath, ['-e', '0'], 'ignore')).ms)
    const cmdline = 'node dist/bench/swarm.js ' + process.argv.slice(2).join(' ')
    out.push(`\`${cmdline.trim()}\``, '',
      `Run ${formatTime(started.getTime())} on ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, ${nginxVersion()} origin on 127.0.0.1, ${tracker.name} as the tracker of both swarms. ` +
      `Item: ${mib(size)} of ${opts.media === undefined ? 'random bytes' : `media (${itemName})`}; pc chunk and WebTorrent piece both ${CHUNK_BYTES / 1024} KiB; WebTorrent ${wtVersion()} as a library with the origin as its web seed (BEP 19), TCP peers only. ` +
      'Every listener is its own process, all started together; each stays and serves the others until the run ends. Times are from each listener\'s spawn unless a column says otherwise; CPU is utime+stime of all listeners from /proc; plain HTTP would make the origin send N × the item. ' +
      `For scale, a bare \`node -e 0\` takes ${ms(median(nodeStart))} to start and exit here. Load average at the start: ${load0.toFixed(1)} (other work on the machine skews every figure; the ratios less than the times).`, '')

    const results: SwarmResult[] = []
    const notes: string[] = []
    if (parts.has('swarm') && !hasFetch) notes.push('pc-fetch: not run — dist/bin/pc-fetch.js is not built yet')
    const floor: string[][] = []
    for (const n of ns) {
      if (parts.has('swarm') || parts.has('webtorrent')) {
        const exits = await Promise.all(Array.from({ length: n }, async () => (await timedRun(process.execPath, ['-e', '0'], 'ignore')).ms))
        floor.push([String(n), `${ms(median(exits))} / ${ms(max(exits))}`])
      }
      const tools = [...(parts.has('swarm') && hasFetch ? ['pc-fetch'] : []), ...(parts.has('webtorrent') ? ['WebTorrent'] : [])]
      if (opts.scheduled && hasFetch && n === Math.max(...ns)) tools.push('pc-fetch records')
      for (const tool of tools) {
        log(`${tool}, ${n} listeners`)
        const r = await runSwarm(ctx, tool, n, n === 1)
        results.push(r)
        log(`${tool} ×${n}: origin ${(r.originBytes / size).toFixed(2)}×, first byte ${ms(median(r.firstByte))}, total ${ms(r.totalMs)}, ${r.identical}/${n} identical`)
        for (const f of r.failures) notes.push(`${tool} ×${n}: ${f}`)
      }
    }
    if (results.length) {
      out.push('### N listeners on one item, started together', '',
        table(['N', 'tool', 'origin ÷ size', 'first byte median / max', 'first byte from script start median / max', 'first MiB median / max', 'all done', 'CPU s', 'from peers (own count)', 'identical'], swarmRows(results, size)), '',
        'Targets: origin ÷ size ≤ 1.1 at N = 20; first in-order byte ≤ 250 ms (from spawn, the first byte column). ' +
        '*First byte from script start*: the same first byte, timed instead from the moment node had booted and began loading the listener\'s own code (a two-line `--require` preload notes it in every listener of both tools, at a cost of ~3 ms of CPU each); it leaves out node\'s own start-up under N-way contention, which the floor table below shows alone, but not the loading of the listener\'s modules. *pc-fetch records*: the same, fed a schedule record on stdin (item on air now, 10 min long) instead of a URL.', '',
        'The floor under every first-byte time above: N bare `node -e 0` started together on this machine, time to exit.', '',
        table(['N', 'node -e 0 ×N: exit median / max'], floor), '')
      const joined = results.filter(r => r.join.firstByte.length > 0)
      if (joined.length) {
        out.push(`### Tuning in: ${ctx.joiners} more listeners join one after another, once the N hold the item`, '',
          'Each joiner is spawned when the one before it has the whole item, with the N (and the joiners before it) still running: a listener tuning in to a station already on air. Origin bytes are what the origin sent for all the joiners together.', '',
          table(['N', 'tool', 'first byte median / max', 'first byte from script start median / max', 'whole item median', 'origin bytes for the joiners', 'identical'],
            joined.map(r => [String(r.n), r.tool, `${ms(median(r.join.firstByte))} / ${ms(max(r.join.firstByte))}`, `${ms(median(r.join.firstByteFromScript))} / ${ms(max(r.join.firstByteFromScript))}`,
              ms(median(r.join.doneMs)), `${(r.join.originBytes / size).toFixed(2)} × the item`, `${r.join.identical}/${r.join.firstByte.length}`])), '')
      }
      const idle = results.filter(r => r.idleCpu !== undefined)
      if (idle.length) {
        out.push('### Idle CPU: one listener holding the complete item, nobody asking', '',
          table(['tool', `CPU seconds, first ${ms(ctx.idleMs)} after the item was complete`, `CPU seconds, the ${ms(ctx.idleMs)} after those`], idle.map(r => [r.tool, r.idleCpu![0].toFixed(2), r.idleCpu![1].toFixed(2)])), '')
      }
    }
    if (notes.length) out.push(...notes.map(n => `- ${n}`), '')
    if (parts.has('curl')) {
      if (hasFetch) await curlVsFetch(ctx, intOption(opts, 'rounds', 1, 100), sizeOption(opts, 'throughputSize'), out)
      else out.push('- pc-fetch against curl: not run — dist/bin/pc-fetch.js is not built yet', '')
    }
    if (parts.has('memory')) {
      if (hasFetch) await memory(ctx, sizeOption(opts, 'big'), out)
      else out.push('- peak memory: not run — dist/bin/pc-fetch.js is not built yet', '')
    }
  } finally {
    for (const m of live) m.child.kill('SIGKILL')
    await tracker?.stop()
    await ngx?.stop()
    await rm(work, { recursive: true, force: true })
  }
  const text = out.join('\n')
  process.stdout.write(text + '\n')
  if (opts.write) {
    await writeSection(join(ROOT, 'BENCHMARKS.md'), 'swarm', text)
    process.stderr.write('swarm: wrote BENCHMARKS.md (## swarm)\n')
  }
}

function nginxVersion (): string {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  return (r.stderr.match(/nginx\/[\d.]+/) ?? ['nginx'])[0]
}

function wtVersion (): string {
  try { return spawnSync(process.execPath, ['-p', 'require("./node_modules/webtorrent/package.json").version'], { cwd: WT_DIR, encoding: 'utf8' }).stdout.trim() } catch { return '?' }
}

main().catch((e: Error) => { process.stderr.write(`swarm: ${e.stack ?? e.message}\n`); process.exitCode = 70 })
