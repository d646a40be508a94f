// Plain MP4 and MOV keep their index ('moov') at one end, so a viewer tuning in mid-item
// gets bytes it cannot decode. ffmpeg copies such a file, without re-encoding, into
// fragmented MP4 (an initialisation segment, then self-describing fragments from each
// keyframe), which a sink can join at any fragment.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { DataError, UnavailableError } from '../core/errors.js'

export const FRAGMENT_FLAGS = 'frag_keyframe+empty_moov+default_base_moof'

/** Whether a probed medium is a plain MP4/MOV with video (its format 'mp4' or 'mov' and a video MIME type). */
export function needsRemux (info: { format: string, mime: string }): boolean {
  return (info.format === 'mp4' || info.format === 'mov') && info.mime.startsWith('video/')
}

/** Where the fragmented copy of `path` goes: beside it, NAME.frag.mp4. */
export function remuxedPath (path: string): string {
  return join(dirname(path), basename(path, extname(path)) + '.frag.mp4')
}

export function remuxArgs (from: string, to: string): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-y', '-i', from, '-map', '0', '-c', 'copy', '-movflags', FRAGMENT_FLAGS, '-f', 'mp4', to]
}

const quote = (s: string): string => /^[\w./+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`

/** The command a broadcaster can run by hand, as the refusal message shows it. */
export function remuxCommand (from: string): string {
  return ['ffmpeg', '-i', from, '-map', '0', '-c', 'copy', '-movflags', FRAGMENT_FLAGS, remuxedPath(from)].map(quote).join(' ')
}

/**
 * Copy `from` into fragmented MP4 beside it, unless a copy no older than it is there
 * already; returns the copy's path and whether it was written now.
 */
export async function remux (from: string, signal?: AbortSignal): Promise<{ path: string, written: boolean }> {
  const to = remuxedPath(from)
  try {
    if ((await stat(to)).mtimeMs >= (await stat(from)).mtimeMs) return { path: to, written: false }
  } catch { /* no copy yet */ }
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(6).toString('hex')}.tmp`)
  const err: Buffer[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const c = spawn('ffmpeg', remuxArgs(from, tmp), { stdio: ['ignore', 'ignore', 'pipe'], signal })
    c.stderr.on('data', (d: Buffer) => { if (err.length < 64) err.push(d) })
    c.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new UnavailableError('--remux needs ffmpeg, which is not on the PATH', from) : e))
    c.on('close', resolve)
  }).catch(async (e) => { await unlink(tmp).catch(() => {}); throw e })
  if (code !== 0) {
    await unlink(tmp).catch(() => {})
    const why = Buffer.concat(err).toString('utf8').trim().split('\n').pop() ?? `exit ${String(code)}`
    throw new DataError(`ffmpeg could not remux it: ${why}`, from)
  }
  await rename(tmp, to)
  return { path: to, written: true }
}
