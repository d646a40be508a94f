#!/usr/bin/env node
// pc-playlist: media paths/URLs (args, or one a line on stdin; .m3u/.pls expanded) in, an Alluvium RSS 1.0 playlist out.
import { dirname, resolve } from 'node:path'
import { run, sizeOption, UsageError, type CommandInfo, type OptionTable, type Opts } from '../lib/core/cli.js'
import { buildPlaylist, liveSlotTypes, parseLiveSlot, writeFileAtomic } from '../lib/playlist/build.js'
import { writeAll } from '../lib/core/ndjson.js'
import { readSecretKey, sign } from '../lib/hashing/sign.js'
import { parseTime } from '../lib/core/units.js'
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES } from '../lib/hashing/hashtree.js'
import { findLiveManifest } from '../lib/live/find.js'

/** how long the manifest of a live mount with no type in its name is waited for */
const LIVE_TYPE_TIMEOUT_MS = 3000

const OPTIONS: OptionTable = {
  output: { alias: 'o', type: 'string', arg: 'FILE', help: 'write the playlist to FILE (atomically) instead of stdout' },
  title: { alias: 't', type: 'string', default: 'pc playlist', arg: 'TEXT', help: 'channel title' },
  link: { type: 'string', arg: 'URL', help: "channel link (default: --base-url, else the first item's directory)" },
  description: { type: 'string', arg: 'TEXT', help: 'channel description (default: item count and time span)' },
  'base-url': { alias: 'b', type: 'string', arg: 'URL', help: 'the URL of --root, where listeners fetch local files' },
  root: { type: 'string', arg: 'DIR', help: 'local directory that --base-url stands for (default: the directory of --output, else .)' },
  start: { alias: 's', type: 'string', default: 'now', arg: 'TIME', help: 'when the first item starts (ISO 8601 with offset, now, +10m)' },
  until: { alias: 'u', type: 'string', arg: 'TIME', help: 'repeat the list until TIME (+24h counts from --start)' },
  shuffle: { type: 'boolean', help: 'shuffle the items (anew on each repetition)' },
  live: { type: 'string', repeat: true, arg: 'URL@START/DURATION[/TITLE]', help: 'a live show (a pc-live mount) on air from START for DURATION; the music around it is cut and resumed' },
  remux: { type: 'boolean', help: 'copy a plain MP4/MOV with video into NAME.frag.mp4 beside it (ffmpeg -c copy) and list that' },
  hash: { type: 'boolean', help: 'write FILE.hashtree beside each local file, roots in dc:identifier' },
  'chunk-size': { type: 'string', default: '128k', arg: 'SIZE', help: 'hash-tree chunk size for --hash' },
  sign: { type: 'string', arg: 'KEYFILE', help: 'sign the playlist with this ed25519 secret key (needs -o or --sig-out)' },
  'sig-out': { type: 'string', arg: 'PATH', help: 'where the signature goes (default: OUTPUT.sig)' },
  whitelist: { type: 'string', arg: 'FILE', help: 'write the info-hashes of hashed items for opentracker -w (needs --hash)' },
  verbose: { alias: 'v', type: 'boolean', help: 'report each item on stderr' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[OPTIONS] [MEDIA|LIST|URL|-]...',
  summary: 'Probe media files or URLs and write an Alluvium playlist (RSS 1.0) that lays them out in time.',
  examples: [
    "find /srv/www/music -name '*.mp3' | pc-playlist -b https://radio.example/ --root /srv/www -o /srv/www/list.rss",
    'pc-playlist -b https://radio.example/ --start 2026-12-01T00:00:00+01:00 --until +24h --shuffle --hash show.m3u > day.rss',
    'pc-playlist --sign station.key -o list.rss -b https://radio.example/ *.ogg',
    "pc-playlist -b https://radio.example/ --until +24h --live 'http://radio.example:8000/live@2026-12-04T20:00:00+01:00/2h/Friday Mix' *.mp3 > day.rss",
  ],
}

function str (opts: Opts, key: string): string | undefined { return typeof opts[key] === 'string' ? opts[key] as string : undefined }

function timeOption (opts: Opts, key: string, now: number): number {
  try { return parseTime(String(opts[key]), now) } catch (e) { throw new UsageError(`--${key}: ${(e as Error).message}`) }
}

function urlOption (opts: Opts, key: string, dir: boolean): string | undefined {
  const v = str(opts, key)
  if (v === undefined) return undefined
  let u: URL
  try { u = new URL(v) } catch { throw new UsageError(`--${key}: not an absolute URL: '${v}'`) }
  if (dir && !/^https?:$/.test(u.protocol)) throw new UsageError(`--${key}: listeners fetch over http or https, not '${u.protocol}'`)
  if (dir && !u.pathname.endsWith('/')) u.pathname += '/'
  return u.href
}

run('pc-playlist', OPTIONS, INFO, async (opts, io) => {
  const now = Date.now()
  const output = str(opts, 'output')
  const start = timeOption(opts, 'start', now)
  const until = opts.until !== undefined ? timeOption(opts, 'until', start) : undefined // +24h counts from --start
  if (until !== undefined && until <= start) throw new UsageError('--until must be after --start')
  const chunkSize = sizeOption(opts, 'chunkSize')
  if (chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) throw new UsageError(`--chunk-size: outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES} bytes`)
  const keyFile = str(opts, 'sign')
  const sigOut = str(opts, 'sigOut') ?? (keyFile && output ? output + '.sig' : undefined)
  if (keyFile && !sigOut) throw new UsageError('--sign needs -o FILE or --sig-out PATH for the signature')
  if (!keyFile && str(opts, 'sigOut')) throw new UsageError('--sig-out without --sign')
  const whitelist = str(opts, 'whitelist')
  if (whitelist && !opts.hash) throw new UsageError('--whitelist needs --hash (it lists the hashed items)')
  const secretKey = keyFile ? await readSecretKey(keyFile) : undefined
  const live = (opts.live as string[]).map(s => parseLiveSlot(s, start)) // +3h counts from --start
  const log = io.verbose ? (m: string) => io.stderr.write(`pc-playlist: ${m}\n`) : undefined
  await liveSlotTypes(live, async url => (await findLiveManifest(url, AbortSignal.timeout(LIVE_TYPE_TIMEOUT_MS)).catch(() => undefined))?.manifest, log)

  const built = await buildPlaylist({
    args: opts._,
    stdin: io.stdin,
    cwd: process.cwd(),
    baseUrl: urlOption(opts, 'baseUrl', true),
    root: resolve(str(opts, 'root') ?? (output ? dirname(resolve(output)) : '.')),
    title: String(opts.title),
    link: urlOption(opts, 'link', false),
    description: str(opts, 'description'),
    start,
    until,
    shuffle: !!opts.shuffle,
    live,
    remux: !!opts.remux,
    hash: !!opts.hash,
    chunkSize,
    signal: io.signal,
    log,
    warn: io.warn,
  })
  io.signal.throwIfAborted() // interrupted while probing: write nothing
  const bytes = Buffer.from(built.xml, 'utf8')
  if (whitelist) await writeFileAtomic(whitelist, built.infoHashes.map(h => h + '\n').join(''))
  // The signature lands first, so a reader that sees the new playlist finds its signature.
  if (secretKey && sigOut) await writeFileAtomic(sigOut, sign(bytes, secretKey).toString('hex') + '\n')
  if (output) await writeFileAtomic(output, bytes)
  else await writeAll(io.stdout, bytes)
  if (io.verbose) io.stderr.write(`pc-playlist: ${built.items.length} items\n`)
})
