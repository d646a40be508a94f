// One tracker's announce schedule (lib/tracker/schedule.ts), with pc-live's settings: the
// wait after a failure doubles from 2 s up to the cap (the tracker's last interval), the
// first failure and the return are said on one channel, the later failures on another;
// a new plan replaces the old one, and nothing runs once stopped.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { TrackerSchedule } from '../../lib/tracker/schedule.js'
import { RETRY_FIRST_MS } from '../../lib/live/announce.js'
import { VirtualClock } from './memory-net.js'
import { UnavailableError } from '../../lib/core/errors.js'

const URL = 'http://tracker.example/announce'

function schedule (clock = new VirtualClock()): { s: TrackerSchedule, said: string[] } {
  const said: string[] = []
  const s = new TrackerSchedule(URL, RETRY_FIRST_MS, { failing: m => said.push(`warn ${m}`), back: m => said.push(`warn ${m}`), again: m => said.push(`verbose ${m}`) }, clock)
  return { s, said }
}

test('failures: 2, 4, 8 … s up to the cap; said once as a warning, then verbosely; the return said once', () => {
  const { s, said } = schedule()
  const down = new Error('no answer within 10000 ms')
  const waits = [0, 1, 2, 3, 4, 5].map(() => s.failed(down, 60_000))
  assert.equal(waits, [2000, 4000, 8000, 16_000, 32_000, 60_000])
  assert.is(s.failures, 6)
  assert.equal(said.slice(0, 3), [
    `warn tracker ${URL}: no answer within 10000 ms; retrying`,
    `verbose tracker ${URL}: no answer within 10000 ms; again in 4 s`,
    `verbose tracker ${URL}: no answer within 10000 ms; again in 8 s`,
  ])
  s.answered(20)
  assert.is(s.failures, 0)
  assert.is(s.interval, 20)
  assert.is(said.at(-1), `warn tracker ${URL}: answering again`)
  s.answered(20)
  assert.is(said.filter(m => /answering again/.test(m)).length, 1, 'said once')
  // failing again starts over at 2 s, up to the interval it named
  assert.equal([0, 1, 2, 3, 4].map(() => s.failed(down, s.interval! * 1000)), [2000, 4000, 8000, 16_000, 20_000])
})

test('an error that names the tracker as its place is said with the URL once', () => {
  const { s, said } = schedule()
  s.failed(new UnavailableError('cannot fetch: ECONNREFUSED', URL), 60_000)
  s.failed(new UnavailableError('cannot fetch: ECONNREFUSED', URL), 60_000)
  // (an error about another place keeps its place)
  s.failed(new UnavailableError('cannot fetch: ECONNREFUSED', 'http://elsewhere.example/'), 60_000)
  assert.equal(said, [
    `warn tracker ${URL}: cannot fetch: ECONNREFUSED; retrying`,
    `verbose tracker ${URL}: cannot fetch: ECONNREFUSED; again in 4 s`,
    `verbose tracker ${URL}: http://elsewhere.example/: cannot fetch: ECONNREFUSED; again in 8 s`,
  ])
})

test('the next plan replaces the last; stop() cancels it and plans nothing more', async () => {
  const clock = new VirtualClock()
  const { s } = schedule(clock)
  const ran: string[] = []
  s.after(5000, () => ran.push('first'))
  s.after(3000, () => ran.push('second'))
  await clock.run(10_000)
  assert.equal(ran, ['second'])
  s.after(1000, () => ran.push('third'))
  s.stop()
  s.after(1000, () => ran.push('after stop'))
  await clock.run(20_000)
  assert.equal(ran, ['second'])
})

test.run()
