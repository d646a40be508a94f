import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { parsePlaylist, type Playlist, type PlaylistItem } from '../../lib/playlist/read.js'
import { layOut, recordsAt, follow, type Clock, type Schedule } from '../../lib/playlist/schedule.js'
import { DataError } from '../../lib/core/cli.js'
import type { ScheduleRecord } from '../../lib/core/records.js'
import { FIXTURES, withTimeout } from '../helpers.js'

const T = (s: string): number => Date.parse(s)
const fixture = (name: string): Playlist => parsePlaylist(readFileSync(join(FIXTURES, 'schedule', name), 'utf8'), { where: name })
const item = (url: string, f: Partial<PlaylistItem> = {}): PlaylistItem => ({ url, where: `p:${url}`, ...f })
const pl = (items: PlaylistItem[], date?: number): Playlist => ({ items, date, warnings: [] })
const fails = (fn: () => unknown, re: RegExp): void => { assert.throws(fn, (e: Error) => e instanceof DataError && re.test(e.message)) }

test('a playlist with no times loops from the Unix epoch', () => {
  const s = layOut(fixture('actlab-guide.rss'))
  assert.is(s.kind, 'loop')
  const cycle = 188600 + 183400 + 202600 + 95966
  const k = 2_000_000 // some cycle far from the epoch
  const recs = [...recordsAt(s, k * cycle + 188600 + 1000)]
  assert.is(recs.length, 4, 'one full cycle')
  assert.is(recs[0].url.split('/').pop(), 'DayNTime_Short.mov')
  assert.is(recs[0].offset, 1000)
  assert.is(recs[0].start, new Date(k * cycle + 188600).toISOString().replace('.000Z', 'Z'))
  assert.is(recs[3].url.split('/').pop(), 'Trailer_DV_DSL.mov', 'wraps into the next cycle')
  assert.is(Date.parse(recs[3].start), (k + 1) * cycle)
  assert.ok(recs.slice(1).every(r => r.offset === 0))
  assert.is([...recordsAt(s, 0, 9)].length, 9, '--count goes past one cycle')
})

test('each item without ev:startdate starts when the previous ends; the first at channel dc:date', () => {
  const s = layOut(pl([item('a', { duration: 1000 }), item('b', { duration: 2000 }), item('c', { duration: 500 })], T('2026-01-01T00:00:00Z')))
  const r = [...recordsAt(s, T('2026-01-01T00:00:01.500Z'))]
  assert.equal(r.map(x => [x.url, x.start, x.end, x.duration, x.offset]), [
    ['b', '2026-01-01T00:00:01Z', '2026-01-01T00:00:03Z', 2000, 500],
    ['c', '2026-01-01T00:00:03Z', '2026-01-01T00:00:03.500Z', 500, 0],
  ])
})

test('before the first item: everything from the first, offset 0; after the last: nothing', () => {
  const s = layOut(fixture('strict.rss'))
  assert.equal([...recordsAt(s, T('2026-11-22T17:00:00Z'))].map(r => r.offset), [0, 0, 0])
  assert.equal([...recordsAt(s, T('2026-11-22T18:02:15.500Z'))], [])
})

test('records carry root and the hash tree beside the media when dc:identifier is given', () => {
  const [one, two] = [...recordsAt(layOut(fixture('strict.rss')), T('2026-11-22T18:00:00Z'))]
  assert.equal(Object.keys(one), ['url', 'title', 'mime', 'start', 'end', 'duration', 'offset', 'root', 'hashtree'])
  assert.is(one.hashtree, 'http://radio.example/media/one.mp3.hashtree')
  assert.is(two.root, undefined)
  assert.is(two.hashtree, undefined)
})

test('a schedule laid out across a daylight-saving change neither gains nor loses an hour', () => {
  const s = layOut(fixture('dst.rss'))
  const r = [...recordsAt(s, T('2026-03-29T00:00:00+01:00'))]
  // a starts 01:00+01:00 (winter), c at 04:00+02:00 (summer): both are whole UTC hours apart
  assert.equal(r.map(x => x.start), ['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z', '2026-03-29T02:00:00Z'])
  assert.ok(r.every(x => x.duration === 3600000))
  for (let i = 1; i < r.length; i++) assert.is(r[i].start, r[i - 1].end, 'no gap, no overlap')
  // 03:30 local summer time is 01:30Z: half an hour into b
  const at = [...recordsAt(s, T('2026-03-29T03:30:00+02:00'), 1)][0]
  assert.is(at.url, 'http://radio.example/night/b.mp3')
  assert.is(at.offset, 1800000)
})

test('a later ev:startdate cuts the earlier item short; a gap airs nothing', () => {
  const s = layOut(pl([
    item('a', { start: T('2026-01-01T00:00:00Z'), duration: 10_000 }),
    item('b', { start: T('2026-01-01T00:00:05Z'), duration: 1000 }),
    item('c', { start: T('2026-01-01T00:01:00Z'), duration: 1000 }),
  ]))
  const r = [...recordsAt(s, T('2026-01-01T00:00:00Z'))]
  assert.equal(r.map(x => [x.url, x.duration]), [['a', 5000], ['b', 1000], ['c', 1000]])
  const inGap = [...recordsAt(s, T('2026-01-01T00:00:30Z'))]
  assert.equal(inGap.map(x => [x.url, x.offset]), [['c', 0]])
})

test('items before the first timed one are counted back from it', () => {
  const s = layOut(pl([item('a', { duration: 1000 }), item('b', { start: T('2026-01-01T00:00:10Z'), duration: 1000 })]))
  assert.is([...recordsAt(s, 0)][0].start, '2026-01-01T00:00:09Z')
})

test('an item with no length takes it from the next start; the last is open-ended', () => {
  const s = layOut(pl([
    item('a', { start: T('2026-01-01T00:00:00Z') }),
    item('live', { start: T('2026-01-01T00:00:07Z') }),
  ]))
  const r = [...recordsAt(s, T('2026-01-01T01:00:00Z'))]
  assert.equal(r, [{ url: 'live', start: '2026-01-01T00:00:07Z', offset: 3593000 }])
  assert.is([...recordsAt(s, T('2026-01-01T00:00:00Z'))][0].duration, 7000)
})

test('refuses what cannot be placed, naming the item', () => {
  fails(() => layOut(pl([item('a', { start: 0 }), item('b'), item('c', { duration: 1 })])), /^p:a: item has no mm:duration or ev:enddate/)
  fails(() => layOut(pl([item('a', { duration: 1 }), item('b')])), /^p:b: item has no mm:duration \(a playlist with no times is a loop/)
  fails(() => layOut(pl([item('a', { start: 5000, duration: 1 }), item('b', { start: 1000, duration: 1 })])), /^p:b: ev:startdate .* is before the previous item's start/)
  fails(() => layOut(pl([item('a', { start: 5000, end: 1000 })])), /^p:a: ev:enddate .* is before/)
  fails(() => layOut(pl([item('a', { duration: 0 })])), /nothing to loop/)
})

test('--start plays a time-less playlist once from that time', () => {
  const s = layOut(fixture('actlab-guide.rss'), { start: T('2026-11-22T20:00:00+01:00') })
  const r = [...recordsAt(s, 0)]
  assert.is(r.length, 4)
  assert.is(r[0].start, '2026-11-22T19:00:00Z')
  assert.equal([...recordsAt(s, T('2026-11-23T00:00:00Z'))], [])
})

/**
 * A clock that jumps forward instead of sleeping, so a day of schedule runs at once; a
 * sleep woken early (its signal aborted first) does not move time.
 */
function fakeClock (start: number): Clock {
  let t = start
  return {
    now: () => t,
    sleep: (ms, signal) => new Promise<void>(resolve => setImmediate(() => { if (!signal.aborted) t += Math.max(ms, 1); resolve() })),
  }
}

test('follow prints the on-air item at once, each next one --lead before it starts, and reloads', async () => {
  const a = layOut(pl([item('a1', { duration: 60_000 }), item('a2', { duration: 60_000 }), item('a3', { duration: 60_000 })], 0))
  const b = layOut(pl([item('b1', { duration: 60_000 }), item('b2', { duration: 60_000 }), item('b3', { duration: 60_000 })], 0))
  const clock = fakeClock(30_000)
  const out: Array<ScheduleRecord & { printedAt: number }> = []
  let polls = 0
  await follow({
    schedule: a, at: 30_000, clock, leadMs: 10_000, pollMs: 25_000, count: 3, signal: new AbortController().signal,
    reload: async (): Promise<Schedule | undefined> => { polls++; return clock.now() > 100_000 ? b : undefined },
    emit: async (r) => { out.push({ ...r, printedAt: clock.now() }) },
  })
  assert.equal(out.map(r => [r.url, r.offset]), [['a1', 30_000], ['a2', 0], ['b3', 0]])
  assert.is(out[0].printedAt, 30_000)
  assert.is(out[1].printedAt, 50_000, 'ten seconds before a2 starts at 60 s')
  assert.is(out[2].printedAt, 110_000, 'the replaced schedule supplies the item after a2')
  assert.ok(polls >= 3)
})

test('follow stops when the signal aborts, and keeps polling after the schedule ends', async () => {
  const s = layOut(pl([item('x', { duration: 1000 })], 0))
  const clock = fakeClock(0)
  const ac = new AbortController()
  let polls = 0
  const got: string[] = []
  await follow({
    schedule: s, at: 0, clock, leadMs: 0, pollMs: 1000, signal: ac.signal,
    reload: async () => { if (++polls === 5) ac.abort(); return undefined },
    emit: async (r) => { got.push(r.url) },
  })
  assert.equal(got, ['x'])
  assert.is(polls, 5)
})

test('follow waits for a schedule that has not begun, printing its first item --lead ahead', async () => {
  const s = layOut(pl([item('later', { duration: 1000 })], 100_000))
  const clock = fakeClock(0)
  const at: number[] = []
  await follow({
    schedule: s, at: 0, clock, leadMs: 5000, pollMs: 30_000, count: 1, signal: new AbortController().signal,
    reload: async () => undefined,
    emit: async (r) => { at.push(clock.now()); assert.is(r.offset, 0) },
  })
  assert.equal(at, [95_000])
})

test('follow never lets a slow reload make an item late', async () => {
  const s = layOut(pl([item('a', { duration: 10_000 }), item('b', { duration: 10_000 }), item('c', { duration: 10_000 })], 0))
  const clock = fakeClock(0)
  const printedAt: number[] = []
  let release: (() => void) | undefined
  await withTimeout(follow({
    schedule: s, at: 0, clock, leadMs: 1000, pollMs: 2000, count: 3, signal: new AbortController().signal,
    // the first reload hangs until c has been printed
    reload: () => release === undefined ? new Promise(resolve => { release = () => resolve(undefined) }) : Promise.resolve(undefined),
    emit: async (r) => { printedAt.push(clock.now()); if (r.url === 'c') release?.() },
  }), 5000, 'follow to print three items')
  assert.equal(printedAt, [0, 9000, 19_000])
})

/** Heap in use after full collections: what is still reachable. */
function retainedBytes (): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc(); gc()
  return process.memoryUsage().heapUsed
}

test('follow keeps nothing per item: 40,000 one-second items and their polls retain no more than a few', async () => {
  const s = layOut(pl([item('a', { duration: 1000 }), item('b', { duration: 1000 })]))
  const clock = fakeClock(0)
  // a signal that lives as long as the run, as a command's does
  const ac = new AbortController()
  let printed = 0
  let before = 0
  let after = 0
  await follow({
    schedule: s, at: 0, clock, leadMs: 500, pollMs: 30_000, signal: ac.signal,
    reload: async () => layOut(pl([item('a', { duration: 1000 }), item('b', { duration: 1000 })])),
    emit: async () => {
      printed++
      if (printed === 2000) before = retainedBytes()
      if (printed === 42_000) { after = retainedBytes(); ac.abort() }
    },
  })
  // one AbortSignal.any() per wait kept ~50 bytes an item here (2 MB for these items)
  assert.ok(after - before < 256 * 1024, `retained ${after - before} bytes more after 40,000 items`)
})

test.run()
