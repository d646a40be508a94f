// The media pc-playlist is given, in order: arguments, or one path/URL a line on stdin
// (read as M3U, so `#` lines are comments and #EXTINF titles count), with .m3u, .m3u8
// and .pls lists expanded in place; a list's relative entries are relative to the list.
import { readFile } from 'node:fs/promises'
import { dirname, resolve, isAbsolute } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Readable } from 'node:stream'
import { DataError, NoInputError, PcError } from '../core/errors.js'
import { fetchAll, isUrl } from '../core/byte-source.js'

/** A list bigger than this is not a playlist someone wrote. */
export const MAX_LIST_BYTES = 8 * 1024 * 1024
/** Lists including lists including lists…: a cycle stops here. */
export const MAX_LIST_DEPTH = 8

export interface MediaEntry {
  /** an absolute local path, or an http(s) URL */
  spec: string
  /** as it was written (relative paths stay relative), for messages */
  name: string
  /** a title the list gave (#EXTINF, TitleN), if any */
  title?: string
  /** where it was named, for messages: `stdin:3`, `list.m3u:7`, `argument 2` */
  where: string
}

export interface ExpandOptions {
  /** the directory relative paths on the command line and stdin are relative to */
  cwd: string
  signal?: AbortSignal
  /** progress lines (-v) */
  log?: (msg: string) => void
}

const LIST_EXT = /\.(m3u8?|pls)$/i

function isList (spec: string): boolean {
  return LIST_EXT.test(isUrl(spec) ? new URL(spec).pathname : spec)
}

/** Expand arguments (none, or `-`: stdin) into media entries. */
export async function expandInputs (args: string[], stdin: Readable, opts: ExpandOptions): Promise<MediaEntry[]> {
  const out: MediaEntry[] = []
  const specs = args.length === 0 ? ['-'] : args
  for (let i = 0; i < specs.length; i++) {
    const a = specs[i]
    if (a === '-') {
      opts.log?.('reading paths from stdin')
      const text = await readStream(stdin, 'stdin', opts.signal)
      for (const e of parseM3u(text, 'stdin', opts.cwd)) await add(e, out, opts, 0)
    } else {
      await add({ spec: toSpec(a, opts.cwd, `argument ${i + 1}`), name: a, where: `argument ${i + 1}` }, out, opts, 0)
    }
  }
  return out
}

async function add (e: MediaEntry, out: MediaEntry[], opts: ExpandOptions, depth: number): Promise<void> {
  if (!isList(e.spec)) { out.push(e); return }
  if (depth >= MAX_LIST_DEPTH) throw new DataError(`lists nested more than ${MAX_LIST_DEPTH} deep (a list that includes itself?)`, e.where)
  const text = await readList(e.spec, opts.signal)
  const base = isUrl(e.spec) ? e.spec : dirname(e.spec)
  const entries = /\.pls$/i.test(isUrl(e.spec) ? new URL(e.spec).pathname : e.spec) ? parsePls(text, e.spec, base) : parseM3u(text, e.spec, base)
  for (const x of entries) await add(x, out, opts, depth + 1)
}

/** An entry as a local absolute path or a URL; relative ones are taken against `base` (a directory or a URL). */
export function toSpec (entry: string, base: string, where: string): string {
  if (isUrl(entry)) {
    // normalized, so a space or non-ASCII character becomes a valid URI in the playlist
    try { return new URL(entry).href } catch { throw new DataError(`not a valid URL: '${entry}'`, where) }
  }
  if (/^file:/i.test(entry)) {
    try { return fileURLToPath(entry) } catch { throw new DataError(`not a usable file: URL: '${entry}'`, where) }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) throw new DataError(`unsupported URL scheme: '${entry}' (http, https or a local path)`, where)
  if (isUrl(base)) return new URL(entry, base).href
  return isAbsolute(entry) ? entry : resolve(base, entry)
}

/** M3U and extended M3U: one entry a line, `#EXTINF:secs,title` before an entry. */
export function parseM3u (text: string, where: string, base: string): MediaEntry[] {
  const out: MediaEntry[] = []
  let title: string | undefined
  const lines = text.replace(/^\uFEFF/, '').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '').trim()
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^#EXTINF:[^,]*,(.*)$/i.exec(line)
      if (m) title = m[1].trim() || undefined
      continue
    }
    const at = `${where}:${i + 1}`
    out.push({ spec: toSpec(line, base, at), name: line, where: at, ...(title !== undefined ? { title } : {}) })
    title = undefined
  }
  return out
}

/** PLS: an INI `[playlist]` section with FileN= and TitleN= keys, played in N order. */
export function parsePls (text: string, where: string, base: string): MediaEntry[] {
  const files = new Map<number, { spec: string, name: string, where: string }>()
  const titles = new Map<number, string>()
  let sawHeader = false
  const lines = text.replace(/^\uFEFF/, '').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '').trim()
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue
    if (/^\[playlist\]$/i.test(line)) { sawHeader = true; continue }
    const at = `${where}:${i + 1}`
    const m = /^(File|Title|Length)(\d+)\s*=\s*(.*)$/i.exec(line)
    if (m) {
      const n = Number(m[2])
      if (/^file$/i.test(m[1])) files.set(n, { spec: toSpec(m[3], base, at), name: m[3], where: at })
      else if (/^title$/i.test(m[1]) && m[3] !== '') titles.set(n, m[3])
    } else if (!/^[A-Za-z]+\s*=/.test(line)) {
      throw new DataError(`not a PLS line: '${line.slice(0, 60)}'`, at)
    }
  }
  if (!sawHeader) throw new DataError('not a PLS file (no [playlist] section)', `${where}:1`)
  return [...files.keys()].sort((a, b) => a - b).map(n => {
    const f = files.get(n) as { spec: string, name: string, where: string }
    const t = titles.get(n)
    return { ...f, ...(t !== undefined ? { title: t } : {}) }
  })
}

async function readList (spec: string, signal?: AbortSignal): Promise<string> {
  let bytes: Buffer
  if (isUrl(spec)) {
    bytes = await fetchAll(spec, MAX_LIST_BYTES, signal)
  } else {
    try {
      bytes = await readFile(spec)
    } catch (e) {
      throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, spec)
    }
    if (bytes.length > MAX_LIST_BYTES) throw new DataError(`list larger than ${MAX_LIST_BYTES} bytes`, spec)
  }
  return decodeText(bytes)
}

/** UTF-8 when it is valid UTF-8; otherwise Latin-1, which old .m3u and .pls files used. */
function decodeText (b: Buffer): string {
  try { return new TextDecoder('utf-8', { fatal: true }).decode(b) } catch { return b.toString('latin1') }
}

async function readStream (input: Readable, where: string, signal?: AbortSignal): Promise<string> {
  const parts: Buffer[] = []
  let n = 0
  // A signal while we wait for the paths (a terminal, a slow `find`) ends the wait.
  const onAbort = (): void => { input.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' })) }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const d of input as AsyncIterable<Buffer | string>) {
      const b = typeof d === 'string' ? Buffer.from(d) : d
      n += b.length
      if (n > MAX_LIST_BYTES) throw new DataError(`more than ${MAX_LIST_BYTES} bytes of paths`, where)
      parts.push(b)
    }
  } catch (e) {
    if (e instanceof PcError || signal?.aborted) throw e
    throw new NoInputError(`cannot read: ${(e as Error).message}`, where)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return decodeText(Buffer.concat(parts))
}
