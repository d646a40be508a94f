// pc-fetch --max-share (lib/swarm/uploads.ts): once its upload has reached R times what it
// received, a listener answers REJECT to every request, whatever the chunk; a chunk starts
// out only when it fits under the bound, so the upload never passes it. A real pc-fetch
// fetching a scheduled record (60 s, 17 chunks of 64 KiB) from a web server and a fake
// peer that holds every chunk, and a test peer speaking lib/swarm/wire.ts to it: once the
// listener holds the item (~1 MiB received), chunk 0 is served (64 KiB, under the bound of
// ~102 KiB), then chunk 15 is refused (a second chunk would pass it) with --max-share 0.1 and served with
// --max-share 0 (no bound). And --fair-share, which refuses only an AREQUEST.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Socket } from 'node:net'
import { killChildren, run, tempDir, waitUntil, withTimeout } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { fakePeer, makeItem, record, startFetch, type TestItem } from './pc-fetch-helpers.js'
import { encodeHandshake, encodeMessage, WireDecoder, type Handshake, type Message } from '../../lib/swarm/wire.js'
import { infoHash as infoHashOf } from '../../lib/hashing/hashtree.js'

const SIZE = 1024 * 1024 + 777
const CHUNK = 64 * 1024
let dir: { path: string, remove: () => Promise<void> }
let item: TestItem
let origin: OriginServer | undefined
const cleanups: Array<() => void> = []

test.before(async () => {
  dir = await tempDir('pc-fetch-share-')
  item = await makeItem(dir.path, 'item.bin', SIZE, CHUNK)
})
test.after(async () => { await dir.remove() })
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) c()
  await origin?.close()
  origin = undefined
})

/**
 * a peer on a socket to the listener: it handshakes (saying it reads AREQUEST with `alt`),
 * and keeps what it is sent (a bitfield and HAVEs as the chunks it holds) and the listener's handshake
 */
function testPeer (port: number, alt = false): { socket: Socket, got: Message[], holds: (i: number) => boolean, theirs: () => Handshake | undefined } {
  const socket = connect({ host: '127.0.0.1', port })
  const d = new WireDecoder()
  const got: Message[] = []
  socket.on('error', () => {})
  socket.on('data', (b: Buffer) => { for (const m of d.push(b)) if (m.type !== 'handshake') got.push(m) })
  socket.write(encodeHandshake({ infoHash: infoHashOf(item.tree.root), peerId: Buffer.alloc(20, 9), port: 0, altRequests: alt || undefined }))
  cleanups.push(() => socket.destroy())
  const holds = (i: number): boolean => got.some(m => (m.type === 'have' && m.index === i) || (m.type === 'bitfield' && (m.bits[i >> 3] & (0x80 >> (i & 7))) !== 0))
  return { socket, got, holds, theirs: () => d.handshake }
}

/** what the listener answered to our REQUEST (AREQUEST with `alt`) for chunk i: 'piece' or 'reject' */
async function ask (p: ReturnType<typeof testPeer>, i: number, alt = false): Promise<string> {
  p.socket.write(encodeMessage({ type: 'request', index: i, alt }))
  await waitUntil(() => p.got.some(m => (m.type === 'piece' || m.type === 'reject') && m.index === i), 10_000, `an answer for chunk ${i}`)
  return p.got.find(m => (m.type === 'piece' || m.type === 'reject') && m.index === i)!.type
}

for (const [max, last] of [['0.1', 'reject'], ['0', 'piece']]) {
  test(`--max-share ${max}: chunk 0 served, then chunk 15 ${last === 'reject' ? 'refused (the bound reached)' : 'served'}`, async () => {
    origin = await startOrigin({ dir: dir.path })
    // it serves every chunk (a peer that answers nothing is dropped, and would hold nothing)
    const other = await fakePeer(item, (s, i) => { s.write(encodeMessage({ type: 'piece', index: i, data: item.data.subarray(i * CHUNK, (i + 1) * CHUNK) })) })
    cleanups.push(other.close)
    const rec = record(origin.url + 'item.bin', { root: item.root, duration: 60_000 })
    const a = await startFetch(['-q', '--keep', '30s', '--deadline', '500ms', '--max-share', max, '--peer', `127.0.0.1:${other.port}`], rec)
    const p = testPeer(a.port)
    await withTimeout(waitUntil(() => p.holds(15), 20_000, 'the listener to hold chunk 15'), 25_000, 'chunk 15')
    assert.is(await ask(p, 0), 'piece', 'below the bound')
    assert.is(await ask(p, 15), last, a.stderr())
  })
}

// --fair-share (uploads.ts refuseBeyondShares): past R × what it received, an AREQUEST (the
// requester has another holder at hand) is refused, a REQUEST served; the listener's own
// handshake says it reads AREQUEST (HS_AREQUEST)
for (const [fair, alt] of [['0.1', 'reject'], ['0', 'piece']]) {
  test(`--fair-share ${fair}: chunk 0 served, then chunk 14 asked with AREQUEST ${alt === 'reject' ? 'refused' : 'served'}, and chunk 15 asked with REQUEST served`, async () => {
    origin = await startOrigin({ dir: dir.path })
    const other = await fakePeer(item, (s, i) => { s.write(encodeMessage({ type: 'piece', index: i, data: item.data.subarray(i * CHUNK, (i + 1) * CHUNK) })) })
    cleanups.push(other.close)
    const rec = record(origin.url + 'item.bin', { root: item.root, duration: 60_000 })
    const a = await startFetch(['-q', '--keep', '30s', '--deadline', '500ms', '--fair-share', fair, '--peer', `127.0.0.1:${other.port}`], rec)
    const p = testPeer(a.port, true)
    await withTimeout(waitUntil(() => p.holds(15), 20_000, 'the listener to hold chunk 15'), 25_000, 'chunk 15')
    assert.is(p.theirs()?.altRequests, true, 'its handshake says it reads AREQUEST')
    assert.is(await ask(p, 0), 'piece', 'below the fair share')
    assert.is(await ask(p, 14, true), alt, a.stderr())
    assert.is(await ask(p, 15), 'piece', 'a REQUEST past the fair share')
  })
}

for (const option of ['max-share', 'fair-share']) {
  test(`--${option} takes a number >= 0`, async () => {
    for (const bad of ['-1', 'lots', '1e3']) {
      const r = await run('pc-fetch', [`--${option}=${bad}`, 'http://127.0.0.1:9/x.mp3'])
      assert.is(r.code, 64, r.stderr)
      assert.match(r.stderr, `--${option}: not a number >= 0: '${bad}'`)
    }
  })
}

test.run()
