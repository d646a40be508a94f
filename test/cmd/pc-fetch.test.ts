// pc-fetch against one origin: one-off --raw fetches, frames, mid-item joins, the bad
// origins real web servers are, and the command-line contract (65, 66, closed stdout).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { run, start, finish, killChildren, tempDir, withTimeout } from '../helpers.js'
import { startOrigin, type OriginServer, type OriginMode } from '../../scripts/origin.js'
import { makeItem, record, decodeAll, assemble, type TestItem } from './pc-fetch-helpers.js'
import { BLOCK_CHUNKS } from '../../lib/swarm/picker.js'
import { ORIGIN_RUN_CHUNKS } from '../../lib/swarm/scheduler.js'

const SIZE = 2 * 1024 * 1024 + 12345
const CHUNK = 128 * 1024
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let bare: TestItem
let origin: OriginServer | undefined

test.before(async () => {
  dir = await tempDir('pc-fetch-')
  item = await makeItem(dir.path, 'item.bin', SIZE)
  bare = await makeItem(dir.path, 'bare.bin', 300 * 1024, 128 * 1024, false)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => { killChildren(); await origin?.close(); origin = undefined })

test('a one-off --raw fetch writes the whole file byte-identically, the origin sending it once', async () => {
  origin = await startOrigin({ dir: dir.path })
  const stats = join(dir.path, 'one.stats')
  const r = await run('pc-fetch', ['--raw', '-q', '--host', '127.0.0.1', '--stats', stats, origin.url + 'item.bin'])
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(item.data), 'output differs from the file')
  assert.is(origin.bytesSent('/item.bin'), SIZE)
  const lines = (await readFile(stats, 'utf8')).trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  assert.is(lines[0].type, 'item')
  assert.is(lines[0].root, item.root)
  assert.is(lines[0].bytesFromOrigin, SIZE)
  assert.equal(lines.slice(1).map(l => l.type), ['left', 'exit'])
})

/** Run pc-fetch with stdout on a file opened with `flags` (as `> file` or `>> file` would). */
async function runToFile (args: string[], file: string, flags: string, timeoutMs = 30_000): Promise<{ code: number | null, stderr: string, out: Buffer }> {
  const fd = openSync(file, flags)
  try {
    const r = await finish(start('pc-fetch', args, { stdio: ['ignore', fd, 'pipe'] }), timeoutMs)
    return { code: r.code, stderr: r.stderr, out: await readFile(file) }
  } finally { closeSync(fd) }
}

test('--raw into a regular file: chunks go straight into it (no cache copy), the file byte-identical', async () => {
  origin = await startOrigin({ dir: dir.path })
  const out = join(dir.path, 'direct.out')
  const cache = join(dir.path, 'direct.cache')
  // -j 1: a verifier thread checks and writes every chunk, whatever the size; a thread
  // that cannot start (its file missing from the bundle in dist/bin) would say so here
  const r = await runToFile(['--raw', '-j', '1', '--host', '127.0.0.1', '--cache', cache, origin.url + 'item.bin'], out, 'w')
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '', 'nothing said on stderr (a verification thread that failed to start warns)')
  assert.ok(r.out.equals(item.data), 'output file differs from the item')
  assert.equal(await readdir(cache), [], 'nothing was written to the cache')
  assert.is(origin.bytesSent('/item.bin'), SIZE)
})

test('--raw appending to a file (>>) goes through the cache: what was there stays, the item follows', async () => {
  origin = await startOrigin({ dir: dir.path })
  const out = join(dir.path, 'append.out')
  await writeFile(out, 'before\n')
  const r = await runToFile(['--raw', '-q', '--host', '127.0.0.1', origin.url + 'item.bin'], out, 'a')
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.out.equals(Buffer.concat([Buffer.from('before\n'), item.data])), 'append lost or misplaced bytes')
})

test('--raw into a file from a lying origin: exit 69 and the file cut back to its verified prefix', async () => {
  origin = await startOrigin({ dir: dir.path, mode: 'corrupt' })
  const out = join(dir.path, 'corrupt.out')
  const r = await runToFile(['--raw', '-j', '1', '--host', '127.0.0.1', origin.url + 'item.bin'], out, 'w', 60_000)
  assert.is(r.code, 69, r.stderr)
  assert.match(r.stderr, /does not match the hash tree/)
  assert.ok(r.out.length < SIZE, `file is ${r.out.length} bytes`)
  assert.ok(r.out.equals(item.data.subarray(0, r.out.length)), 'what is in the file is a prefix of the item')
})

test('alone, a peer asks the origin for one block at a time at first, then for longer runs as chunks arrive', async () => {
  const big = await makeItem(dir.path, 'big.bin', 64 * CHUNK + 1000)
  const runs: number[] = []
  origin = await startOrigin({
    dir: dir.path,
    log: (line) => {
      const m = /^GET \/big\.bin bytes=(\d+)-(\d+)$/.exec(line)
      if (m) runs.push(Math.ceil((Number(m[2]) + 1 - Number(m[1])) / CHUNK))
    },
  })
  const r = await run('pc-fetch', ['--raw', '-q', '--host', '127.0.0.1', origin.url + 'big.bin'])
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(big.data), 'output differs from the file')
  assert.is(origin.bytesSent('/big.bin'), big.data.length)
  // the first requests are made holding nothing: one block each (slow start)
  assert.ok(runs.length > 3, runs.join(','))
  assert.ok(runs.slice(0, 3).every(n => n <= BLOCK_CHUNKS), runs.join(','))
  assert.ok(Math.max(...runs) > BLOCK_CHUNKS, runs.join(','))
  assert.ok(Math.max(...runs) <= ORIGIN_RUN_CHUNKS, runs.join(','))
})

test('schedule records in, frames out: START with size and chunk size, every byte, END', async () => {
  origin = await startOrigin({ dir: dir.path })
  const input = record(origin.url + 'item.bin', { root: item.root, extra: 'kept' }) + record(origin.url + 'bare.bin')
  const r = await run('pc-fetch', ['-q', '--host', '127.0.0.1', '--keep', '0'], input)
  assert.is(r.code, 0, r.stderr)
  const frames = decodeAll(r.stdout)
  const s0 = frames[0]
  assert.ok(s0.type === 'start' && s0.item === 0 && s0.header.size === SIZE && s0.header.chunkSize === 128 * 1024 && s0.header.extra === 'kept')
  const a = assemble(frames, 0)
  assert.ok(a.data.equals(item.data))
  assert.equal(a.gaps, [])
  const b = assemble(frames, 1)
  assert.ok(b.data.equals(bare.data), 'the item without a tree is fetched too')
  const ends = frames.filter(f => f.type === 'end').map(f => f.item)
  assert.equal(ends, [0, 1])
  // items are written one at a time, in order: nothing of item 1 but its START (which may be
  // announced ahead, pc-frames(5)) before the END of item 0
  const lastOf0 = frames.map(f => f.item).lastIndexOf(0)
  const firstOf1 = frames.findIndex(f => f.item === 1 && f.type !== 'start')
  assert.ok(lastOf0 < firstOf1, `frame ${firstOf1} of item 1 before frame ${lastOf0} of item 0`)
})

test('the same item twice in a row (a looping playlist) is written twice from one swarm, fetched once', async () => {
  origin = await startOrigin({ dir: dir.path })
  const rec = record(origin.url + 'item.bin', { root: item.root })
  const r = await run('pc-fetch', ['-q', '--host', '127.0.0.1', '--keep', '0'], rec + rec)
  assert.is(r.code, 0, r.stderr)
  const frames = decodeAll(r.stdout)
  assert.ok(assemble(frames, 0).data.equals(item.data))
  assert.ok(assemble(frames, 1).data.equals(item.data))
  assert.is(origin.bytesSent('/item.bin'), SIZE)
})

test('the next item is announced ahead: its START comes while the current item is still being written', async () => {
  // slow: item 0 takes seconds, so item 1's swarm (prefetched) is ready long before item 0 ends
  origin = await startOrigin({ dir: dir.path, mode: 'slow' })
  const recs = record(origin.url + 'item.bin', { root: item.root }) + record(origin.url + 'bare.bin')
  const r = await run('pc-fetch', ['-q', '--host', '127.0.0.1', '--keep', '0'], recs, { timeoutMs: 60_000 })
  assert.is(r.code, 0, r.stderr)
  const frames = decodeAll(r.stdout)
  const at = (type: string, item: number): number => frames.findIndex(f => f.type === type && f.item === item)
  assert.ok(at('start', 1) > at('start', 0), 'STARTs in item order')
  assert.ok(at('start', 1) < at('end', 0), `START of item 1 at frame ${at('start', 1)}, END of item 0 at ${at('end', 0)}`)
  assert.is(frames.filter(f => f.type === 'start').length, 2, 'one START per item')
  assert.ok(!frames.slice(0, at('end', 0)).some(f => f.type === 'data' && f.item === 1), 'no DATA of item 1 before item 0 ends')
  assert.ok(assemble(frames, 0).data.equals(item.data))
  assert.ok(assemble(frames, 1).data.equals(bare.data))
})

test('--window 2: no DATA frame is more than 2 chunks ahead of the first chunk not yet written', async () => {
  origin = await startOrigin({ dir: dir.path })
  const r = await run('pc-fetch', ['-q', '--host', '127.0.0.1', '--keep', '0', '--window', '2'], record(origin.url + 'item.bin', { root: item.root }))
  assert.is(r.code, 0, r.stderr)
  const cs = 128 * 1024
  const written = new Set<number>()
  let first = 0
  for (const f of decodeAll(r.stdout)) {
    if (f.type !== 'data') continue
    const i = f.offset / cs
    assert.ok(i < first + 2, `chunk ${i} written while chunk ${first} was not`)
    written.add(i)
    while (written.has(first)) first++
  }
  assert.is(first, Math.ceil(SIZE / cs))
})

test('an item joined mid-way starts with chunk 0, a GAP over what was skipped, then the play position', async () => {
  origin = await startOrigin({ dir: dir.path })
  // 50 % into a 17-chunk item: play position chunk 8, minus one = 7
  const r = await run('pc-fetch', ['-q', '--host', '127.0.0.1', '--keep', '0'], record(origin.url + 'item.bin', { offset: 300000 }))
  assert.is(r.code, 0, r.stderr)
  const frames = decodeAll(r.stdout).filter(f => f.type === 'data' || f.type === 'gap')
  const cs = 128 * 1024
  assert.ok(frames[0].type === 'data' && frames[0].offset === 0)
  assert.ok(frames[1].type === 'gap' && frames[1].start === cs && frames[1].end === 7 * cs, JSON.stringify(frames[1]))
  const datas = frames.filter(f => f.type === 'data')
  assert.is(datas.length, 1 + 17 - 7)
  for (const f of datas) if (f.type === 'data') assert.ok(f.data.equals(item.data.subarray(f.offset, f.offset + f.data.length)))
  assert.ok(origin.bytesSent('/item.bin') < SIZE, 'skipped chunks are not fetched from the origin')
})

for (const mode of ['no-range', 'whole', 'wrong-range'] as OriginMode[]) {
  test(`an origin in ${mode} mode is read sequentially with a warning`, async () => {
    origin = await startOrigin({ dir: dir.path, mode })
    const r = await run('pc-fetch', ['--raw', '--host', '127.0.0.1', origin.url + 'item.bin'])
    assert.is(r.code, 0, r.stderr)
    assert.ok(r.stdout.equals(item.data))
    assert.match(r.stderr, /sequentially/)
  })
}

test('a flaky origin (every other request a 503) is retried with backoff', async () => {
  origin = await startOrigin({ dir: dir.path, mode: 'flaky' })
  const r = await run('pc-fetch', ['--raw', '-q', '--host', '127.0.0.1', origin.url + 'item.bin'])
  assert.is(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(item.data))
})

test('an origin body that fails the tree is rejected: no bad byte written, exit 69', async () => {
  origin = await startOrigin({ dir: dir.path, mode: 'corrupt' })
  const r = await run('pc-fetch', ['--raw', '--host', '127.0.0.1', origin.url + 'item.bin'], undefined, { timeoutMs: 60_000 })
  assert.is(r.code, 69, r.stderr)
  assert.match(r.stderr, /does not match the hash tree/)
  assert.ok(r.stdout.length < SIZE)
  assert.ok(r.stdout.equals(item.data.subarray(0, r.stdout.length)), 'what was written is a prefix of the file')
})

test('a record whose root differs from the published tree is refused and nothing is written for it', async () => {
  origin = await startOrigin({ dir: dir.path })
  const r = await run('pc-fetch', ['--host', '127.0.0.1', '--keep', '0'], record(origin.url + 'item.bin', { root: 'ab'.repeat(32) }), { timeoutMs: 60_000 })
  assert.is(r.code, 0, r.stderr)
  assert.match(r.stderr, /not the expected/)
  assert.match(r.stderr, /skipping this item/)
  assert.equal(decodeAll(r.stdout), [])
})

test('bad input: -j out of range or not a number exits 64 naming --workers', async () => {
  for (const [j, why] of [['17', /--workers: 17 is outside 0\.\.16/], ['two', /--workers: not an integer: 'two'/]] as const) {
    const r = await run('pc-fetch', ['--raw', '-j', j, 'http://127.0.0.1:9/x'])
    assert.is(r.code, 64, r.stderr)
    assert.match(r.stderr, why)
    assert.is(r.stdout.length, 0)
  }
})

test('bad input: a malformed record exits 65 naming the line', async () => {
  const r = await run('pc-fetch', ['--host', '127.0.0.1'], record('http://127.0.0.1:9/x') + '{"url": 3}\n')
  assert.is(r.code, 65)
  assert.match(r.stderr, /stdin:2/)
})

test('a missing file exits 66', async () => {
  origin = await startOrigin({ dir: dir.path })
  const r = await run('pc-fetch', ['--raw', '--host', '127.0.0.1', origin.url + 'nothing-here.bin'])
  assert.is(r.code, 66, r.stderr)
  assert.match(r.stderr, /nothing-here\.bin/)
})

test('a closed stdout ends pc-fetch quietly with exit 0', async () => {
  origin = await startOrigin({ dir: dir.path })
  const c = start('pc-fetch', ['--raw', '--host', '127.0.0.1', origin.url + 'item.bin'])
  const done = finish(c)
  await withTimeout(new Promise(resolve => c.stdout!.once('data', resolve)), 15_000, 'first bytes')
  c.stdout!.destroy()
  const r = await done
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
})

test.run()
