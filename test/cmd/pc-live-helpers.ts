// Shared by the pc-live tests: start pc-live on a free port with a temporary
// directory, start real source clients, read the manifest.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { start, tempDir, waitForOutput, withTimeout, sleep } from '../helpers.js'
import { get } from './icecast-helpers.js'
import type { LiveManifest } from '../../lib/live/manifest.js'

export const PASSWORD = 'hackme'

export interface Live { c: ChildProcess, port: number, dir: string, stderr: () => string, remove: () => Promise<void> }

/** pc-live -v on 127.0.0.1:0 with --password-file and a temporary --dir (both in one temp dir). */
export async function startLive (args: string[] = [], opts: { input?: boolean, port?: boolean } = {}): Promise<Live> {
  const tmp = await tempDir('pc-live-test-')
  const pw = join(tmp.path, 'pw')
  await writeFile(pw, PASSWORD + '\n')
  const dir = join(tmp.path, 'www')
  const c = start('pc-live', ['-v', ...(opts.port === false ? [] : ['127.0.0.1:0']), '--password-file', pw, '--dir', dir, ...args])
  let err = ''
  c.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  c.stdin?.on('error', () => {})
  let port = 0
  if (opts.port !== false) {
    const text = await waitForOutput(c.stderr!, t => /serving http:\/\/[^\s]+:\d+\//.test(t), 10_000, 'pc-live to listen')
    port = Number(/serving http:\/\/[^\s]+:(\d+)\//.exec(text)![1])
  }
  return { c, port, dir, stderr: () => err, remove: tmp.remove }
}

/** ffmpeg pushing a sine as MP3 (or Ogg Vorbis) for `seconds`, in real time. */
export function ffmpegSource (port: number, opts: { seconds?: number, legacy?: boolean, ogg?: boolean, password?: string, rate?: number } = {}): ChildProcess {
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${opts.rate ?? 44100}`, '-t', String(opts.seconds ?? 4)]
  if (opts.ogg) args.push('-c:a', 'libvorbis', '-content_type', 'application/ogg', '-f', 'ogg')
  else args.push('-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3')
  if (opts.legacy) args.push('-legacy_icecast', '1')
  args.push(`icecast://source:${opts.password ?? PASSWORD}@127.0.0.1:${port}/live`)
  const c = start('ffmpeg', args)
  c.stdout?.resume()
  return c
}

export function exited (c: ChildProcess, ms = 30_000): Promise<{ code: number | null, stderr: string }> {
  let err = ''
  c.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  return withTimeout(new Promise(resolve => {
    if (c.exitCode !== null) { resolve({ code: c.exitCode, stderr: err }); return }
    c.on('close', code => resolve({ code, stderr: err }))
  }), ms, `${c.spawnargs.join(' ')} to exit`)
}

export async function manifest (port: number): Promise<LiveManifest> {
  const r = await get(port, '/live.json')
  if (r.status !== 200) throw new Error(`GET /live.json: ${r.status}`)
  return JSON.parse(r.body.toString()) as LiveManifest
}

/** Poll the manifest until `pred` holds. */
export async function waitManifest (port: number, pred: (m: LiveManifest) => boolean, ms: number, what: string): Promise<LiveManifest> {
  return await withTimeout((async () => {
    for (;;) {
      const m = await manifest(port).catch(() => undefined)
      if (m && pred(m)) return m
      await sleep(100)
    }
  })(), ms, what)
}

/** Run ffmpeg over a file or URL as a decoder; its exit code and error output. */
export function decode (input: string, extra: string[] = []): Promise<{ code: number | null, stderr: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const c = spawn('ffmpeg', ['-nostdin', '-v', 'error', ...extra, '-i', input, '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('error', reject)
    c.on('close', code => resolve({ code, stderr: err }))
  }), 60_000, `ffmpeg decoding ${input}`)
}
