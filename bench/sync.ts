// How close to the scheduled moment does a listener start? Timeline media (second k is
// a tone of 400 + 60·k Hz) is laid out from a known start; listeners of pc-icecast and
// of Debian's icecast2 (fed the same paced stream through pc-icecast --relay, as a
// station that outgrew one sink would run it) connect at the same moments; each
// capture is decoded and the heard position of its first sample compared with the
// schedule at the time the first byte arrived.
//
//   node dist/bench/sync.js [--write]     (--write: update BENCHMARKS.md ## sync)
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { startOrigin } from '../scripts/origin.js'
import { freePort } from '../scripts/free-port.js'
import { startIcecast2 } from '../test/cmd/icecast-helpers.js'
import { MEDIA, ROOT, bin, tempDir, sleep } from '../test/helpers.js'
import { decodeToPcm, heardPosition } from '../test/timeline.js'
import { median } from './proc.js'
import { table, writeSection } from './report.js'

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
const node = (name: string, args: string[]): string => [process.execPath, bin(name), ...args].map(q).join(' ')

function capture (url: string, ms: number): Promise<{ firstByteAt: number, bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let firstByteAt = 0
    const req = request(url, (res) => {
      res.on('data', (d: Buffer) => { if (!firstByteAt) firstByteAt = Date.now(); parts.push(d) })
      setTimeout(() => { req.destroy(); resolve({ firstByteAt, bytes: Buffer.concat(parts) }) }, ms)
    })
    req.on('error', (e) => reject(new Error(`${url}: ${e.message}`)))
    req.end()
  })
}

async function skewOf (url: string, t0: number): Promise<number> {
  let c: { firstByteAt: number, bytes: Buffer } | undefined
  for (let tries = 0; !c; tries++) {
    try { c = await capture(url, 3500) } catch (e) { if (tries > 20) throw e; await sleep(100) }
  }
  if (!c.bytes.length) return NaN
  const heard = heardPosition(await decodeToPcm(c.bytes))
  return heard === undefined ? NaN : heard - (c.firstByteAt - t0) / 1000
}

async function main (): Promise<void> {
  const write = process.argv.includes('--write')
  const dir = await tempDir('pc-bench-sync-')
  const groups: ChildProcess[] = []
  const origin = await startOrigin({ dir: dir.path, host: '127.0.0.1', port: 0 })
  const ice = await startIcecast2({ sourcePassword: 'benchsecret' })
  try {
    for (const f of ['timeline-a.mp3', 'timeline-b.mp3']) await copyFile(join(MEDIA, f), join(dir.path, f))
    const t0 = Date.now() + 5000
    const pl = spawn(process.execPath, [bin('pc-playlist'), '-b', origin.url.replace(/\/$/, '') + '/', '--root', dir.path, '--start', new Date(t0).toISOString(),
      '--hash', '-o', join(dir.path, 'list.rss'), join(dir.path, 'timeline-a.mp3'), join(dir.path, 'timeline-b.mp3')], { stdio: 'inherit' })
    await new Promise(resolve => pl.on('exit', resolve))
    const trackerPort = await freePort()
    groups.push(spawn(process.execPath, [bin('pc-tracker'), `127.0.0.1:${trackerPort}`], { stdio: 'ignore', detached: true }))
    const listener = async (extra: string[]): Promise<number> => {
      const port = await freePort()
      const pipeline = [
        node('pc-schedule', ['--follow', '--lead', '8s', origin.url.replace(/\/$/, '') + '/list.rss']),
        node('pc-fetch', ['-t', `http://127.0.0.1:${trackerPort}/announce`, '--host', '127.0.0.1']),
        node('pc-icecast', [`127.0.0.1:${port}`, ...extra]),
      ].join(' | ')
      groups.push(spawn('sh', ['-c', pipeline], { stdio: 'ignore', detached: true }))
      return port
    }
        const p1 = await listener(['--relay', `icecast://source:benchsecret@127.0.0.1:${ice.port}/stream`])
    const rows: string[][] = []
    const pcSkews: number[] = []; const iceSkews: number[] = []
    // a second listener whose pipeline starts 60 % into item A, 1.5 s before it is probed
    const p2started = sleep(Math.max(0, t0 + 10_500 - Date.now())).then(async () => await listener([]))
    for (const at of [2, 5, 9, 12, 15, 23]) {
      const p2 = at >= 12 ? await p2started : 0
      await sleep(Math.max(0, t0 + at * 1000 - Date.now()))
      const targets: [string, string][] = [['pc-icecast (running since before the start)', `http://127.0.0.1:${p1}/stream`],
        ['icecast2 2.4, relayed', `http://127.0.0.1:${ice.port}/stream`]]
      if (at >= 12) targets.push(['pc-icecast (pipeline started 1.5 s earlier, 60 % into item A)', `http://127.0.0.1:${p2}/stream`])
      const skews = await Promise.all(targets.map(([, url]) => skewOf(url, t0)))
      for (const [i, [name]] of targets.entries()) {
        rows.push([`${at} s`, name, Number.isNaN(skews[i]) ? 'no audio' : `${(skews[i] * 1000).toFixed(0)} ms`])
        if (!Number.isNaN(skews[i])) (name.startsWith('icecast2') ? iceSkews : pcSkews).push(Math.abs(skews[i]))
      }
    }
    const summary = `median |skew|: pc-icecast ${(median(pcSkews) * 1000).toFixed(0)} ms (max ${(Math.max(...pcSkews) * 1000).toFixed(0)} ms, n=${pcSkews.length}), ` +
      `icecast2 ${(median(iceSkews) * 1000).toFixed(0)} ms (n=${iceSkews.length})`
    const out = [table(['connect at', 'server', 'heard − scheduled'], rows), '', summary].join('\n')
    process.stdout.write(out + '\n')
    if (write) {
      await writeSection(join(ROOT, 'BENCHMARKS.md'), 'sync',
        '`node dist/bench/sync.js --write` (' + new Date().toISOString().slice(0, 10) + '; timeline MP3s at 128 kbit/s, items of 20 s; a negative skew means the listener hears the past).\n\n' + out)
    }
  } finally {
    for (const g of groups) { try { process.kill(-(g.pid ?? 0), 'SIGKILL') } catch { /* gone */ } }
    await ice.stop()
    await origin.close()
    await dir.remove()
  }
}

main().catch((e: unknown) => { process.stderr.write(`bench/sync: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 70 })
