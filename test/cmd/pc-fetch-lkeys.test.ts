// LKEYS between real listeners (pc-wire(7), pc-fetch(1)): ffmpeg into pc-live's stdin
// (its directory served by nginx), pc-tracker, two pc-fetch listeners of the show, and a
// test peer speaking lib/swarm/wire.ts to one of them. The listener tells the test peer
// the designation key of its other peer within seconds; an LKEYS over MAX_LKEYS keys, or
// shorter than its count says, gets the test peer dropped, said on stderr, and the
// listener plays on to the end of the show.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { killChildren, run, start, tempDir, waitForOutput, waitUntil, withTimeout } from '../helpers.js'
import { startLive, waitManifest, type Live } from './pc-live-helpers.js'
import { startFetch, type FetchProc } from './pc-fetch-helpers.js'
import { startNginx } from '../../scripts/nginx.js'
import { FrameDecoder } from '../../lib/frames/frame.js'
import { peerKey } from '../../lib/swarm/picker.js'
import { encodeHandshake, encodeMessage, M_LKEYS, MAX_LKEYS, WireDecoder, WIRE_VERSION_LIVE, type Handshake, type Message } from '../../lib/swarm/wire.js'

let live: Live | undefined
const cleanups: Array<() => Promise<unknown> | unknown> = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
  await live?.remove()
  live = undefined
})

/** A peer of the live swarm on a socket to 127.0.0.1:port: it handshakes first, and keeps what it is sent. */
interface TestPeer { socket: Socket, theirs: Promise<Handshake>, got: Message[], closed: Promise<void>, /** the address the listener sees, as its stderr names it */ address: () => string }

function testPeer (port: number, infoHash: Buffer, id: number): TestPeer {
  const socket = connect({ host: '127.0.0.1', port })
  const d = new WireDecoder()
  const got: Message[] = []
  let said: (h: Handshake) => void = () => {}
  const theirs = new Promise<Handshake>(resolve => { said = resolve })
  const closed = new Promise<void>(resolve => socket.once('close', () => resolve()))
  let address = ''
  socket.once('connect', () => { address = `127.0.0.1:${socket.localPort ?? 0}` })
  socket.on('error', () => {})
  socket.on('data', (b: Buffer) => {
    for (const m of d.push(b)) {
      if (m.type === 'handshake') said(m.handshake)
      else got.push(m)
    }
  })
  socket.write(encodeHandshake({ infoHash, peerId: Buffer.alloc(20, id), port: 0, version: WIRE_VERSION_LIVE }))
  cleanups.push(() => socket.destroy())
  return { socket, theirs, got, closed, address: () => address }
}

/** An LKEYS whose count says `count` keys, followed by `sent` keys. */
function lkeys (count: number, sent: number): Buffer {
  const b = Buffer.alloc(7 + 4 * sent)
  b.writeUInt32BE(3 + 4 * sent, 0)
  b[4] = M_LKEYS
  b.writeUInt16BE(count, 5)
  for (let i = 0; i < sent; i++) b.writeUInt32BE(i + 1, 7 + 4 * i)
  return b
}

test('a listener tells a live peer its other peer\'s key (LKEYS); a malformed LKEYS gets the sender dropped, and the listener plays on', async () => {
  const keys = await tempDir('pc-fetch-lkeys-')
  cleanups.push(keys.remove)
  const key = join(keys.path, 'station')
  assert.is((await run('pc-hash', ['--keygen', key])).code, 0)
  live = await startLive(['--key', key, '-'])
  const ff = start('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '18', '-b:a', '64k', '-f', 'mp3', '-'])
  ff.stdout!.pipe(live.c.stdin!)
  const m = await waitManifest(live.port, x => x.chunks.length > 0, 15_000, 'the first chunk')
  // the directory served by nginx too: the manifest that says the show ended outlives pc-live
  const nginx = await startNginx({ root: live.dir })
  cleanups.push(() => nginx.stop())
  const tr = start('pc-tracker', ['127.0.0.1:0'])
  const tracker = (await waitForOutput(tr.stdout!, t => t.endsWith('\n'), 10_000, 'the announce URL')).trim()
  const listen = (): Promise<FetchProc> => startFetch(['--tracker', tracker, '--key', `${key}.pub`, nginx.url + 'live'])
  const a = await listen()
  const b = await listen()
  const infoHash = Buffer.from(m.infoHash, 'hex')

  // b's key, from its own handshake
  const toB = testPeer(b.port, infoHash, 1)
  const bKey = peerKey((await withTimeout(toB.theirs, 5000, 'b\'s handshake')).peerId)
  toB.socket.destroy()

  const toA = testPeer(a.port, infoHash, 2)
  await withTimeout(toA.theirs, 5000, 'a\'s handshake')
  const named = (): boolean => toA.got.some(x => x.type === 'live-keys' && x.keys.includes(bKey))
  await waitUntil(named, 6000, 'an LKEYS from a naming b').catch((e: Error) => {
    throw new Error(`${e.message}; got ${JSON.stringify(toA.got.filter(x => x.type === 'live-keys'))}, b is ${bKey}; a: ${a.stderr().slice(-1500)}`)
  })
  toA.socket.destroy()

  // more keys than MAX_LKEYS, the message's length agreeing with its count
  const over = testPeer(a.port, infoHash, 3)
  await withTimeout(over.theirs, 5000, 'a\'s handshake')
  over.socket.write(lkeys(MAX_LKEYS + 1, MAX_LKEYS + 1))
  await withTimeout(over.closed, 5000, 'a to drop the peer sending 257 keys')
  await waitUntil(() => a.stderr().includes(`peer ${over.address()}: LKEYS of ${MAX_LKEYS + 1} keys; disconnected and avoided\n`), 2000, 'the drop on stderr').catch((e: Error) => { throw new Error(`${e.message}: ${a.stderr().slice(-1500)}`) })

  // a count of 3, 2 keys sent
  const short = testPeer(a.port, infoHash, 4)
  await withTimeout(short.theirs, 5000, 'a\'s handshake')
  short.socket.write(lkeys(3, 2))
  await withTimeout(short.closed, 5000, 'a to drop the peer sending a truncated LKEYS')
  await waitUntil(() => a.stderr().includes(`peer ${short.address()}: LKEYS of 10 bytes, expected 14; disconnected and avoided\n`), 2000, 'the drop on stderr').catch((e: Error) => { throw new Error(`${e.message}: ${a.stderr().slice(-1500)}`) })

  // a well-formed LKEYS from another peer is taken: that peer stays, told the keys every 2 s
  const good = testPeer(a.port, infoHash, 5)
  await withTimeout(good.theirs, 5000, 'a\'s handshake')
  good.socket.write(encodeMessage({ type: 'live-keys', keys: [bKey, 7] }))
  const before = good.got.filter(x => x.type === 'live-keys').length
  await waitUntil(() => good.got.filter(x => x.type === 'live-keys').length >= before + 2, 8000, 'two more LKEYS from a')
  assert.not.ok(a.stderr().includes(`peer ${good.address()}:`), 'the peer with a good LKEYS was not dropped')
  good.socket.destroy()

  // a plays on to the end of the show, and exits 0
  const code = await withTimeout(a.exited, 40_000, 'a to end with the show')
  assert.is(code, 0, a.stderr())
  const frames = new FrameDecoder('a').push(a.stdout())
  assert.is(frames.at(-1)?.type, 'end', 'END at the end of the show')
  assert.ok(frames.filter(f => f.type === 'mark').length >= 5, 'chunks played')
})

test.run()
