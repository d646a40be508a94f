// pc-fetch --stats: an item's line is written when the item is, but a listener goes on
// uploading it to later peers while it holds it; the "left" line, written when it leaves
// the item's swarm, has the item's final counters; and requestsRefused counts the
// requests a listener whose line is too slow answered REJECT.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { killChildren, tempDir, withTimeout } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { makeItem, record, startFetch, type TestItem } from './pc-fetch-helpers.js'

const SIZE = 1024 * 1024 + 777
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined

test.before(async () => {
  dir = await tempDir('pc-fetch-stats-')
  item = await makeItem(dir.path, 'item.bin', SIZE, 64 * 1024)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => { killChildren(); await origin?.close(); origin = undefined })

interface StatsLine { type: string, url?: string, item?: number, size?: number, bytesFromOrigin: number, bytesFromPeers: number, bytesUploaded: number, requestsRefused?: number }
const lines = async (file: string): Promise<StatsLine[]> => (await readFile(file, 'utf8')).trim().split('\n').map(l => JSON.parse(l) as StatsLine)

test('a listener that serves an item after writing it: its "left" line counts those uploads, its "item" line could not', async () => {
  origin = await startOrigin({ dir: dir.path })
  const rec = record(origin.url + 'item.bin', { root: item.root })
  const aStats = join(dir.path, 'a.stats')
  const a = await startFetch(['--raw', '-q', '--keep', '3s', '--stats', aStats], rec)
  // b starts once a has written the whole item (and its item line), and knows only a
  await withTimeout((async () => { while (a.stdout().length < SIZE) await new Promise(resolve => setTimeout(resolve, 20)) })(), 30_000, 'a to write the item')
  const bStats = join(dir.path, 'b.stats')
  const b = await startFetch(['--raw', '-q', '--keep', '0', '--stats', bStats, '--peer', `127.0.0.1:${a.port}`], rec)
  assert.is(await withTimeout(b.exited, 30_000, 'b'), 0, b.stderr())
  assert.ok(b.stdout().equals(item.data))
  assert.is(await withTimeout(a.exited, 30_000, 'a'), 0, a.stderr())
  const [it, left, exit] = await lines(aStats)
  assert.equal([it.type, left.type, exit.type], ['item', 'left', 'exit'])
  assert.equal([left.url, left.item, left.size], [it.url, it.item, it.size])
  assert.is(it.bytesFromOrigin, SIZE)
  assert.is(it.bytesUploaded, 0, 'nobody had asked a for anything when it wrote the item')
  const [bItem] = await lines(bStats)
  assert.ok(bItem.bytesFromPeers > 0, 'b took chunks from a')
  assert.is(left.bytesUploaded, bItem.bytesFromPeers, 'what a sent is what b took from peers (a is its only peer)')
  assert.is(exit.bytesUploaded, left.bytesUploaded)
})

test('a listener whose --upload-limit cannot send a chunk within half the deadline answers REJECT, counts it, and its peers take the chunks from the origin', async () => {
  origin = await startOrigin({ dir: dir.path })
  const rec = record(origin.url + 'item.bin', { root: item.root })
  const aStats = join(dir.path, 'slow-a.stats')
  // 20 kB/s: a 64 KiB chunk takes ~3 s, past half of a's 2 s deadline
  const a = await startFetch(['--raw', '-q', '--keep', '3s', '--upload-limit', '20000', '--stats', aStats], rec)
  await withTimeout((async () => { while (a.stdout().length < SIZE) await new Promise(resolve => setTimeout(resolve, 20)) })(), 30_000, 'a to write the item')
  // two listeners ask a at once: its first request finds it idle and is served, to measure
  // its line; while that one is on its way, the others are answered REJECT
  const listeners = await Promise.all(['b', 'c'].map(async name => {
    const file = join(dir.path, `slow-${name}.stats`)
    return { name, file, p: await startFetch(['--raw', '-q', '--keep', '0', '--stats', file, '--peer', `127.0.0.1:${a.port}`], rec) }
  }))
  for (const { name, file, p } of listeners) {
    assert.is(await withTimeout(p.exited, 60_000, name), 0, p.stderr())
    assert.ok(p.stdout().equals(item.data), `${name} wrote the item`)
    const [line] = await lines(file)
    assert.is(line.bytesFromPeers + line.bytesFromOrigin, SIZE, `what ${name} did not get from a came from the origin`)
  }
  assert.is(await withTimeout(a.exited, 60_000, 'a'), 0, a.stderr())
  const [, left, exit] = await lines(aStats)
  assert.ok((left.requestsRefused ?? 0) > 0, `a refused ${String(left.requestsRefused)} requests`)
  assert.is(exit.requestsRefused, left.requestsRefused)
})

test.run()
