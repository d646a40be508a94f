// Hash tree: pinned known answers, a cross-check against b2sum (an independent BLAKE2b),
// the same tree from any split and from the parallel paths, parsing and signatures.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import sodium from 'sodium-native'
import { TreeBuilder, hashStream, infoHash, formatTree, parseTree, verifyChunk, leafHash, rootOf, type HashTree } from '../../lib/hashing/hashtree.js'
import { hashFile, hashInput, hashLeaves, hashSource, autoWorkers, PARALLEL_MIN_BYTES } from '../../lib/hashing/hash-parallel.js'
import { rootMessage, signTree, treeSignatureProblem, compareTrees } from '../../lib/hashing/tree-check.js'
import { DataError, IOError, UnavailableError } from '../../lib/core/cli.js'
import { tempDir, withTimeout } from '../helpers.js'
import { createServer, type ServerResponse } from 'node:http'

/** Test bytes: i mod 251, so no two 1024-byte chunks are equal. */
function pattern (n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

function build (data: Uint8Array, chunkSize: number): HashTree {
  const b = new TreeBuilder(chunkSize)
  b.update(data)
  return b.finish()
}

const L0 = 'd2025fff89482aae80756fe4651524bed88aee5ab72368577918f2b84a580756'
const L1 = '5b38266050fd4ba396bd0fdc95df5ba420bd78e88be8374b9c9d0ee75551970e'
const L2 = 'f8cfff40cae4737d9977b98df5e35500e31ec13e9fe4f938510e001ba1eb9802'
const EMPTY_LEAF = '569ed9e4a5463896190447e6ffe37c394c4d77ce470aa29ad762e0286b896832'

// Computed once with lib/hashtree.ts and cross-checked below against b2sum.
const VECTORS = [
  { name: 'empty input', size: 0, chunkSize: 1024, leaves: [EMPTY_LEAF], root: '9e76cf3a2402fd8485ceed46b8045ea4cca5dea0d1bf1c538334f2d5088e2b1d', info: '2bbee6ad35c8492db0aedf8bfa830e95fd7c9f7a' },
  { name: 'empty input, 128k chunks', size: 0, chunkSize: 131072, leaves: [EMPTY_LEAF], root: 'eaaa30725db42be4e8dc7d916a6ecb12a7e15417b5dc0384a219f49f09b284b4', info: '46021e68bf7b997dca8c97a587c6824ae593a4ee' },
  { name: 'one byte', size: 1, chunkSize: 1024, leaves: ['01c9a743faea4cf2dd7c339e24d3343c2e155c24f87493ac7d1bb750c90f9460'], root: '041f843246e524177f8504ad314f42c22afff19cf8c7ee02f9267e029f8b8e8d', info: 'a4eca5843f24bb04f7f6981ea0af7425ce220d4c' },
  { name: 'exactly one chunk', size: 1024, chunkSize: 1024, leaves: [L0], root: 'ad1d8efee0cfeb546136ff2a0650a49cec968e7f531c0574398e8c5922640821', info: '7863595e476a11d0d9d4b2c9ff612a3f0ac8e32d' },
  { name: 'one chunk and one byte', size: 1025, chunkSize: 1024, leaves: [L0, '4fca04f4884e64e353500509f6a95a4d2971b21541747f4ece7b4d05649673a4'], root: '7b0d300ab25cd26e1529098452d7f2c3854a82a142a0d6117c7c4c0f28b9b26c', info: 'acbed85bc060dd7f9c8d6c953b709f24daa295b4' },
  { name: 'three chunks (odd node moves up)', size: 3072, chunkSize: 1024, leaves: [L0, L1, L2], root: '144c2199e28ddadd652a36b43a42839f9202891c3eab5ec98622f92f7dd94434', info: '418b35200ab5e3290c4aa3c4812947361bd9bde8' },
  {
    name: 'four chunks and 4 bytes (odd node on two levels)',
    size: 4100,
    chunkSize: 1024,
    leaves: [L0, L1, L2, 'b719d4f2e193c0ca147769fe914e5ec7116cc0447f328534f020fef48cedf305', 'f1f4f69501f3d0f0e219f64c4279a499add1b1ef2d1fc9593233d3a3adef9562'],
    root: 'f6b5aab2eb102be830a5d4a6028cc9e324ca60da05028dd7b56b5b852c9ebf45',
    info: 'e2cee3c2ea701a1ed4ab39820cf87c9e6a54fd64',
  },
]

for (const v of VECTORS) {
  test(`known answer: ${v.name}`, () => {
    const t = build(pattern(v.size), v.chunkSize)
    assert.equal(t.leaves.map(l => l.toString('hex')), v.leaves)
    assert.is(t.root.toString('hex'), v.root)
    assert.is(infoHash(t.root).toString('hex'), v.info)
  })
}

// An independent implementation: GNU b2sum for every BLAKE2b, byte strings built by
// hand, the tree built recursively (largest power of two on the left, which is the
// same shape as pairing levels left to right and moving an odd node up).
function b2 (bits: number, data: Buffer): Buffer {
  const out = execFileSync('b2sum', ['-l', String(bits)], { input: data, encoding: 'utf8' })
  return Buffer.from(out.split(' ')[0], 'hex')
}
function u32 (n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
function u64 (n: number): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b }
function top (nodes: Buffer[]): Buffer {
  if (nodes.length === 1) return nodes[0]
  let k = 1
  while (k * 2 < nodes.length) k *= 2
  return b2(256, Buffer.concat([Buffer.of(1), top(nodes.slice(0, k)), top(nodes.slice(k))]))
}

test('b2sum, an independent BLAKE2b, gives the same leaves, root and info-hash', () => {
  for (const v of VECTORS) {
    const data = pattern(v.size)
    const leaves: Buffer[] = []
    for (let o = 0; o < data.length || leaves.length === 0; o += v.chunkSize) {
      const chunk = data.subarray(o, Math.min(data.length, o + v.chunkSize))
      leaves.push(b2(256, Buffer.concat([Buffer.of(0), u32(chunk.length), chunk])))
    }
    const root = b2(256, Buffer.concat([Buffer.of(2), u64(v.size), u32(v.chunkSize), top(leaves)]))
    assert.equal(leaves.map(l => l.toString('hex')), v.leaves, v.name)
    assert.is(root.toString('hex'), v.root, v.name)
    assert.is(b2(160, Buffer.concat([Buffer.of(3), root])).toString('hex'), v.info, v.name)
  }
})

test('random sizes: the library agrees with a recomputation by sodium directly', () => {
  const h = (bytes: Buffer, len = 32): Buffer => { const out = Buffer.alloc(len); sodium.crypto_generichash(out, bytes); return out }
  const topOf = (nodes: Buffer[]): Buffer => {
    let level = nodes
    while (level.length > 1) {
      const next: Buffer[] = []
      for (let i = 0; i + 1 < level.length; i += 2) next.push(h(Buffer.concat([Buffer.of(1), level[i], level[i + 1]])))
      if (level.length % 2) next.push(level[level.length - 1])
      level = next
    }
    return level[0]
  }
  for (let r = 0; r < 60; r++) {
    const size = r < 5 ? r : Math.floor(Math.random() * 40 * 1024)
    const chunkSize = 1024 * (1 + Math.floor(Math.random() * 4))
    const data = pattern(size)
    const leaves: Buffer[] = []
    for (let o = 0; o < size || leaves.length === 0; o += chunkSize) {
      const c = data.subarray(o, Math.min(size, o + chunkSize))
      leaves.push(h(Buffer.concat([Buffer.of(0), u32(c.length), c])))
    }
    const root = h(Buffer.concat([Buffer.of(2), u64(size), u32(chunkSize), topOf(leaves)]))
    const t = build(data, chunkSize)
    assert.ok(t.root.equals(root), `size ${size} chunk ${chunkSize}`)
    assert.ok(infoHash(t.root).equals(h(Buffer.concat([Buffer.of(3), root]), 20)))
  }
})

test('the same tree whole, one byte at a time and in random splits', async () => {
  const data = pattern(5 * 1024 + 17)
  const whole = build(data, 1024)
  const bytewise = new TreeBuilder(1024)
  for (const b of data) bytewise.update(Buffer.of(b))
  assert.is(bytewise.finish().root.toString('hex'), whole.root.toString('hex'))
  for (let r = 0; r < 30; r++) {
    const parts: Buffer[] = []
    for (let i = 0; i < data.length;) { const n = 1 + Math.floor(Math.random() * 3000); parts.push(data.subarray(i, i + n)); i += n }
    assert.is((await hashStream(Readable.from(parts), 1024)).root.toString('hex'), whole.root.toString('hex'))
    assert.is((await hashInput(parts, { chunkSize: 1024, workers: 0, stripeBytes: 3000 })).root.toString('hex'), whole.root.toString('hex'))
  }
})

test('worker threads give the same tree as the main thread, from a file and from a stream', async () => {
  const dir = await tempDir()
  try {
    for (const size of [0, 1025, 300 * 1024 + 5]) {
      const data = pattern(size)
      const path = join(dir.path, `f${size}`)
      await writeFile(path, data)
      const want = build(data, 1024)
      for (const workers of [0, 1, 3]) {
        for (const hashOnMain of [true, false]) {
          // a stripe read whole, and read 3 chunks at a time (the last read of a stripe shorter);
          // stripes of 6 chunks are hashed as 4 (their tops must be nodes of the tree)
          for (const [stripeBytes, readBytes] of [[8 * 1024, 8 * 1024], [8 * 1024, 3 * 1024], [6 * 1024, 3 * 1024], [6 * 1024, 8 * 1024]]) {
            const f = await hashFile(path, { chunkSize: 1024, workers, stripeBytes, readBytes, hashOnMain })
            const what = `file ${size} workers ${workers} ${hashOnMain} stripe ${stripeBytes} read ${readBytes}`
            assert.equal(f.leaves, want.leaves, what)
            assert.ok(f.root.equals(want.root), what)
            assert.is(f.size, size)
          }
        }
        const parts: Buffer[] = []
        for (let i = 0; i < size;) { const n = 1 + Math.floor(Math.random() * 20000); parts.push(Buffer.from(data.subarray(i, i + n))); i += n }
        const s = await hashInput(parts, { chunkSize: 1024, workers, stripeBytes: 5 * 1024 })
        assert.equal(s.leaves, want.leaves, `stream ${size} workers ${workers}`)
        assert.ok(s.root.equals(want.root))
      }
    }
  } finally { await dir.remove() }
})

test('a file shorter than its stated size fails as an I/O error on whichever thread reads past its end, and nothing waits on', async () => {
  // /sys attribute files say 4096 bytes and hold a few
  const path = '/sys/devices/system/cpu/online'
  for (const workers of [0, 1, 3]) {
    for (const hashOnMain of [true, false]) {
      const what = `workers ${workers} ${hashOnMain}`
      const err = await withTimeout(hashFile(path, { chunkSize: 1024, workers, stripeBytes: 1024, readBytes: 1024, hashOnMain }).then(() => undefined, (e: Error) => e), 10_000, what)
      assert.ok(err instanceof IOError, `${what}: ${String(err)}`)
      assert.match(err.message, /changed while being hashed/, what)
    }
  }
})

test('a FIFO is read straight into stripes: the same tree on this thread and on workers, reading paused while they are busy', async () => {
  const dir = await tempDir()
  try {
    const size = 300 * 1024 + 5
    const data = pattern(size)
    const want = build(data, 1024)
    await writeFile(join(dir.path, 'data'), data)
    const fifo = join(dir.path, 'fifo')
    execFileSync('mkfifo', [fifo])
    for (const workers of [0, 1, 3]) {
      // the writer is another process, as in a shell pipeline; opening the FIFO waits for it
      const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', join(dir.path, 'data'), fifo], { stdio: 'ignore' })
      const written = new Promise(resolve => writer.once('close', resolve))
      const t = await withTimeout(hashFile(fifo, { chunkSize: 1024, workers, stripeBytes: 5 * 1024 }), 10_000, `FIFO, workers ${workers}`)
      assert.equal(t.leaves, want.leaves, `workers ${workers}`)
      assert.ok(t.root.equals(want.root))
      assert.is(t.size, size)
      assert.is(await written, 0)
    }
  } finally { await dir.remove() }
})

test('workers are used automatically only for big inputs and on more than one core', () => {
  assert.is(autoWorkers(PARALLEL_MIN_BYTES - 1, 2), 0)
  assert.is(autoWorkers(PARALLEL_MIN_BYTES, 2), 2)
  assert.is(autoWorkers(PARALLEL_MIN_BYTES, 1), 0)
  assert.is(autoWorkers(PARALLEL_MIN_BYTES, 8), 8)
})

test('hashLeaves concatenates the leaf hashes of consecutive chunks', () => {
  const data = pattern(2500)
  const got = Buffer.from(hashLeaves(data, 1024))
  assert.is(got.toString('hex'), [leafHash(data.subarray(0, 1024)), leafHash(data.subarray(1024, 2048)), leafHash(data.subarray(2048))].map(b => b.toString('hex')).join(''))
})

test('the text form round-trips, CRLF too', () => {
  const t = build(pattern(3000), 1024)
  t.headers.push(['x-note', 'kept as is'])
  const text = formatTree(t)
  assert.is(text.split('\n')[0], 'pc-hashtree 1')
  const back = parseTree(text, 't')
  assert.equal(back, t)
  assert.equal(parseTree(text.replace(/\n/g, '\r\n'), 't'), t)
})

test('a flipped leaf line is refused: leaves do not hash to the root', () => {
  const lines = formatTree(build(pattern(3000), 1024)).split('\n')
  lines[7] = (lines[7][0] === '0' ? '1' : '0') + lines[7].slice(1)
  assert.throws(() => parseTree(lines.join('\n'), 'song.hashtree'), (e: Error) => e instanceof DataError && e.message === 'song.hashtree:4: leaves do not hash to the root')
  // the location follows the root line wherever it is
  const moved = [lines[0], 'x-first yes', ...lines.slice(1)]
  assert.throws(() => parseTree(moved.join('\n'), 't'), (e: Error) => e.message === 't:5: leaves do not hash to the root')
})

test('malformed tree files are refused with a line number', () => {
  const good = formatTree(build(pattern(3000), 1024))
  const cases: [string, RegExp][] = [
    ['pc-hashtree 2\n' + good.slice(14), /^t:1: not a hash tree/],
    [good.replace('size 3000', 'size -1'), /^t:2: bad size/],
    [good.replace('chunk-size 1024', 'chunk-size 12'), /^t:3: chunk-size outside/],
    [good.replace(/\n[0-9a-f]{64}\n$/, '\n'), /expected 3 leaves, found 2/],
    [good + 'ab\n', /expected 3 leaves, found 4/],
    [good.replace(/\n([0-9a-f]{64})\n$/, '\nzz$1\n'), /^t:8: bad leaf hash/],
    [good.replace('root ', 'root  '), /^t:4: bad root/],
  ]
  for (const [text, re] of cases) assert.throws(() => parseTree(text, 't'), (e: Error) => e instanceof DataError && re.test(e.message), String(re))
})

test('verifyChunk accepts each chunk at its index and nothing else', () => {
  const data = pattern(2500)
  const t = build(data, 1024)
  assert.ok(verifyChunk(t, 0, data.subarray(0, 1024)))
  assert.ok(verifyChunk(t, 2, data.subarray(2048)))
  assert.not.ok(verifyChunk(t, 1, data.subarray(0, 1024)))
  assert.not.ok(verifyChunk(t, 2, data.subarray(2048, 2400)))
  assert.not.ok(verifyChunk(t, 3, Buffer.alloc(0)))
})

test('compareTrees names differing, missing and extra chunks with byte ranges', () => {
  const data = pattern(3500)
  const want = build(data, 1024)
  const flipped = Buffer.from(data); flipped[2100] ^= 1
  assert.equal(compareTrees(want, build(flipped, 1024)), [{ index: 2, start: 2048, end: 3072, why: 'differs' }])
  assert.equal(compareTrees(want, build(data.subarray(0, 2048), 1024)), [{ index: 2, start: 2048, end: 3072, why: 'missing' }, { index: 3, start: 3072, end: 3500, why: 'missing' }])
  assert.equal(compareTrees(want, build(Buffer.concat([data, pattern(10)]), 1024)), [{ index: 3, start: 3072, end: 3500, why: 'differs' }])
  assert.equal(compareTrees(build(data.subarray(0, 2048), 1024), build(data.subarray(0, 2100), 1024)), [{ index: 2, start: 2048, end: 2100, why: 'extra' }])
  assert.equal(compareTrees(want, build(data, 1024)), [])
})

// ed25519 is deterministic: a key from a fixed seed gives a pinned signature.
function seedKey (): { pk: Buffer, sk: Buffer } {
  const seed = Buffer.alloc(32)
  for (let i = 0; i < 32; i++) seed[i] = i + 1
  const pk = Buffer.alloc(32); const sk = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(pk, sk, seed)
  return { pk, sk }
}

test('known answer: the signed message and the signature of a root', () => {
  const { pk, sk } = seedKey()
  const t = build(pattern(3072), 1024)
  assert.is(rootMessage(t.root).toString('hex'), Buffer.from('pc-hashtree 1 root ').toString('hex') + t.root.toString('hex'))
  const signed = signTree(t, sk)
  assert.equal(signed.headers, [
    ['signature', 'f2568cb67578e9c081c44b8c27ce9118ba68a843a2fd9738db5266f96c30dde93db10f7a59fc39af328d9197a7a184e965fe194462f831e5f5dde96cdfeb2704'],
    ['key', '79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664'],
  ])
  assert.is(pk.toString('hex'), '79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664')
  assert.is(treeSignatureProblem(parseTree(formatTree(signed), 't'), pk, 't'), undefined)
})

test('signatures: refused when missing, made by another key, over another root, or without the context', () => {
  const { pk, sk } = seedKey()
  const t = build(pattern(3072), 1024)
  assert.match(treeSignatureProblem(t, pk, 't') ?? '', /not signed/)
  const other = Buffer.alloc(32); const otherSk = Buffer.alloc(64)
  sodium.crypto_sign_keypair(other, otherSk)
  assert.match(treeSignatureProblem(signTree(t, sk), other, 't') ?? '', /signed by key 79b5/)
  // a signature moved onto another tree
  const u = build(pattern(3073), 1024)
  u.headers = signTree(t, sk).headers
  assert.match(treeSignatureProblem(u, pk, 't') ?? '', /bad signature/)
  // a signature over the bare root (no context string), as another protocol might make
  const bare = Buffer.alloc(64)
  sodium.crypto_sign_detached(bare, t.root, sk)
  t.headers = [['signature', bare.toString('hex')]]
  assert.match(treeSignatureProblem(t, pk, 't') ?? '', /bad signature/)
  t.headers = [['signature', 'abc']]
  assert.throws(() => treeSignatureProblem(t, pk, 't'), (e: Error) => e instanceof DataError)
})

test('rootOf refuses a leaf count that does not fit the size', () => {
  assert.throws(() => rootOf([leafHash(Buffer.alloc(0))], 2048, 1024))
})

test('a URL body may outlast the connect timeout while data flows; a stalled one is given up', async () => {
  const data = pattern(6000)
  const open = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    open.add(res)
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    // the head goes at once, so only the body is slow (a loaded machine must not turn
    // a late head into a connect timeout); /slow's body takes 6 × 250 ms, past the 1 s one
    res.flushHeaders()
    let i = 0
    const t = setInterval(() => {
      if (req.url === '/stall' && i === 2) { clearInterval(t); return }
      res.write(data.subarray(i * 1000, (i + 1) * 1000))
      if (++i === 6) { clearInterval(t); res.end() }
    }, req.url === '/stall' ? 60 : 250)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const a = server.address()
  const base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
  try {
    const t = await withTimeout(hashSource(`${base}/slow`, [], { chunkSize: 1024, connectTimeoutMs: 1000 }), 10_000, 'slow body')
    assert.ok(t.root.equals(build(data, 1024).root))
    await withTimeout(hashSource(`${base}/stall`, [], { chunkSize: 1024, idleTimeoutMs: 300 }).then(
      () => assert.unreachable('a stalled body must fail'),
      (e: Error) => { assert.instance(e, UnavailableError); assert.match(e.message, /stall: cannot fetch: no data for 300 ms/) }), 10_000, 'stalled body')
  } finally {
    for (const r of open) r.destroy()
    await new Promise(resolve => server.close(resolve))
  }
})

test.run()
