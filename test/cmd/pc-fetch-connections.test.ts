// pc-fetch at its connection limit (pc-fetch(1), lib/swarm/fetcher.ts yieldingConnection),
// as a real process: an item written and still served (--keep) holds 256 idle connections,
// and a peer of the next item, still fetching, takes the place of one of them; a peer of
// the item already held takes none.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Socket } from 'node:net'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { killChildren, tempDir, waitUntil } from '../helpers.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { dialSwarm, makeItem, record, startFetch } from './pc-fetch-helpers.js'
import { infoHash } from '../../lib/hashing/hashtree.js'
import { MAX_CONNECTIONS } from '../../lib/swarm/fetcher.js'

const SIZE = 512 * 1024
let origin: OriginServer | undefined
let hang: Server | undefined
const sockets: Socket[] = []
test.after.each(async () => {
  for (const s of sockets) s.destroy()
  sockets.length = 0
  killChildren()
  await origin?.close(); origin = undefined
  hang?.closeAllConnections(); hang?.close(); hang = undefined
})

test(`at ${MAX_CONNECTIONS} connections, an idle one of an item held gives way to a peer of an item still fetching`, async () => {
  const dir = await tempDir('pc-fetch-conn-')
  try {
    const a = await makeItem(dir.path, 'a.bin', SIZE)
    const b = await makeItem(dir.path, 'b.bin', SIZE)
    origin = await startOrigin({ dir: dir.path })
    // b's bytes come from a web server that never answers: its swarm stays fetching
    hang = createServer(() => {})
    await new Promise<void>(resolve => hang!.listen(0, '127.0.0.1', resolve))
    const hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`
    const f = await startFetch(['--keep', '10m'])
    f.child.stdin!.write(record(origin.url + 'a.bin', { root: a.root }))
    await waitUntil(() => f.stdout().length > SIZE, 20_000, 'item a written')
    f.child.stdin!.write(record(hangUrl + 'b.bin', { root: b.root, hashtree: origin.url + 'b.bin.hashtree' }))
    const ihA = infoHash(a.tree.root)
    const ihB = infoHash(b.tree.root)
    // b's swarm is open once a peer of it is answered
    let probe: Socket | null = null
    await waitUntil(async () => { probe = await dialSwarm(f.port, ihB); return probe !== null }, 20_000, 'item b\'s swarm')
    sockets.push(probe!)
    // fill the limit with idle peers of a (held whole, kept for --keep)
    let refused = false
    for (let k = 0; k < MAX_CONNECTIONS + 8 && !refused; k++) {
      const s = await dialSwarm(f.port, ihA)
      if (s) sockets.push(s); else refused = true
    }
    assert.ok(refused, 'a peer of the item held whole takes no place at the limit')
    assert.ok(sockets.length >= MAX_CONNECTIONS - 4, `${sockets.length} connections held`)
    const closed = (): number => sockets.filter(s => s.destroyed || s.readableEnded).length
    const before = closed()
    // a peer of b: it gets a place, and one of a's idle connections is closed for it
    const s = await dialSwarm(f.port, ihB)
    assert.ok(s, `a peer of the item still fetching was refused at ${sockets.length} connections`)
    sockets.push(s!)
    await waitUntil(() => closed() > before, 5000, 'an idle connection of item a to give way')
    assert.is(closed() - before, 1, 'one connection gave way')
  } finally { await dir.remove() }
})

test.run()
