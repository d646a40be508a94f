import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseZonedTime } from '../../lib/core/zone-time.js'

const T = (s: string): number => Date.parse(s)

test('a wall time in a named zone, either side of the spring change', () => {
  assert.is(parseZonedTime('2026-03-29T01:30:00[Europe/Berlin]'), T('2026-03-29T00:30:00Z'))
  assert.is(parseZonedTime('2026-03-29T03:30:00[Europe/Berlin]'), T('2026-03-29T01:30:00Z'))
  assert.is(parseZonedTime('2026-11-22T20:00[America/New_York]'), T('2026-11-23T01:00:00Z'))
  assert.is(parseZonedTime('2026-07-01T12:00:00.250[Asia/Kolkata]'), T('2026-07-01T06:30:00.250Z'))
})

test('refuses a wall time the clocks skip or repeat, and an unknown zone', () => {
  assert.throws(() => parseZonedTime('2026-03-29T02:30:00[Europe/Berlin]'), /does not exist in Europe\/Berlin/)
  assert.throws(() => parseZonedTime('2026-10-25T02:30:00[Europe/Berlin]'), /happens twice in Europe\/Berlin/)
  assert.throws(() => parseZonedTime('2026-10-25T02:30:00[Mars/Olympus]'), /unknown time zone/)
})

test('an offset decides when given; plain forms are parseTime', () => {
  assert.is(parseZonedTime('2026-10-25T02:30:00+01:00[Europe/Berlin]'), T('2026-10-25T01:30:00Z'))
  assert.is(parseZonedTime('2026-10-25T02:30:00+02:00[Europe/Berlin]'), T('2026-10-25T00:30:00Z'))
  assert.is(parseZonedTime('now', 1234), 1234)
  assert.is(parseZonedTime('+10m', 0), 600_000)
  assert.throws(() => parseZonedTime('2026-10-25T02:30:00'), /not a time/)
})

test.run()
