// Start-up of every command: `--version` (all its code loaded, nothing done) as the one
// bundled file in dist/bin that the installed commands run, and as the ES modules tsc
// writes to dist/cmd, beside a bare `node -e 0` in the same rounds (the reference: node's
// own start-up, which no command can go below). Twenty listeners of a flash crowd start
// at once on two cores, so the CPU column is the one to read.
//   node dist/bench/startup.js [--rounds 21] [--write]
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadavg, cpus } from 'node:os'
import { parseArgs, intOption, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { median, timed } from './proc.js'
import { table, ms, writeSection } from './report.js'

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..')
const COMMANDS = ['pc-fetch', 'pc-icecast', 'pc-schedule', 'pc-reorder', 'pc-hash', 'pc-playlist', 'pc-tracker']
const OPTIONS: OptionTable = {
  rounds: { type: 'string', default: '21', arg: 'N', help: 'rounds, interleaved' },
  write: { type: 'boolean', help: 'write the figures into BENCHMARKS.md (## startup)' },
}
const INFO: CommandInfo = { usage: '[--rounds 21] [--write]', summary: 'Start-up CPU and wall time of every command, bundled and as modules, beside bare node.', maxArgs: 0 }

async function main (): Promise<void> {
  const opts = parseArgs(process.argv.slice(2), OPTIONS, INFO)
  const rounds = intOption(opts, 'rounds', 1, 1000)
  const runs: Array<{ label: string, argv: string[] }> = [{ label: 'node -e 0', argv: ['-e', '0'] }]
  for (const c of COMMANDS) {
    runs.push({ label: `${c} (dist/bin)`, argv: [join(DIST, 'bin', `${c}.js`), '--version'] })
    runs.push({ label: `${c} (dist/cmd)`, argv: [join(DIST, 'cmd', `${c}.js`), '--version'] })
  }
  const wall = new Map<string, number[]>(runs.map(r => [r.label, []]))
  const cpu = new Map<string, number[]>(runs.map(r => [r.label, []]))
  const load0 = loadavg()[0]
  for (let i = 0; i < rounds; i++) {
    for (const r of i % 2 ? [...runs].reverse() : runs) {
      const t = await timed(process.execPath, r.argv)
      wall.get(r.label)!.push(t.wallMs)
      cpu.get(r.label)!.push(t.cpuMs)
    }
  }
  // the mean, not the median: /usr/bin/time counts CPU in 10 ms steps, and the mean of many rounds resolves below them
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const base = mean(cpu.get('node -e 0')!)
  const rows = runs.map(r => {
    const c = mean(cpu.get(r.label)!)
    return [r.label, ms(median(wall.get(r.label)!)), ms(c), r.label === 'node -e 0' ? '' : ms(c - base)]
  })
  const text = ['`' + ['node dist/bench/startup.js', ...process.argv.slice(2)].join(' ') + '`', '',
    `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ${rounds} rounds interleaved; load average ${load0.toFixed(1)} at the start. ` +
    'Wall is the median; CPU is the mean user + system time from /usr/bin/time (which counts in 10 ms steps; the mean of many rounds resolves below them); "over node" is the CPU a command adds to a bare node start: loading its code.', '',
    table(['run', 'wall (median)', 'CPU (mean)', 'CPU over node'], rows), ''].join('\n')
  process.stdout.write(text + '\n')
  if (opts.write) await writeSection(join(DIST, '..', 'BENCHMARKS.md'), 'startup', text)
}

main().catch((e: Error) => { process.stderr.write(`startup: ${e.stack ?? e.message}\n`); process.exitCode = 70 })
