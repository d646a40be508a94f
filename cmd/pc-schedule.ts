#!/usr/bin/env node
// pc-schedule: an Alluvium playlist (path, URL or stdin) in, NDJSON schedule records out.
import { run, intOption, durationOption, UsageError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { parseZonedTime } from '../lib/core/zone-time.js'
import { writeRecord } from '../lib/core/ndjson.js'
import { PlaylistSource, SchedulePoller } from '../lib/playlist/poll.js'
import { follow, recordsAt, systemClock } from '../lib/playlist/schedule.js'
import { Announcer } from '../lib/playlist/announce.js'
import type { ScheduleRecord } from '../lib/core/records.js'

const OPTIONS: OptionTable = {
  at: { alias: 'a', type: 'string', default: 'now', arg: 'TIME', help: 'start with the item on air at TIME (ISO 8601 with offset or [Zone/Name], now, +10m, --at=-1h); in the past it replays' },
  count: { alias: 'n', type: 'string', arg: 'N', help: 'print N records, then exit' },
  follow: { alias: 'f', type: 'boolean', help: 'keep running: print each next item ahead of its start, re-reading the playlist' },
  lead: { type: 'string', default: '10s', arg: 'DURATION', help: 'with --follow, print each item this long before it starts' },
  announce: { type: 'string', default: '24h', arg: 'DURATION', help: 'with --follow, also announce the slots coming this far ahead ("announce": true; 0: none)' },
  poll: { type: 'string', default: '60s', arg: 'DURATION', help: 'with --follow, look for a new playlist this often' },
  start: { type: 'string', arg: 'TIME', help: 'play a playlist that names no time once from TIME, not as a loop from the epoch' },
  key: { alias: 'k', type: 'string', arg: 'PUBKEY', help: 'refuse a playlist whose signature does not verify with this key (hex or file); live records carry it as "publicKey"' },
  sig: { type: 'string', arg: 'FILE|URL', help: 'the detached signature (default: PLAYLIST.sig)' },
  verbose: { alias: 'v', type: 'boolean', help: 'say on stderr when a new playlist is loaded' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [PLAYLIST|URL|-]',
  summary: 'Say which playlist item is on air at a time, and at what offset, as NDJSON schedule records.',
  examples: [
    'pc-schedule --at 2026-11-22T20:00:00+01:00 --count 3 list.rss',
    'pc-schedule --follow https://radio.example/list.rss | pc-fetch | pc-icecast :8000',
    'pc-playlist --start +1m media/*.mp3 | pc-schedule --at +90s -',
  ],
  maxArgs: 1,
}

run('pc-schedule', OPTIONS, INFO, async (opts, io) => {
  const realNow = Date.now()
  const timeOpt = (key: string): number | undefined => {
    if (opts[key] === undefined) return undefined
    try { return parseZonedTime(String(opts[key]), realNow) } catch (e) { throw new UsageError(`--${key}: ${(e as Error).message}`) }
  }
  const at = timeOpt('at') as number
  const start = timeOpt('start')
  const count = opts.count === undefined ? undefined : intOption(opts, 'count', 1, 1_000_000_000)
  const leadMs = durationOption(opts, 'lead')
  const pollMs = Math.max(100, durationOption(opts, 'poll'))
  const key = opts.key === undefined ? undefined : await (await import('../lib/hashing/sign.js')).readPublicKey(String(opts.key))

  const source = new PlaylistSource(opts._[0] ?? '-', {
    stdin: io.stdin, signal: io.signal, key, sig: opts.sig === undefined ? undefined : String(opts.sig),
  })
  const poller = new SchedulePoller(source, {
    layout: { start, warn: io.warn },
    warn: io.warn,
    note: io.verbose ? io.warn : undefined,
  })
  let schedule = await poller.first()
  // a live show's chunks are signed with the station key: pc-fetch takes it from the record
  const publicKey = key?.toString('hex')
  const emit = (rec: ScheduleRecord): Promise<void> => writeRecord(io.stdout, rec.live && publicKey ? { ...rec, publicKey } : rec)

  if (!opts.follow) {
    let n = 0
    for (const rec of recordsAt(schedule, at, count)) { await emit(rec); n++ }
    if (n === 0) io.warn('nothing on air at or after --at: the schedule has ended')
    return
  }
  // --at in the past (or future) runs the whole schedule shifted by that much
  const clock = systemClock(at - realNow)
  const announcer = new Announcer(durationOption(opts, 'announce'))
  let cursor = at
  const announce = async (): Promise<void> => { for (const rec of announcer.update(schedule, cursor, clock.now())) await emit(rec) }
  await follow({
    schedule, at, clock, leadMs, pollMs, count, signal: io.signal,
    // each poll moves the horizon on and announces what the new playlist changed
    reload: async () => { const s = await poller.reload(); if (s) schedule = s; await announce(); return s },
    emit: async (rec) => { await emit(rec); cursor = rec.end ? Date.parse(rec.end) : Infinity; await announce() },
  })
})
