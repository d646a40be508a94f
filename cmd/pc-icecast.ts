#!/usr/bin/env node
// pc-icecast: frame stream or plain media bytes in; an Icecast 2 compatible stream out, over HTTP.
import { run, openInput, intOption, sizeOption, durationOption, parseHostPort, packageVersion, UsageError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { Timeline } from '../lib/icecast/timeline.js'
import { pumpInput } from '../lib/icecast/pump.js'
import { IcecastServer } from '../lib/icecast/server.js'
import { Relay, parseRelayUrl } from '../lib/icecast/relay.js'

const OPTIONS: OptionTable = {
  mount: { alias: 'm', type: 'string', default: '/stream', arg: 'PATH', help: 'mount point listeners open' },
  name: { type: 'string', default: 'pc-icecast', arg: 'TEXT', help: 'station name (icy-name)' },
  description: { type: 'string', default: '', arg: 'TEXT', help: 'station description (icy-description)' },
  genre: { type: 'string', default: '', arg: 'TEXT', help: 'genre (icy-genre)' },
  url: { type: 'string', default: '', arg: 'URL', help: 'station home page (icy-url)' },
  public: { type: 'boolean', help: 'mark the stream public (icy-pub: 1)' },
  title: { type: 'string', default: '', arg: 'TEXT', help: 'title of plain input (frames carry their own)' },
  'content-type': { type: 'string', default: '', arg: 'MIME', help: 'override the detected media type' },
  bitrate: { type: 'string', default: '128', arg: 'KBPS', help: 'rate for media that does not say its own timing' },
  burst: { alias: 'b', type: 'string', default: '64k', arg: 'SIZE', help: 'sent at once to a new listener, from now forward' },
  'queue-size': { type: 'string', default: '512k', arg: 'SIZE', help: 'a listener with more queued is dropped' },
  'max-listeners': { type: 'string', default: '1000', arg: 'N', help: 'listeners beyond this are refused (403)' },
  metaint: { type: 'string', default: '16000', arg: 'BYTES', help: 'audio bytes between ICY metadata blocks' },
  'live-delay': { type: 'string', default: '3s', arg: 'DURATION', help: 'a live item plays this long behind the source clock' },
  'read-ahead': { type: 'string', default: '10s', arg: 'DURATION', help: 'media held ahead of the schedule' },
  window: { alias: 'w', type: 'string', default: '8M', arg: 'SIZE', help: 'reorder window for frame input' },
  relay: { type: 'string', default: '', arg: 'URL', help: 'also push to icecast://USER:PASS@HOST:PORT/MOUNT' },
  verbose: { alias: 'v', type: 'boolean', help: 'report listeners and the relay on stderr' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [HOST:]PORT [FILE|-]',
  summary: 'Pace media in real time and serve it as an Icecast 2 compatible stream.',
  examples: [
    'pc-icecast :8000 < song.mp3',
    'pc-schedule https://radio.example/list.rss | pc-fetch | pc-icecast 0.0.0.0:8000 --name "Radio"',
    'pc-fetch < items | pc-icecast :8000 --relay icecast://source:secret@icecast.example:8000/radio',
  ],
  maxArgs: 2,
}

run('pc-icecast', OPTIONS, INFO, async (opts, io) => {
  if (opts._.length < 1) throw new UsageError('missing [HOST:]PORT')
  const { host, port } = parseHostPort(opts._[0])
  const mount = String(opts.mount)
  if (!/^\/[^\s?#]*$/.test(mount) || mount === '/') throw new UsageError(`--mount: must start with / and name a path: '${mount}'`)
  const contentType = String(opts.contentType) || undefined
  const bitrateKbps = intOption(opts, 'bitrate', 1, 100_000)
  const relayTarget = opts.relay ? parseRelayUrl(String(opts.relay)) : undefined
  const verbose = io.verbose ? io.warn : undefined
  const input = await openInput(opts._[1] ?? '-', io)
  const now = Date.now
  const version = packageVersion()

  const liveDelayMs = durationOption(opts, 'liveDelay')
  const timeline = new Timeline({ now, warn: io.warn, verbose, contentType, bitrateKbps, liveDelayMs, title: String(opts.title) || undefined })
  const server = new IcecastServer(timeline, {
    host, port, mount, version, now, warn: io.warn, verbose,
    name: String(opts.name), description: String(opts.description), genre: String(opts.genre), url: String(opts.url), public: !!opts.public,
    burstBytes: sizeOption(opts, 'burst'), queueBytes: sizeOption(opts, 'queueSize'),
    maxListeners: intOption(opts, 'maxListeners', 0, 1_000_000), metaint: intOption(opts, 'metaint', 256, 1_000_000),
    bitrateKbps: contentType ? bitrateKbps : undefined,
  })
  const readAheadMs = durationOption(opts, 'readAhead')
  const windowBytes = sizeOption(opts, 'window')
  const addr = await server.listen()
  if (io.verbose) io.warn(`serving http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}${mount}`)
  if (relayTarget) {
    const relay = new Relay({
      target: relayTarget, version, warn: io.warn, verbose,
      contentType: () => timeline.contentType(),
      ice: () => {
        const st = server.status()
        const h: Record<string, string> = { 'Ice-Public': opts.public ? '1' : '0', 'Ice-Name': st.name, 'Ice-Description': st.description, 'Ice-Genre': st.genre, 'Ice-Url': st.url, 'Ice-Audio-Info': st.audioInfo ?? '' }
        return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== ''))
      },
    })
    server.attach(relay)
    relay.start()
  }
  const aborted = new Promise<void>(resolve => io.signal.addEventListener('abort', () => resolve(), { once: true }))
  try {
    await Promise.race([pumpInput(input, timeline, { readAheadMs, windowBytes, now, warn: io.warn, verbose, signal: io.signal }), aborted])
    await Promise.race([server.done, aborted])
  } finally {
    // at the end of the input, players get what is still queued for them
    await server.close(io.signal.aborted ? 0 : 2000)
    input.destroy()
  }
})
