// The verifier threads: a chunk in a shared slot is hashed and written on a worker; a
// bad one is refused and nothing written; a worker that dies hands its work back to the
// main thread with a warning instead of losing or passing a chunk.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VerifyPool } from '../../lib/hashing/verify-pool.js'
import { leafHash } from '../../lib/hashing/hashtree.js'
import { tempDir, withTimeout, waitUntil } from '../helpers.js'

const CS = 8192

async function ready (pool: VerifyPool): Promise<void> {
  await withTimeout(pool.ready(), 10_000, 'the verifier thread to start')
  assert.is(pool.threadsReady, 1)
}

test('good chunks are written at their position by the thread; a bad one is not written', async () => {
  const dir = await tempDir()
  const pool = new VerifyPool(1, CS)
  const file = join(dir.path, 'store')
  const fd = openSync(file, 'w+')
  try {
    await ready(pool)
    const a = randomBytes(CS)
    const b = randomBytes(CS)
    const slot = await pool.buffers.take()
    a.copy(slot)
    assert.ok(await pool.check(slot, leafHash(a), fd, CS), 'a matching chunk passes')
    b.copy(slot)
    assert.not.ok(await pool.check(slot, leafHash(a), fd, 0), 'a chunk that does not match its leaf fails')
    pool.buffers.give(slot)
    assert.is(pool.checkedOnThreads, 2)
    const got = readFileSync(file)
    assert.is(got.length, 2 * CS, 'only the good chunk was written, at its offset')
    assert.ok(got.subarray(CS).equals(a))
    assert.ok(got.subarray(0, CS).equals(Buffer.alloc(CS)), 'nothing of the bad chunk reached the file')
  } finally { closeSync(fd); await pool.close(); await dir.remove() }
})

test('a buffer that is not one of the shared slots is checked on the main thread', async () => {
  const dir = await tempDir()
  const pool = new VerifyPool(1, CS)
  const fd = openSync(join(dir.path, 'store'), 'w+')
  try {
    await ready(pool)
    const a = randomBytes(CS)
    assert.ok(await pool.check(a, leafHash(a), fd, 0))
    assert.is(pool.checkedOnThreads, 0)
  } finally { closeSync(fd); await pool.close(); await dir.remove() }
})

test('a verifier thread that dies: a warning, and chunks are checked on the main thread from then on', async () => {
  const dir = await tempDir()
  const warnings: string[] = []
  const pool = new VerifyPool(1, CS, (m) => warnings.push(m))
  const file = join(dir.path, 'store')
  const fd = openSync(file, 'w+')
  try {
    await ready(pool)
    const running = (pool as unknown as { running: Array<{ worker: { terminate: () => Promise<number> } }> }).running
    await running[0].worker.terminate()
    await waitUntil(() => warnings.length > 0, 5000, 'the warning', 10)
    assert.match(warnings[0], /verification thread failed/)
    const a = randomBytes(CS)
    const slot = await pool.buffers.take()
    a.copy(slot)
    assert.ok(await pool.check(slot, leafHash(a), fd, 0), 'still verified (here)')
    assert.not.ok(await pool.check(slot, leafHash(randomBytes(CS)), fd, 0), 'and still refused when bad')
    pool.buffers.give(slot)
    assert.ok(readFileSync(file).equals(a))
  } finally { closeSync(fd); await pool.close(); await dir.remove() }
})

test.run()
