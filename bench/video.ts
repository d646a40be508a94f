// Television figures (issue 11): a 2 Mbit/s WebM item made by ffmpeg, swarmed by N
// pc-fetch listeners (origin ÷ size, bench/swarm.ts --media), and served paced to held
// listeners by pc-icecast beside icecast2 fed the same WebM stream (bench/icecast.ts --media).
//   node dist/bench/video.js [--seconds 30] [--swarm-n 20] [--icecast-n 20,100] [--write]
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import minimist from 'minimist'
import { writeSection } from './report.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const KBPS = 2000

/** Run a bench script; its stdout (the figures) and a failure on a non-zero exit. */
function bench (script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(ROOT, 'dist', 'bench', script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.on('close', code => code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}`)))
  })
}

async function main (): Promise<void> {
  const argv = minimist(process.argv.slice(2), { string: ['seconds', 'swarm-n', 'icecast-n', 'hold'], boolean: ['write'] })
  const seconds = Number(argv.seconds ?? 30)
  const dir = await mkdtemp(join(tmpdir(), 'pc-bench-video-'))
  try {
    // noise on the test pattern keeps VP8 from undershooting the rate
    const file = join(dir, 'item.webm')
    execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25:duration=${seconds},noise=alls=30:allf=t`,
      '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, '-c:v', 'libvpx', '-b:v', `${KBPS}k`, '-minrate', `${KBPS}k`, '-maxrate', `${KBPS}k`,
      '-bufsize', `${KBPS}k`, '-deadline', 'realtime', '-cpu-used', '8', '-g', '50', '-c:a', 'libopus', '-b:a', '96k', file])
    const size = statSync(file).size
    const dur = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8' }))
    const head = `Item: VP8 640×360 25 fps + Opus in WebM made by ffmpeg (testsrc2 with noise, \`-b:v ${KBPS}k\` CBR, keyframe every 2 s): ${(size / 2 ** 20).toFixed(1)} MiB, ${dur.toFixed(1)} s, ${(size * 8 / dur / 1000).toFixed(0)} kbit/s overall.`
    process.stderr.write(`video: ${head}\n`)
    const swarm = await bench('swarm.js', ['--media', file, '--n', String(argv['swarm-n'] ?? '20'), '--only', 'swarm'])
    const ice = await bench('icecast.js', ['--media', file, '--n', String(argv['icecast-n'] ?? '20,100'), '--ramp', '50', '--hold', String(argv.hold ?? '15s')])
    const text = [`\`node dist/bench/video.js ${process.argv.slice(2).join(' ')}\``.replace(' `', '`'), '', head, '',
      '### Swarm: origin ÷ size (bench/swarm.ts --media)', '', swarm.trim(), '',
      '### Held listeners: pc-icecast beside icecast2, the WebM looped as one stream (bench/icecast.ts --media)', '', ice.trim(), ''].join('\n')
    process.stdout.write(text + '\n')
    if (argv.write) {
      await writeSection(join(ROOT, 'BENCHMARKS.md'), 'video', text)
      process.stderr.write('video: wrote BENCHMARKS.md (## video)\n')
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((e: Error) => { process.stderr.write(`video: ${e.stack ?? e.message}\n`); process.exitCode = 70 })
