// pc-fetch's connection limits as options (pc-fetch(1) --max-peers, --max-connections),
// as a real process: a bad value is a usage error naming the option; with --max-peers 1
// the swarm of an item dials none of the peers that its one peer names (PEX), and dials
// one of them once that peer goes (the refill); with --max-connections 2 the third peer
// connecting is closed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { createServer } from 'node:http'
import { killChildren, run, sleep, tempDir, waitUntil } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { dialSwarm, fakePeer, Listening, makeItem, record, startFetch, type TestItem } from './pc-fetch-helpers.js'
import { encodeMessage } from '../../lib/swarm/wire.js'
import { infoHash } from '../../lib/hashing/hashtree.js'

let origin: OriginServer | undefined
let dir: { path: string, remove: () => Promise<void> } | undefined
const net = new Listening()
const sockets: Socket[] = []
const peers: Array<{ close: () => void }> = []
test.after.each(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  killChildren()
  for (const p of peers.splice(0)) p.close()
  net.close()
  await origin?.close(); origin = undefined
  await dir?.remove(); dir = undefined
})

/** An item whose tree the origin serves and whose bytes come from a web server that never answers: its swarm stays fetching. Its record and the item. */
async function hangingItem (): Promise<{ item: TestItem, rec: string }> {
  dir = await tempDir('pc-fetch-limits-')
  const item = await makeItem(dir.path, 'item.bin', 512 * 1024)
  origin = await startOrigin({ dir: dir.path })
  const hangPort = await net.listen(createServer(() => {}))
  return { item, rec: record(`http://127.0.0.1:${hangPort}/item.bin`, { root: item.root, hashtree: origin.url + 'item.bin.hashtree' }) }
}

for (const [opt, bad] of [['--max-peers', ['0', '-1', '2.5', 'ten']], ['--max-connections', ['0', '-3', '1.5', 'many']]] as const) {
  test(`bad input: ${opt} ${bad.join(', ')} each exit 64 naming ${opt}`, async () => {
    for (const v of bad) {
      const r = await run('pc-fetch', ['--host', '127.0.0.1', `${opt}=${v}`], '')
      assert.is(r.code, 64, `${opt}=${v}: ${r.stderr}`)
      assert.match(r.stderr, `pc-fetch: ${opt}: `)
      assert.match(r.stderr, v)
      assert.is(r.stdout.length, 0)
    }
  })
}

/**
 * pc-fetch given one peer by --peer that, once it has answered the handshake, names two
 * more by PEX (all three fake peers of the item, with ids of their own). Resolves, once
 * the first is connected, to how many connections each of the two named got so far.
 */
async function pexed (args: string[]): Promise<{ dialled: () => number[], drop: () => void }> {
  const { item, rec } = await hangingItem()
  const dialled = [0, 0]
  const named = await Promise.all(dialled.map(async (_n, k) =>
    await fakePeer(item, () => {}, undefined, { peerId: randomBytes(20), onOpen: () => { dialled[k]++ } })))
  let first: Socket | undefined
  const a = await fakePeer(item, () => {}, undefined, {
    peerId: randomBytes(20),
    onOpen: (s) => { first ??= s; s.write(encodeMessage({ type: 'pex', peers: named.map(p => ({ host: '127.0.0.1', port: p.port })) })) },
  })
  peers.push(a, ...named)
  await startFetch(['--keep', '0', '--peer', `127.0.0.1:${a.port}`, ...args], rec)
  await waitUntil(() => first !== undefined, 15_000, 'pc-fetch to connect to its --peer')
  return { dialled: () => [...dialled], drop: () => first?.destroy() }
}

test('without --max-peers, the two peers its one peer names are dialled too', async () => {
  const p = await pexed([])
  await waitUntil(() => p.dialled().every(n => n > 0), 10_000, 'both peers named by PEX to be dialled')
})

test('--max-peers 1: connected to one peer, pc-fetch dials neither of the two it names', async () => {
  const p = await pexed(['--max-peers', '1'])
  // (a bound on the wait, not a timing figure: without the option they are dialled within milliseconds)
  await sleep(2000)
  assert.equal(p.dialled(), [0, 0], 'connections made to the peers named by PEX')
})

test('--max-peers 1: when its one peer goes, pc-fetch dials one that peer named while it was full', async () => {
  const p = await pexed(['--max-peers', '1'])
  await sleep(1000)
  assert.equal(p.dialled(), [0, 0], 'none dialled while at the limit')
  p.drop()
  await waitUntil(() => p.dialled().some(n => n > 0), 10_000, 'a peer named by PEX to be dialled once the first left')
})

test('--max-connections 2: two peers of an item still fetching are answered, the third is closed', async () => {
  const { item, rec } = await hangingItem()
  const f = await startFetch(['--keep', '0', '--max-connections', '2'], rec)
  const ih = infoHash(item.tree.root)
  // the swarm is open once a peer of it is answered
  let probe: Socket | null = null
  await waitUntil(async () => { probe = await dialSwarm(f.port, ih); return probe !== null }, 20_000, 'the item\'s swarm')
  sockets.push(probe!)
  const second = await dialSwarm(f.port, ih)
  assert.ok(second, 'the second connection is answered')
  sockets.push(second!)
  const third = await dialSwarm(f.port, ih)
  if (third) sockets.push(third)
  assert.ok(third === null, 'the third connection was answered, not closed')
  assert.ok(sockets.every(s => !s.destroyed && !s.readableEnded), 'the two within the limit are still open')
})

test.run()
