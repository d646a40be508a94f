// Benchmark: pc-hash against b2sum (GNU coreutils) on the same file in the same run,
// rounds interleaved so both see the same machine load; then the input size from which
// worker threads pay (PARALLEL_MIN_BYTES); then pc-hash over chunk sizes.
// Before those, one thread's BLAKE2b in memory: hash-wasm's (the trees'), libsodium's and OpenSSL's.
// After the comparison, the ceiling of any Node command here: a bare node's start, then the
// file hashed on two cores at one thread's rate, to set beside the ratio measured.
// Prints medians and ratios. The file is made once in /tmp and reused (page cache warm).
//
//   node dist/bench/hash.js [--size 1G] [--rounds 7] [--sweep-size 256M] [--no-compare] [--no-crossover] [--no-sweep] [--baseline DIR]
// --baseline DIR adds DIR/dist/bin/pc-hash.js (another build, e.g. a checkout of an older commit) to the comparison's rounds.
import { open, stat } from 'node:fs/promises'
import { openSync, closeSync } from 'node:fs'
import { createHash, randomFillSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { availableParallelism, loadavg } from 'node:os'
import { parseSize, formatSize } from '../lib/core/units.js'
import { hashLeaves, READ_BYTES, STRIPE_BYTES } from '../lib/hashing/hash-parallel.js'
import { hashRangeSync } from '../lib/hashing/leaves.js'
import { CHUNK_BYTES, HASH_BYTES, leafHashInto } from '../lib/hashing/hashtree.js'
import { sodium } from '../lib/hashing/sodium.js'
import { median, timed } from './proc.js'

const PC_HASH = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'pc-hash.js')

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    rounds: { type: 'string', default: '7' },
    'sweep-size': { type: 'string', default: '256M' },
    'no-sweep': { type: 'boolean', default: false },
    'no-crossover': { type: 'boolean', default: false },
    'no-compare': { type: 'boolean', default: false },
    'sweep-rounds': { type: 'string', default: '5' },
    baseline: { type: 'string' },
  },
})

async function ensureFile (bytes: number): Promise<string> {
  const path = `/tmp/pc-bench-hash-${formatSize(bytes)}.bin`
  try { if ((await stat(path)).size === bytes) return path } catch { /* make it */ }
  const fh = await open(path, 'w')
  const block = Buffer.allocUnsafe(64 << 20)
  for (let pos = 0; pos < bytes; pos += block.length) {
    randomFillSync(block)
    await fh.write(block, 0, Math.min(block.length, bytes - pos), pos)
  }
  await fh.close()
  return path
}

interface Timing { seconds: number, cpu: number, rssKiB: number }

/** One run to exit: wall and CPU (user + system) seconds, peak RSS; throws unless it exits 0. */
async function timeRun (cmd: string, argv: string[]): Promise<Timing> {
  const t = await timed(cmd, argv)
  return { seconds: t.wallMs / 1000, cpu: t.cpuMs / 1000, rssKiB: t.rssBytes / 1024 }
}

const mibs = (bytes: number, s: number): string => (bytes / 1048576 / s).toFixed(0).padStart(6)

async function compare (leafRate: number): Promise<void> {
  const bytes = parseSize(args.size)
  const rounds = Number(args.rounds)
  const file = await ensureFile(bytes)
  await timeRun('b2sum', [file]) // warm the page cache
  readThenHash(file, bytes, rounds)
  console.log(`\n# pc-hash vs b2sum: ${formatSize(bytes)} file ${file}, ${rounds} rounds interleaved, ${availableParallelism()} cores`)
  const runs: Record<string, { cmd: string, argv: string[], t: Timing[] }> = {
    b2sum: { cmd: 'b2sum', argv: [file], t: [] },
    'pc-hash (auto: workers)': { cmd: process.execPath, argv: [PC_HASH, '--root', file], t: [] },
    'pc-hash -j0 (main thread)': { cmd: process.execPath, argv: [PC_HASH, '--root', '-j', '0', file], t: [] },
    'pc-hash - < FILE (file on stdin)': { cmd: 'sh', argv: ['-c', '"$1" "$2" --root - < "$3"', 'sh', process.execPath, PC_HASH, file], t: [] },
    'cat | b2sum (pipe)': { cmd: 'sh', argv: ['-c', 'cat "$1" | b2sum', 'sh', file], t: [] },
    'cat | pc-hash - (pipe)': { cmd: 'sh', argv: ['-c', 'cat "$1" | "$2" "$3" --root -', 'sh', file, process.execPath, PC_HASH], t: [] },
    "node -e '' (a bare Node's start and exit)": { cmd: process.execPath, argv: ['-e', ''], t: [] },
  }
  if (args.baseline !== undefined) {
    const other = join(args.baseline, 'dist', 'bin', 'pc-hash.js')
    runs['baseline pc-hash (auto)'] = { cmd: process.execPath, argv: [other, '--root', file], t: [] }
    runs['baseline pc-hash -j0'] = { cmd: process.execPath, argv: [other, '--root', '-j', '0', file], t: [] }
    runs['baseline cat | pc-hash -'] = { cmd: 'sh', argv: ['-c', 'cat "$1" | "$2" "$3" --root -', 'sh', file, process.execPath, other], t: [] }
  }
  const names = Object.keys(runs)
  const load0 = loadavg()[0]
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names
    for (const n of order) runs[n].t.push(await timeRun(runs[n].cmd, runs[n].argv))
  }
  const base = median(runs.b2sum.t.map(x => x.seconds))
  const baseCpu = median(runs.b2sum.t.map(x => x.cpu))
  console.log(`load average (1 min) ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`)
  console.log('| tool | median wall s | MiB/s | throughput vs b2sum | median CPU s (user+sys) | CPU vs b2sum | peak RSS MiB |')
  console.log('|---|---|---|---|---|---|---|')
  for (const n of names) {
    const m = median(runs[n].t.map(x => x.seconds))
    const c = median(runs[n].t.map(x => x.cpu))
    console.log(`| ${n} | ${m.toFixed(3)} | ${mibs(bytes, m).trim()} | ${(base / m).toFixed(2)}x | ${c.toFixed(2)} | ${(c / baseCpu).toFixed(2)}x | ${(median(runs[n].t.map(x => x.rssKiB)) / 1024).toFixed(0)} |`)
  }
  // What no Node command could beat on this machine: a bare Node's start and exit, then
  // the file split evenly over the cores from the first moment, each hashing at one
  // thread's rate, with no read, no worker start, no tree to finish. In CPU seconds (a
  // single thread's wall time on an idle machine), so that other processes' load, which
  // stretches every wall time here, does not enter it.
  const bare = median(runs["node -e '' (a bare Node's start and exit)"].t.map(x => x.cpu))
  const cores = Math.min(2, availableParallelism())
  const mib = bytes / 1048576
  const ceiling = (rate: number): string => { const s = bare + mib / (cores * rate); return `${s.toFixed(3)} s, ${(baseCpu / s).toFixed(2)}x b2sum's ${baseCpu.toFixed(2)} CPU s` }
  console.log(`\nthe ceiling of a Node command on ${cores} cores: a bare Node's start and exit (${bare.toFixed(3)} CPU s), then ${formatSize(bytes)} split over the cores from its first moment and nothing else:`)
  console.log(`- at one thread's rate of hash-wasm above (${leafRate.toFixed(0)} MiB per CPU s): ${ceiling(leafRate)}`)
  console.log(`- at b2sum's own bytes per CPU s here, reads included (${(mib / baseCpu).toFixed(0)}): ${ceiling(mib / baseCpu)}`)
}

async function sweep (): Promise<void> {
  const bytes = parseSize(args['sweep-size'])
  const rounds = Number(args['sweep-rounds'])
  const file = await ensureFile(bytes)
  const sizes = ['4k', '16k', '32k', '64k', '128k', '256k', '512k', '1M']
  const workers = String(Math.max(1, availableParallelism() - 1))
  console.log(`\n# chunk sizes: ${formatSize(bytes)} file, ${rounds} rounds interleaved; b2sum in the same rounds`)
  const t: Record<string, Timing[]> = { b2sum: [] }
  for (const s of sizes) { t[`${s} j0`] = []; t[`${s} all`] = [] }
  const load0 = loadavg()[0]
  for (let r = 0; r < rounds; r++) {
    t.b2sum.push(await timeRun('b2sum', [file]))
    for (const s of sizes) {
      t[`${s} j0`].push(await timeRun(process.execPath, [PC_HASH, '--root', '-j', '0', '-c', s, file]))
      t[`${s} all`].push(await timeRun(process.execPath, [PC_HASH, '--root', '-j', workers, '-c', s, file]))
    }
  }
  // The same sizes in this process, on a buffer in memory: leaf hashing alone, in
  // CPU seconds (process.cpuUsage), so neither start-up nor other load blurs it.
  const mem = Buffer.alloc(64 << 20, 0x5a)
  const leafRate: Record<string, number> = {}
  for (const s of sizes) {
    const per: number[] = []
    for (let r = 0; r < rounds; r++) {
      const c0 = process.cpuUsage()
      hashLeaves(mem, parseSize(s))
      const c = process.cpuUsage(c0)
      per.push(mem.length / 1048576 / ((c.user + c.system) / 1e6))
    }
    leafRate[s] = median(per)
  }
  const wall = (k: string): number => median(t[k].map(x => x.seconds))
  const cpu = (k: string): number => median(t[k].map(x => x.cpu))
  console.log(`load average (1 min) ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`)
  // What a chunk means for the swarm: one request per chunk; a 128 kbit/s MP3 is 16,000 B/s.
  console.log(`| chunk | main thread: MiB/s wall (vs b2sum) | MiB per CPU s (vs b2sum) | main + ${workers} worker(s): MiB/s wall (vs b2sum) | leaf hashing in memory, MiB per CPU s | s of 128k audio per chunk | requests per hour of 128k audio | tree bytes per hour |`)
  console.log('|---|---|---|---|---|---|---|---|')
  for (const s of sizes) {
    const cs = parseSize(s)
    const perHour = Math.ceil(16000 * 3600 / cs)
    console.log(`| ${s} | ${mibs(bytes, wall(`${s} j0`)).trim()} (${(wall('b2sum') / wall(`${s} j0`)).toFixed(2)}x) | ${mibs(bytes, cpu(`${s} j0`)).trim()} (${(cpu('b2sum') / cpu(`${s} j0`)).toFixed(2)}x) | ${mibs(bytes, wall(`${s} all`)).trim()} (${(wall('b2sum') / wall(`${s} all`)).toFixed(2)}x) | ${leafRate[s].toFixed(0)} | ${(cs / 16000).toFixed(1)} | ${perHour} | ${perHour * 65 + 140} |`)
  }
  console.log(`| b2sum | ${mibs(bytes, wall('b2sum')).trim()} | ${mibs(bytes, cpu('b2sum')).trim()} | | | | | |`)
}

/**
 * Reading a file and hashing it in this process, one thread, in MiB per CPU second: read
 * READ_BYTES at a time (what pc-hash does) against a whole stripe per read (what it did).
 */
function readThenHash (file: string, bytes: number, rounds: number): void {
  const fd = openSync(file, 'r')
  const span = Math.min(bytes, 256 << 20)
  const rate: Record<number, number[]> = {}
  for (let r = 0; r < rounds; r++) {
    for (const size of [READ_BYTES, STRIPE_BYTES]) {
      const buf = Buffer.allocUnsafe(size)
      const c0 = process.cpuUsage()
      for (let pos = 0; pos < span; pos += STRIPE_BYTES) hashRangeSync(fd, pos, Math.min(span, pos + STRIPE_BYTES), CHUNK_BYTES, buf)
      const c = process.cpuUsage(c0)
      ;(rate[size] ??= []).push(span / 1048576 / ((c.user + c.system) / 1e6))
    }
  }
  closeSync(fd)
  console.log(`\n# read and hash ${formatSize(span)} of the file in this process, one thread, ${rounds} rounds interleaved (median MiB per CPU s)`)
  console.log('| bytes per read | MiB per CPU s |')
  console.log('|---|---|')
  for (const size of [READ_BYTES, STRIPE_BYTES]) console.log(`| ${formatSize(size)}${size === READ_BYTES ? ' (READ_BYTES)' : ' (a whole stripe)'} | ${median(rate[size]).toFixed(0)} |`)
}

/** Main thread alone against main thread plus workers, over input sizes. */
async function crossover (): Promise<void> {
  const rounds = Number(args['sweep-rounds'])
  const workers = String(Math.max(1, availableParallelism() - 1))
  const sizes = ['32M', '64M', '128M', '256M', '512M', '1G']
  console.log(`\n# when workers pay: -j0 against -j${workers} (main thread + ${workers}), ${rounds} rounds interleaved`)
  const load0 = loadavg()[0]
  const rows: string[] = []
  for (const s of sizes) {
    const file = await ensureFile(parseSize(s))
    const j0: number[] = []; const jn: number[] = []
    for (let r = 0; r < rounds; r++) {
      const a = (): Promise<Timing> => timeRun(process.execPath, [PC_HASH, '--root', '-j', '0', file])
      const b = (): Promise<Timing> => timeRun(process.execPath, [PC_HASH, '--root', '-j', workers, file])
      if (r % 2) { j0.push((await a()).seconds); jn.push((await b()).seconds) } else { jn.push((await b()).seconds); j0.push((await a()).seconds) }
    }
    rows.push(`| ${s} | ${(median(j0) * 1000).toFixed(0)} | ${(median(jn) * 1000).toFixed(0)} | ${(median(j0) / median(jn)).toFixed(2)}x |`)
  }
  console.log(`load average (1 min) ${load0.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`)
  console.log(`| input | -j0 median ms | -j${workers} median ms | speed-up |`)
  console.log('|---|---|---|---|')
  for (const r of rows) console.log(r)
}

/**
 * One thread's BLAKE2b over 128 KiB chunks in this process, in MiB per CPU second
 * (process.cpuUsage: the load of other processes blurs it little), implementations
 * interleaved: the trees' (hash-wasm, BLAKE2b-256 leaves as the tree hashes them),
 * libsodium's crypto_generichash (BLAKE2b-256, the one pc used before), and OpenSSL's
 * BLAKE2b-512 through node:crypto (the only length it offers, so not usable for trees).
 */
/** Prints the table; returns the trees' rate (hash-wasm), MiB per CPU s. */
function perThread (): number {
  const rounds = Number(args.rounds)
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a)
  const pre = Buffer.alloc(5)
  const out = Buffer.alloc(HASH_BYTES)
  const ways: Record<string, () => void> = {
    'BLAKE2b-256, hash-wasm (the trees)': () => { leafHashInto(out, chunk) },
    'BLAKE2b-256, libsodium crypto_generichash': () => { sodium.crypto_generichash_batch(out, [pre, chunk]) },
    'BLAKE2b-512, OpenSSL (node:crypto)': () => { createHash('blake2b512').update(chunk).digest() },
  }
  const rate: Record<string, number[]> = {}
  const n = 512 // 64 MiB a round
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of Object.entries(ways)) {
      const c0 = process.cpuUsage()
      for (let i = 0; i < n; i++) f()
      const c = process.cpuUsage(c0)
      ;(rate[name] ??= []).push(n * CHUNK_BYTES / 1048576 / ((c.user + c.system) / 1e6))
    }
  }
  console.log(`\n# one thread, 128 KiB chunks in memory, ${rounds} rounds of 64 MiB interleaved (median MiB per CPU s)`)
  console.log('| implementation | MiB per CPU s |')
  console.log('|---|---|')
  for (const name of Object.keys(ways)) console.log(`| ${name} | ${median(rate[name]).toFixed(0)} |`)
  return median(rate['BLAKE2b-256, hash-wasm (the trees)'])
}

if (!args['no-compare']) await compare(perThread())
if (!args['no-crossover']) await crossover()
if (!args['no-sweep']) await sweep()
