#!/usr/bin/env node
// pc-tracker: no input; serves the BitTorrent tracker protocol, /stats and a status page (and, with --gateway, hash trees) over HTTP; prints its announce URL.
import { readFile } from 'node:fs/promises'
import { run, intOption, durationOption, parseHostPort, NoInputError, UsageError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { Swarms, parseWhitelist, EXPIRY_FACTOR } from '../lib/tracker/swarms.js'
import { createTrackerServer, listenTracker, announceUrlFor } from '../lib/tracker/server.js'
import { Gateway } from '../lib/tracker/gateway.js'
import { writeAll } from '../lib/core/ndjson.js'

const OPTIONS: OptionTable = {
  interval: { alias: 'i', type: 'string', default: '60s', arg: 'DURATION', help: `how often peers re-announce; a peer silent for ${EXPIRY_FACTOR}× this is dropped` },
  'max-swarms': { type: 'string', default: '128', arg: 'N', help: 'info-hashes tracked at once; announces for more are refused' },
  'max-peers': { type: 'string', default: '1000', arg: 'N', help: 'peers listed per swarm; later peers get peers but are not listed' },
  whitelist: { alias: 'w', type: 'string', arg: 'FILE', help: 'track only the info-hashes in FILE (40 hex digits a line); reread on SIGHUP' },
  gateway: { alias: 'g', type: 'boolean', help: 'serve GET /hashtree?url=URL: fetch, hash and cache media under the --gateway-allow prefixes' },
  'gateway-allow': { type: 'string', repeat: true, arg: 'PREFIX', help: 'a URL prefix the gateway may fetch (repeatable; required with --gateway)' },
  cache: { type: 'string', arg: 'DIR', help: 'keep gateway trees in DIR across restarts' },
  'cache-entries': { type: 'string', default: '64', arg: 'N', help: 'gateway trees kept in memory' },
  verbose: { alias: 'v', type: 'boolean', help: 'log every announce, scrape failure and gateway fetch on stderr' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [[HOST]:PORT]',
  summary: 'Track who has which item (BitTorrent HTTP tracker protocol), show it on / and /stats, and optionally build hash trees for media that has none.',
  examples: [
    'pc-tracker :6969',
    'pc-tracker --whitelist station.hashes 127.0.0.1:6969',
    'pc-tracker --gateway --gateway-allow https://radio.example/media/ :6969',
  ],
  maxArgs: 1,
}

async function loadWhitelist (file: string): Promise<Set<string>> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch (e) { throw new NoInputError(`cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file) }
  return parseWhitelist(text, file)
}

run('pc-tracker', OPTIONS, INFO, async (opts, io) => {
  const spec = opts._[0] ?? ':6969'
  // A bare PORT binds every interface, like :PORT.
  const { host, port } = /^\d+$/.test(spec) ? { host: '', port: Number(spec) } : parseHostPort(spec, '')
  if (port > 65535) throw new UsageError(`port out of range: ${port}`)
  const intervalMs = durationOption(opts, 'interval')
  if (intervalMs < 1000 || intervalMs > 86_400_000) throw new UsageError('--interval: must be 1s..24h')
  const allow = opts.gatewayAllow as string[]
  if (opts.gateway && !allow.length) throw new UsageError('--gateway needs at least one --gateway-allow PREFIX (an open gateway fetches any URL for anyone)')
  if (!opts.gateway && (allow.length || opts.cache !== undefined)) throw new UsageError('--gateway-allow and --cache only make sense with --gateway')
  const whitelistFile = opts.whitelist as string | undefined
  const swarms = new Swarms({
    intervalS: Math.round(intervalMs / 1000),
    maxSwarms: intOption(opts, 'maxSwarms', 1, 1_000_000),
    maxPeers: intOption(opts, 'maxPeers', 1, 1_000_000),
    whitelist: whitelistFile !== undefined ? await loadWhitelist(whitelistFile) : undefined,
  })
  let gateway: Gateway | undefined
  if (opts.gateway) {
    try {
      gateway = new Gateway({ allow, maxEntries: intOption(opts, 'cacheEntries', 1, 100_000), cacheDir: opts.cache as string | undefined, signal: io.signal })
    } catch (e) { throw new UsageError(`--gateway-allow: ${(e as Error).message}`) }
  }
  const log = io.verbose ? io.warn : undefined
  const server = createTrackerServer({ swarms, gateway, log })
  const addr = await listenTracker(server, host, port)
  const sweep = setInterval(() => { const n = swarms.sweep(); if (n) log?.(`expired ${n} peers`) }, intervalMs / 2)
  const onHup = (): void => {
    if (whitelistFile === undefined) return
    loadWhitelist(whitelistFile).then(w => { swarms.limits.whitelist = w; io.warn(`reread ${whitelistFile}: ${w.size} info-hashes`) }, (e: Error) => io.warn(`${e.message}; keeping the old whitelist`))
  }
  process.on('SIGHUP', onHup)
  try {
    if (io.verbose) io.warn(`listening on ${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}, interval ${swarms.limits.intervalS} s${swarms.limits.whitelist ? `, ${swarms.limits.whitelist.size} whitelisted info-hashes` : ''}${gateway ? `, gateway for ${allow.join(' ')}` : ''}`)
    await writeAll(io.stdout, announceUrlFor(addr) + '\n')
    await new Promise<void>(resolve => {
      if (io.signal.aborted) resolve(); else io.signal.addEventListener('abort', () => resolve(), { once: true })
    })
  } finally {
    process.off('SIGHUP', onHup)
    clearInterval(sweep)
    server.close()
    server.closeAllConnections()
  }
})
