// Benchmark: the media parsers (lib/media.ts) against ffprobe counting packets, on
// the same long files in the same run, rounds interleaved: both read the whole file
// and report a frame/page count, which must agree for MP3 and ADTS. Prints medians,
// ratios and throughput. The files are made once by ffmpeg in /tmp and reused.
//
//   node dist/bench/media.js [--minutes 20] [--rounds 5] [--write]
//   node dist/bench/media.js --count FILE      (the measured child: prints units and seconds)
import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { rename, stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { loadavg, availableParallelism } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MediaParser, detectKind } from '../lib/media/media.js'
import { median } from './proc.js'
import { table, ratio, ms, writeSection } from './report.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const ROOT = join(HERE, '..', '..')

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    write: { type: 'boolean', default: false },
    count: { type: 'string' },
  },
})

async function count (path: string): Promise<void> {
  let parser: MediaParser | undefined
  let units = 0; let us = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    parser ??= new MediaParser(detectKind(chunk as Buffer))
    for (const u of parser.push(chunk as Buffer)) { units++; us += u.durationUs }
  }
  for (const u of parser?.end() ?? []) { units++; us += u.durationUs }
  process.stdout.write(`${units} ${(us / 1e6).toFixed(3)}\n`)
}

function exec (cmd: string, argv: string[]): Promise<{ ms: number, out: string }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''; let err = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('close', code => code === 0 ? resolve({ ms: performance.now() - t0, out: out.trim() }) : reject(new Error(`${cmd} ${argv.join(' ')}: exit ${code}: ${err}`)))
  })
}

async function ensure (name: string, enc: string[], seconds: number): Promise<string> {
  const path = `/tmp/pc-bench-media-${seconds}s-${name}`
  try { if ((await stat(path)).size > 0) return path } catch { /* make it */ }
  // made under another name and renamed, so an interrupted run leaves no half file to reuse
  const part = path.replace(/(\.[a-z0-9]+)$/, '.part$1')
  await exec('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=sin(2*PI*(300+40*sin(t))*t):d=${seconds}`, '-ac', '2', ...enc, part])
  await rename(part, path)
  return path
}

async function bench (): Promise<void> {
  const seconds = Number(args.minutes) * 60
  const rounds = Number(args.rounds)
  const files: Array<[string, string, string]> = [
    ['MP3 CBR 192k', await ensure('cbr.mp3', ['-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '192k'], seconds), 'packets'],
    ['AAC ADTS', await ensure('adts.aac', ['-ar', '44100', '-c:a', 'aac', '-b:a', '128k', '-f', 'adts'], seconds), 'packets'],
    ['Ogg Opus', await ensure('opus.opus', ['-ar', '48000', '-c:a', 'libopus', '-b:a', '96k'], seconds), 'pages'],
  ]
  const rows: string[][] = []
  for (const [label, path, unit] of files) {
    const size = (await stat(path)).size
    const ours: number[] = []; const ref: number[] = []
    let oursOut = ''; let refOut = ''
    for (let r = 0; r < rounds; r++) {
      const a = await exec(process.execPath, [SELF, '--count', path]); ours.push(a.ms); oursOut = a.out
      const b = await exec('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', path]); ref.push(b.ms); refOut = b.out
    }
    const [units, dur] = oursOut.split(' ')
    if (unit === 'packets' && units !== refOut) throw new Error(`${label}: ${units} units, ffprobe ${refOut} packets`)
    const t = median(ours); const f = median(ref)
    rows.push([label, `${(size / 1048576).toFixed(1)} MiB`, `${units} ${unit === 'packets' ? 'frames' : 'pages'} (ffprobe: ${refOut} packets), ${dur} s`, ms(t), ms(f), ratio(f, t), `${(size / 1048576 / (t / 1000)).toFixed(0)} MiB/s`])
  }
  const cmdline = `node dist/bench/media.js --minutes ${args.minutes} --rounds ${rounds}`
  const body = [
    `\`${cmdline}\` (${new Date().toISOString().slice(0, 10)}, ${rounds} rounds interleaved, medians of whole-process times, start-up included; load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores, the machine shared with other test runs). Both read the whole file; MediaParser also times every unit.`,
    '',
    table(['file', 'size', 'units', 'MediaParser', 'ffprobe -count_packets', 'speed ÷ ffprobe', 'MediaParser throughput'], rows),
  ].join('\n')
  process.stdout.write(body + '\n')
  if (args.write) await writeSection(join(ROOT, 'BENCHMARKS.md'), 'media', body)
}

if (args.count) await count(args.count); else await bench()
