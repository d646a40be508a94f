// pc-fetch swarms that find each other through a tracker: pc-tracker, pc-tracker
// restarted mid-item, and Debian's opentracker with a whitelist, unchanged.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { start, killChildren, tempDir, withTimeout, waitForOutput, sleep, ROOT, waitUntil } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { infoHash } from '../../lib/hashing/hashtree.js'
import { makeItem, record, startFetch, allFetch, type TestItem, type FetchProc } from './pc-fetch-helpers.js'
import { freePort } from '../../scripts/free-port.js'

const SIZE = 4 * 1024 * 1024
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined
let extra: ChildProcess[] = []

test.before(async () => {
  dir = await tempDir('pc-fetch-tracker-')
  item = await makeItem(dir.path, 'item.bin', SIZE)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => {
  killChildren()
  for (const c of extra) c.kill('SIGKILL')
  extra = []
  await origin?.close()
  origin = undefined
})

async function startTracker (hostPort: string, args: string[] = []): Promise<{ child: ChildProcess, url: string }> {
  const child = start('pc-tracker', ['-v', ...args, hostPort])
  const text = await waitForOutput(child.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-tracker to listen')
  const port = Number(/listening on [^:]+:(\d+)/.exec(text)![1])
  return { child, url: `http://127.0.0.1:${port}/announce` }
}

async function swarmOf (n: number, tracker: string, stats = false): Promise<FetchProc[]> {
  const out: FetchProc[] = []
  for (let k = 0; k < n; k++) {
    const s = stats ? ['--stats', join(dir.path, `stats-${k}`)] : []
    // a peer has 10 s, not 2, to deliver before its chunk is asked of the origin: on a loaded machine
    // the processes themselves are late, and the bound below is about finding peers, not about load
    out.push(await startFetch(['--raw', '-q', '--keep', '4s', '--deadline', '10s', '--tracker', tracker, ...s]))
  }
  return out
}

test('eight listeners find each other through pc-tracker: outputs byte-identical, origin well under 2x', async () => {
  origin = await startOrigin({ dir: dir.path })
  const tr = await startTracker('127.0.0.1:0')
  const peers = await swarmOf(8, tr.url, true)
  await allFetch(peers, record(origin.url + 'item.bin', { root: item.root }), item, 'all eight to finish')
  const ratio = origin.bytesSent('/item.bin') / SIZE
  assert.ok(ratio < 1.5, `origin sent ${ratio.toFixed(2)}x the file`)
  const fromPeers = await Promise.all(peers.map(async (_p, k) => JSON.parse((await readFile(join(dir.path, `stats-${k}`), 'utf8')).split('\n')[0]).bytesFromPeers as number))
  assert.ok(fromPeers.reduce((a, b) => a + b, 0) > 4 * SIZE, 'most bytes came from peers')
})

test('the tracker restarted mid-item: peers re-announce and a newcomer still finds the swarm', async () => {
  origin = await startOrigin({ dir: dir.path, mode: 'slow' })
  let tr = await startTracker('127.0.0.1:0', ['--interval', '1s'])
  const port = Number(new URL(tr.url).port)
  const rec = record(origin.url + 'item.bin', { root: item.root })
  const first = await swarmOf(2, tr.url)
  for (const p of first) p.child.stdin!.end(rec)
  await waitUntil(() => first[0].stdout().length >= 256 * 1024, 30_000, 'the swarm to get going')
  tr.child.kill('SIGKILL')
  await new Promise(resolve => tr.child.once('close', resolve))
  await sleep(300)
  tr = await startTracker(`127.0.0.1:${port}`, ['--interval', '1s'])
  await sleep(2500) // more than one interval: the first two have announced again
  const stats = join(dir.path, 'late.stats')
  const late = await startFetch(['--raw', '-q', '--keep', '0', '--tracker', tr.url, '--stats', stats], rec)
  const all = [...first, late]
  const codes = await withTimeout(Promise.all(all.map(p => p.exited)), 58_000, 'all three to finish')
  all.forEach((p, k) => {
    assert.is(codes[k], 0, p.stderr())
    assert.ok(p.stdout().equals(item.data), `peer ${k} output differs`)
  })
  const s = JSON.parse((await readFile(stats, 'utf8')).split('\n')[0]) as { bytesFromPeers: number, peersSeen: number }
  assert.ok(s.peersSeen >= 1 && s.bytesFromPeers > 0, `the newcomer found the swarm: ${JSON.stringify(s)}`)
})

test('a listener alone asks pc-tracker again 5 s after its answer, not a minute later (pc-fetch(1): fewer than five peers)', async () => {
  // (before, a listener that tuned in first, or behind a NAT, heard of nobody who came after
  // it until its next announce at the interval, and fetched alone from the origin meanwhile)
  origin = await startOrigin({ dir: dir.path })
  const tr = await startTracker('127.0.0.1:0') // the default interval: 60 s, min interval 5 s
  const announces = async (): Promise<number> => (await (await fetch(tr.url.replace('/announce', '/stats'))).json() as { announces: number }).announces
  // (kept two minutes: its 'stopped' announce comes after the wait below)
  const alone = await startFetch(['--raw', '-q', '--keep', '120s', '--tracker', tr.url], record(origin.url + 'item.bin', { root: item.root }))
  await waitUntil(() => alone.stdout().length === SIZE, 30_000, 'the item alone from the origin')
  // started, then completed; the early one comes 5 s after completed's answer
  await waitUntil(async () => await announces() >= 2, 10_000, 'started and completed')
  // (within 25 s, less than half the interval: no announce at the interval; a margin of 20 s over the 5 s for a loaded machine)
  await waitUntil(async () => await announces() >= 3, 25_000, 'an announce before half the interval was up')
  assert.ok(await announces() >= 3)
  alone.child.kill('SIGTERM')
})

test('the same swarm through Debian opentracker with a whitelist', async () => {
  origin = await startOrigin({ dir: dir.path })
  const hashes = join(dir.path, 'whitelist.hashes')
  await writeFile(hashes, infoHash(item.tree.root).toString('hex') + '\n')
  const port = await freePort()
  const ot = spawn('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(port), hashes], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: dir.path } })
  extra.push(ot)
  await waitForOutput(ot.stderr!, t => /announce http/.test(t), 10_000, 'opentracker to start')
  await sleep(300)
  const url = `http://127.0.0.1:${port}/announce`
  const peers = await swarmOf(6, url, true)
  await allFetch(peers, record(origin.url + 'item.bin', { root: item.root }), item, 'all six to finish')
  const ratio = origin.bytesSent('/item.bin') / SIZE
  assert.ok(ratio < 1.5, `origin sent ${ratio.toFixed(2)}x the file`)
  const seen = await Promise.all(peers.map(async (_p, k) => JSON.parse((await readFile(join(dir.path, `stats-${k}`), 'utf8')).split('\n')[0]).peersSeen as number))
  assert.ok(seen.every(n => n >= 1), `every listener met a peer: ${seen.join(',')}`)
})

test.run()
