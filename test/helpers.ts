// Test plumbing: run the built commands as real processes, wait with a bound, clean up.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/** the repository root (tests run from dist/test/…) */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MEDIA = join(ROOT, 'media')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

export function bin (name: string): string { return join(ROOT, 'dist', 'bin', `${name}.js`) }

export interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: Buffer, stderr: string }

const children = new Set<ChildProcess>()

/** Start a command (pc-x) as a child process; it is killed by killChildren(). */
export function start (name: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const cmd = name.startsWith('pc-') ? process.execPath : name
  const argv = name.startsWith('pc-') ? [bin(name), ...args] : args
  const c = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], ...opts })
  children.add(c)
  c.on('exit', () => children.delete(c))
  return c
}

/** Collect a child's output and exit status. */
export function finish (c: ChildProcess, timeoutMs = 30_000): Promise<Result> {
  const out: Buffer[] = []
  let err = ''
  c.stdout?.on('data', (d: Buffer) => out.push(d))
  c.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  return withTimeout(new Promise<Result>((resolve) => {
    c.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }))
  }), timeoutMs, `${c.spawnargs.slice(1).join(' ')} to exit`)
}

/** Run a command to completion, feeding `input` on stdin. */
export async function run (name: string, args: string[] = [], input?: string | Buffer, opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<Result> {
  const c = start(name, args, opts)
  const done = finish(c, opts.timeoutMs)
  c.stdin?.on('error', () => {})
  if (input !== undefined) c.stdin?.end(input); else c.stdin?.end()
  return await done
}

/**
 * Run a command whose stdout is a pipe to a reader that sleeps `delayMs` before it
 * reads anything: what a slow consumer downstream (`| (sleep 5; cat)`) receives.
 */
export async function runIntoSlowReader (name: string, args: string[], input?: string | Buffer, delayMs = 5000): Promise<Result> {
  const reader = start('sh', ['-c', `sleep ${delayMs / 1000}; exec cat`])
  const received = finish(reader, delayMs + 60_000)
  const c = start(name, args, { stdio: ['pipe', reader.stdin!, 'pipe'] })
  reader.stdin!.destroy() // the command holds the pipe's only write end: EOF when it exits
  const done = finish(c, delayMs + 60_000)
  c.stdin?.on('error', () => {})
  c.stdin?.end(input)
  const [w, r] = await Promise.all([done, received])
  return { ...w, stdout: r.stdout }
}

const groups = new Set<ChildProcess>()

/**
 * Start a process in a process group of its own (a shell pipeline, a browser with its
 * renderer and GPU helpers); killGroups() kills the whole group.
 */
export function startGroup (cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: 'ignore', ...opts, detached: true })
  groups.add(c)
  return c
}

/** One of our commands as a word list for `sh -c`: node, its bundle, its arguments, each quoted. */
export function shellCommand (name: string, args: string[]): string {
  return [process.execPath, bin(name), ...args].map(a => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
}

/**
 * A shell pipeline of our commands (`[name, args]` per stage) in a process group of its own
 * (killGroups() kills it), its standard output ignored and its standard error collected.
 */
export function startPipeline (stages: Array<[string, string[]]>): { group: ChildProcess, stderr: () => string } {
  const group = startGroup('sh', ['-c', stages.map(([name, args]) => shellCommand(name, args)).join(' | ')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  group.stderr?.on('data', (d: Buffer) => { log += d.toString() })
  return { group, stderr: () => log }
}

/**
 * Kill every group startGroup() started and wait until each is gone: its leader has
 * exited and no process is left in it (helpers outlive their leader by a moment, and
 * may still write to files a test is about to remove).
 */
export async function killGroups (): Promise<void> {
  const all = [...groups]
  groups.clear()
  await Promise.all(all.map(async (g) => {
    if (g.pid === undefined) return
    const exited = g.exitCode !== null || g.signalCode !== null ? Promise.resolve() : new Promise<void>(resolve => g.once('exit', () => resolve()))
    try { process.kill(-g.pid, 'SIGKILL') } catch { /* already gone */ }
    await withTimeout(exited, 10_000, `process group ${g.pid} to exit`)
    await waitUntil(() => { try { process.kill(-g.pid!, 0); return false } catch { return true } }, 5_000, `every process of group ${g.pid} to exit`)
  }))
}

export function killChildren (): void {
  for (const c of children) { try { c.kill('SIGKILL') } catch { /* gone */ } }
  children.clear()
}

export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms) })
  try { return await Promise.race([p, timeout]) } finally { clearTimeout(t) }
}

export async function tempDir (prefix = 'pc-test-'): Promise<{ path: string, remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: () => rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }) }
}

/** Resolve when `pred` holds for the text a stream has produced so far. */
export function waitForOutput (stream: NodeJS.ReadableStream, pred: (text: string) => boolean, ms: number, what: string): Promise<string> {
  let text = ''
  return withTimeout(new Promise<string>((resolve, reject) => {
    const on = (d: Buffer): void => { text += d.toString(); if (pred(text)) { stream.off('data', on); resolve(text) } }
    stream.on('data', on)
    stream.on('end', () => reject(new Error(`stream ended before ${what}; got: ${text.slice(-500)}`)))
  }), ms, what)
}

/** Resolve once `pred` holds (it may be async), looking every `everyMs`; reject after `ms`, naming `what`. */
export async function waitUntil (pred: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 20): Promise<void> {
  let stop = false
  try {
    await withTimeout((async () => { while (!stop && !await pred()) await sleep(everyMs) })(), ms, what)
  } finally { stop = true }
}

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
