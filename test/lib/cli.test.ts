import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseHostPort, parseArgs, UsageError } from '../../lib/core/cli.js'
import { parseDuration, parseSize, parseTime, formatTime } from '../../lib/core/units.js'

test('parseHostPort reads PORT, :PORT, HOST:PORT and [IPv6]:PORT', () => {
  assert.equal(parseHostPort('6969'), { host: '127.0.0.1', port: 6969 })
  assert.equal(parseHostPort(':8000', '0.0.0.0'), { host: '0.0.0.0', port: 8000 })
  assert.equal(parseHostPort('10.1.2.3:80'), { host: '10.1.2.3', port: 80 })
  assert.equal(parseHostPort('[::1]:8000'), { host: '::1', port: 8000 })
  assert.throws(() => parseHostPort('host:'), (e: Error) => e instanceof UsageError)
  assert.throws(() => parseHostPort('70000'), (e: Error) => e instanceof UsageError)
})

test('units: durations, sizes and times the same way everywhere', () => {
  assert.is(parseDuration('500ms'), 500)
  assert.is(parseDuration('250'), 250)
  assert.is(parseDuration('1.5s'), 1500)
  assert.is(parseDuration('2h'), 7_200_000)
  assert.throws(() => parseDuration('ten'))
  assert.is(parseSize('64k'), 65536)
  assert.is(parseSize('2M'), 2 * 1024 * 1024)
  assert.is(parseSize('100'), 100)
  assert.throws(() => parseSize('-1k'))
  const now = Date.UTC(2026, 10, 22, 12, 0, 0)
  assert.is(parseTime('now', now), now)
  assert.is(parseTime('+10m', now), now + 600_000)
  assert.is(parseTime('2026-11-22T13:00:00+01:00', now), now)
  assert.is(parseTime('2026-11-22T12:00:00Z', now), now)
  assert.throws(() => parseTime('2026-11-22T12:00:00'), /offset/)
  assert.is(formatTime(now), '2026-11-22T12:00:00Z')
  assert.is(formatTime(now + 5), '2026-11-22T12:00:00.005Z')
})

test('parseArgs: minimist never turns values into numbers; unknown options and repeats are usage errors', () => {
  const table = { key: { type: 'string' as const, help: 'k' }, tracker: { type: 'string' as const, repeat: true, help: 't' }, raw: { type: 'boolean' as const, help: 'r' } }
  const info = { usage: 'x', summary: 'x' }
  const o = parseArgs(['--key', '007', '--tracker', 'a', '--tracker', 'b', 'file'], table, info)
  assert.is(o.key, '007')
  assert.equal(o.tracker, ['a', 'b'])
  assert.equal(o._, ['file'])
  assert.throws(() => parseArgs(['--nope'], table, info), /unknown option '--nope'/)
  assert.throws(() => parseArgs(['--key', 'a', '--key', 'b'], table, info), /more than once/)
  assert.equal(parseArgs(['--', '--raw'], table, info)._, ['--raw'])
})

test.run()
