// Shared by the pc-icecast tests: start the server on a free port, talk raw HTTP,
// build frame streams the way pc-fetch writes them.
import { connect } from 'node:net'
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { start, waitForOutput, withTimeout } from '../helpers.js'
import { encodeMagic, encodeFrame, type Frame } from '../../lib/frames/frame.js'
import { freePort } from '../../scripts/free-port.js'

export interface Running { c: ChildProcess, port: number, base: string, stderr: () => string }

/** Start pc-icecast on 127.0.0.1:0 with -v and read back its port. */
export async function startIcecast (args: string[], input?: Buffer): Promise<Running> {
  const c = start('pc-icecast', ['-v', '127.0.0.1:0', ...args])
  let err = ''
  c.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  c.stdin?.on('error', () => {})
  if (input) c.stdin?.end(input)
  const text = await waitForOutput(c.stderr!, t => /serving http:\/\/[^\s]+:\d+\//.test(t), 10_000, 'pc-icecast to listen')
  const port = Number(/serving http:\/\/[^\s]+:(\d+)\//.exec(text)![1])
  return { c, port, base: `http://127.0.0.1:${port}`, stderr: () => err }
}

export interface RawReply { head: string, status: number, headers: Map<string, string>, body: Buffer }

/**
 * Send a raw request; collect the answer until the server closes or `maxBody` bytes
 * of body arrived.
 */
export function rawRequest (port: number, request: string | Buffer, opts: { maxBody?: number, ms?: number } = {}): Promise<RawReply> {
  return withTimeout(new Promise<RawReply>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port })
    const parts: Buffer[] = []
    let size = 0
    const finish = (): void => {
      s.destroy()
      const all = Buffer.concat(parts)
      const end = all.indexOf('\r\n\r\n')
      const head = end < 0 ? all.toString('latin1') : all.subarray(0, end).toString('latin1')
      const headers = new Map<string, string>()
      for (const line of head.split('\r\n').slice(1)) { const i = line.indexOf(':'); if (i > 0) headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim()) }
      resolve({ head, status: Number(/^HTTP\/1\.\d (\d+)/.exec(head)?.[1] ?? 0), headers, body: end < 0 ? Buffer.alloc(0) : all.subarray(end + 4) })
    }
    s.on('data', (d: Buffer) => {
      parts.push(d); size += d.length
      if (opts.maxBody !== undefined) {
        const all = Buffer.concat(parts)
        const end = all.indexOf('\r\n\r\n')
        if (end >= 0 && all.length - end - 4 >= opts.maxBody) finish()
      }
    })
    s.on('end', finish)
    s.on('error', reject)
    s.write(request)
    void size
  }), opts.ms ?? 15_000, 'an HTTP answer')
}

export function get (port: number, path: string, headers: Record<string, string> = {}, opts: { maxBody?: number, method?: string } = {}): Promise<RawReply> {
  const h = Object.entries({ Host: `127.0.0.1:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return rawRequest(port, `${opts.method ?? 'GET'} ${path} HTTP/1.1\r\n${h}\r\n`, opts)
}

/** Run a tool to completion; stdout bytes, stderr text, exit code. */
export function tool (cmd: string, args: string[], ms = 30_000): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    c.stdout.on('data', (d: Buffer) => out.push(d))
    c.stderr.on('data', (d: Buffer) => { err += d.toString() })
    c.on('error', reject)
    c.on('close', code => resolve({ code, stdout: Buffer.concat(out), stderr: err }))
  }), ms, `${cmd} ${args.join(' ')}`)
}

export interface ItemSpec { data: Buffer, title: string, startMs: number, durationMs: number, mime?: string, url?: string }

/**
 * A frame stream as pc-fetch writes it. An item already on air at `nowMs` is joined
 * mid-item: chunk 0 (codec headers live there), a GAP over the skipped bytes, then
 * the chunks from the play position on.
 */
export function frameStream (items: ItemSpec[], nowMs: number, chunkSize = 16384): Buffer {
  const out: Buffer[] = [encodeMagic()]
  items.forEach((it, n) => {
    const size = it.data.length
    const offsetMs = Math.max(0, nowMs - it.startMs)
    out.push(encodeFrame({ type: 'start', item: n, header: {
      url: it.url ?? `http://origin.test/${n}`, title: it.title, mime: it.mime, start: new Date(it.startMs).toISOString(),
      end: new Date(it.startMs + it.durationMs).toISOString(), duration: it.durationMs, offset: offsetMs, size, chunkSize,
    } }))
    const frames: Frame[] = []
    let from = 0
    if (offsetMs > 0) {
      const play = Math.floor(size * offsetMs / it.durationMs / chunkSize) * chunkSize
      if (play > chunkSize) {
        frames.push({ type: 'data', item: n, offset: 0, data: it.data.subarray(0, chunkSize) })
        frames.push({ type: 'gap', item: n, start: chunkSize, end: play })
        from = play
      }
    }
    for (let o = from; o < size; o += chunkSize) frames.push({ type: 'data', item: n, offset: o, data: it.data.subarray(o, o + chunkSize) })
    frames.push({ type: 'end', item: n })
    out.push(...frames.map(encodeFrame))
  })
  return Buffer.concat(out)
}

export interface Icecast2 { proc: ChildProcess, port: number, dir: string, stop: () => Promise<void> }

/**
 * Debian's icecast2 on 127.0.0.1 with a temporary config. It refuses to run as root
 * unless <changeowner> names an unprivileged user, whose files must then be writable.
 */
export async function startIcecast2 (opts: { sourcePassword: string, clients?: number, burstBytes?: number, queueBytes?: number, port?: number }): Promise<Icecast2> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-icecast2-'))
  await mkdir(join(dir, 'log'))
  const port = opts.port ?? await freePort()
  const asRoot = process.getuid?.() === 0
  const config = `<icecast>
  <limits><clients>${opts.clients ?? 100}</clients><sources>4</sources><queue-size>${opts.queueBytes ?? 524288}</queue-size><burst-size>${opts.burstBytes ?? 65536}</burst-size><source-timeout>10</source-timeout></limits>
  <authentication><source-password>${opts.sourcePassword}</source-password><admin-user>admin</admin-user><admin-password>${opts.sourcePassword}-admin</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${dir}/log</logdir><webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot><pidfile>${dir}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>${asRoot ? '<changeowner><user>icecast2</user><group>icecast</group></changeowner>' : ''}</security>
</icecast>
`
  await writeFile(join(dir, 'icecast.xml'), config)
  if (asRoot) await tool('chown', ['-R', 'icecast2:icecast', dir])
  const proc = spawn('icecast2', ['-c', join(dir, 'icecast.xml')], { stdio: ['ignore', 'pipe', 'pipe'] })
  proc.stdout?.resume(); proc.stderr?.resume()
  // ready when it answers HTTP
  for (let i = 0; ; i++) {
    try { const r = await get(port, '/status-json.xsl', {}, {}); if (r.status === 200) break } catch { /* not yet */ }
    if (i > 100 || proc.exitCode !== null) throw new Error(`icecast2 did not start (config in ${dir})`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    proc, port, dir,
    stop: async () => {
      if (proc.exitCode === null) {
        const gone = new Promise(resolve => proc.once('exit', resolve))
        proc.kill('SIGTERM')
        await withTimeout(gone, 5000, 'icecast2 to stop').catch(() => proc.kill('SIGKILL'))
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
