// Every command that writes data delivers every byte to a reader that is slow to start
// reading: run() in lib/core/cli.ts exits only once stdout has been flushed, whatever
// the command's own writes await.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { encodeFrame, encodeMagic } from '../../lib/frames/frame.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { makeItem } from './pc-fetch-helpers.js'
import { run, runIntoSlowReader, killChildren, tempDir, FIXTURES } from '../helpers.js'

/** more than a pipe holds (64 KiB on Linux) and more than a stream's buffer */
const MORE_THAN_A_PIPE = 256 * 1024

const cleanups: Array<() => Promise<void>> = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

/** The command's output to a reader that reads at once, and again to a slow one: the same bytes. */
async function sameToASlowReader (name: string, args: string[]): Promise<void> {
  const whole = await run(name, args)
  assert.is(whole.code, 0, whole.stderr)
  assert.ok(whole.stdout.length > MORE_THAN_A_PIPE, `only ${whole.stdout.length} bytes`)
  const slow = await runIntoSlowReader(name, args)
  assert.is(slow.code, 0, slow.stderr)
  assert.is(slow.stdout.length, whole.stdout.length)
  assert.ok(slow.stdout.equals(whole.stdout))
}

test('pc-schedule: a reader that sleeps 5 s before reading gets every record', async () => {
  await sameToASlowReader('pc-schedule', ['--at', '2026-01-01T00:00:00Z', '--count', '2000', join(FIXTURES, 'schedule', 'actlab-guide.rss')])
})

test('pc-hash: a reader that sleeps 5 s before reading gets the whole tree', async () => {
  const dir = await tempDir()
  cleanups.push(dir.remove)
  const file = join(dir.path, 'item.bin')
  await writeFile(file, randomBytes(8 * 1024 * 1024))
  await sameToASlowReader('pc-hash', ['--chunk-size', '1k', file])
})

test('pc-reorder --raw: a reader that sleeps 5 s before reading gets every byte', async () => {
  const data = randomBytes(32 * MORE_THAN_A_PIPE)
  const chunk = 16 * 1024
  const frames = [encodeMagic(), encodeFrame({ type: 'start', item: 0, header: { url: 'http://o/x', start: '2026-01-01T00:00:00Z', offset: 0, size: data.length, chunkSize: chunk } })]
  for (let o = data.length - chunk; o >= 0; o -= chunk) frames.push(encodeFrame({ type: 'data', item: 0, offset: o, data: data.subarray(o, o + chunk) }))
  frames.push(encodeFrame({ type: 'end', item: 0 }))
  const slow = await runIntoSlowReader('pc-reorder', ['--raw', '--window', '16M'], Buffer.concat(frames))
  assert.is(slow.code, 0, slow.stderr)
  assert.is(slow.stdout.length, data.length)
  assert.ok(slow.stdout.equals(data))
})

test('pc-fetch --raw: a reader that sleeps 5 s before reading gets every byte', async () => {
  const dir = await tempDir()
  cleanups.push(dir.remove)
  const item = await makeItem(dir.path, 'item.bin', 32 * MORE_THAN_A_PIPE)
  const origin: OriginServer = await startOrigin({ dir: dir.path })
  cleanups.push(() => origin.close())
  const slow = await runIntoSlowReader('pc-fetch', ['--raw', '--port', '0', '--host', '127.0.0.1', origin.url + 'item.bin'])
  assert.is(slow.code, 0, slow.stderr)
  assert.is(slow.stdout.length, item.data.length)
  assert.ok(slow.stdout.equals(item.data))
})

test.run()
