import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, request, type Server } from 'node:http'
import { connect } from 'node:net'
import { createReadStream } from 'node:fs'
import { writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { announce, scrape, fetchGatewayTree, escapeBytes } from '../../lib/tracker/client.js'
import { decode, getBytes, getInt } from '../../lib/tracker/bencode.js'
import { hashStream, formatTree, infoHash, parseTree } from '../../lib/hashing/hashtree.js'
import { NoInputError } from '../../lib/core/cli.js'
import { start, run, finish, killChildren, tempDir, withTimeout, waitForOutput, MEDIA, ROOT, waitUntil } from '../helpers.js'
import { freePort } from '../../scripts/free-port.js'

const cleanups: (() => unknown)[] = []
test.after.each(async () => {
  killChildren()
  for (const c of cleanups.splice(0)) await c()
})

/** Start pc-tracker on a port of its choosing; resolve with its announce URL. */
async function tracker (args: string[] = []): Promise<{ url: string, base: string, proc: ChildProcess }> {
  const proc = start('pc-tracker', [...args, '127.0.0.1:0'])
  let err = ''
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  const out = await waitForOutput(proc.stdout as NodeJS.ReadableStream, t => t.endsWith('\n'), 10_000, 'the announce URL').catch((e: Error) => { throw new Error(`${e.message}; stderr: ${err}`) })
  const url = out.trim()
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/announce$/)
  return { url, base: url.replace(/announce$/, ''), proc }
}

/** GET a path, raw: the status and the body bytes. */
function get (base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: Buffer, type: string }> {
  return withTimeout(new Promise((resolve, reject) => {
    const u = new URL(base)
    const req = request({ host: u.hostname, port: u.port, path, headers, agent: false }, res => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), type: String(res.headers['content-type']) }))
    })
    req.on('error', reject)
    req.end()
  }), 10_000, `GET ${path}`)
}

const H = (b: Buffer): string => escapeBytes(b)
const okQuery = (ih: Buffer, port = 6881): string => `info_hash=${H(ih)}&peer_id=${H(randomBytes(20))}&port=${port}&uploaded=0&downloaded=0&left=100`

async function failureOf (base: string, path: string): Promise<string> {
  const r = await get(base, path)
  assert.is(r.status, 200, `${path}: HTTP ${r.status}`)
  const reason = getBytes(decode(r.body), 'failure reason')
  assert.ok(reason, `${path} should fail, got ${r.body.toString('latin1').slice(0, 100)}`)
  return (reason as Buffer).toString()
}

async function stats (base: string): Promise<{ peers: number, failures: number, swarms: { infoHash: string, seeders: number, leechers: number, completed: number, uploadedBytes: number }[], gateway?: { fetches: number } }> {
  const r = await get(base, '/stats')
  assert.is(r.status, 200)
  assert.is(r.type, 'application/json')
  return JSON.parse(r.body.toString())
}

test('prints its announce URL; peers find each other; /stats and / show the swarm', async () => {
  const { url, base } = await tracker()
  const ih = randomBytes(20)
  const p = { announceUrl: url, infoHash: ih, uploaded: 0, downloaded: 0, left: 500 }
  await announce({ ...p, peerId: randomBytes(20), port: 7001, event: 'started' })
  const r = await announce({ ...p, peerId: randomBytes(20), port: 7002, uploaded: 300, left: 0, event: 'completed' })
  assert.equal(r.peers, [{ host: '127.0.0.1', port: 7001 }])
  const st = await stats(base)
  assert.equal(st.swarms, [{ infoHash: ih.toString('hex'), seeders: 1, leechers: 1, completed: 1, uploadedBytes: 300, downloadedBytes: 0 }])
  const page = await get(base, '/')
  assert.is(page.status, 200)
  assert.match(page.type, /text\/html/)
  const html = page.body.toString()
  assert.ok(html.includes(ih.toString('hex')), 'the page lists the info-hash')
  assert.not.match(html, /<script|src=|href="http/, 'no scripts or external assets')
})

test('compact=0 gives a dictionary list with peer ids, unless no_peer_id=1', async () => {
  const { base } = await tracker()
  const ih = randomBytes(20)
  const id = randomBytes(20)
  await get(base, `/announce?info_hash=${H(ih)}&peer_id=${H(id)}&port=7011&uploaded=0&downloaded=0&left=5`)
  const q = (extra: string): string => `/announce?${okQuery(ih, 7012)}&compact=0${extra}`
  const full = decode((await get(base, q(''))).body)
  const list = (full as Map<string, unknown>).get('peers') as Map<string, unknown>[]
  assert.is(list.length, 1)
  assert.is((list[0].get('ip') as Buffer).toString(), '127.0.0.1')
  assert.is(list[0].get('port'), 7011)
  assert.equal(list[0].get('peer id'), id)
  const bare = decode((await get(base, q('&no_peer_id=1'))).body)
  const list2 = (bare as Map<string, unknown>).get('peers') as Map<string, unknown>[]
  assert.equal([...list2[0].keys()].sort(), ['ip', 'port'])
})

test('malformed announces get a bencoded failure reason, and the tracker carries on', async () => {
  const { url, base } = await tracker()
  const ih = randomBytes(20)
  const peer = `peer_id=${H(randomBytes(20))}&port=1&uploaded=0&downloaded=0&left=0`
  const cases: [string, RegExp][] = [
    ['/announce', /missing info_hash/],
    [`/announce?info_hash=${H(ih)}`, /missing peer_id/],
    [`/announce?info_hash=${H(randomBytes(19))}&${peer}`, /info_hash is 19 bytes, not 20/],
    [`/announce?info_hash=${H(randomBytes(21))}&${peer}`, /info_hash is 21 bytes/],
    [`/announce?info_hash=${H(ih)}&info_hash=${H(ih)}&${peer}`, /more than once/],
    [`/announce?info_hash=${H(ih)}&peer_id=short&port=1&uploaded=0&downloaded=0&left=0`, /peer_id is 5 bytes/],
    [`/announce?${okQuery(ih).replace('port=6881', 'port=70000')}`, /port is not 1\.\.65535/],
    [`/announce?${okQuery(ih).replace('port=6881', 'port=0')}`, /port is not/],
    [`/announce?${okQuery(ih).replace('left=100', 'left=99999999999999999999999999')}`, /left is not a byte count/],
    [`/announce?${okQuery(ih).replace('uploaded=0', 'uploaded=-5')}`, /uploaded is not a byte count/],
    [`/announce?${okQuery(ih).replace('downloaded=0', 'downloaded=1e9')}`, /downloaded is not a byte count/],
    [`/announce?${okQuery(ih).replace('&left=100', '')}`, /missing left/],
    [`/announce?${okQuery(ih)}&event=exploded`, /unknown event/],
    [`/announce?info_hash=%zz${H(randomBytes(19))}&${peer}`, /bad percent-encoding/],
    [`/announce?${okQuery(ih)}&x=${'a'.repeat(5000)}`, /request longer than 4096/],
    [`/scrape?info_hash=${H(randomBytes(3))}`, /info_hash is 3 bytes/],
    [`/scrape?${Array.from({ length: 65 }, () => 'info_hash=' + 'x'.repeat(20)).join('&')}`, /more than 64/],
  ]
  for (const [path, why] of cases) assert.match(await failureOf(base, path), why, path.slice(0, 120))
  // a huge numwant is capped, not refused
  const big = await get(base, `/announce?${okQuery(ih)}&numwant=999999999999999999999999`)
  assert.is(getInt(decode(big.body), 'interval'), 60)
  // not HTTP at all, and headers over the limit
  const raw = await withTimeout(new Promise<string>((resolve) => {
    const u = new URL(url)
    const s = connect(Number(u.port), u.hostname, () => s.end(Buffer.from('\x16\x03\x01\x00garbage\r\n\r\n')))
    let got = ''
    s.on('data', d => { got += d.toString('latin1') })
    s.on('close', () => resolve(got))
    s.on('error', () => resolve(got))
  }), 10_000, 'the answer to garbage')
  assert.match(raw, /^HTTP\/1\.1 400/)
  const huge = await get(base, '/stats', { 'x-filler': 'y'.repeat(20_000) })
  assert.is(huge.status, 431)
  assert.is((await get(base, '/nothing-here')).status, 404)
  const st = await stats(base)
  assert.is(st.failures, cases.length)
  assert.is(st.swarms.length, 1, 'only the one good announce made a swarm')
})

test('a flood of random info-hashes stops at --max-swarms; --max-peers lists no more peers', async () => {
  const { url, base } = await tracker(['--max-swarms', '20', '--max-peers', '3'])
  const p = { announceUrl: url, peerId: randomBytes(20), port: 7100, uploaded: 0, downloaded: 0, left: 1 }
  let refused = 0
  for (let i = 0; i < 300; i++) {
    try { await announce({ ...p, infoHash: randomBytes(20) }) } catch (e) { assert.match((e as Error).message, /tracker full: 20 swarms/); refused++ }
  }
  assert.is(refused, 280)
  let st = await stats(base)
  assert.is(st.swarms.length, 20)
  assert.is(st.peers, 20)
  const { url: url2, base: base2 } = await tracker(['--max-peers', '3'])
  const ih = randomBytes(20)
  const q = { announceUrl: url2, infoHash: ih, uploaded: 0, downloaded: 0, left: 1 }
  for (let i = 0; i < 3; i++) assert.is((await announce({ ...q, peerId: randomBytes(20), port: 7200 + i })).warning, undefined)
  const late = await announce({ ...q, peerId: randomBytes(20), port: 7300 })
  assert.match(late.warning ?? '', /swarm full \(3 peers\)/)
  assert.is(late.peers.length, 3, 'a peer not listed still gets peers')
  st = await stats(base2)
  assert.is(st.peers, 3)
})

test('peers expire after a missed interval', async () => {
  const { url, base } = await tracker(['--interval', '1s'])
  const ih = randomBytes(20)
  const r = await announce({ announceUrl: url, infoHash: ih, peerId: randomBytes(20), port: 7400, uploaded: 0, downloaded: 0, left: 1 })
  assert.is(r.interval, 1)
  assert.is((await stats(base)).peers, 1)
  await waitUntil(async () => (await stats(base)).peers === 0, 10_000, 'the peer to expire', 200)
  assert.is((await stats(base)).swarms.length, 0)
})

test('--whitelist: listed info-hashes only, reread on SIGHUP; bad file exits 65 with file:line, missing file 66', async () => {
  const dir = await tempDir()
  cleanups.push(dir.remove)
  const list = join(dir.path, 'hashes')
  const mp3 = join(MEDIA, 'tone-cbr.mp3')
  const ih = (await run('pc-hash', ['--info-hash', mp3])).stdout.toString().trim()
  assert.match(ih, /^[0-9a-f]{40}$/)
  await writeFile(list, `# station items\n${ih.toUpperCase()}  tone-cbr.mp3\n\n`)
  const { url, proc } = await tracker(['--whitelist', list])
  const p = { announceUrl: url, peerId: randomBytes(20), port: 7500, uploaded: 0, downloaded: 0, left: 1 }
  await announce({ ...p, infoHash: Buffer.from(ih, 'hex') })
  try { await announce({ ...p, infoHash: randomBytes(20) }); assert.unreachable() } catch (e) { assert.match((e as Error).message, /not on this tracker's whitelist/) }
  // SIGHUP rereads the file; a bad file then keeps the old list
  const other = randomBytes(20)
  await writeFile(list, `${other.toString('hex')}\n`)
  proc.kill('SIGHUP')
  await waitUntil(() => announce({ ...p, infoHash: other }).then(() => true, () => false), 10_000, 'the reread whitelist to admit the new info-hash', 100)
  try { await announce({ ...p, infoHash: Buffer.from(ih, 'hex') }); assert.unreachable() } catch (e) { assert.match((e as Error).message, /not on this tracker's whitelist/) }
  await writeFile(list, `${ih}\nnot-a-hash\n`)
  proc.kill('SIGHUP')
  await waitForOutput(proc.stderr as NodeJS.ReadableStream, t => /keeping the old whitelist/.test(t), 10_000, 'the warning about the bad whitelist')
  await announce({ ...p, infoHash: other })
  const bad = await run('pc-tracker', ['--whitelist', list, '127.0.0.1:0'])
  assert.is(bad.code, 65)
  assert.match(bad.stderr, new RegExp(`${list}:2: not an info-hash`))
  const missing = await run('pc-tracker', ['--whitelist', join(dir.path, 'nope'), '127.0.0.1:0'])
  assert.is(missing.code, 66)
  assert.match(missing.stderr, /nope: cannot open: ENOENT/)
})

test('usage errors exit 64; a port in use exits 69', async () => {
  for (const args of [['--gateway', '127.0.0.1:0'], ['--gateway-allow', 'http://x/', '127.0.0.1:0'], ['--interval', '0', '127.0.0.1:0'], ['--max-peers', 'lots', '127.0.0.1:0'], ['127.0.0.1:99999'], ['--gateway', '--gateway-allow', 'ftp://x/', '127.0.0.1:0']]) {
    const r = await run('pc-tracker', args)
    assert.is(r.code, 64, `${args.join(' ')}: ${r.stderr}`)
    assert.is(r.stdout.length, 0)
  }
  const { url } = await tracker()
  const r = await run('pc-tracker', [new URL(url).host])
  assert.is(r.code, 69)
  assert.match(r.stderr, /cannot listen: EADDRINUSE/)
})

test('closed stdout: exits 0 with nothing on stderr', async () => {
  const c = start('pc-tracker', ['-q', '127.0.0.1:0'])
  c.stdout?.destroy()
  const r = await finish(c, 10_000)
  assert.is(r.code, 0)
  assert.is(r.stderr, '')
})

test('SIGTERM closes the listener and exits 143', async () => {
  const { proc } = await tracker()
  const done = finish(proc, 10_000)
  proc.kill('SIGTERM')
  const r = await done
  assert.is(r.code, 143)
  assert.is(r.stderr, '')
})

/** An origin serving media/ that counts the requests for each path. */
async function origin (): Promise<{ base: string, hits: Map<string, number>, server: Server }> {
  const hits = new Map<string, number>()
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    hits.set(path, (hits.get(path) ?? 0) + 1)
    if (path === '/media/moved.mp3') { res.writeHead(302, { location: '/media/tone-cbr.mp3' }); res.end(); return }
    if (path === '/media/away.mp3') { res.writeHead(302, { location: 'http://127.0.0.2:1/secret' }); res.end(); return }
    const name = path.replace(/^\/media\//, '')
    if (!/^[\w.-]+$/.test(name)) { res.writeHead(404); res.end(); return }
    const s = createReadStream(join(MEDIA, name))
    s.on('error', () => { res.writeHead(404); res.end() })
    s.on('open', () => { res.writeHead(200, { 'content-type': 'audio/mpeg' }); s.pipe(res) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise(resolve => { server.closeAllConnections(); server.close(resolve) }))
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hits, server }
}

test('--gateway: one origin fetch for concurrent requests; the tree equals hashStream\'s and pc-hash\'s', async () => {
  const o = await origin()
  const dir = await tempDir()
  cleanups.push(dir.remove)
  const cache = join(dir.path, 'trees')
  const { url, base, proc } = await tracker(['--gateway', '--gateway-allow', `${o.base}/media/`, '--cache', cache])
  const media = `${o.base}/media/tone-cbr.mp3`
  const [t1, t2] = await Promise.all([fetchGatewayTree(url, media), fetchGatewayTree(url, media)])
  const want = formatTree(await hashStream(createReadStream(join(MEDIA, 'tone-cbr.mp3'))))
  assert.is(t1, want)
  assert.is(t2, want)
  assert.is((await run('pc-hash', [join(MEDIA, 'tone-cbr.mp3')])).stdout.toString(), want)
  assert.is(o.hits.get('/media/tone-cbr.mp3'), 1, 'the origin was asked once')
  assert.is(await fetchGatewayTree(url, media), want)
  assert.is(o.hits.get('/media/tone-cbr.mp3'), 1, 'the third request came from the cache')
  assert.is((await stats(base)).gateway?.fetches, 1)
  // a redirect inside the allowed prefix is followed; outside it is refused
  assert.is(await fetchGatewayTree(url, `${o.base}/media/moved.mp3`), want)
  const refused = async (mediaUrl: string, why: RegExp): Promise<void> => {
    try { await fetchGatewayTree(url, mediaUrl); assert.unreachable(`${mediaUrl} should be refused`) } catch (e) { assert.ok(e instanceof NoInputError, String(e)); assert.match((e as Error).message, why) }
  }
  await refused(`${o.base}/media/away.mp3`, /403: origin redirects outside/)
  await refused(`${o.base}/other/tone-cbr.mp3`, /403: not allowed/)
  await refused(`${o.base.replace('127.0.0.1', 'localhost')}/media/tone-cbr.mp3`, /403: not allowed/)
  await refused('file:///etc/passwd', /403: not allowed/)
  await refused(`${o.base}/media/missing.mp3`, /404: origin: .*HTTP 404/)
  // the cache directory keeps the tree across a restart
  assert.equal((await readdir(cache)).filter(f => f.endsWith('.hashtree')).length, 2, 'tone-cbr.mp3 and moved.mp3')
  const before = o.hits.get('/media/tone-cbr.mp3')
  proc.kill('SIGTERM')
  const again = await tracker(['--gateway', '--gateway-allow', `${o.base}/media/`, '--cache', cache])
  assert.is(await fetchGatewayTree(again.url, media), want)
  assert.is(o.hits.get('/media/tone-cbr.mp3'), before, 'a restarted gateway read its cache directory')
  parseTree(want, 'gateway', (await hashStream(createReadStream(join(MEDIA, 'tone-cbr.mp3')))).root)
})

test('without --gateway, /hashtree is 404 (NoInputError for pc-fetch)', async () => {
  const { url } = await tracker()
  try { await fetchGatewayTree(url, 'http://127.0.0.1:1/a.mp3'); assert.unreachable() } catch (e) { assert.ok(e instanceof NoInputError, String(e)); assert.match((e as Error).message, /404: this tracker is not a gateway/) }
})

test('opentracker with a whitelist from pc-hash --info-hash: peers of a media file see each other', async () => {
  const dir = await tempDir()
  cleanups.push(dir.remove)
  const mp3 = join(MEDIA, 'timeline-a.mp3')
  const list = join(dir.path, 'whitelist')
  const h = await run('pc-hash', ['--info-hash', mp3])
  await writeFile(list, h.stdout)
  const tree = await hashStream(createReadStream(mp3))
  const ih = infoHash(tree.root)
  assert.is(h.stdout.toString().trim(), ih.toString('hex'))
  const port = await freePort()
  const ot = start('sh', [join(ROOT, 'scripts', 'opentracker.sh'), String(port), list], { env: { ...process.env, TMPDIR: dir.path } })
  await waitForOutput(ot.stderr as NodeJS.ReadableStream, t => /announce http/.test(t), 10_000, 'opentracker.sh to start')
  const url = `http://127.0.0.1:${port}/announce`
  const p = { announceUrl: url, infoHash: ih, uploaded: 0, downloaded: 0, left: tree.size }
  await waitUntil(() => announce({ ...p, peerId: randomBytes(20), port: 7601, event: 'started' }).then(() => true, () => false), 10_000, 'opentracker to answer', 100)
  const r = await announce({ ...p, peerId: randomBytes(20), port: 7602, event: 'started' })
  assert.ok(r.peers.some(x => x.port === 7601), JSON.stringify(r.peers))
  const s = await scrape(url, [ih])
  assert.is(s.get(ih.toString('hex'))?.incomplete, 2)
})

test.run()
