#!/usr/bin/env node
// pc-live: a live stream in (source clients as an Icecast 2 server, stdin, or --pull URL);
// chunk files and a live manifest out (--dir, and HTTP on the port), plain players on the mount.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run, intOption, sizeOption, durationOption, parseHostPort, packageVersion, UsageError, DataError, NoInputError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { readSecretKey, publicKeyOf } from '../lib/hashing/sign.js'
import { LiveStation } from '../lib/live/station.js'
import { LiveListeners } from '../lib/live/listeners.js'
import { LiveServer } from '../lib/live/server.js'
import { pullLoop } from '../lib/live/pull.js'
import { Announcer } from '../lib/live/announce.js'
import { findResumable } from '../lib/live/resume.js'
import { LiveWindow } from '../lib/live/window.js'

const OPTIONS: OptionTable = {
  mount: { alias: 'm', type: 'string', default: '/live', arg: 'PATH', help: 'mount sources push to and players open' },
  'password-file': { type: 'string', default: '', arg: 'FILE', help: 'source password (first line; user "source")' },
  dir: { alias: 'd', type: 'string', default: '', arg: 'DIR', help: 'where chunk files and the manifest go (default: a temporary directory)' },
  chunk: { type: 'string', default: '1s', arg: 'DURATION', help: 'chunk duration' },
  window: { alias: 'w', type: 'string', default: '30s', arg: 'DURATION', help: 'how much of the show the directory keeps' },
  'chunk-base': { type: 'string', default: '', arg: 'URL', help: 'base URL the manifest names for the chunks (nginx, CDN)' },
  key: { alias: 'k', type: 'string', default: '', arg: 'FILE', help: 'ed25519 secret key (pc-hash --keygen): sign every chunk' },
  pull: { type: 'string', default: '', arg: 'URL', help: 'read an Icecast/Shoutcast mount as a listener' },
  record: { type: 'string', default: '', arg: 'FILE', help: 'append the whole show to FILE' },
  resume: { type: 'string', default: '10m', arg: 'DURATION', help: 'continue the stream left in --dir if it was on air this recently (0: always a new stream)' },
  tracker: { alias: 't', type: 'string', arg: 'URL', help: 'announce the live swarm here (repeatable)', repeat: true },
  'max-listeners': { type: 'string', default: '100', arg: 'N', help: 'plain players beyond this are refused (403)' },
  'queue-size': { type: 'string', default: '512k', arg: 'SIZE', help: 'a player with more queued is dropped' },
  metaint: { type: 'string', default: '16000', arg: 'BYTES', help: 'audio bytes between ICY metadata blocks' },
  'source-timeout': { type: 'string', default: '10s', arg: 'DURATION', help: 'a source silent this long is disconnected' },
  'header-timeout': { type: 'string', default: '15s', arg: 'DURATION', help: 'a request head must arrive within this' },
  verbose: { alias: 'v', type: 'boolean', help: 'report sources, chunks and players on stderr' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [HOST:]PORT | - | [HOST:]PORT -',
  summary: 'Take a live show in, cut it into signed chunks with a live manifest, serve it.',
  examples: [
    'pc-live 0.0.0.0:8000 --password-file pw --dir /var/www/live --key station.key',
    'ffmpeg -re -i show.wav -f mp3 icecast://source:secret@127.0.0.1:8000/live',
    'ffmpeg -i in.wav -f mp3 - | pc-live --dir /var/www/live -',
    'pc-live :8000 --pull http://icecast.example:8000/radio --tracker http://tracker.example:6969/announce',
  ],
  maxArgs: 2,
}

run('pc-live', OPTIONS, INFO, async (opts, io) => {
  const stdin = opts._.includes('-')
  const hostPort = opts._.find(a => a !== '-')
  if (!stdin && !hostPort) throw new UsageError('missing [HOST:]PORT or -')
  const listen = hostPort ? parseHostPort(hostPort) : undefined
  const mount = String(opts.mount)
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(mount)) throw new UsageError(`--mount: a path of plain names such as /live: '${mount}'`)
  const pull = String(opts.pull)
  if (pull && !/^https?:\/\//i.test(pull)) throw new UsageError(`--pull: not an http(s) URL: '${pull}'`)
  if (pull && stdin) throw new UsageError('--pull and - are two inputs; give one')
  const trackers = opts.tracker as string[]
  if (trackers.length && !listen) throw new UsageError('--tracker needs a [HOST:]PORT to announce')
  const chunkBase = String(opts.chunkBase)
  if (chunkBase && !/^https?:\/\/.+\/$/i.test(chunkBase)) throw new UsageError(`--chunk-base: an http(s) URL ending in /: '${chunkBase}'`)
  const chunkMs = durationOption(opts, 'chunk')
  if (chunkMs < 100 || chunkMs > 60_000) throw new UsageError(`--chunk: ${chunkMs} ms is outside 100ms..60s`)
  const windowMs = durationOption(opts, 'window')
  if (windowMs < 2 * chunkMs) throw new UsageError('--window: must hold at least two chunks')
  let password: string | undefined
  if (opts.passwordFile) {
    const file = String(opts.passwordFile)
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => { throw new NoInputError(`cannot read: ${e.code ?? e.message}`, file) })
    password = text.split(/\r?\n/)[0]
    if (!password) throw new DataError('empty first line', file)
  } else if (!stdin && !pull) throw new UsageError('source clients need --password-file (or read - or --pull)')
  const secretKey = opts.key ? await readSecretKey(String(opts.key)) : undefined
  const resumeMs = durationOption(opts, 'resume')
  const tmp = opts.dir ? undefined : await mkdtemp(join(tmpdir(), 'pc-live-'))
  const verbose = io.verbose ? io.warn : undefined
  const now = Date.now
  const found = opts.dir && resumeMs > 0 ? await findResumable(LiveWindow.manifestPathOf(String(opts.dir), mount), secretKey && publicKeyOf(secretKey), now(), resumeMs) : undefined
  const resume = found && 'nonce' in found ? found : undefined
  if (resume) io.warn(`resuming the show left in ${String(opts.dir)} at chunk ${resume.nextSeq} (its last chunk ended ${Math.round((now() - resume.endMs) / 1000)} s ago)`)
  else if (found && 'why' in found) verbose?.(`a new stream: ${found.why}`)
  const version = packageVersion()

  const record = opts.record ? createWriteStream(String(opts.record), { flags: 'a' }) : undefined
  record?.on('error', e => io.warn(`--record: ${e.message}`))
  const listeners = new LiveListeners({ maxListeners: intOption(opts, 'maxListeners', 0, 1_000_000), queueBytes: sizeOption(opts, 'queueSize'), metaint: intOption(opts, 'metaint', 256, 1_000_000), warn: io.warn, verbose })
  const station = new LiveStation({ chunkMs, windowMs, dir: String(opts.dir) || (tmp as string), mount, chunkBase: chunkBase || undefined, secretKey, listeners, record, now, warn: io.warn, verbose, resume })
  const sourceTimeoutMs = durationOption(opts, 'sourceTimeout')
  const server = listen ? new LiveServer({ ...listen, mount, password, sourceTimeoutMs, headerTimeoutMs: durationOption(opts, 'headerTimeout'), station, listeners, version, now, warn: io.warn, verbose }) : undefined
  let announcer: Announcer | undefined
  try {
    await station.init()
    if (server) {
      const a = await server.listen()
      const h = a.host.includes(':') ? `[${a.host}]` : a.host
      if (io.verbose) io.warn(`serving http://${h}:${a.port}${mount} (manifest ${mount}.json, stream ${station.streamId.toString('hex')})`)
      if (trackers.length) { announcer = new Announcer({ trackers, infoHash: station.infoHash, port: a.port, warn: io.warn, verbose }); announcer.start() }
    }
    const aborted = new Promise<void>(resolve => io.signal.addEventListener('abort', () => resolve(), { once: true }))
    if (stdin) {
      station.sourceBegin(undefined)
      const feed = (async () => { for await (const d of io.stdin) { const w = station.push(d as Buffer); if (w) await w } })()
      await Promise.race([feed, aborted])
      station.sourceEnd()
    } else if (pull) {
      await pullLoop(pull, { station, signal: io.signal, idleTimeoutMs: sourceTimeoutMs, userAgent: `pc-live/${version}`, warn: io.warn, verbose })
    } else {
      await aborted
    }
  } finally {
    await announcer?.stop()
    await server?.close()
    await station.end().finally(async () => {
      await new Promise<void>(resolve => record ? record.end(resolve) : resolve())
      if (tmp) await rm(tmp, { recursive: true, force: true })
    })
  }
})
