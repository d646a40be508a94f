// pc-fetch peers swarming one item as real processes on 127.0.0.1: a late joiner that
// needs no origin at all, eight listeners started together that share the origin's
// bytes, and the faults: a lying peer, peers killed mid-item, the origin gone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect } from 'node:net'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { killChildren, tempDir, withTimeout, waitUntil, sleep } from '../helpers.js'
import { encode } from '../../lib/tracker/bencode.js'
import { FrameDecoder, type Frame } from '../../lib/frames/frame.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { makeItem, record, startFetch, decodeAll, fakePeer, allFetch, type TestItem, type FetchProc } from './pc-fetch-helpers.js'
import { encodeHandshake, encodeMessage } from '../../lib/swarm/wire.js'
import { infoHash } from '../../lib/hashing/hashtree.js'
import { ISOLATED_LEAD_DEADLINES, ORIGIN_STEP_MS } from '../../lib/swarm/scheduler.js'

const SIZE = 4 * 1024 * 1024
const CHUNK = 128 * 1024
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined
const procs: FetchProc[] = []

test.before(async () => {
  dir = await tempDir('pc-fetch-swarm-')
  item = await makeItem(dir.path, 'item.bin', SIZE)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => {
  killChildren()
  procs.length = 0
  await origin?.close()
  origin = undefined
})

/** Start n pc-fetch processes with stdin open, each given --peer of the one before. */
async function startChain (n: number, extra: string[] = []): Promise<FetchProc[]> {
  const out: FetchProc[] = []
  for (let k = 0; k < n; k++) {
    const peer = k > 0 ? ['--peer', `127.0.0.1:${out[k - 1].port}`] : []
    const p = await startFetch(['--raw', '-q', '--keep', '4s', ...peer, ...extra])
    out.push(p)
    procs.push(p)
  }
  return out
}

test('a late joiner gets the whole item from a peer, the origin sending nothing more', async () => {
  origin = await startOrigin({ dir: dir.path })
  const a = await startFetch(['--raw', '--keep', '30s'], record(origin.url + 'item.bin', { root: item.root }))
  procs.push(a)
  await waitUntil(() => a.stdout().length >= SIZE, 20_000, 'the first peer to finish')
  const sentBefore = origin.bytesSent('/item.bin')
  const b = await startFetch(['--raw', '--keep', '0', '--peer', `127.0.0.1:${a.port}`], record(origin.url + 'item.bin', { root: item.root }))
  procs.push(b)
  assert.is(await withTimeout(b.exited, 30_000, 'the late joiner to finish'), 0, b.stderr())
  assert.ok(b.stdout().equals(item.data))
  assert.is(origin.bytesSent('/item.bin'), sentBefore, 'the origin sent no more bytes')
  assert.is(sentBefore, SIZE)
})

test('eight listeners started together: every output byte-identical, origin bytes well under 2x the size', async () => {
  origin = await startOrigin({ dir: dir.path })
  const peers = await startChain(8)
  await allFetch(peers, record(origin.url + 'item.bin', { root: item.root }), item, 'all eight to finish')
  const ratio = origin.bytesSent('/item.bin') / SIZE
  assert.ok(ratio < 1.5, `origin sent ${ratio.toFixed(2)}x the file`)
})

for (const workers of ['0', '1']) {
test(`a peer that sends a corrupt chunk is disconnected and avoided; the chunk comes from elsewhere (-j ${workers})`, async () => {
  origin = await startOrigin({ dir: dir.path })
  // a lying peer: claims every chunk and answers each request with garbage
  let lies = 0
  let dropped = false
  const liar = await fakePeer(item, (s, index) => {
    lies++
    s.write(encodeMessage({ type: 'piece', index, data: Buffer.alloc(item.tree.chunkSize, 0x55) }))
  }, () => { dropped = true })
  const port = liar.port
  try {
    // -j 1: peer chunks are copied into the verifier's shared buffers and checked on its thread
    const p = await startFetch(['--raw', '-j', workers, '--keep', '0', '--peer', `127.0.0.1:${port}`], record(origin.url + 'item.bin', { root: item.root }))
    procs.push(p)
    assert.is(await withTimeout(p.exited, 30_000, 'pc-fetch to finish'), 0, p.stderr())
    assert.ok(p.stdout().equals(item.data), 'output is the true file')
    assert.ok(lies >= 1, 'the liar was asked')
    assert.ok(dropped, 'the liar was disconnected')
    assert.match(p.stderr(), /does not match the hash tree; disconnected and avoided/)
  } finally { liar.close() }
})
}

test('peers killed with SIGKILL mid-item: the others finish', async () => {
  origin = await startOrigin({ dir: dir.path, mode: 'slow' })
  const peers = await startChain(5, ['--deadline', '1s'])
  const rec = record(origin.url + 'item.bin', { root: item.root })
  for (const p of peers) p.child.stdin!.end(rec)
  // wait until the swarm is under way, then kill two of them
  await waitUntil(() => peers[4].stdout().length >= 512 * 1024, 30_000, 'the swarm to get going')
  peers[1].child.kill('SIGKILL')
  peers[2].child.kill('SIGKILL')
  const rest = [peers[0], peers[3], peers[4]]
  const codes = await withTimeout(Promise.all(rest.map(p => p.exited)), 55_000, 'the survivors to finish')
  rest.forEach((p, k) => {
    assert.is(codes[k], 0, p.stderr())
    assert.ok(p.stdout().equals(item.data), `survivor ${k} output differs`)
  })
})

test('the origin stopped once the swarm holds every chunk: a newcomer still gets the item from peers', async () => {
  origin = await startOrigin({ dir: dir.path })
  const a = await startFetch(['--raw', '--keep', '30s'], record(origin.url + 'item.bin', { root: item.root }))
  procs.push(a)
  await waitUntil(() => a.stdout().length >= SIZE, 20_000, 'the first peer to finish')
  const url = origin.url
  await origin.close()
  origin = undefined
  const b = await startFetch(['--raw', '--keep', '0', '--peer', `127.0.0.1:${a.port}`], record(url + 'item.bin', { root: item.root, hashtree: url + 'item.bin.hashtree' }))
  procs.push(b)
  assert.is(await withTimeout(b.exited, 30_000, 'the newcomer'), 0, b.stderr())
  assert.ok(b.stdout().equals(item.data))
})

test('a scheduled item in a swarm of others, no peer reached: the origin is asked for each chunk only a few deadlines before it plays', async () => {
  origin = await startOrigin({ dir: dir.path })
  // a tracker that says five listeners are on the item, and names none: this listener is
  // not alone (alone, it fetches the whole item at once), and no peer brings it a chunk
  const tracker = createServer((_req, res) => { res.end(encode({ interval: 60, complete: 0, incomplete: 5, peers: Buffer.alloc(0) })) })
  await new Promise<void>(resolve => tracker.listen(0, '127.0.0.1', resolve))
  try {
    const url = `http://127.0.0.1:${(tracker.address() as AddressInfo).port}/announce`
    // the item's 32 chunks of 128 KiB are laid out over 600 s: one each 18.75 s
    const rec = record(origin.url + 'item.bin', { root: item.root })
    assert.match(rec, /"duration":600000,"offset":0/)
    const t0 = Date.now()
    const p = await startFetch(['-q', '--keep', '0', '--tracker', url], rec)
    procs.push(p)
    // (the output so far: a decoder not told it ended, as the stream goes on)
    const written = (): Frame[] => p.stdout().length ? new FrameDecoder('pc-fetch').push(p.stdout()) : []
    await waitUntil(() => written().some(f => f.type === 'data' && f.offset === 0), 9000, 'chunk 0 to be written')
    // with no peer, a chunk is taken from the origin ISOLATED_LEAD_DEADLINES deadlines (2 s
    // each) and the origin's wait before it plays, not a minute ahead by the listener's
    // turn: chunk 1 (playing at 18.75 s) from ~10.7 s, chunk 2 (37.5 s) from ~29.5 s
    await waitUntil(() => written().some(f => f.type === 'data' && f.offset === CHUNK), 18_000, 'chunk 1 to be written')
    const at = Date.now() - t0
    assert.ok(at >= 18_750 - (ISOLATED_LEAD_DEADLINES + 1) * 2000, `chunk 1 was written ${at} ms after the start`)
    // by the time chunks 2-4 (playing at 37.5-75 s) would have been asked by the listener's
    // turn (from 10 s, the view settling, up to ORIGIN_STEP_MS for each of the four others
    // ranked above it), none has been
    await sleep(Math.max(0, t0 + 10_000 + 4 * ORIGIN_STEP_MS - Date.now()))
    const sent = origin.bytesSent('/item.bin')
    assert.ok(sent <= 2 * CHUNK, `the origin sent ${sent} bytes in the first ${((Date.now() - t0) / 1000).toFixed(1)} s (${(sent / CHUNK).toFixed(1)} chunks)`)
  } finally { tracker.close() }
})

test('garbage handshakes, oversized lengths and request floods drop the connection; the peer keeps serving', async () => {
  origin = await startOrigin({ dir: dir.path })
  const a = await startFetch(['--keep', '30s'], record(origin.url + 'item.bin', { root: item.root }))
  procs.push(a)
  await waitUntil(() => done(a), 20_000, 'the peer to hold the item')
  const ih = infoHash(item.tree.root)
  const hs = encodeHandshake({ infoHash: ih, peerId: Buffer.alloc(20, 9), port: 0 })
  const closes = (payload: Buffer[]): Promise<void> => withTimeout(new Promise<void>((resolve) => {
    const s = connect(a.port, '127.0.0.1', () => { for (const b of payload) s.write(b) })
    s.on('error', () => {})
    s.on('data', () => {})
    s.on('close', () => resolve())
  }), 15_000, 'the connection to be dropped')
  await closes([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])
  const huge = Buffer.alloc(5); huge.writeUInt32BE(0xfffffff0, 0); huge[4] = 5
  await closes([hs, huge])
  const flood: Buffer[] = [hs]
  for (let i = 0; i < 10_000; i++) flood.push(encodeMessage({ type: 'request', index: i % 32 }))
  await closes([Buffer.concat(flood)])
  // a well-behaved peer is still served every chunk
  const b = await startFetch(['--raw', '--keep', '0', '--peer', `127.0.0.1:${a.port}`], record(origin.url + 'item.bin', { root: item.root }))
  procs.push(b)
  assert.is(await withTimeout(b.exited, 30_000, 'the good peer'), 0, b.stderr())
  assert.ok(b.stdout().equals(item.data))
  assert.is(origin.bytesSent('/item.bin'), SIZE, 'the good peer was served by the peer, not the origin')
})

function safeDecode (b: Buffer): ReturnType<typeof decodeAll> {
  try { return decodeAll(b) } catch { return [] }
}
function done (p: FetchProc): boolean {
  return safeDecode(p.stdout()).some(f => f.type === 'end')
}

test.run()
