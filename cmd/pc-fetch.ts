#!/usr/bin/env node
// pc-fetch: schedule records (NDJSON) or one URL in; the items, swarmed from peers and the origin and verified, out as frames (or --raw bytes).
import { run, intOption, numberOption, durationOption, sizeOption, parseHostPort, refuseBinaryToTTY, UsageError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { readNdjson } from '../lib/core/ndjson.js'
import { validateRecord, type ScheduleRecord } from '../lib/core/records.js'
import { Fetcher, MAX_CONNECTIONS } from '../lib/swarm/fetcher.js'
import { MAX_PEERS } from '../lib/swarm/members.js'
import { fetchLive } from '../lib/swarm/live-fetch.js'
import { findLiveManifest, mayBeLive } from '../lib/live/find.js'
import { readPublicKey } from '../lib/hashing/sign.js'
import { outputFile } from '../lib/swarm/store.js'
import { DEFAULT_MAX_SHARE, DEFAULT_FAIR_SHARE } from '../lib/swarm/uploads.js'
import { formatTime } from '../lib/core/units.js'
import { setFlagsFromString } from 'node:v8'
import { appendFile } from 'node:fs/promises'

// V8's young generation otherwise doubles to 32 MB over a long item although little of
// it survives: kept at its first size, peak RSS on a 2 GiB item drops by ~15 MB (read at
// each growth, so setting it here takes effect; --max-semi-space-size here would not)
setFlagsFromString('--semi-space-growth-factor=1')

const OPTIONS: OptionTable = {
  tracker: { alias: 't', type: 'string', repeat: true, arg: 'URL', help: 'announce to this tracker (repeatable)' },
  peer: { alias: 'p', type: 'string', repeat: true, arg: 'HOST:PORT', help: 'connect to this peer and keep reconnecting (repeatable)' },
  host: { type: 'string', default: '0.0.0.0', arg: 'ADDR', help: 'address the peer port is bound to' },
  port: { type: 'string', default: '0', arg: 'N', help: 'peer port; 0 picks a free one' },
  raw: { alias: 'r', type: 'boolean', help: 'write plain bytes of whole items in order instead of frames' },
  cache: { type: 'string', arg: 'DIR', help: 'keep chunks in DIR (default: a temporary directory removed on exit)' },
  keep: { type: 'string', arg: 'DURATION', help: 'serve an item to peers this long after it was written (default: 5m; 0 with a URL argument)' },
  'upload-limit': { type: 'string', default: '0', arg: 'RATE', help: 'upload at most RATE bytes per second, 0 for no limit' },
  'max-share': { type: 'string', default: String(DEFAULT_MAX_SHARE), arg: 'R', help: 'upload at most R times the bytes received, over all items: a request that would pass the bound is refused, whatever the chunk; 0 for no bound' },
  'fair-share': { type: 'string', default: String(DEFAULT_FAIR_SHARE), arg: 'R', help: 'past R times the bytes received, over all items, refuse the requests of peers that say they can ask another holder in time; 0 never refuses' },
  'max-peers': { type: 'string', default: String(MAX_PEERS), arg: 'K', help: 'dial no more peers for an item while K are connected; not for live shows' },
  'max-connections': { type: 'string', default: String(MAX_CONNECTIONS), arg: 'M', help: 'accept at most M connections from peers at once, over all items; not for live shows' },
  stats: { type: 'string', arg: 'FILE', help: 'append NDJSON counters to FILE per item and at exit' },
  window: { alias: 'w', type: 'string', default: '16', arg: 'N', help: 'write at most N chunks ahead of the first one not yet written' },
  deadline: { alias: 'd', type: 'string', default: '2s', arg: 'DURATION', help: 'time a request may take before it goes to another peer or the origin' },
  workers: { alias: 'j', type: 'string', default: 'auto', arg: 'N', help: 'threads that verify and store chunks, 0..16 (0: the main thread; auto: two for a --raw download of 64M and more into a file, given 2+ cores)' },
  key: { alias: 'k', type: 'string', arg: 'FILE', help: "the station's public key (.pub file of pc-hash --keygen, or 64 hex) for live shows; a record's publicKey wins" },
  verbose: { alias: 'v', type: 'boolean', help: 'say what happens on stderr (the peer port, trackers, peers dropped, dials failed)' },
  quiet: { alias: 'q', type: 'boolean', help: 'print no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [URL]',
  summary: 'Fetch each scheduled item from peers and the origin, verify every chunk against its hash tree, write frames (or --raw bytes).',
  examples: [
    'pc-schedule --follow https://radio.example/list.rss | pc-fetch -t http://tracker.example:6969/announce | pc-icecast :8000',
    'pc-fetch --raw https://radio.example/song.mp3 > song.mp3',
    'pc-fetch --peer 10.0.0.7:6881 < records.ndjson | pc-reorder --raw | mpv -',
    'pc-fetch --raw --key station.pub http://radio.example:8001/live | mpv -',
  ],
  maxArgs: 1,
}

run('pc-fetch', OPTIONS, INFO, async (opts, io) => {
  const url = opts._[0]
  refuseBinaryToTTY(io)
  const trackers = opts.tracker as string[]
  for (const t of trackers) if (!/^https?:\/\//i.test(t)) throw new UsageError(`--tracker: not an http(s) URL: '${t}'`)
  const peers = (opts.peer as string[]).map(p => parseHostPort(p))
  if (url !== undefined && !/^https?:\/\//i.test(url)) throw new UsageError(`not an http(s) URL: '${url}'`)
  const publicKey = opts.key !== undefined ? await readPublicKey(String(opts.key)) : undefined
  // every option is checked before anything goes over the network
  const port = intOption(opts, 'port', 0, 65535)
  const deadlineMs = Math.max(1, durationOption(opts, 'deadline'))
  const window = intOption(opts, 'window', 1, 65536)
  const workers = opts.workers === 'auto' ? undefined : intOption(opts, 'workers', 0, 16)
  const uploadLimit = sizeOption(opts, 'uploadLimit')
  const maxShare = numberOption(opts, 'maxShare')
  const fairShare = numberOption(opts, 'fairShare')
  const maxPeers = intOption(opts, 'maxPeers', 1, 1_000_000)
  const maxConnections = intOption(opts, 'maxConnections', 1, 1_000_000)
  const keepMs = opts.keep !== undefined ? durationOption(opts, 'keep') : url !== undefined ? 0 : 300_000
  const lio = { warn: io.warn, info: (m: string) => { if (io.verbose) io.stderr.write(`pc-fetch: ${m}\n`) }, debug: (m: string) => { if (io.verbose) io.stderr.write(`pc-fetch: ${m}\n`) }, signal: io.signal }
  // a mount URL (no file extension) may be a live show: its manifest says so
  const live = url !== undefined && mayBeLive({ url, start: '', offset: 0 }) ? await findLiveManifest(url, io.signal) : undefined
  if (url !== undefined && live) {
    const st = await fetchLive({ url, start: formatTime(Date.now()), offset: 0, live: true }, live, io.stdout, {
      trackers, peers, host: String(opts.host), port, raw: !!opts.raw, publicKey,
      deadlineMs: Math.max(deadlineMs, 2 * live.manifest.chunkMs), magic: true, item: 0,
    }, lio)
    if (opts.stats !== undefined) await appendFile(String(opts.stats), JSON.stringify({ type: 'item', item: 0, url, live: true, ...st, peersSeen: st.peersSeen.size }) + '\n')
    return
  }
  const fetcher = new Fetcher({
    trackers, peers,
    host: String(opts.host),
    port,
    raw: !!opts.raw,
    // a one-off --raw fetch into a regular file writes chunks straight into it
    output: url !== undefined && opts.raw ? outputFile(1) : undefined,
    cacheDir: opts.cache as string | undefined,
    keepMs,
    uploadLimit,
    // one pc-fetch is one line: its bound counts over every item it fetches
    maxShare,
    fairShare,
    maxPeers,
    maxConnections,
    statsFile: opts.stats as string | undefined,
    window,
    deadlineMs,
    progress: io.isTTY.stderr && !io.quiet,
    workers,
    publicKey,
  }, {
    ...lio,
    progress: (line) => io.stderr.write(`\rpc-fetch: ${line}\x1b[K`),
  })
  // not awaited: run() fetches the first hash tree while the port opens, and throws what start() throws
  const listening = fetcher.start()
  void listening.then(addr => {
    if (io.verbose) io.stderr.write(`pc-fetch: listening on ${addr.host}:${addr.port}\n`)
  }, () => {})
  async function * records (): AsyncGenerator<ScheduleRecord> {
    if (url !== undefined) { yield { url, start: formatTime(Date.now()), offset: 0 }; return }
    let n = 0
    for await (const v of readNdjson(io.stdin)) yield validateRecord(v, `stdin:${++n}`)
  }
  try {
    await fetcher.run(records(), io.stdout, url !== undefined)
  } finally {
    await fetcher.close(io.signal.aborted)
  }
})
