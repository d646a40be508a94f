// Benchmark: pc-playlist's probing against ffprobe (the reference tool) on the same
// media in the same run, rounds interleaved: wall time for a set of local files, and
// time plus bytes sent by an nginx origin for the same files as URLs. Also prints how
// far apart the two tools' durations are. Media are made once in /tmp and reused.
//
//   node dist/bench/playlist.js [--minutes 10] [--copies 3] [--rounds 5] [--no-write]
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, copyFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNginx, type Nginx } from '../scripts/nginx.js'
import { table, ms, ratio, mib, writeSection } from './report.js'
import { median } from './proc.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PC_PLAYLIST = join(HERE, '..', 'bin', 'pc-playlist.js')
const REPO = join(HERE, '..', '..')

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    copies: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    'no-write': { type: 'boolean', default: false },
  },
})
const MINUTES = Number(args.minutes)
const COPIES = Number(args.copies)
const ROUNDS = Number(args.rounds)

// One long clip per format, as a station would have them.
const FORMATS: Array<[string, string[]]> = [
  ['cbr.mp3', ['-ac', '2', '-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k']],
  ['vbr.mp3', ['-ac', '2', '-ar', '44100', '-c:a', 'libmp3lame', '-q:a', '4']],
  ['noxing.mp3', ['-ac', '2', '-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '128k', '-write_xing', '0']],
  ['vorbis.ogg', ['-ac', '2', '-ar', '44100', '-c:a', 'libvorbis', '-q:a', '3']],
  ['opus.opus', ['-ac', '2', '-ar', '48000', '-c:a', 'libopus', '-b:a', '96k']],
  ['aac.m4a', ['-ac', '2', '-ar', '44100', '-c:a', 'aac', '-b:a', '128k']],
  ['adts.aac', ['-ac', '2', '-ar', '44100', '-c:a', 'aac', '-b:a', '128k', '-f', 'adts']],
  ['pcm.wav', ['-ac', '1', '-ar', '22050', '-c:a', 'pcm_s16le']],
]

function makeMedia (): { dir: string, files: string[] } {
  const dir = `/tmp/pc-bench-playlist-${MINUTES}m`
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (const [name, codec] of FORMATS) {
    const path = join(dir, name)
    if (!existsSync(path)) {
      const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
        `aevalsrc=sin(2*PI*(300+40*sin(t/7))*t):d=${MINUTES * 60}`, ...codec, path + '.tmp' + name.slice(name.lastIndexOf('.'))], { stdio: 'inherit' })
      if (r.status !== 0) throw new Error(`ffmpeg failed for ${name}`)
      spawnSync('mv', [path + '.tmp' + name.slice(name.lastIndexOf('.')), path])
    }
    for (let c = 0; c < COPIES; c++) {
      const copy = join(dir, `${c}-${name}`)
      if (!existsSync(copy)) copyFileSync(path, copy)
      files.push(copy)
    }
  }
  return { dir, files }
}

function timed (cmd: string, argv: string[]): Promise<{ seconds: number, out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''; let err = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('error', reject)
    c.on('close', (code) => code === 0 ? resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, out }) : reject(new Error(`${cmd} exited ${code}: ${err}`)))
  })
}

/** ffprobe one file after another, as a shell loop building a list would. */
async function ffprobeAll (inputs: string[]): Promise<{ seconds: number, durations: number[] }> {
  const t0 = process.hrtime.bigint()
  const durations: number[] = []
  for (const f of inputs) {
    const r = await timed('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', f])
    durations.push(Math.round(Number(r.out.trim()) * 1000))
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, durations }
}

async function pcPlaylist (inputs: string[], root: string): Promise<{ seconds: number, durations: number[] }> {
  const r = await timed(process.execPath, [PC_PLAYLIST, '-b', 'http://bench.invalid/', '--root', root, '--start', '2026-01-01T00:00:00Z', ...inputs])
  return { seconds: r.seconds, durations: [...r.out.matchAll(/<mm:duration>(\d+)</g)].map(m => Number(m[1])) }
}

async function sentDuring (n: Nginx, f: () => Promise<unknown>): Promise<number> {
  const before = await n.bytesSent()
  await f()
  let last = -1
  for (let still = 0; still < 4;) {
    await new Promise(resolve => setTimeout(resolve, 50))
    const now = await n.bytesSent()
    still = now === last ? still + 1 : 0
    last = now
  }
  return last - before
}


async function main (): Promise<void> {
  const { dir, files } = makeMedia()
  const totalBytes = files.reduce((n, f) => n + Number(spawnSync('stat', ['-c', '%s', f], { encoding: 'utf8' }).stdout), 0)
  const nginx = await startNginx({ root: dir })
  const urls = files.map(f => nginx.url + f.slice(dir.length + 1))
  const t = { pcLocal: [] as number[], ffLocal: [] as number[], pcUrl: [] as number[], ffUrl: [] as number[] }
  let bytes = { pc: 0, ff: 0 }
  let durs = { pc: [] as number[], ff: [] as number[] }
  const perFormat: Array<[number, number]> = []
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const a = await pcPlaylist(files, dir); t.pcLocal.push(a.seconds)
      const b = await ffprobeAll(files); t.ffLocal.push(b.seconds)
      durs = { pc: a.durations, ff: b.durations }
      let c = { seconds: 0 }; let d = { seconds: 0 }
      const pcBytes = await sentDuring(nginx, async () => { c = await pcPlaylist(urls, dir) })
      const ffBytes = await sentDuring(nginx, async () => { d = await ffprobeAll(urls) })
      t.pcUrl.push(c.seconds); t.ffUrl.push(d.seconds)
      bytes = { pc: pcBytes, ff: ffBytes }
      process.stderr.write(`round ${r + 1}/${ROUNDS}\n`)
    }
    // Bytes each tool has the origin send, format by format (one untimed pass).
    for (let i = 0; i < FORMATS.length; i++) {
      const mine = urls.slice(i * COPIES, (i + 1) * COPIES)
      perFormat.push([await sentDuring(nginx, () => pcPlaylist(mine, dir)), await sentDuring(nginx, () => ffprobeAll(mine))])
    }
  } finally { await nginx.stop() }

  const n = files.length
  const summary = table(['task', 'pc-playlist', 'ffprobe (one per file)', 'ffprobe / pc-playlist'], [
    [`${n} local files, median wall time`, ms(median(t.pcLocal) * 1000), ms(median(t.ffLocal) * 1000), ratio(median(t.ffLocal), median(t.pcLocal))],
    [`${n} URLs on nginx, median wall time`, ms(median(t.pcUrl) * 1000), ms(median(t.ffUrl) * 1000), ratio(median(t.ffUrl), median(t.pcUrl))],
    [`${n} URLs, bytes nginx sent (files total ${mib(totalBytes)})`, mib(bytes.pc), mib(bytes.ff), ratio(bytes.ff, bytes.pc)],
  ])
  const size = (f: string): number => Number(spawnSync('stat', ['-c', '%s', f], { encoding: 'utf8' }).stdout)
  const kib = (b: number): string => `${Math.round(b / 1024)} KiB`
  const diffs = table(['format', 'file size', 'pc-playlist ms', 'ffprobe ms', 'difference', 'sent for pc-playlist, per file', 'sent for ffprobe, per file'], FORMATS.map(([name], i) => {
    const a = durs.pc[i * COPIES]; const b = durs.ff[i * COPIES]
    return [name, kib(size(files[i * COPIES])), String(a), String(b), `${a - b} ms`, kib(perFormat[i][0] / COPIES), kib(perFormat[i][1] / COPIES)]
  }))
  const cmd = `node dist/bench/playlist.js --minutes ${MINUTES} --copies ${COPIES} --rounds ${ROUNDS}`
  const body = [
    `Probing ${FORMATS.length} formats × ${COPIES} copies of ${MINUTES}-minute clips (sine sweeps made by ffmpeg), ${ROUNDS} rounds interleaved, ` +
    `pc-playlist (one process for all files, up to 4 probes at once) against ffprobe run once per file in sequence, as a shell loop would. ` +
    `Machine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, load average ${spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ')[0]} at the end.`,
    '', '    ' + cmd, '', summary, '', 'Durations of the same clips (first copy), and what the origin sent to probe each format as a URL:', '', diffs, '',
    'ffprobe estimates ADTS durations from the bitrate; pc-playlist counts the frames over the whole file, which is also why ADTS is the one format it reads entirely.',
  ].join('\n')
  process.stdout.write(body + '\n')
  if (!args['no-write']) await writeSection(join(REPO, 'BENCHMARKS.md'), 'playlist', body)
}

main().catch((e) => { process.stderr.write(String((e as Error).stack ?? e) + '\n'); process.exitCode = 1 })
