// Benchmark: pc-tracker against Debian's opentracker in the same run, driven by the same
// load generator (lib/tracker-client.ts, as pc-fetch announces): announces per second
// with C concurrent clients, rounds interleaved; then the resident memory each tracker
// holds for a filled set of swarms, and CPU seconds per 10,000 announces.
//
//   node dist/bench/tracker.js [--swarms 20] [--peers 1000] [--requests 4000]
//        [--concurrency 16] [--rounds 5] [--write]
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { announce } from '../lib/tracker/client.js'
import { Swarms } from '../lib/tracker/swarms.js'
import { median, cpuSeconds } from './proc.js'
import { table, writeSection } from './report.js'
import { freePort } from '../scripts/free-port.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const PC_TRACKER = join(HERE, '..', 'bin', 'pc-tracker.js')

const { values: args } = parseArgs({
  options: {
    swarms: { type: 'string', default: '20' },
    peers: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    write: { type: 'boolean', default: false },
  },
})
const SWARMS = Number(args.swarms)
const PEERS = Number(args.peers)
const REQUESTS = Number(args.requests)
const CONCURRENCY = Number(args.concurrency)
const ROUNDS = Number(args.rounds)

function rssBytes (pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

interface Tracker { name: string, url: string, proc: ChildProcess }

async function waitUp (t: Tracker, ih: Buffer): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try { await announce({ announceUrl: t.url, infoHash: ih, peerId: randomBytes(20), port: 1, uploaded: 0, downloaded: 0, left: 0, event: 'stopped' }); return } catch { await new Promise(resolve => setTimeout(resolve, 100)) }
  }
  throw new Error(`${t.name} did not come up`)
}

/** Fire `n` announces from `CONCURRENCY` clients; peers are (swarm, peer index) pairs, so the same peers re-announce. */
async function load (t: Tracker, hashes: Buffer[], ids: Buffer[], n: number, offset: number): Promise<number> {
  let next = 0
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = offset + next++
      const s = i % hashes.length
      const p = Math.floor(i / hashes.length) % ids.length
      await announce({ announceUrl: t.url, infoHash: hashes[s], peerId: ids[p], port: 10000 + p, uploaded: i, downloaded: i, left: p % 4 === 0 ? 0 : 1000, numwant: 50 })
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return n / ((performance.now() - t0) / 1000)
}

/** Heap bytes a listed peer costs pc-tracker, measured in this process after full GCs. */
function heapPerPeer (n: number): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const s = new Swarms({ intervalS: 60, maxSwarms: 1000, maxPeers: n })
  const hashes = Array.from({ length: 20 }, () => randomBytes(20))
  gc()
  const h0 = process.memoryUsage()
  for (let i = 0; i < n; i++) {
    s.announce({ infoHash: hashes[i % 20], peerId: randomBytes(20), ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000), uploaded: 0, downloaded: 0, left: i % 3, event: 'started', numwant: 0, compact: true, noPeerId: false })
  }
  gc()
  const h1 = process.memoryUsage()
  if (s.peerCount !== n) throw new Error(`expected ${n} peers, have ${s.peerCount}`)
  return (h1.heapUsed - h0.heapUsed + h1.external - h0.external) / n
}

async function main (): Promise<void> {
  const heapPeer = heapPerPeer(100_000)
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-tracker-'))
  const hashes = Array.from({ length: SWARMS }, () => randomBytes(20))
  const ids = Array.from({ length: PEERS }, () => randomBytes(20))
  const list = join(dir, 'hashes')
  await writeFile(list, hashes.map(h => h.toString('hex') + '\n').join(''))
  const pcPort = await freePort()
  const otPort = await freePort()
  const trackers: Tracker[] = [
    { name: 'pc-tracker', url: `http://127.0.0.1:${pcPort}/announce`, proc: spawn(process.execPath, [PC_TRACKER, '-q', '--max-peers', String(PEERS), `127.0.0.1:${pcPort}`], { stdio: ['ignore', 'ignore', 'inherit'] }) },
    { name: 'opentracker', url: `http://127.0.0.1:${otPort}/announce`, proc: spawn('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(otPort), list], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, TMPDIR: dir } }) },
  ]
  try {
    for (const t of trackers) await waitUp(t, hashes[0])
    const idle = trackers.map(t => rssBytes(t.proc.pid as number))
    // Fill: every (swarm, peer) pair announces once, so both hold SWARMS × PEERS peers.
    const fillN = SWARMS * PEERS
    const cpu0 = trackers.map(t => cpuSeconds(t.proc.pid as number) ?? NaN)
    const fillRate: number[] = []
    for (const t of trackers) fillRate.push(await load(t, hashes, ids, fillN, 0))
    const cpu1 = trackers.map(t => cpuSeconds(t.proc.pid as number) ?? NaN)
    const full = trackers.map(t => rssBytes(t.proc.pid as number))
    const rates: number[][] = trackers.map(() => [])
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < trackers.length; k++) {
        const t = trackers[(k + r) % trackers.length] // alternate who goes first
        rates[trackers.indexOf(t)].push(await load(t, hashes, ids, REQUESTS, r * REQUESTS))
      }
    }
    const med = rates.map(median)
    const mib = (b: number): string => (b / 1048576).toFixed(1)
    const rows = trackers.map((t, i) => [
      t.name, med[i].toFixed(0), (med[i] / med[1]).toFixed(2),
      fillRate[i].toFixed(0), mib(idle[i]), mib(full[i]), ((full[i] - idle[i]) / fillN).toFixed(0),
      ((cpu1[i] - cpu0[i]) / fillN * 10000).toFixed(2),
    ])
    const head = ['tracker', 'announces/s (median)', 'ratio to opentracker', 'announces/s (fill)', 'RSS idle MiB', `RSS with ${fillN} peers MiB`, 'bytes/peer', 'CPU s per 10k announces']
    const out = `${SWARMS} swarms × ${PEERS} peers, ${CONCURRENCY} concurrent clients (one connection per announce, numwant 50, compact), ${ROUNDS} rounds of ${REQUESTS} announces each, interleaved.\n` +
      'The load generator is one Node process using lib/tracker-client.ts (what pc-fetch uses), so the rates are bounded by it as much as by the trackers; the ratio is the figure to read.\n\n' +
      table(head, rows) + '\n\n' +
      `pc-tracker CPU per announce: ${((cpu1[0] - cpu0[0]) / fillN * 1e6).toFixed(0)} µs, so one core serves about ${(fillN / (cpu1[0] - cpu0[0])).toFixed(0)} announces/s; 3,000 listeners at the default 60 s interval send 50 a second (${(50 * (cpu1[0] - cpu0[0]) / fillN * 100).toFixed(1)} % of a core). The RSS column includes garbage the collector has not returned; the heap figure below is what a peer costs.\n` +
      `pc-tracker heap per listed peer (100,000 peers in 20 swarms, measured in-process after GC): ${heapPeer.toFixed(0)} bytes.\n` +
      `per-round announces/s: ${trackers.map((t, i) => `${t.name} ${rates[i].map(x => x.toFixed(0)).join(' ')}`).join('; ')}\n`
    process.stdout.write(out)
    if (args.write) await writeSection(join(ROOT, 'BENCHMARKS.md'), 'tracker', `Command: \`node dist/bench/tracker.js --write\` (${new Date().toISOString().slice(0, 10)}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]} at the end).\n\n` + out)
  } finally {
    for (const t of trackers) t.proc.kill('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((e: unknown) => { process.stderr.write(`bench/tracker: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1 })
