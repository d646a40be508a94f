// pc-fetch holding an item: it hands the hash tree to a peer that has only the root,
// idles without using CPU, and leaves politely on SIGINT (tracker told, exit 130).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { start, killChildren, tempDir, withTimeout, waitForOutput, sleep, waitUntil } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { formatTree, infoHash } from '../../lib/hashing/hashtree.js'
import { encodeHandshake, WireDecoder } from '../../lib/swarm/wire.js'
import { connect } from 'node:net'
import { makeItem, record, startFetch, decodeAll, fakePeer, allFetch, type TestItem, type FetchProc } from './pc-fetch-helpers.js'

const SIZE = 1024 * 1024 + 777
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined

test.before(async () => {
  dir = await tempDir('pc-fetch-leave-')
  item = await makeItem(dir.path, 'item.bin', SIZE, 64 * 1024, false) // no item.bin.hashtree
  await writeFile(join(dir.path, 'elsewhere.tree'), formatTree(item.tree))
})
test.after(async () => { await dir.remove() })
test.after.each(async () => { killChildren(); await origin?.close(); origin = undefined })

function holds (p: FetchProc): boolean {
  try { return decodeAll(p.stdout()).some(f => f.type === 'end') } catch { return false }
}

/** user + system CPU ticks of a process so far (proc(5) stat fields 14 and 15) */
async function cpuTicks (pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
  return Number(f[11]) + Number(f[12])
}

test('a peer with only the root gets the hash tree from a peer that has it', async () => {
  origin = await startOrigin({ dir: dir.path })
  const a = await startFetch(['--keep', '30s'], record(origin.url + 'item.bin', { root: item.root, hashtree: origin.url + 'elsewhere.tree' }))
  await waitUntil(() => holds(a), 20_000, 'the first peer to hold the item')
  const b = await startFetch(['--raw', '--keep', '0', '--peer', `127.0.0.1:${a.port}`], record(origin.url + 'item.bin', { root: item.root }))
  assert.is(await withTimeout(b.exited, 30_000, 'the second peer'), 0, b.stderr())
  assert.ok(b.stdout().equals(item.data))
  assert.is(origin.bytesSent('/item.bin'), SIZE, 'the second peer fetched nothing from the origin')
})

test('an item with neither a root nor a published tree gets its tree from the pc-tracker gateway', async () => {
  origin = await startOrigin({ dir: dir.path })
  const tracker = start('pc-tracker', ['-v', '--gateway', '--gateway-allow', origin.url, '127.0.0.1:0'])
  const text = await waitForOutput(tracker.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-tracker')
  const url = `http://127.0.0.1:${/listening on [^:]+:(\d+)/.exec(text)![1]}/announce`
  const r = await startFetch(['--raw', '--keep', '0', '--tracker', url, origin.url + 'item.bin'])
  assert.is(await withTimeout(r.exited, 30_000, 'pc-fetch'), 0, r.stderr())
  assert.ok(r.stdout().equals(item.data))
  assert.not.match(r.stderr(), /reading it whole/)
})

test('a peer that claims every chunk and never answers: requests go to the origin after --deadline', async () => {
  origin = await startOrigin({ dir: dir.path })
  let asked = 0
  const mute = await fakePeer(item, () => { asked++ })
  try {
    const port = mute.port
    const rec = record(origin.url + 'item.bin', { root: item.root, hashtree: origin.url + 'elsewhere.tree' })
    const p = await startFetch(['--raw', '--keep', '0', '--deadline', '300ms', '--peer', `127.0.0.1:${port}`], rec)
    assert.is(await withTimeout(p.exited, 30_000, 'pc-fetch'), 0, p.stderr())
    assert.ok(p.stdout().equals(item.data))
    assert.ok(asked > 0, 'the mute peer was asked first')
  } finally { mute.close() }
})

test('peer exchange: a peer that knows only one other learns the rest of the swarm from it', async () => {
  origin = await startOrigin({ dir: dir.path })
  const rec = record(origin.url + 'item.bin', { root: item.root, hashtree: origin.url + 'elsewhere.tree' })
  const a = await startFetch(['--keep', '30s'], rec)
  // b uploads slowly, so c is still fetching when it learns of a
  const b = await startFetch(['--keep', '30s', '--upload-limit', '256k', '--peer', `127.0.0.1:${a.port}`], rec)
  await waitUntil(() => holds(a) && holds(b), 20_000, 'two peers to hold the item')
  const stats = join(dir.path, 'pex.stats')
  const c = await startFetch(['--raw', '--keep', '0', '--stats', stats, '--peer', `127.0.0.1:${b.port}`], rec)
  assert.is(await withTimeout(c.exited, 30_000, 'the third peer'), 0, c.stderr())
  assert.ok(c.stdout().equals(item.data))
  const st = JSON.parse((await readFile(stats, 'utf8')).split('\n')[0]) as { peersSeen: number }
  assert.is(st.peersSeen, 2, 'it met the peer it was not told about')
})

// Time is the measure here, on purpose: CPU ticks (10 ms each) over a 3 s window of wall
// time. An idle peer that polls or spins uses hundreds; the bound of 3 leaves room for a
// loaded machine, and a fast broken machine still spins for the whole window.
test('holding an item and serving nobody, pc-fetch uses no measurable CPU', async () => {
  origin = await startOrigin({ dir: dir.path })
  const a = await startFetch(['--keep', '60s'], record(origin.url + 'item.bin', { root: item.root, hashtree: origin.url + 'elsewhere.tree' }))
  await waitUntil(() => holds(a), 20_000, 'the peer to hold the item')
  await sleep(1000) // let start-up work (JIT, GC) settle
  const t0 = await cpuTicks(a.child.pid!)
  await sleep(3000)
  const used = await cpuTicks(a.child.pid!) - t0
  assert.ok(used <= 3, `${used} ticks of CPU in 3 s of idling`)
})

test('SIGINT: the tracker is told "stopped", peers goodbye, exit 130', async () => {
  origin = await startOrigin({ dir: dir.path })
  const tracker = start('pc-tracker', ['-v', '127.0.0.1:0'])
  const text = await waitForOutput(tracker.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-tracker')
  const url = `http://127.0.0.1:${/listening on [^:]+:(\d+)/.exec(text)![1]}/announce`
  let log = text
  tracker.stderr!.on('data', (d: Buffer) => { log += d.toString() })
  const rec = record(origin.url + 'item.bin', { root: item.root, hashtree: origin.url + 'elsewhere.tree' })
  const a = await startFetch(['--keep', '60s', '--tracker', url], rec)
  await waitUntil(() => holds(a), 20_000, 'the peer to hold the item')
  // a peer on the wire, to hear what a says when it leaves
  const heard: string[] = []
  const d = new WireDecoder()
  const peer = connect(a.port, '127.0.0.1', () => peer.write(encodeHandshake({ infoHash: infoHash(item.tree.root), peerId: Buffer.alloc(20, 9), port: 0 })))
  peer.on('error', () => {})
  peer.on('data', (b: Buffer) => { for (const m of d.push(b)) heard.push(m.type) })
  const closed = new Promise<void>(resolve => peer.on('close', () => resolve()))
  await waitUntil(() => heard.includes('bitfield'), 10_000, 'a to greet the peer')
  a.child.kill('SIGINT')
  assert.is(await withTimeout(a.exited, 10_000, 'pc-fetch to leave'), 130)
  await withTimeout(closed, 10_000, 'a to close the connection')
  assert.is(heard[heard.length - 1], 'goodbye', heard.join(' '))
  assert.match(log, /stopped/)
  assert.not.match(a.stderr(), /internal error/)
})

test.run()
