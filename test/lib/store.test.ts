import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ChunkStore } from '../../lib/store.js'
import { TreeBuilder, type HashTree } from '../../lib/hashtree.js'
import { tempDir } from '../helpers.js'

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
    for (const i of [5, 0, 3, 1, 4, 2]) assert.ok(await s.put(i, chunk(i)))
    assert.not.ok(await s.put(3, chunk(3)), 'a second copy is not stored again')
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
    for (let i = 0; i < 6; i++) await s.put(i, chunk(i))
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
    for (let i = 0; i < 6; i++) await s.put(i, chunk(i))
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

test.run()
