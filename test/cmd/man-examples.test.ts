// Every command shown in a man page's EXAMPLES runs: against local media served by
// nginx, a pc-tracker this test starts, and fresh ports, with the pages' example hosts,
// ports and paths substituted, and a real Icecast server for the relay. A command exits 0, or is a long-running one (a follower,
// a server, a player) still running, with nothing said on stderr, when its bound is up.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, readdirSync } from 'node:fs'
import { writeFile, mkdir, copyFile, chmod, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { startNginx, type Nginx } from '../../scripts/nginx.js'
import { freePort } from '../../scripts/free-port.js'
import { startIcecast2, type Icecast2 } from './icecast-helpers.js'
import { startLive, ffmpegSource, type Live } from './pc-live-helpers.js'
import { generateKeyPair, writeKeyPair, sign } from '../../lib/hashing/sign.js'
import { ROOT, MEDIA, run, start, killChildren, tempDir, waitForOutput, sleep } from '../helpers.js'

/** how long an example may run before it counts as long-running */
const BOUND_MS = 6000
const PAGES = readdirSync(join(ROOT, 'man')).filter(p => /^pc-.*\.[157]$/.test(p)).sort()

/** The commands of a page's EXAMPLES: each .Dl line, and each literal block that is a command (not XML or NDJSON shown as data, not output after a `$` line). */
export function examples (page: string): string[][] {
  const sec = /^\.Sh EXAMPLES$([\s\S]*?)(?=^\.Sh |(?![\s\S]))/m.exec(page)?.[1] ?? ''
  const unescape = (s: string): string => s.replace(/\\\(dq/g, '"').replace(/\\e/g, '\\').replace(/\\&/g, '')
  const blocks: string[][] = []
  const lines = sec.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('.Dl ')) { blocks.push([unescape(lines[i].slice(4)).replace(/^\$ /, '')]); continue }
    if (!lines[i].startsWith('.Bd -literal')) continue
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== '.Ed'; i++) body.push(unescape(lines[i]))
    if (/^\s*[<{]/.test(body[0] ?? '')) continue // a document shown as data
    const prompted = body.some(l => l.startsWith('$ '))
    const cmds: string[] = []
    let cur = ''
    for (const l of body) {
      if (prompted && !l.startsWith('$ ') && cur === '') continue // output shown after a command
      const t = cur + (cur ? ' ' : '') + (prompted && cur === '' ? l.slice(2) : l.trim())
      if (/\\$/.test(t)) { cur = t.slice(0, -1).trimEnd(); continue }
      if (/\|$/.test(t)) { cur = t; continue }
      cmds.push(t); cur = ''
    }
    blocks.push(cmds)
  }
  return blocks.filter(b => b.length > 0)
}

let dir: { path: string, remove: () => Promise<void> }
let nginx: Nginx | undefined
let trackerPort = 0
let icecast2: Icecast2 | undefined
let radio: ChildProcess | undefined
let live: Live | undefined
let dj: ChildProcess | undefined
const work = (...p: string[]): string => join(dir.path, 'work', ...p)
const www = (...p: string[]): string => join(dir.path, 'srv', 'www', ...p)

test.before(async () => {
  dir = await tempDir('pc-man-examples-')
  for (const d of [work('media'), www('music'), www('media'), join(dir.path, 'bin'), join(dir.path, 'etc', 'pc'), join(dir.path, 'var', 'lib', 'opentracker'), join(dir.path, 'var', 'cache')]) await mkdir(d, { recursive: true })
  for (const name of ['pc-playlist', 'pc-schedule', 'pc-hash', 'pc-fetch', 'pc-reorder', 'pc-icecast', 'pc-tracker', 'pc-live']) {
    await writeFile(join(dir.path, 'bin', name), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist', 'bin', name + '.js')}" "$@"\n`)
    await chmod(join(dir.path, 'bin', name), 0o755)
  }
  const mp3s = ['timeline-a.mp3', 'tone-cbr.mp3', 'timeline-b.mp3']
  for (const f of mp3s) {
    await copyFile(join(MEDIA, f), www('music', f))
    await copyFile(join(MEDIA, f), work('media', f))
  }
  await writeFile(www('shows.m3u'), mp3s.map(f => `music/${f}\n`).join(''))
  await copyFile(join(MEDIA, 'tone-cbr.mp3'), www('song.mp3'))
  await copyFile(join(MEDIA, 'tone-cbr.mp3'), work('song.mp3'))
  await copyFile(join(MEDIA, 'timeline-a.mp3'), www('media', 'a.mp3'))
  await copyFile(join(MEDIA, 'tone.ogg'), www('a.ogg'))
  await copyFile(join(MEDIA, 'tone.ogg'), www('b.ogg'))
  // pc-live(1): the source password file and a DJ's recording
  await writeFile(work('pw'), 'secret\n')
  await copyFile(join(MEDIA, 'tone.wav'), work('show.wav'))
  for (const f of [...mp3s.map(m => www('music', m)), www('song.mp3')]) {
    const r = await run('pc-hash', ['-o', f + '.hashtree', f])
    assert.is(r.code, 0, r.stderr)
  }
  nginx = await startNginx({ root: www() })
  // the station's playlist: a loop from the epoch, so that something is on air at any time the pages name; signed by the station's key
  const kp = generateKeyPair()
  await writeKeyPair(work('station'), kp)
  await writeKeyPair(join(dir.path, 'etc', 'pc', 'station.key'), kp)
  const urls = mp3s.map(f => `${nginx!.url}music/${f}`)
  const list = `<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:mm="http://musicbrainz.org/mm/mm-2.1#">
<channel rdf:about="${nginx.url}"><title>Loop</title><link>${nginx.url}</link><description>the test station</description>
<items><rdf:Seq>${urls.map(u => `<rdf:li rdf:resource="${u}"/>`).join('')}</rdf:Seq></items>
</channel>
${urls.map((u, k) => `<item rdf:about="${u}"><title>${mp3s[k]}</title><link>${u}</link><dc:format>audio/mpeg</dc:format><mm:duration>${durationMs(www('music', mp3s[k]))}</mm:duration></item>`).join('\n')}
</rdf:RDF>
`
  for (const p of [www('list.rss'), work('list.rss')]) {
    await writeFile(p, list)
    await writeFile(p + '.sig', sign(Buffer.from(list), kp.secretKey).toString('hex') + '\n')
  }
  const sched = await run('pc-schedule', ['-n', '1', work('list.rss')])
  assert.is(sched.code, 0, sched.stderr)
  await writeFile(work('schedule'), sched.stdout)
  await writeFile(work('records.ndjson'), sched.stdout)
  const frames = await run('pc-fetch', ['--keep', '0'], sched.stdout)
  assert.is(frames.code, 0, frames.stderr)
  await writeFile(work('frames'), frames.stdout)
  await writeFile(work('items'), sched.stdout)
  const tracker = start('pc-tracker', ['-v', '127.0.0.1:0'])
  const text = await waitForOutput(tracker.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-tracker')
  trackerPort = Number(/listening on [^:]+:(\d+)/.exec(text)![1])
  icecast2 = await startIcecast2({ sourcePassword: 'secret' }) // the real Icecast server of pc-icecast(1)'s relay example
  // and a station already on it, for pc-live(1)'s --pull example
  // a live show signed with the station's key, for pc-fetch(1)'s live example
  live = await startLive(['--key', work('station')])
  dj = ffmpegSource(live.port, { seconds: 3600 })
  radio = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-stream_loop', '-1', '-i', join(MEDIA, 'tone-cbr.mp3'), '-c', 'copy', '-f', 'mp3', `icecast://source:secret@127.0.0.1:${icecast2.port}/stream`], { stdio: 'ignore' })
})

test.after(async () => {
  radio?.kill('SIGKILL')
  dj?.kill('SIGKILL')
  if (live) {
    // pc-live writes into its directory until it is gone: stop it before removing that
    const c = live.c
    if (c.exitCode === null && c.signalCode === null) await new Promise(resolve => { c.once('exit', resolve); c.kill('SIGKILL') })
    await live.remove()
  }
  killChildren()
  await nginx?.stop()
  await icecast2?.stop()
  if (process.env.PC_KEEP_EXAMPLES === undefined) await dir.remove()
})

function durationMs (file: string): number {
  const b = readFileSync(file)
  return Math.round(b.length * 8 / 128) // the media are 128 kbit/s CBR or close; the loop needs only plausible lengths
}

/** Substitute the pages' example hosts, ports and paths with this test's. */
async function localize (cmd: string, ports: Map<string, number>, ownTracker: boolean, srv: string): Promise<string> {
  const port = async (k: string): Promise<number> => { if (!ports.has(k)) ports.set(k, await freePort()); return ports.get(k)! }
  const base = nginx!.url
  const tracker = ownTracker ? await port('6969') : trackerPort
  return cmd
    .replace(/https:\/\/(?:radio|cdn)\.example\//g, base)
    .replace(/http:\/\/radio\.example:6969\//g, `http://127.0.0.1:${tracker}/`)
    .replace(/127\.0\.0\.1:6969/g, `127.0.0.1:${tracker}`)
    .replace(/(pc-tracker .*):6969\b/, (_m, a: string) => `${a}127.0.0.1:${tracker}`)
    .replace(/(opentracker\.sh .*) 6969 /, (_m, a: string) => `${a} ${tracker} `)
    .replace(/(^|\s)(scripts|test\/fixtures)\//g, (_m, a: string, d: string) => `${a}${join(ROOT, d)}/`)
    .replace(/icecast\.example:8000/g, `127.0.0.1:${icecast2!.port}`)
    .replace(/@127\.0\.0\.1:8000\//g, `@127.0.0.1:${ports.get('8000') ?? 0}/`)
    .replace(/(^|[\s|])((?:0\.0\.0\.0)?):8000\b/g, (_m, a: string, h: string) => `${a}${h || '127.0.0.1'}:${ports.get('8000') ?? 0}`)
    .replace(/\bmpv -$/, 'mpv --no-config --really-quiet --ao=null --vo=null -') // no sound card here
    .replace(/10\.0\.0\.7:6881/g, `127.0.0.1:${await port('peer')}`)
    .replace(/\/srv\/www/g, srv)
    .replace(/http:\/\/radio\.example:8001\/live/g, `http://127.0.0.1:${live!.port}/live`)
    .replace(/\/var\/www\//g, join(dir.path, 'var', 'www') + '/')
    .replace(/\/etc\/pc\//g, join(dir.path, 'etc', 'pc') + '/')
    .replace(/\/var\/lib\/opentracker\//g, join(dir.path, 'var', 'lib', 'opentracker') + '/')
    .replace(/\/var\/cache\/pc-tracker/g, join(dir.path, 'var', 'cache', 'pc-tracker'))
}

interface Ran { code: number | null, stderr: string, running: boolean, child: ChildProcess }

/** Run a command line in its own process group; give up waiting after BOUND_MS, leaving it running. */
async function runBounded (cmd: string, cwd: string): Promise<Ran> {
  const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PATH: `${join(dir.path, 'bin')}:${process.env.PATH ?? ''}` } })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const code = await Promise.race([exited, sleep(BOUND_MS).then(() => undefined)])
  return { code: code ?? null, get stderr () { return stderr }, running: code === undefined, child }
}

for (const name of PAGES) {
  test(`the EXAMPLES of ${name} run`, async () => {
    const blocks = examples(readFileSync(join(ROOT, 'man', name), 'utf8'))
    // each page starts from the same working directory; pc-hash(1) makes the station's key itself
    const cwd = join(dir.path, name)
    const cp = await run('cp', ['-a', work(), cwd])
    assert.is(cp.code, 0, cp.stderr)
    if (name === 'pc-hash.1') for (const k of ['station', 'station.pub']) await rm(join(cwd, k))
    // /srv/www of the examples is a copy, so that a page writing a playlist there does not change what nginx serves the next
    const srv = join(dir.path, `${name}-www`)
    const cpw = await run('cp', ['-a', www(), srv])
    assert.is(cpw.code, 0, cpw.stderr)
    for (const block of blocks) {
      const ports = new Map<string, number>([['8000', await freePort()]])
      const ownTracker = block.some(c => /^(pc-tracker|scripts\/opentracker\.sh) /.test(c))
      const left: ChildProcess[] = []
      try {
        for (const line of block) {
          const cmd = await localize(line, ports, ownTracker, srv)
          const r = await runBounded(cmd, cwd)
          if (r.running) {
            left.push(r.child)
            // our commands say nothing on stderr unless something is wrong (no -v here)
            assert.not.match(r.stderr, /^pc-[a-z]+: |error|Usage:/im, `${line}\n  ran as: ${cmd}\n  still running, but said: ${r.stderr}`)
          } else {
            // `| head` ends the pipeline early: what feeds it may die of SIGPIPE (128 + 13), as in any shell
            assert.is(r.code === 141 && /\| head\b/.test(line) ? 0 : r.code, 0, `${line}\n  ran as: ${cmd}\n  exit ${String(r.code)}: ${r.stderr}`)
          }
        }
      } finally {
        for (const c of left) { try { process.kill(-c.pid!, 'SIGKILL') } catch { /* gone */ } }
      }
    }
  })
}

test('the example extractor finds the commands of each kind of block', async () => {
  const page = (await readFile(join(ROOT, 'man', 'pc-frames.5'), 'utf8'))
  assert.equal(examples(page), [['pc-fetch < schedule | od -A d -c | head -2'], ['pc-fetch < schedule | pc-reorder --raw | mpv -']])
  const tracker = examples(await readFile(join(ROOT, 'man', 'pc-tracker.1'), 'utf8'))
  assert.ok(tracker.some(b => b.includes('pc-schedule https://radio.example/list.rss | pc-fetch --tracker http://radio.example:6969/announce | pc-icecast :8000')), JSON.stringify(tracker))
})

test.run()
