// Benchmark: pc-hash against b2sum (GNU coreutils) on the same file in the same run,
// rounds interleaved so both see the same machine load; then pc-hash over chunk sizes.
// Prints medians and ratios. The file is made once in /tmp and reused (page cache warm).
//
//   node dist/bench/hash.js [--size 1G] [--rounds 7] [--sweep-size 256M] [--no-sweep]
import { spawn } from 'node:child_process'
import { open, stat } from 'node:fs/promises'
import { randomFillSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { availableParallelism } from 'node:os'
import { parseSize, formatSize } from '../lib/units.js'

const PC_HASH = join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd', 'pc-hash.js')

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '1G' },
    rounds: { type: 'string', default: '7' },
    'sweep-size': { type: 'string', default: '256M' },
    'no-sweep': { type: 'boolean', default: false },
    'sweep-rounds': { type: 'string', default: '5' },
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

/** Wall-clock seconds of one run; throws unless it exits 0. */
function timeRun (cmd: string, argv: string[]): Promise<{ seconds: number, out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d: Buffer) => { if (out.length < 200) out += d.toString() })
    c.on('error', reject)
    c.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      if (code === 0) resolve({ seconds, out }); else reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}`))
    })
  })
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const mibs = (bytes: number, s: number): string => (bytes / 1048576 / s).toFixed(0).padStart(6)

async function compare (): Promise<void> {
  const bytes = parseSize(args.size)
  const rounds = Number(args.rounds)
  const file = await ensureFile(bytes)
  console.log(`# pc-hash vs b2sum: ${formatSize(bytes)} file ${file}, ${rounds} rounds interleaved, ${availableParallelism()} cores`)
  await timeRun('b2sum', [file]) // warm the page cache
  const runs: Record<string, { cmd: string, argv: string[], t: number[] }> = {
    b2sum: { cmd: 'b2sum', argv: [file], t: [] },
    'pc-hash (auto: workers)': { cmd: process.execPath, argv: [PC_HASH, '--root', file], t: [] },
    'pc-hash -j0 (main thread)': { cmd: process.execPath, argv: [PC_HASH, '--root', '-j', '0', file], t: [] },
    'pc-hash - (stdin pipe)': { cmd: 'sh', argv: ['-c', `cat "$1" | "$2" "$3" --root -`, 'sh', file, process.execPath, PC_HASH], t: [] },
  }
  const names = Object.keys(runs)
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...names].reverse() : names
    for (const n of order) runs[n].t.push((await timeRun(runs[n].cmd, runs[n].argv)).seconds)
  }
  const base = median(runs.b2sum.t)
  console.log('| tool | median s | MiB/s | throughput vs b2sum |')
  console.log('|---|---|---|---|')
  for (const n of names) {
    const m = median(runs[n].t)
    console.log(`| ${n} | ${m.toFixed(3)} | ${mibs(bytes, m).trim()} | ${(base / m).toFixed(2)}x |`)
  }
}

async function sweep (): Promise<void> {
  const bytes = parseSize(args['sweep-size'])
  const rounds = Number(args['sweep-rounds'])
  const file = await ensureFile(bytes)
  const sizes = ['4k', '16k', '32k', '64k', '128k', '256k', '512k', '1M']
  console.log(`\n# chunk sizes: ${formatSize(bytes)} file, ${rounds} rounds interleaved; throughput relative to b2sum in the same rounds`)
  const t: Record<string, number[]> = { b2sum: [] }
  for (const s of sizes) { t[`${s} j0`] = []; t[`${s} auto`] = [] }
  for (let r = 0; r < rounds; r++) {
    t.b2sum.push((await timeRun('b2sum', [file])).seconds)
    for (const s of sizes) {
      t[`${s} j0`].push((await timeRun(process.execPath, [PC_HASH, '--root', '-j', '0', '-c', s, file])).seconds)
      t[`${s} auto`].push((await timeRun(process.execPath, [PC_HASH, '--root', '-j', String(availableParallelism()), '-c', s, file])).seconds)
    }
  }
  const base = median(t.b2sum)
  // What a chunk means for the swarm: one request per chunk; a 128 kbit/s MP3 is 16,000 B/s.
  console.log('| chunk | main thread MiB/s (vs b2sum) | all cores MiB/s (vs b2sum) | s of 128k audio per chunk | requests per hour of 128k audio | tree bytes per hour of 128k audio |')
  console.log('|---|---|---|---|---|---|')
  for (const s of sizes) {
    const cs = parseSize(s)
    const j0 = median(t[`${s} j0`]); const all = median(t[`${s} auto`])
    const perHour = Math.ceil(16000 * 3600 / cs)
    console.log(`| ${s} | ${mibs(bytes, j0).trim()} (${(base / j0).toFixed(2)}x) | ${mibs(bytes, all).trim()} (${(base / all).toFixed(2)}x) | ${(cs / 16000).toFixed(1)} | ${perHour} | ${perHour * 65 + 140} |`)
  }
  console.log(`| b2sum | ${mibs(bytes, base).trim()} | | | | |`)
}

await compare()
if (!args['no-sweep']) await sweep()
