import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Playlist, PlaylistItem } from '../../lib/playlist/read.js'
import { layOut } from '../../lib/playlist/schedule.js'
import { Announcer } from '../../lib/playlist/announce.js'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const item = (url: string, f: Partial<PlaylistItem> = {}): PlaylistItem => ({ url, where: `p:${url}`, duration: 60_000, ...f })
const pl = (items: PlaylistItem[]): Playlist => ({ items, date: T0, warnings: [] })

test('announces the slots after the printed one within the horizon, each once, marked "announce"', () => {
  const s = layOut(pl(['a', 'b', 'c', 'd', 'e'].map(u => item(u))))
  const a = new Announcer(3 * 60_000)
  // item a (0–1 min) printed for fetching at T0; the horizon reaches T0 + 3 min
  const first = a.update(s, T0 + 60_000, T0)
  assert.equal(first.map(r => [r.url, r.start, r.offset, r.announce]), [['b', '2026-01-01T00:01:00Z', 0, true], ['c', '2026-01-01T00:02:00Z', 0, true]])
  assert.equal(a.update(s, T0 + 60_000, T0), [], 'nothing new at the next poll')
  // b printed; the horizon moved on by a minute: d comes in, b and c are not repeated
  assert.equal(a.update(s, T0 + 120_000, T0 + 60_000).map(r => r.url), ['d'])
})

test('re-announces only the slots a new playlist changed', () => {
  const a = new Announcer(10 * 60_000)
  const s1 = layOut(pl(['a', 'b', 'c', 'd'].map(u => item(u, { title: u.toUpperCase() }))))
  assert.is(a.update(s1, T0 + 60_000, T0).length, 3)
  const s2 = layOut(pl(['a', 'b', 'x', 'd'].map(u => item(u, { title: u.toUpperCase() }))))
  assert.equal(a.update(s2, T0 + 60_000, T0 + 500).map(r => [r.url, r.title]), [['x', 'X']])
  const s3 = layOut(pl(['a', 'b', 'x', 'd'].map(u => item(u, { title: u === 'd' ? 'D (new title)' : u.toUpperCase() }))))
  assert.equal(a.update(s3, T0 + 60_000, T0 + 1000).map(r => [r.url, r.title]), [['d', 'D (new title)']])
})

test('an endless loop of short items announces at most maxSlots ahead, and forgets what has passed', () => {
  const s = layOut({ items: [item('a', { duration: 1000 }), item('b', { duration: 1000 })], warnings: [] })
  assert.is(s.kind, 'loop')
  const a = new Announcer(24 * 3600_000, 50)
  const t = 1_000_000_000_000
  assert.is(a.update(s, t + 1000, t).length, 50)
  // a second later one more slot enters; the map stays bounded by the slots in the horizon
  assert.is(a.update(s, t + 2000, t + 1000).length, 1)
  for (let k = 3; k < 500; k++) assert.is(a.update(s, t + k * 1000, t + (k - 1) * 1000).length, 1)
  assert.ok((a as unknown as { sent: Map<number, string> }).sent.size <= 50)
  assert.equal(new Announcer(0).update(s, t + 1000, t), [], 'a horizon of 0 announces nothing')
})

test.run()
