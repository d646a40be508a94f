import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, connect } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { announce, scrape, fetchGatewayTree, formatIPv6, scrapeUrl, escapeBytes } from '../../lib/tracker/client.js'
import { encode } from '../../lib/tracker/bencode.js'
import { Swarms } from '../../lib/tracker/swarms.js'
import { createTrackerServer, listenTracker, announceUrlFor } from '../../lib/tracker/server.js'
import { DataError, NoInputError, UnavailableError } from '../../lib/core/cli.js'
import { start, killChildren, tempDir, ROOT, waitUntil } from '../helpers.js'
import { freePort } from '../../scripts/free-port.js'

const cleanups: (() => unknown)[] = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

async function waitListening (port: number): Promise<void> {
  await waitUntil(() => new Promise<boolean>(resolve => {
    const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true) })
    c.on('error', () => resolve(false))
  }), 10_000, `a listener on port ${port}`, 50)
}

/** An HTTP server answering every request with `answer`; records the request URLs. */
async function fakeTracker (answer: (url: string) => { status?: number, body: Buffer | string }): Promise<{ url: string, seen: string[] }> {
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '')
    const a = answer(req.url ?? '')
    res.writeHead(a.status ?? 200, { 'content-type': 'text/plain' })
    res.end(a.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise(resolve => { server.closeAllConnections(); server.close(resolve) }))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/announce`, seen }
}

const base = { uploaded: 0, downloaded: 0, left: 1000 }

async function startOpentracker (hashes: Buffer[]): Promise<{ url: string, proc: ChildProcess }> {
  const dir = await tempDir('pc-ot-')
  cleanups.push(dir.remove)
  const list = join(dir.path, 'hashes.txt')
  await writeFile(list, hashes.map(h => h.toString('hex') + '  some-item.mp3\n').join(''))
  const port = await freePort()
  const proc = start('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(port), list], { env: { ...process.env, TMPDIR: dir.path } })
  await waitListening(port)
  return { url: `http://127.0.0.1:${port}/announce`, proc }
}

test('opentracker: two peers with a whitelisted info-hash see each other, scrape counts them', async () => {
  const ih = randomBytes(20)
  const { url } = await startOpentracker([ih])
  const a = { announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 40001, ...base }
  const b = { announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 40002, ...base, left: 0 }
  const ra = await announce({ ...a, event: 'started' })
  assert.ok(ra.interval > 0)
  const rb = await announce({ ...b, event: 'started', numwant: 10 })
  assert.ok(rb.peers.some(p => p.host === '127.0.0.1' && p.port === 40001), JSON.stringify(rb.peers))
  const ra2 = await announce(a)
  assert.ok(ra2.peers.some(p => p.port === 40002), JSON.stringify(ra2.peers))
  assert.is(ra2.complete, 1)
  assert.is(ra2.incomplete, 1)
  const s = await scrape(url, [ih])
  assert.equal(s.get(ih.toString('hex')), { complete: 1, incomplete: 1, downloaded: 0 })
  await announce({ ...a, event: 'stopped' })
  const s2 = await scrape(url, [ih])
  assert.is(s2.get(ih.toString('hex'))?.incomplete, 0)
})

test('opentracker: an info-hash not on the whitelist is refused with the tracker\'s reason', async () => {
  const { url } = await startOpentracker([randomBytes(20)])
  try {
    await announce({ announceUrl: url, infoHash: randomBytes(20), peerId: randomBytes(20), port: 40003, ...base })
    assert.unreachable('announce should fail')
  } catch (e) {
    assert.ok(e instanceof UnavailableError, String(e))
    assert.match((e as Error).message, /tracker: .*not authorized/)
    assert.match((e as Error).message, url)
  }
})

test('sends binary info_hash and peer_id percent-encoded, compact=1 and the event', async () => {
  const t = await fakeTracker(() => ({ body: encode({ interval: 30, peers: Buffer.alloc(0) }) }))
  const ih = Buffer.from('00ff41422e7e2b20' + 'aa'.repeat(12), 'hex')
  await announce({ announceUrl: t.url, infoHash: ih, peerId: Buffer.alloc(20, 0x2d), port: 6881, uploaded: 5, downloaded: 6, left: 7, event: 'completed', numwant: 9 })
  const u = t.seen[0]
  assert.ok(u.startsWith('/announce?'), u)
  assert.ok(u.includes('info_hash=' + escapeBytes(ih)), u)
  assert.ok(u.includes('info_hash=%00%FFAB.~%2B%20'), u)
  for (const p of ['peer_id=' + '-'.repeat(20), 'port=6881', 'uploaded=5', 'downloaded=6', 'left=7', 'event=completed', 'numwant=9', 'compact=1']) assert.ok(u.includes(p), `${p} in ${u}`)
})

test('reads compact, dictionary and IPv6 peer lists, and the optional fields', async () => {
  const compact = Buffer.from([10, 0, 0, 7, 0x1a, 0xe1, 192, 168, 1, 2, 0, 80])
  const v6 = Buffer.concat([Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from([0x1f, 0x90])])
  let answer: Buffer = encode({ interval: 45, 'min interval': 10, complete: 3, incomplete: 4, 'warning message': 'be nice', peers: compact, peers6: v6 })
  const t = await fakeTracker(() => ({ body: answer }))
  const p = { announceUrl: t.url, infoHash: randomBytes(20), peerId: randomBytes(20), port: 1, ...base }
  const r = await announce(p)
  assert.equal(r, { interval: 45, minInterval: 10, complete: 3, incomplete: 4, warning: 'be nice', peers: [{ host: '10.0.0.7', port: 6881 }, { host: '192.168.1.2', port: 80 }, { host: '2001:db8::1', port: 8080 }] })
  answer = encode({ interval: 20, peers: [{ ip: '10.1.2.3', port: 7000, 'peer id': Buffer.alloc(20) }, { ip: '::1', port: 7001 }, { ip: 'not-an-ip', port: 1 }, { ip: '10.0.0.1', port: 0 }] })
  const r2 = await announce(p)
  assert.equal(r2.peers, [{ host: '10.1.2.3', port: 7000 }, { host: '::1', port: 7001 }])
  answer = encode({ peers: Buffer.alloc(0) })
  assert.is((await announce(p)).interval, 60, 'a missing interval falls back to the default')
})

test('failure reason is UnavailableError, garbage is DataError, HTTP errors and timeouts are UnavailableError', async () => {
  let answer: { status?: number, body: Buffer | string } = { body: encode({ 'failure reason': 'go away' }) }
  const t = await fakeTracker(() => answer)
  const p = { announceUrl: t.url, infoHash: randomBytes(20), peerId: randomBytes(20), port: 1, ...base }
  const fails = async (cls: Function, re: RegExp): Promise<void> => {
    try { await announce(p); assert.unreachable('should fail') } catch (e) { assert.ok(e instanceof cls, String(e)); assert.match((e as Error).message, re) }
  }
  await fails(UnavailableError, /tracker: go away/)
  answer = { status: 400, body: encode({ 'failure reason': 'bad request here' }) }
  await fails(UnavailableError, /bad request here/)
  answer = { body: '<html>hello</html>' }
  await fails(DataError, /at byte 0/)
  answer = { body: encode({ interval: 5, peers: Buffer.alloc(7) }) }
  await fails(DataError, /multiple of 6/)
  answer = { status: 500, body: 'oops' }
  await fails(UnavailableError, /HTTP 500/)
  answer = { body: Buffer.alloc(2 * 1024 * 1024, 0x61) }
  await fails(DataError, /larger than/)
  const port = await freePort()
  try {
    await announce({ ...p, announceUrl: `http://127.0.0.1:${port}/announce` })
    assert.unreachable()
  } catch (e) { assert.ok(e instanceof UnavailableError, String(e)); assert.match((e as Error).message, /ECONNREFUSED/) }
  // a tracker that accepts and never answers
  const held = new Set<import('node:net').Socket>()
  const silent = createNetServer(s => { held.add(s); s.on('error', () => {}); s.resume() })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise(resolve => { for (const s of held) s.destroy(); silent.close(resolve) }))
  try {
    await announce({ ...p, announceUrl: `http://127.0.0.1:${(silent.address() as { port: number }).port}/announce`, timeoutMs: 300 })
    assert.unreachable()
  } catch (e) { assert.ok(e instanceof UnavailableError, String(e)); assert.match((e as Error).message, /no answer within 300 ms/) }
  const ac = new AbortController()
  const pending = announce({ ...p, announceUrl: `http://127.0.0.1:${(silent.address() as { port: number }).port}/announce`, signal: ac.signal })
  ac.abort()
  try { await pending; assert.unreachable() } catch (e) { assert.is((e as Error).name, 'AbortError') }
})

test('scrape URL follows the announce → scrape convention', () => {
  assert.is(scrapeUrl('http://t:6969/announce'), 'http://t:6969/scrape')
  assert.is(scrapeUrl('http://t/x/announce.php?k=1'), 'http://t/x/scrape.php?k=1')
  assert.is(scrapeUrl('http://t/tracker'), undefined)
})

test('formats IPv6 addresses canonically', () => {
  assert.is(formatIPv6(Buffer.from('00000000000000000000000000000001', 'hex')), '::1')
  assert.is(formatIPv6(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1')
  assert.is(formatIPv6(Buffer.from('20010db8000100020003000400050006', 'hex')), '2001:db8:1:2:3:4:5:6')
})

test('fetchGatewayTree asks the tracker origin and maps 404 to NoInputError', async () => {
  const t = await fakeTracker((u) => u.startsWith('/hashtree?url=http%3A%2F%2Fo%2Fa.mp3') ? { body: 'pc-hashtree 1\n' } : { status: 404, body: 'no such thing' })
  assert.is(await fetchGatewayTree(t.url, 'http://o/a.mp3'), 'pc-hashtree 1\n')
  try { await fetchGatewayTree(t.url, 'http://o/b.mp3'); assert.unreachable() } catch (e) { assert.ok(e instanceof NoInputError, String(e)); assert.match((e as Error).message, /404: no such thing/) }
})

/** pc-tracker's server in this process, on a real socket, with a clock the test moves. */
async function ourTracker (limits: Partial<ConstructorParameters<typeof Swarms>[0]> = {}): Promise<{ url: string, swarms: Swarms, clock: { t: number } }> {
  const clock = { t: 1_000_000 }
  const swarms = new Swarms({ intervalS: 60, maxSwarms: 100, maxPeers: 100, ...limits }, () => clock.t)
  const server = createTrackerServer({ swarms })
  const addr = await listenTracker(server, '127.0.0.1', 0)
  cleanups.push(() => new Promise(resolve => { server.closeAllConnections(); server.close(resolve) }))
  return { url: announceUrlFor(addr), swarms, clock }
}

test('pc-tracker: two peers see each other; completed and stopped are counted; scrape agrees', async () => {
  const { url } = await ourTracker()
  const ih = randomBytes(20)
  const a = { announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41001, ...base }
  const b = { announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41002, ...base }
  const ra = await announce({ ...a, event: 'started' })
  assert.equal(ra.peers, [])
  assert.is(ra.interval, 60)
  // fewer peers named than asked for (the client asks 50): the swarm is small, ask again after 1 s if need be
  assert.is(ra.minInterval, 1)
  const rb = await announce({ ...b, event: 'started' })
  assert.equal(rb.peers, [{ host: '127.0.0.1', port: 41001 }])
  assert.is(rb.incomplete, 2)
  // as many as asked for: half the interval, at most 5 s
  const one = await announce({ ...b, numwant: 1 })
  assert.equal([one.peers.length, one.minInterval], [1, 5])
  const rc = await announce({ ...a, left: 0, downloaded: 1000, event: 'completed' })
  assert.equal(rc.peers, [{ host: '127.0.0.1', port: 41002 }])
  assert.is(rc.complete, 1)
  // a seeder is not sent other seeders
  const rd = await announce({ ...b, left: 0, event: 'completed' })
  assert.equal(rd.peers, [])
  let s = await scrape(url, [ih, randomBytes(20)])
  assert.equal([...s.entries()], [[ih.toString('hex'), { complete: 2, incomplete: 0, downloaded: 2 }]])
  await announce({ ...a, event: 'stopped' })
  s = await scrape(url, [ih])
  assert.equal(s.get(ih.toString('hex')), { complete: 1, incomplete: 0, downloaded: 2 })
  const all = await scrape(url, [])
  assert.ok(all.has(ih.toString('hex')))
})

test('pc-tracker: IPv6 peers come back in peers6, an ip parameter is believed from loopback', async () => {
  const { url } = await ourTracker()
  const ih = randomBytes(20)
  const v6 = { announceUrl: url + '?ip=2001:db8::7', infoHash: ih, peerId: randomBytes(20), port: 41003, ...base }
  await announce(v6)
  const r = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41004, ...base })
  assert.equal(r.peers, [{ host: '2001:db8::7', port: 41003 }])
})

test('pc-tracker: a peer that misses its announce by half an interval is dropped', async () => {
  const { url, swarms, clock } = await ourTracker({ intervalS: 10 })
  const ih = randomBytes(20)
  await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41005, ...base })
  clock.t += 14_000
  let r = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41006, ...base })
  assert.equal(r.peers, [{ host: '127.0.0.1', port: 41005 }], 'still there within 1.5 intervals')
  clock.t += 2_000
  r = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 41007, ...base })
  assert.equal(r.peers, [{ host: '127.0.0.1', port: 41006 }], 'the first peer is gone after 15 s')
  clock.t += 60_000
  assert.is(swarms.sweep(), 2)
  assert.is(swarms.size, 0, 'empty swarms are forgotten')
})

test('pc-tracker: numwant is honoured and capped; the same peer id from one address is one peer', async () => {
  const { url, swarms } = await ourTracker({ maxPeers: 1000 })
  const ih = randomBytes(20)
  const id = randomBytes(20)
  for (let i = 0; i < 3; i++) await announce({ announceUrl: url, infoHash: ih, peerId: id, port: 42000, ...base })
  assert.is(swarms.peerCount, 1)
  for (let i = 1; i < 260; i++) await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 42000 + i, ...base, numwant: 0 })
  const few = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 43000, ...base, numwant: 7 })
  assert.is(few.peers.length, 7)
  assert.is(new Set(few.peers.map(p => p.port)).size, 7, 'no peer twice')
  const many = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 43001, ...base, numwant: 100000 })
  assert.is(many.peers.length, 200)
  const dflt = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 43002, ...base })
  assert.is(dflt.peers.length, 50)
})

test.run()
