// The give-way rule of pc-fetch(1) (lib/swarm/members.ts addAddress) through the real
// command: a tracker whose answers fill a listener's list of addresses with ports that
// refuse, and from its second answer on name one live peer after them. Short of peers, the
// listener dials that peer in place of an address whose dial failed; kept to their last
// try, the refused addresses would shut it out of every answer.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, createServer as createTcpServer } from 'node:net'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { killChildren, tempDir, withTimeout } from '../helpers.js'
import { encode } from '../../lib/tracker/bencode.js'
import { startOrigin, type OriginServer } from '../../scripts/origin.js'
import { Listening, makeItem, record, startFetch } from './pc-fetch-helpers.js'
import { decodeHandshake, HANDSHAKE_BYTES, WIRE_MAGIC } from '../../lib/swarm/wire.js'
import { infoHash } from '../../lib/hashing/hashtree.js'
import { MAX_PEERS } from '../../lib/swarm/members.js'

/** a swarm keeps up to 4 × the peers it dials (--max-peers, at its default here: 50 and 200) */
const LIST = 4 * MAX_PEERS
let origin: OriginServer | undefined
const net = new Listening()
test.after.each(async () => {
  killChildren()
  net.close()
  await origin?.close(); origin = undefined
})

/** n ports of 127.0.0.1 that were bound a moment ago, closed, and then refused a connection. */
async function refusedPorts (n: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: n }, async () => {
    const s = createTcpServer()
    await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
    return s
  }))
  const ports = held.map(s => (s.address() as AddressInfo).port)
  await Promise.all(held.map(async s => await new Promise(resolve => s.close(resolve))))
  const codes = await Promise.all(ports.map(async port => await new Promise<string>(resolve => {
    const c = connect(port, '127.0.0.1')
    c.on('connect', () => { c.destroy(); resolve('accepted') })
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
  })))
  assert.ok(codes.every(c => c === 'ECONNREFUSED'), `every port refuses: ${codes.filter(c => c !== 'ECONNREFUSED').join(', ')}`)
  return ports
}

/** BEP 23 compact peers on 127.0.0.1 */
function compact (ports: number[]): Buffer {
  const b = Buffer.alloc(6 * ports.length)
  ports.forEach((port, k) => { b.set([127, 0, 0, 1], 6 * k); b.writeUInt16BE(port, 6 * k + 4) })
  return b
}

test(`a list of ${LIST} refused addresses gives way: the listener dials the one live peer a later tracker answer names`, async () => {
  const dir = await tempDir('pc-fetch-giveway-')
  try {
    const item = await makeItem(dir.path, 'item.bin', 512 * 1024)
    origin = await startOrigin({ dir: dir.path })
    // the item's bytes come from a web server that never answers: its swarm stays open, short of peers
    const hangPort = await net.listen(createServer(() => {}))
    // the live peer: the first bytes of the first connection it gets
    let dialled: (first: Buffer) => void = () => {}
    const firstBytes = new Promise<Buffer>(resolve => { dialled = resolve })
    const livePort = await net.listen(createTcpServer((s) => {
      let got = Buffer.alloc(0)
      s.on('error', () => {})
      s.on('data', (b: Buffer) => { got = Buffer.concat([got, b]); if (got.length >= HANDSHAKE_BYTES) dialled(got.subarray(0, HANDSHAKE_BYTES)) })
    }))
    const dead = await refusedPorts(LIST)
    // Every answer names the refused addresses, as a tracker names peers that announced
    // and cannot be reached (behind NATs): each one forgotten after its fourth refusal
    // (pc-fetch(1)) is back in the list at the next answer, and without the rule the
    // list is full again before the live peer's turn. The live peer comes last, from
    // the second answer on.
    // `min interval` 2: the early announce comes 2 s after an answer, not 1 s, about when
    // the refused addresses are dialled again (1 s after their first refusal), and one
    // being dialled gives way to none; at 2 s each waits for its third dial, at 3 s.
    let answers = 0
    const trackerPort = await net.listen(createServer((_req, res) => {
      const peers = ++answers === 1 ? dead : [...dead, livePort]
      res.end(encode({ interval: 60, 'min interval': 2, peers: compact(peers) }))
    }))
    const p = await startFetch(['-v', '--keep', '0', '--tracker', `http://127.0.0.1:${trackerPort}/announce`],
      record(`http://127.0.0.1:${hangPort}/item.bin`, { root: item.root, hashtree: origin.url + 'item.bin.hashtree' }))
    const first = await withTimeout(firstBytes, 30_000, `pc-fetch to dial the live peer named after ${LIST} refused addresses`)
      .catch((e: Error) => { throw new Error(`${e.message}; tracker answers: ${answers}; pc-fetch: ${p.stderr().slice(-1500)}`) })
    assert.ok(answers >= 2, 'the live peer was named only from the second answer on')
    assert.ok(first.subarray(0, WIRE_MAGIC.length).equals(WIRE_MAGIC), `a handshake's magic: ${first.subarray(0, 8).toString('hex')}`)
    assert.ok(decodeHandshake(first).infoHash.equals(infoHash(item.tree.root)), 'the item\'s swarm')
    // -v says why a dial failed, with the address
    assert.match(p.stderr(), `pc-fetch: peer 127.0.0.1:${dead[0]}: cannot connect: ECONNREFUSED\n`)
  } finally { await dir.remove() }
})

test.run()
