#!/usr/bin/env node
// pc-reorder: a frame stream in any order in (pc-frames.5), in-order frames or (--raw) plain bytes out.
import { run, openInput, sizeOption, durationOption, refuseBinaryToTTY, UsageError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { pipeReordered } from '../lib/frames/reorder.js'

const OPTIONS: OptionTable = {
  window: { alias: 'w', type: 'string', default: '8M', arg: 'SIZE', help: 'most bytes held back waiting for a missing earlier byte; when full, the missing range is skipped' },
  deadline: { alias: 'd', type: 'string', default: '', arg: 'DURATION', help: 'skip a missing range this long after it was due (default: wait for it)' },
  raw: { alias: 'r', type: 'boolean', help: 'write the item bytes only, in order, gaps left out' },
  verbose: { alias: 'v', type: 'boolean', help: 'a line on stderr per item: bytes delivered, gaps' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [FILE|-]',
  summary: 'Put a frame stream back in order: frames (or bytes with --raw) out, within a bounded window.',
  examples: [
    'pc-schedule list.rss | pc-fetch | pc-reorder --raw | mpv -',
    'pc-reorder --deadline 2s --window 4M < frames > ordered',
  ],
  maxArgs: 1,
}

run('pc-reorder', OPTIONS, INFO, async (opts, io) => {
  const windowBytes = sizeOption(opts, 'window')
  if (windowBytes < 1) throw new UsageError('--window: must be at least 1 byte')
  const deadlineMs = opts.deadline === '' ? undefined : durationOption(opts, 'deadline')
  refuseBinaryToTTY(io)
  const spec = opts._[0] ?? '-'
  const input = await openInput(spec, io)
  // a consumer drains its input to EOF on SIGINT so the last frames arrive (a second signal ends it)
  await pipeReordered(input, io.stdout, {
    windowBytes,
    deadlineMs,
    raw: !!opts.raw,
    where: spec === '-' ? 'stdin' : spec,
    warn: io.warn,
    report: io.verbose ? io.warn : undefined,
  })
})
