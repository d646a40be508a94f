// Bench plumbing: one measured child process (time to first byte and first MiB, total,
// output hash), CPU and peak memory read from /proc, medians.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const MIB = 1024 * 1024

let ticks: number | undefined
/** USER_HZ, the unit of utime/stime in /proc/PID/stat */
export function clockTicks (): number {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
    ticks = Number(r.stdout?.trim()) || 100
  }
  return ticks
}

/** utime + stime of a live process (all its threads), in seconds; undefined once it is gone. */
export function cpuSeconds (pid: number): number | undefined {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return undefined }
  // the command name (field 2) may hold spaces and parentheses: split after the last ')'
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields 14 and 15 of stat(5); f[0] is field 3
  return (Number(f[11]) + Number(f[12])) / clockTicks()
}

/** Peak resident set (VmHWM) of a live process, in bytes. */
export function peakRssBytes (pid: number): number | undefined {
  let status: string
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return undefined }
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status)
  return m ? Number(m[1]) * 1024 : undefined
}

export function median (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function max (xs: number[]): number { return xs.length ? Math.max(...xs) : NaN }

const POLL_MS = 100

/**
 * A child whose stdout is the measured output: hashed and counted, never stored.
 * Times are ms from spawn. CPU and VmHWM are polled while it lives and read once more
 * on demand, so a process that exits on its own still has its last figures.
 */
export class Measured {
  readonly child: ChildProcess
  readonly t0 = performance.now()
  bytes = 0
  firstByteMs?: number
  firstMibMs?: number
  doneMs?: number
  cpu = 0
  peakRss = 0
  stderr = ''
  exit?: { code: number | null, signal: NodeJS.Signals | null }
  /** whether it exited on its own, before stop() */
  exitedEarly = false
  private stopping = false
  readonly done: Promise<void>
  readonly exited: Promise<void>
  private readonly hash = createHash('sha256')
  private digest?: string
  private readonly poll: NodeJS.Timeout

  /** `hashOutput: false` only counts the output (for items too big to hash on the side) */
  constructor (cmd: string, args: string[], readonly expectBytes: number, opts: SpawnOptions = {}, readonly hashOutput = true) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts })
    this.child.stdin?.on('error', () => {})
    this.child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000) })
    this.exited = new Promise(resolve => this.child.once('close', (code, signal) => { this.exit = { code, signal }; this.exitedEarly = !this.stopping; this.sample(); clearInterval(this.poll); resolve() }))
    this.done = new Promise(resolve => {
      const finish = (): void => { if (this.doneMs === undefined) { this.doneMs = performance.now() - this.t0; this.sample() } resolve() }
      this.child.stdout?.on('data', (d: Buffer) => {
        const now = performance.now() - this.t0
        if (this.bytes === 0) this.firstByteMs = now
        this.bytes += d.length
        if (this.firstMibMs === undefined && this.bytes >= Math.min(MIB, expectBytes)) this.firstMibMs = now
        if (this.hashOutput) this.hash.update(d)
        if (this.bytes >= expectBytes) finish()
      })
      this.child.stdout?.on('end', finish)
      this.child.once('error', (e) => { this.stderr += String(e); finish() })
    })
    this.poll = setInterval(() => this.sample(), POLL_MS)
  }

  /** read CPU and VmHWM now, if the process is still there */
  sample (): void {
    const pid = this.child.pid
    if (pid === undefined) return
    const c = cpuSeconds(pid)
    if (c !== undefined) this.cpu = c
    const m = peakRssBytes(pid)
    if (m !== undefined) this.peakRss = m
  }

  sha256 (): string { this.digest ??= this.hash.digest('hex'); return this.digest }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited */
  async stop (graceMs = 5000): Promise<void> {
    this.stopping = true
    this.sample()
    if (this.exit === undefined) {
      this.child.kill('SIGTERM')
      const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
      await this.exited
      clearTimeout(t)
    }
  }
}

/** Run to exit with stdout to `fd` (a file), timing it; for curl and pc-fetch to a file. */
export async function timedRun (cmd: string, args: string[], stdoutFd: number | 'ignore'): Promise<{ ms: number, code: number | null, stderr: string, peakRss: number }> {
  const t0 = performance.now()
  const c = spawn(cmd, args, { stdio: ['ignore', stdoutFd, 'pipe'] })
  let stderr = ''
  let peakRss = 0
  c.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const poll = setInterval(() => { const m = c.pid ? peakRssBytes(c.pid) : undefined; if (m) peakRss = m }, POLL_MS)
  const code = await new Promise<number | null>(resolve => { c.once('close', resolve); c.once('error', () => resolve(127)) })
  clearInterval(poll)
  return { ms: performance.now() - t0, code, stderr, peakRss }
}

/** Run to exit under /usr/bin/time: wall and CPU (user + system) ms, peak RSS (exact, from the kernel); throws unless it exits 0. */
export async function timed (cmd: string, argv: string[]): Promise<{ wallMs: number, cpuMs: number, rssBytes: number }> {
  const out = join(tmpdir(), `pc-bench-${process.pid}.time`)
  const c = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  c.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
  const code = await new Promise<number | null>(resolve => c.once('close', resolve))
  if (code !== 0) throw new Error(`${cmd} ${argv.join(' ')}: exit ${code}: ${stderr}`)
  const [e, u, s, m] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
  await rm(out, { force: true })
  return { wallMs: e * 1000, cpuMs: (u + s) * 1000, rssBytes: m * 1024 }
}
