// Shared command plumbing: option table → minimist config and --help text, typed
// errors → sysexits codes, EPIPE and signal handling, opening `-`/path/URL inputs.
// The one lib/ file allowed to touch process.*.
import minimist from 'minimist'
import { createReadStream, readFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseDuration, parseSize } from './units.js'

export { EX, PcError, UsageError, DataError, NoInputError, UnavailableError, IOError } from './errors.js'
import { EX, PcError, UsageError, DataError, NoInputError, UnavailableError, IOError } from './errors.js'

export interface OptionSpec {
  alias?: string
  type: 'string' | 'boolean'
  default?: string | boolean
  arg?: string
  help: string
  /** may be given more than once; the value is then always an array */
  repeat?: boolean
}
export type OptionTable = Record<string, OptionSpec>

export interface Opts {
  _: string[]
  [k: string]: unknown
}

export interface Io {
  name: string
  stdin: Readable
  stdout: Writable
  stderr: Writable
  env: NodeJS.ProcessEnv
  /** aborted on SIGINT/SIGTERM */
  signal: AbortSignal
  isTTY: { stdin: boolean, stdout: boolean, stderr: boolean }
  /** a diagnostic line on stderr, prefixed with the command name */
  warn: (msg: string) => void
  verbose: boolean
  quiet: boolean
}

export interface CommandInfo {
  usage: string
  summary: string
  examples?: string[]
  /** how many positional arguments are allowed */
  maxArgs?: number
}

function camel (s: string): string { return s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()) }

/** The version in pc's package.json, found by walking up from this file: it runs as
 *  dist/lib/core/cli.js and bundled into dist/bin/pc-*.js, at different depths. */
export function packageVersion (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'pc' && pkg.version) return pkg.version
    } catch { /* next */ }
  }
  return 'unknown'
}

export function helpText (name: string, info: CommandInfo, table: OptionTable): string {
  const lines = [`Usage: ${name} ${info.usage}`, '', info.summary, '', 'Options:']
  const rows: [string, string][] = []
  for (const [long, spec] of Object.entries(table)) {
    const flag = (spec.alias ? `-${spec.alias}, ` : '    ') + `--${long}` + (spec.type === 'string' ? ` ${spec.arg ?? 'VALUE'}` : '')
    const def = spec.default !== undefined && spec.default !== false && spec.default !== '' ? ` (default: ${String(spec.default)})` : ''
    rows.push([flag, spec.help + def])
  }
  rows.push(['-h, --help', 'print this help and exit'])
  rows.push(['    --version', 'print the version and exit'])
  const w = Math.max(...rows.map(r => r[0].length)) + 2
  for (const [f, h] of rows) lines.push('  ' + f.padEnd(w) + h)
  if (info.examples?.length) {
    lines.push('', 'Examples:')
    for (const e of info.examples) lines.push('  ' + e)
  }
  return lines.join('\n') + '\n'
}

/** Parse argv against the table; throws UsageError. Keys come back camelCased. */
export function parseArgs (argv: string[], table: OptionTable, info: CommandInfo): Opts & { help?: boolean, version?: boolean } {
  const string: string[] = []
  const boolean: string[] = ['help', 'version']
  const alias: Record<string, string> = { h: 'help' }
  const defaults: Record<string, unknown> = {}
  for (const [long, spec] of Object.entries(table)) {
    ;(spec.type === 'string' ? string : boolean).push(long)
    if (spec.alias) alias[spec.alias] = long
    if (spec.default !== undefined) defaults[long] = spec.default
  }
  const known = new Set([...string, ...boolean, ...Object.keys(alias)])
  let bad: string | undefined
  const parsed = minimist(argv, {
    string, boolean, alias, default: defaults, '--': true,
    unknown: (arg: string) => {
      if (!arg.startsWith('-') || arg === '-') return true
      const key = arg.replace(/^--?(no-)?/, '').split('=')[0]
      if (!known.has(key) && bad === undefined) bad = arg
      return known.has(key)
    },
  })
  if (bad !== undefined) throw new UsageError(`unknown option '${bad}'`)
  const out: Opts & { help?: boolean, version?: boolean } = { _: [...parsed._.map(String), ...((parsed['--'] ?? []) as string[])] }
  out.help = parsed.help as boolean
  out.version = parsed.version as boolean
  for (const [long, spec] of Object.entries(table)) {
    let v = parsed[long]
    if (spec.type === 'string') {
      if (Array.isArray(v)) {
        if (!spec.repeat) throw new UsageError(`--${long} given more than once`)
      } else if (spec.repeat) v = v === undefined ? [] : [v]
      if (v !== undefined && !spec.repeat && typeof v !== 'string') v = String(v)
      if (typeof v === 'string' && v === '' && parsed[long] !== spec.default && argv.some(a => a === `--${long}` || (spec.alias && a === `-${spec.alias}`))) {
        throw new UsageError(`--${long} needs a value`)
      }
    }
    out[camel(long)] = v
  }
  if (info.maxArgs !== undefined && out._.length > info.maxArgs) {
    throw new UsageError(`too many arguments: ${out._.slice(info.maxArgs).join(' ')}`)
  }
  return out
}

// Option value converters: each throws UsageError naming the option.
export function intOption (opts: Opts, key: string, min: number, max: number): number {
  const raw = String(opts[key])
  if (!/^-?\d+$/.test(raw)) throw new UsageError(`--${kebab(key)}: not an integer: '${raw}'`)
  const n = Number(raw)
  if (n < min || n > max) throw new UsageError(`--${kebab(key)}: ${n} is outside ${min}..${max}`)
  return n
}
/** A decimal number of at least `min` (no exponent, no sign). */
export function numberOption (opts: Opts, key: string, min = 0): number {
  const raw = String(opts[key])
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) < min) throw new UsageError(`--${kebab(key)}: not a number >= ${min}: '${raw}'`)
  return Number(raw)
}
export function durationOption (opts: Opts, key: string): number {
  try { return parseDuration(String(opts[key])) } catch (e) { throw new UsageError(`--${kebab(key)}: ${(e as Error).message}`) }
}
export function sizeOption (opts: Opts, key: string): number {
  try { return parseSize(String(opts[key])) } catch (e) { throw new UsageError(`--${kebab(key)}: ${(e as Error).message}`) }
}
function kebab (s: string): string { return s.replace(/[A-Z]/g, c => '-' + c.toLowerCase()) }

/** Split `[HOST:]PORT` (IPv6 as `[::1]:8000`). */
export function parseHostPort (s: string, defaultHost = '127.0.0.1'): { host: string, port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d+)$/.exec(s)
  if (!m) throw new UsageError(`not [HOST:]PORT: '${s}'`)
  const port = Number(m[3])
  if (port > 65535) throw new UsageError(`port out of range: ${port}`)
  return { host: m[1] ?? (m[2] || defaultHost), port }
}

/** Open a positional input: `-` is stdin, http(s):// is fetched, anything else is a file. */
export async function openInput (spec: string, io: Io): Promise<Readable> {
  if (spec === '-') return io.stdin
  if (/^https?:\/\//i.test(spec)) {
    const { fetchUrl } = await import('./http.js')
    const res = await fetchUrl(spec, { signal: io.signal })
    return Readable.from(res.body as AsyncIterable<Buffer>)
  }
  try {
    const st = await stat(spec)
    if (st.isDirectory()) throw new NoInputError(`is a directory`, spec)
  } catch (e) {
    if (e instanceof PcError) throw e
    throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, spec)
  }
  return createReadStream(spec)
}

function isEpipe (e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE'
}

/** Refuse to write binary data to a terminal. */
export function refuseBinaryToTTY (io: Io): void {
  if (io.isTTY.stdout) throw new UsageError('refusing to write binary data to a terminal; pipe or redirect stdout')
}

/** how long a process whose output is all written may linger for open sockets (peers' goodbyes) */
const LINGER_MS = 2000

/** Resolve once everything written to `out` so far has left our buffers (or `out` is gone). */
function flushed (out: Writable): Promise<void> {
  if (out.destroyed || out.writableFinished || out.writableLength === 0) return Promise.resolve()
  if (out.writableEnded) return new Promise(resolve => { out.once('finish', resolve); out.once('close', resolve) })
  return new Promise(resolve => { out.write('', () => resolve()) })
}

/**
 * Run a command: parse options, handle --help/--version, call main, map errors to
 * exit codes. Sets process.exitCode and lets output drain; process.exit() only once it has.
 */
export function run (name: string, table: OptionTable, info: CommandInfo, main: (opts: Opts, io: Io) => Promise<void>): void {
  const ac = new AbortController()
  let signalled = 0
  let epipe = false
  const io: Io = {
    name,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: ac.signal,
    isTTY: { stdin: !!process.stdin.isTTY, stdout: !!process.stdout.isTTY, stderr: !!process.stderr.isTTY },
    warn: (msg: string) => { if (!io.quiet) process.stderr.write(`${name}: ${msg}\n`) },
    verbose: false,
    quiet: false,
  }
  process.stdout.on('error', (e) => {
    if (isEpipe(e)) { epipe = true; ac.abort(); return }
    process.stderr.write(`${name}: stdout: ${e.message}\n`)
    process.exitCode = EX.IOERR
    ac.abort()
  })
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) { process.exit(128 + (sig === 'SIGINT' ? 2 : 15)) } // second signal: give up at once
    signalled = sig === 'SIGINT' ? 2 : 15
    ac.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let opts: Opts & { help?: boolean, version?: boolean }
  try {
    opts = parseArgs(process.argv.slice(2), table, info)
  } catch (e) {
    process.stderr.write(`${name}: ${(e as Error).message}\nUsage: ${name} ${info.usage}\nTry '${name} --help' for more.\n`)
    process.exitCode = EX.USAGE
    return
  }
  if (opts.help) { process.stdout.write(helpText(name, info, table)); return }
  if (opts.version) { process.stdout.write(`${name} ${packageVersion()}\n`); return }
  io.verbose = !!opts.verbose
  io.quiet = !!opts.quiet

  main(opts, io).then(() => {
    if (signalled) process.exitCode = 128 + signalled
    else if (process.exitCode === undefined) process.exitCode = EX.OK
  }, (e: unknown) => {
    if (epipe || isEpipe(e)) { process.exitCode = EX.OK; return }
    if (signalled && (e as Error)?.name === 'AbortError') { process.exitCode = 128 + signalled; return }
    if (e instanceof PcError) {
      if (e instanceof UsageError) {
        process.stderr.write(`${name}: ${e.message}\nUsage: ${name} ${info.usage}\nTry '${name} --help' for more.\n`)
      } else {
        process.stderr.write(`${name}: ${e.message}\n`)
      }
      process.exitCode = e.code
      return
    }
    process.stderr.write(`${name}: internal error: ${(e as Error)?.stack ?? String(e)}\n`)
    process.exitCode = EX.SOFTWARE
  }).finally(() => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    // Exit only once stdout and stderr have handed every byte to the OS, however long
    // a slow reader takes (pipe writes are asynchronous on POSIX). After that nothing of
    // ours is queued, and a socket left open must not keep us alive: leave at once when
    // the event loop empties, or after LINGER_MS at the latest.
    void Promise.all([flushed(process.stdout), flushed(process.stderr)]).then(() => {
      const code = process.exitCode
      setTimeout(() => process.exit(typeof code === 'number' ? code : 0), LINGER_MS).unref()
    })
  })
}
