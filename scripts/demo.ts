// `npm start`: a complete local station on the shipped sample media — a static origin
// (scripts/origin.ts, counting what it sends), a playlist laid out from now with hash
// trees, pc-tracker, and two listener pipelines `pc-schedule | pc-fetch | pc-icecast`
// on two ports — with a live display of who fetched what from whom. A live show is on
// the playlist too: ffmpeg plays a beeping tone into `pc-live --key`, which writes its
// signed chunks into the origin's directory, and `pc-playlist --live` gives it a slot
// (in a minute, for two minutes) that the listeners play as they play the music.
// Ctrl-C stops it all and removes the temporary station directory.
//   node dist/scripts/demo.js [--live-at START] [--live-for DURATION]   (START: now, +1m, ISO 8601)
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile, mkdtemp, readdir, rm, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import minimist from 'minimist'
import { parseDuration, parseTime } from '../lib/core/units.js'
import { startOrigin } from './origin.js'
import { freePort } from './free-port.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = (name: string): string => join(ROOT, 'dist', 'bin', `${name}.js`)
const MEDIA = ['timeline-a.mp3', 'tone-cbr.mp3', 'timeline-b.mp3', 'chirp-vbr.mp3']
const LISTENERS = 2
const HOST = '127.0.0.1'
const LIVE_MOUNT = 'live'
const LIVE_TITLE = 'pc demo live show'
const LIVE_START_TIMEOUT_MS = 20_000

const children: ChildProcess[] = []
const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
const cmdline = (name: string, args: string[]): string => [process.execPath, BIN(name), ...args].map(q).join(' ')

/** Start a command, or a shell pipeline of them, in its own process group. */
function start (argv: string[]): ChildProcess {
  const c = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  children.push(c)
  c.stderr?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) log.push(line.trim())
    while (log.length > 6) log.shift()
  })
  return c
}
const log: string[] = []

async function getJson (url: string): Promise<unknown> {
  try { const r = await fetch(url, { signal: AbortSignal.timeout(1000) }); return r.ok ? await r.json() : undefined } catch { return undefined }
}

interface ItemStats { type: string, url: string, bytesFromOrigin: number, bytesFromPeers: number, bytesUploaded: number }

/**
 * Each item's counters from what pc-fetch --stats appended so far, in the order the items
 * were fetched: the "left" line (written when pc-fetch leaves the item's swarm) replaces
 * the "item" line, since a listener goes on uploading an item it holds.
 */
async function itemStats (file: string): Promise<ItemStats[]> {
  const byItem = new Map<number, ItemStats>()
  try {
    for (const l of (await readFile(file, 'utf8')).trim().split('\n')) {
      const r = JSON.parse(l) as ItemStats & { type: string, item: number }
      if (r.type === 'item' || r.type === 'left') byItem.set(r.item, r)
    }
  } catch { /* nothing yet */ }
  return [...byItem.values()]
}

const clock = (ms: number): string => new Date(ms).toTimeString().slice(0, 8)
const kb = (n: number | undefined): string => n === undefined ? '-' : `${(n / 1024).toFixed(0)} KiB`

/** Run a command to its end; its exit code. */
async function finished (argv: string[]): Promise<number | null> {
  return await new Promise<number | null>(resolve => start(argv).on('exit', resolve))
}

async function main (): Promise<void> {
  const argv = minimist(process.argv.slice(2), { string: ['live-at', 'live-for'], default: { 'live-at': '+1m', 'live-for': '2m' } })
  const liveStart = parseTime(argv['live-at'])
  const liveMs = parseDuration(argv['live-for'])
  const dir = await mkdtemp(join(tmpdir(), 'pc-station-'))
  let stopping = false
  const origin = await startOrigin({ dir, host: HOST, port: 0 })
  const stop = async (code: number): Promise<void> => {
    if (stopping) return
    stopping = true
    process.stdout.write('\nstopping the station…\n')
    const signal = (c: ChildProcess, sig: NodeJS.Signals): void => { try { process.kill(-(c.pid ?? 0), sig) } catch { /* gone */ } }
    for (const c of children) if (c.exitCode === null) signal(c, 'SIGTERM')
    await Promise.race([
      Promise.all(children.map(c => c.exitCode !== null ? undefined : new Promise(resolve => c.once('exit', resolve)))),
      new Promise(resolve => setTimeout(resolve, 5000)),
    ])
    for (const c of children) if (c.exitCode === null) signal(c, 'SIGKILL')
    await origin.close()
    await rm(dir, { recursive: true, force: true })
    process.stdout.write(`stopped; removed ${dir}\n`)
    process.exitCode = code
  }
  process.on('SIGINT', () => { void stop(130) })
  process.on('SIGTERM', () => { void stop(143) })

  for (const f of MEDIA) await copyFile(join(ROOT, 'media', f), join(dir, f))
  // the live show: a station key, a DJ (ffmpeg, a tone beeping once a second) into
  // pc-live, its signed chunks and manifest in the origin's directory
  const key = join(dir, 'station')
  const keyCode = await finished([process.execPath, BIN('pc-hash'), '--keygen', key])
  if (keyCode !== 0) { process.stderr.write(`demo: pc-hash --keygen failed (exit ${keyCode}): ${log.join('\n')}\n`); await stop(70); return }
  start(['sh', '-c', [
    ['ffmpeg', '-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=660:beep_factor=4:sample_rate=44100', '-ac', '2', '-b:a', '128k', '-f', 'mp3', '-'].map(q).join(' '),
    cmdline('pc-live', ['--mount', `/${LIVE_MOUNT}`, '--dir', dir, '--key', key, '-']),
  ].join(' | ')])
  const liveUrl = origin.url.replace(/\/$/, '') + `/${LIVE_MOUNT}`
  for (let waited = 0; !existsSync(join(dir, `${LIVE_MOUNT}.json`)); waited += 100) {
    if (waited > LIVE_START_TIMEOUT_MS || stopping) { process.stderr.write(`demo: pc-live wrote no manifest: ${log.join('\n')}\n`); await stop(70); return }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const list = join(dir, 'list.rss')
  const plCode = await finished([process.execPath, BIN('pc-playlist'), '-b', origin.url.replace(/\/$/, '') + '/', '--root', dir, '--title', 'pc demo station',
    '--start', 'now', '--until', '+2h', '--hash', '--sign', key, '--live', `${liveUrl}@${new Date(liveStart).toISOString()}/${liveMs / 1000}s/${LIVE_TITLE}`,
    '-o', list, ...MEDIA.map(f => join(dir, f))])
  if (plCode !== 0) { process.stderr.write(`demo: pc-playlist failed (exit ${plCode}): ${log.join('\n')}\n`); await stop(70); return }

  const trackerPort = await freePort()
  start([process.execPath, BIN('pc-tracker'), `${HOST}:${trackerPort}`])
  const announce = `http://${HOST}:${trackerPort}/announce`
  const playlistUrl = `${origin.url.replace(/\/$/, '')}/list.rss`
  const sinks: { port: number, stats: string }[] = []
  for (let i = 1; i <= LISTENERS; i++) {
    const port = await freePort()
    const stats = join(dir, `fetch-${i}.ndjson`)
    const pipeline = [
      cmdline('pc-schedule', ['--follow', '--lead', '15s', '--poll', '30s', '--key', `${key}.pub`, playlistUrl]),
      cmdline('pc-fetch', ['-t', announce, '--host', HOST, '--stats', stats]),
      cmdline('pc-icecast', [`${HOST}:${port}`, '--name', `pc demo, listener ${i}`]),
    ].join(' | ')
    start(['sh', '-c', pipeline])
    sinks.push({ port, stats })
  }
  // the banner promises pages and streams that answer: wait for each listener's server (20 s at most)
  for (let waited = 0; waited < 20_000 && !stopping; waited += 250) {
    const up = await Promise.all(sinks.map(s => getJson(`http://${HOST}:${s.port}/status-json.xsl`)))
    if (up.every(u => u !== undefined)) break
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  const files = (await readdir(dir)).filter(f => f.endsWith('.mp3'))
  const tty = process.stdout.isTTY
  process.stdout.write([
    `pc demo station: ${files.length} items laid out from now, hash trees beside them, the playlist signed`,
    `  origin     ${origin.url}   (playlist ${playlistUrl})`,
    `  tracker    http://${HOST}:${trackerPort}/   (station directory ${dir})`,
    `  live       ${liveUrl} (pc-live, fed by ffmpeg) on air ${clock(liveStart)}–${clock(liveStart + liveMs)}, "${LIVE_TITLE}"`,
    ...sinks.map((s, i) => `  listener ${i + 1} http://${HOST}:${s.port}/   play: mpv http://${HOST}:${s.port}/stream`),
    'Open a listener page in a browser, or the stream in mpv or VLC. Ctrl-C stops everything.',
    '',
  ].join('\n') + '\n')
  let lines = 0
  let last = ''
  while (!stopping) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    if (stopping) break
    const out: string[] = [`origin sent ${kb(origin.bytesSent())} in ${origin.requests()} requests`]
    for (const [i, s] of sinks.entries()) {
      const ice = await getJson(`http://${HOST}:${s.port}/status-json.xsl`) as { icestats?: { source?: { title?: string, listeners?: number } } } | undefined
      const src = ice?.icestats?.source
      out.push(`listener ${i + 1}: now playing ${src?.title ?? '-'} (${src?.listeners ?? 0} players connected)`)
      for (const st of (await itemStats(s.stats)).slice(-2)) {
        out.push(`  fetched ${st.url.split('/').pop() ?? st.url}: ${kb(st.bytesFromOrigin)} from the origin, ${kb(st.bytesFromPeers)} from peers; uploaded ${kb(st.bytesUploaded)} to peers ${st.type === 'left' ? 'before it left the swarm' : 'by the time it was written out'}`)
      }
    }
    out.push(...log.slice(-3).map(l => `  ${l}`))
    const text = out.join('\n') + '\n'
    if (!tty && text === last) continue // a log gets what changed, a terminal the board redrawn
    last = text
    if (tty && lines) process.stdout.write(`\x1b[${lines}A\x1b[J`)
    process.stdout.write(text)
    lines = out.length
  }
}

main().catch((e: unknown) => { process.stderr.write(`demo: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 70 })
