// Benchmark: pc-reorder against cat(1) on the same bytes in the same run, rounds
// interleaved. cat of the plain file is the ceiling (a pipe, no framing); pc-reorder
// reads a frame stream of the file in order, then shuffled as a swarm delivers
// (each chunk at most --span chunks from its place). Prints medians and ratios, peak
// memory, and the CPU an idle pc-reorder uses while it waits on a deadline.
//
//   node dist/bench/reorder.js [--size 256M] [--chunk 128k] [--span 16] [--rounds 5] [--write]
import { open, stat, writeFile } from 'node:fs/promises'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadavg, availableParallelism } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseSize, formatSize } from '../lib/core/units.js'
import { encodeFrame, encodeMagic, type Frame } from '../lib/frames/frame.js'
import { Measured, median, max, cpuSeconds, MIB } from './proc.js'
import { table, ratio, ms, mib, writeSection } from './report.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PC_REORDER = join(HERE, '..', 'bin', 'pc-reorder.js')
const ROOT = join(HERE, '..', '..')

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '256M' },
    chunk: { type: 'string', default: '128k' },
    span: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    write: { type: 'boolean', default: false },
  },
})
const SIZE = parseSize(args.size)
const CHUNK = parseSize(args.chunk)
const SPAN = Number(args.span)
const ROUNDS = Number(args.rounds)

function shuffleNear (n: number, span: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  let x = 12345
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    const j = Math.min(n - 1, i + (x % span));
    [order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

async function makeFiles (): Promise<{ raw: string, inorder: string, shuffled: string, sha: string }> {
  const base = `/tmp/pc-bench-reorder-${formatSize(SIZE)}-${formatSize(CHUNK)}-${SPAN}`
  const raw = base + '.bin'; const inorder = base + '.inorder.frames'; const shuffled = base + '.shuffled.frames'
  const have = async (p: string): Promise<boolean> => { try { return (await stat(p)).size > 0 } catch { return false } }
  if (!(await have(raw) && await have(inorder) && await have(shuffled))) {
    const data = Buffer.allocUnsafe(SIZE)
    randomFillSync(data)
    const header = { url: 'http://bench/x', start: '2026-01-01T00:00:00Z', offset: 0, size: SIZE, chunkSize: CHUNK }
    const n = Math.ceil(SIZE / CHUNK)
    const frame = (i: number): Buffer => encodeFrame({ type: 'data', item: 0, offset: i * CHUNK, data: data.subarray(i * CHUNK, (i + 1) * CHUNK) } as Frame)
    const write = async (path: string, order: number[] | null): Promise<void> => {
      const fh = await open(path, 'w')
      if (order) {
        await fh.write(encodeMagic()); await fh.write(encodeFrame({ type: 'start', item: 0, header }))
        for (const i of order) await fh.write(frame(i))
        await fh.write(encodeFrame({ type: 'end', item: 0 }))
      } else await fh.write(data)
      await fh.close()
    }
    await write(raw, null)
    await write(inorder, Array.from({ length: n }, (_, i) => i))
    await write(shuffled, shuffleNear(n, SPAN))
  }
  const h = createHash('sha256')
  for await (const d of createReadStream(raw)) h.update(d as Buffer)
  return { raw, inorder, shuffled, sha: h.digest('hex') }
}

interface Run { ms: number, cpu: number, rss: number }

async function once (cmd: string, argv: string[], expect: number, sha?: string): Promise<Run> {
  const m = new Measured(cmd, argv, expect)
  m.child.stdin?.end()
  await m.done; await m.exited
  if (m.exit?.code !== 0) throw new Error(`${cmd} ${argv.join(' ')}: exit ${m.exit?.code}: ${m.stderr}`)
  if (m.bytes < expect) throw new Error(`${cmd}: ${m.bytes} of ${expect} bytes`)
  if (sha && m.sha256() !== sha) throw new Error(`${cmd} ${argv.join(' ')}: output differs from the file`)
  return { ms: m.doneMs ?? NaN, cpu: m.cpu, rss: m.peakRss }
}

/** CPU seconds used by pc-reorder over `waitMs` while it holds a hole and waits on a deadline. */
async function idleCpu (waitMs: number): Promise<number> {
  const m = new Measured(process.execPath, [PC_REORDER, '--raw', '--deadline', '1h'], Infinity)
  const d = Buffer.alloc(CHUNK, 7)
  const header = { url: 'http://bench/x', start: '2026-01-01T00:00:00Z', offset: 0, size: 4 * CHUNK, chunkSize: CHUNK }
  m.child.stdin?.write(Buffer.concat([encodeMagic(), encodeFrame({ type: 'start', item: 0, header }),
    encodeFrame({ type: 'data', item: 0, offset: 0, data: d }), encodeFrame({ type: 'data', item: 0, offset: 2 * CHUNK, data: d })]))
  // started up and past its first output: from here on it only waits
  while (m.bytes < CHUNK && m.exit === undefined) await new Promise(resolve => setTimeout(resolve, 50))
  await new Promise(resolve => setTimeout(resolve, 500))
  const pid = m.child.pid as number
  const c0 = cpuSeconds(pid) ?? NaN
  await new Promise(resolve => setTimeout(resolve, waitMs))
  const c1 = cpuSeconds(pid) ?? NaN
  await m.stop()
  return c1 - c0
}

const files = await makeFiles()
const EMPTY = '/tmp/pc-bench-reorder-empty.frames'
await writeFile(EMPTY, encodeMagic())
const frameBytes = (await stat(files.inorder)).size
const cases: Array<{ name: string, cmd: string, argv: string[], expect: number, sha?: string }> = [
  { name: 'cat FILE (ceiling)', cmd: 'cat', argv: [files.raw], expect: SIZE, sha: files.sha },
  { name: 'pc-reorder --raw, in order', cmd: process.execPath, argv: [PC_REORDER, '--raw', files.inorder], expect: SIZE, sha: files.sha },
  { name: `pc-reorder --raw, shuffled (span ${SPAN})`, cmd: process.execPath, argv: [PC_REORDER, '--raw', files.shuffled], expect: SIZE, sha: files.sha },
  { name: `pc-reorder frames, shuffled (span ${SPAN})`, cmd: process.execPath, argv: [PC_REORDER, files.shuffled], expect: frameBytes },
  { name: 'cat FRAMES (same bytes as the line above)', cmd: 'cat', argv: [files.inorder], expect: frameBytes },
]
const results: Run[][] = cases.map(() => [])
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < cases.length; i++) results[i].push(await once(cases[i].cmd, cases[i].argv, cases[i].expect, cases[i].sha))
}
const catMs = median(results[0].map(x => x.ms))
const catFramesMs = median(results[4].map(x => x.ms))
const rows = cases.map((c, i) => {
  const t = median(results[i].map(x => x.ms))
  const ref = i === 3 || i === 4 ? catFramesMs : catMs
  return [c.name, ms(t), `${(c.expect / MIB / (t / 1000)).toFixed(0)} MiB/s`, ratio(ref, t), `${(median(results[i].map(x => x.cpu)) * 1000).toFixed(0)} ms`, mib(max(results[i].map(x => x.rss)))]
})
const idle = await idleCpu(5000)
const base = (await once(process.execPath, [PC_REORDER, '--raw', EMPTY], 0)).rss
const cmdline = `node dist/bench/reorder.js --size ${args.size} --chunk ${args.chunk} --span ${SPAN} --rounds ${ROUNDS}`
const body = [
  `\`${cmdline}\` (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds interleaved, medians; ${formatSize(SIZE)} of random bytes in ${formatSize(CHUNK)} chunks; stdout read by a Node parent that hashes it; load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores, the machine shared with other test runs).`,
  '',
  table(['run', 'time', 'throughput', 'speed ÷ cat', 'CPU', 'peak RSS'], rows),
  '',
  `Idle: pc-reorder holding a hole with \`--deadline 1h\` used ${(idle * 1000).toFixed(0)} ms of CPU in 5 s (one timer, no polling).`,
  `For scale: Node itself (pc-reorder on an empty stream) peaks at ${mib(base)} RSS.`,
].join('\n')
process.stdout.write(body + '\n')
if (args.write) await writeSection(join(ROOT, 'BENCHMARKS.md'), 'reorder', body)
