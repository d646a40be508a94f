import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { openSync, closeSync, readSync } from 'node:fs'
import { ChunkStore, MemoryStore, outputFile } from '../../lib/swarm/store.js'
import { VerifyPool } from '../../lib/hashing/verify-pool.js'
import { TreeBuilder, type HashTree } from '../../lib/hashing/hashtree.js'
import { tempDir, withTimeout } from '../helpers.js'

const CS = 4096
function treeOf (data: Buffer): HashTree { const b = new TreeBuilder(CS); b.update(data); return b.finish() }
const data = randomBytes(CS * 5 + 100)
const tree = treeOf(data)
const chunk = (i: number): Buffer => data.subarray(i * CS, Math.min(data.length, (i + 1) * CS))

test('stores chunks in any order at their offsets and reads them back', async () => {
  const dir = await tempDir()
  try {
    const s = await ChunkStore.open(dir.path, tree)
    assert.is(s.count, 6)
    const seen: number[] = []
    s.on('have', (i: number) => seen.push(i))
    for (const i of [5, 0, 3, 1, 4, 2]) assert.is(await s.putChecked(i, chunk(i)), 'stored')
    assert.is(await s.putChecked(3, chunk(3)), 'held', 'a second copy is not stored again')
    assert.equal(seen, [5, 0, 3, 1, 4, 2])
    assert.ok(s.complete)
    for (let i = 0; i < 6; i++) assert.ok((await s.get(i)).equals(chunk(i)))
    assert.ok((await readFile(s.path)).equals(data))
    await s.close(false)
    assert.is((await stat(join(dir.path, tree.root.toString('hex')))).size, data.length)
  } finally { await dir.remove() }
})

test('reopening a cache re-verifies what is there and counts only good chunks', async () => {
  const dir = await tempDir()
  try {
    const s = await ChunkStore.open(dir.path, tree)
    for (let i = 0; i < 6; i++) await s.putChecked(i, chunk(i))
    await s.close(false)
    const bad = Buffer.from(data); bad[2 * CS + 10] ^= 1
    await writeFile(join(dir.path, tree.root.toString('hex')), bad.subarray(0, CS * 5))
    const again = await ChunkStore.open(dir.path, tree)
    assert.is(again.held, 4)
    assert.not.ok(again.has(2))
    assert.not.ok(again.has(5))
    await again.close(true)
  } finally { await dir.remove() }
})

test('a chunk changed on disk after it was stored is not handed out', async () => {
  const dir = await tempDir()
  try {
    const s = await ChunkStore.open(dir.path, tree)
    for (let i = 0; i < 6; i++) await s.putChecked(i, chunk(i))
    const bad = Buffer.from(data); bad[CS + 1] ^= 0xff
    await writeFile(s.path, bad)
    const lost: number[] = []
    s.on('lost', (i: number) => lost.push(i))
    await s.get(1).then(() => assert.unreachable('served a bad chunk'), (e: Error) => assert.match(e.message, /no longer matches/))
    assert.not.ok(s.has(1))
    assert.equal(lost, [1])
    await s.close(true)
  } finally { await dir.remove() }
})

test('a chunk that fails the tree, or has the wrong length, is refused and nothing is written', async () => {
  const dir = await tempDir()
  try {
    const s = await ChunkStore.open(dir.path, tree)
    const bad = Buffer.from(chunk(1)); bad[7] ^= 1
    assert.is(await s.putChecked(1, bad), 'bad')
    assert.is(await s.putChecked(1, chunk(1).subarray(1)), 'bad')
    assert.is(await s.putChecked(9, chunk(1)), 'bad', 'an index beyond the item')
    assert.not.ok(s.has(1))
    assert.is((await stat(s.path)).size, 0, 'no byte of a bad chunk reached the file')
    await s.close(true)
  } finally { await dir.remove() }
})

test('with a verify pool: chunks are checked and written on a worker thread, bad ones refused', async () => {
  const dir = await tempDir()
  const pool = new VerifyPool(1, CS)
  try {
    await withTimeout(pool.ready(), 10_000, 'the verifier thread to start')
    assert.is(pool.threadsReady, 1)
    const s = await ChunkStore.open(dir.path, tree, pool)
    assert.ok(s.buffers, 'the store offers the pool\'s shared buffers')
    for (const i of [4, 0, 5, 2, 1, 3]) {
      // as the origin does: received straight into a shared slot
      const slot = await s.buffers.take()
      const c = chunk(i)
      c.copy(slot)
      const want = i === 2 ? 'bad' : 'stored'
      if (i === 2) slot[0] ^= 1
      assert.is(await s.putChecked(i, slot.subarray(0, c.length)), want, `chunk ${i}`)
      s.buffers.give(slot)
    }
    assert.not.ok(s.has(2))
    // a chunk from elsewhere (a peer's buffer) is copied into a slot first
    assert.is(await s.putChecked(2, chunk(2)), 'stored')
    assert.ok(pool.checkedOnThreads >= 7, `only ${pool.checkedOnThreads} checked on the thread`)
    assert.ok(s.complete)
    assert.ok((await readFile(s.path)).equals(data))
    await s.close(true)
  } finally { await pool.close(); await dir.remove() }
})

test('the output file as the store: chunks at its offset, cut back to the verified prefix when closed incomplete', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'out')
  await writeFile(file, 'HEAD')
  const fd = openSync(file, 'r+')
  try {
    // as `{ printf HEAD; pc-fetch --raw URL; } > file` would leave it: position 4
    readSync(fd, Buffer.alloc(4), 0, 4, null)
    const out = outputFile(fd)
    assert.ok(out, 'a regular file is usable as the output')
    assert.is(out.base, 4)
    const s = ChunkStore.onOutput(out, tree)
    assert.ok(s.isOutput)
    for (const i of [0, 1, 3, 4]) assert.is(await s.putChecked(i, chunk(i)), 'stored')
    assert.ok((await s.get(3)).equals(chunk(3)), 'read back from the file for peers')
    await s.close(false)
    const got = await readFile(file)
    assert.ok(got.equals(Buffer.concat([Buffer.from('HEAD'), data.subarray(0, 2 * CS)])), `file is ${got.length} bytes, not HEAD and chunks 0-1`)
  } finally { closeSync(fd); await dir.remove() }
})

test('an output opened for appending, or not a regular file, is not used as the store', async () => {
  const dir = await tempDir()
  const file = join(dir.path, 'out')
  const fd = openSync(file, 'a')
  try {
    assert.is(outputFile(fd), undefined)
  } finally { closeSync(fd); await dir.remove() }
  const p = await import('node:child_process')
  const c = p.spawn('sleep', ['5'], { stdio: ['pipe', 'pipe', 'ignore'] })
  try {
    assert.is(outputFile((c.stdin as unknown as { _handle: { fd: number } })._handle.fd), undefined, 'a pipe')
  } finally { c.kill() }
})

test('the memory store: verifies against the tree (or the given check), keeps chunks in memory, refuses bad ones', async () => {
  const s = new MemoryStore(tree)
  const seen: number[] = []
  s.on('have', (i: number) => seen.push(i))
  const bad = Buffer.from(chunk(2))
  bad[0] ^= 1
  assert.is(await s.putChecked(2, bad), 'bad', 'a chunk that fails its leaf hash')
  assert.is(await s.putChecked(2, chunk(2).subarray(1)), 'bad', 'a chunk of the wrong length')
  for (const i of [5, 0, 3, 1, 4, 2]) assert.is(await s.putChecked(i, chunk(i)), 'stored')
  assert.is(await s.putChecked(3, chunk(3)), 'held')
  assert.equal(seen, [5, 0, 3, 1, 4, 2])
  assert.ok(s.complete)
  for (let i = 0; i < 6; i++) assert.ok((await s.get(i)).equals(chunk(i)))
  // a caller's check replaces hashing (a simulator's shared buffers): only those very buffers pass
  const shared = new MemoryStore(tree, { keepBuffers: true, check: (i, d) => d === chunk(i) || d.equals(data.subarray(i * CS, i * CS + d.length)) })
  const c0 = chunk(0)
  assert.is(await shared.putChecked(0, c0), 'stored')
  assert.is(await shared.get(0), c0, 'kept by reference')
  assert.is(await shared.putChecked(1, Buffer.alloc(CS)), 'bad')
  await s.close()
  let gone = false
  try { await s.get(0) } catch { gone = true }
  assert.ok(gone, 'nothing is held once closed')
})

test.run()
