// pc-hash as a real process: trees from files, stdin and URLs, --check tamper tests,
// keys, signatures, and the exit codes of bad input.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import { readFile, writeFile, stat, readdir, copyFile, mkdir, chmod, open } from 'node:fs/promises'
import { createReadStream, readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, MEDIA, run, start, finish, killChildren, tempDir, withTimeout, sleep } from '../helpers.js'
import { parseTree, TreeBuilder } from '../../lib/hashing/hashtree.js'

const SONG = join(MEDIA, 'tone-cbr.mp3')
let dir: { path: string, remove: () => Promise<void> }
let server: Server | undefined

test.before.each(async () => { dir = await tempDir('pc-hash-') })
test.after.each(async () => {
  killChildren()
  if (server) await new Promise(resolve => server?.close(resolve))
  server = undefined
  await dir.remove()
})

const out = (r: { stdout: Buffer }): string => r.stdout.toString()
const tmp = (name: string): string => join(dir.path, name)

/** A file of `n` bytes that differs in every chunk. */
async function bigFile (name: string, n: number): Promise<string> {
  const b = Buffer.alloc(n)
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32BE(i >>> 0, i)
  await writeFile(tmp(name), b)
  return tmp(name)
}

/** Serve files from MEDIA (and 404 otherwise) on 127.0.0.1, port 0. */
async function serveMedia (): Promise<string> {
  server = createServer((req, res) => {
    const path = join(MEDIA, (req.url ?? '/').replace(/[^a-z0-9.-]/gi, ''))
    stat(path).then(() => { res.writeHead(200); createReadStream(path).pipe(res) }, () => { res.writeHead(404); res.end() })
  })
  await new Promise<void>(resolve => server?.listen(0, '127.0.0.1', resolve))
  const a = server.address()
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
}

test('prints the tree of a file, the same as the library builds', async () => {
  const r = await run('pc-hash', [SONG])
  assert.is(r.code, 0, r.stderr)
  assert.is(r.stderr, '')
  const t = parseTree(out(r), 'stdout')
  const b = new TreeBuilder(128 * 1024)
  b.update(await readFile(SONG))
  assert.ok(t.root.equals(b.finish().root))
  assert.is(t.size, (await stat(SONG)).size)
})

test('the same tree from a file, from stdin in odd splits, and from a URL', async () => {
  const want = out(await run('pc-hash', ['-c', '4k', SONG]))
  const c = start('pc-hash', ['-c', '4k', '-'])
  const done = finish(c)
  const data = await readFile(SONG)
  for (let i = 0, k = 1; i < data.length; k = (k * 7 + 3) % 9001 + 1) {
    c.stdin?.write(data.subarray(i, i + k)); i += k
    if (k % 5 === 0) await sleep(1)
  }
  c.stdin?.end()
  const r = await done
  assert.is(r.code, 0, r.stderr)
  assert.is(out(r), want)
  const base = await serveMedia()
  const u = await run('pc-hash', ['-c', '4k', `${base}/tone-cbr.mp3`])
  assert.is(u.code, 0, u.stderr)
  assert.is(out(u), want)
})

test('a regular file on stdin gives the same tree as its path', async () => {
  const big = await bigFile('big', 3 * 1024 * 1024 + 7)
  const want = await run('pc-hash', ['-c', '64k', big])
  const fh = await open(big, 'r')
  try {
    const r = await finish(start('pc-hash', ['-c', '64k', '-j', '2', '-'], { stdio: [fh.fd, 'pipe', 'pipe'] }))
    assert.is(r.code, 0, r.stderr)
    assert.is(out(r), out(want))
  } finally { await fh.close() }
})

test('the same tree on worker threads as on the main thread, from a file and from stdin', async () => {
  const big = await bigFile('big', 20 * 1024 * 1024 + 12345)
  const main = await run('pc-hash', ['-j', '0', big])
  assert.is(main.code, 0, main.stderr)
  for (const args of [['-j', '2', big], ['-j', '3', '-']]) {
    const r = await run('pc-hash', args, args.includes('-') ? await readFile(big) : undefined)
    assert.is(r.code, 0, r.stderr)
    assert.is(out(r), out(main), args.join(' '))
  }
  // a shell pipeline's stdin is a pipe (a spawned child's is a socket), read straight into stripes
  for (const j of ['0', '2']) {
    const r = await run('sh', ['-c', 'cat "$0" | "$1" "$2" -j "$3" -', big, process.execPath, join(ROOT, 'dist', 'bin', 'pc-hash.js'), j])
    assert.is(r.code, 0, r.stderr)
    assert.is(out(r), out(main), `cat | pc-hash -j ${j} -`)
  }
  const small = await run('pc-hash', ['-j', '2', '-c', '1k', SONG])
  assert.is(out(small), out(await run('pc-hash', ['-j', '0', '-c', '1k', SONG])))
})

test('--root and --info-hash print one hex line; -o writes the file whole', async () => {
  const tree = parseTree(out(await run('pc-hash', [SONG])), 't')
  const r = await run('pc-hash', ['--root', SONG])
  assert.is(out(r), tree.root.toString('hex') + '\n')
  const i = await run('pc-hash', ['--info-hash', SONG])
  assert.match(out(i), /^[0-9a-f]{40}\n$/)
  const o = await run('pc-hash', ['-o', tmp('song.mp3.hashtree'), SONG])
  assert.is(o.code, 0, o.stderr)
  assert.is(o.stdout.length, 0)
  assert.ok(parseTree(await readFile(tmp('song.mp3.hashtree'), 'utf8'), 't').root.equals(tree.root))
  assert.equal(await readdir(dir.path), ['song.mp3.hashtree'])
  const bad = await run('pc-hash', ['-o', tmp('no/such/dir/t'), SONG])
  assert.is(bad.code, 74)
  assert.match(bad.stderr, /no\/such\/dir\/t: cannot write: ENOENT/)
})

test('--check passes good media and names the first bad chunk with its byte range', async () => {
  await copyFile(SONG, tmp('song.mp3'))
  const mk = await run('pc-hash', ['-c', '8k', '-o', tmp('song.mp3.hashtree'), tmp('song.mp3')])
  assert.is(mk.code, 0, mk.stderr)
  const good = await run('pc-hash', ['--check', tmp('song.mp3.hashtree'), tmp('song.mp3')])
  assert.is(good.code, 0, good.stderr)
  assert.is(good.stderr, '')
  assert.is(good.stdout.length, 0)
  const data = await readFile(SONG)
  data[5 * 8192 + 100] ^= 0x20
  data[9 * 8192] ^= 0x01
  await writeFile(tmp('song.mp3'), data)
  const bad = await run('pc-hash', ['--check', tmp('song.mp3.hashtree'), tmp('song.mp3')])
  assert.is(bad.code, 65)
  assert.match(bad.stderr, /song\.mp3: chunk 5 \(bytes \[40960, 49152\)\) does not match the tree of .*song\.mp3\.hashtree \(2 bad chunks\)/)
  const all = await run('pc-hash', ['-v', '--check', tmp('song.mp3.hashtree'), '-'], data)
  assert.is(all.code, 65)
  assert.match(all.stderr, /stdin: chunk 9 \(bytes \[73728, 81920\)\)/)
  const short = await run('pc-hash', ['--check', tmp('song.mp3.hashtree'), '-'], (await readFile(SONG)).subarray(0, 3 * 8192))
  assert.is(short.code, 65)
  assert.match(short.stderr, /chunk 3 \(bytes \[24576, 32768\)\) is missing .*input has 24576 bytes/)
})

test('--check refuses a tree file whose leaf line was flipped: 65, leaves do not hash to the root', async () => {
  const lines = out(await run('pc-hash', ['-c', '8k', SONG])).split('\n')
  lines[9] = lines[9].replace(/^./, c => c === 'a' ? 'b' : 'a')
  await writeFile(tmp('t'), lines.join('\n'))
  const r = await run('pc-hash', ['--check', tmp('t'), SONG])
  assert.is(r.code, 65)
  assert.match(r.stderr, /^pc-hash: .*t:4: leaves do not hash to the root\n$/)
  await writeFile(tmp('u'), 'pc-hashtree 1\nsize 10\nchunk-size 1024\nroot nothex\n\n')
  const u = await run('pc-hash', ['--check', tmp('u'), SONG])
  assert.is(u.code, 65)
  assert.match(u.stderr, /u:4: bad root/)
})

test('--keygen writes a key pair, mode 0600, and refuses to overwrite', async () => {
  const r = await run('pc-hash', ['--keygen', tmp('station')])
  assert.is(r.code, 0, r.stderr)
  assert.is((await stat(tmp('station'))).mode & 0o777, 0o600)
  const sk = await readFile(tmp('station'), 'utf8')
  assert.match(sk, /^[0-9a-f]{128}\n$/)
  assert.match(await readFile(tmp('station.pub'), 'utf8'), /^[0-9a-f]{64}\n$/)
  const again = await run('pc-hash', ['--keygen', tmp('station')])
  assert.is(again.code, 74)
  assert.match(again.stderr, /station: key file exists; will not overwrite/)
  assert.is(await readFile(tmp('station'), 'utf8'), sk)
  await writeFile(tmp('other.pub'), 'x\n')
  const half = await run('pc-hash', ['--keygen', tmp('other')])
  assert.is(half.code, 74)
  assert.equal((await readdir(dir.path)).sort(), ['other.pub', 'station', 'station.pub'])
})

test('--sign adds signature and key lines; --verify accepts them and refuses tampering', async () => {
  await run('pc-hash', ['--keygen', tmp('k')])
  await run('pc-hash', ['--keygen', tmp('other')])
  const s = await run('pc-hash', ['--sign', tmp('k'), '-o', tmp('song.hashtree'), SONG])
  assert.is(s.code, 0, s.stderr)
  const text = await readFile(tmp('song.hashtree'), 'utf8')
  const pub = (await readFile(tmp('k.pub'), 'utf8')).trim()
  assert.match(text, new RegExp(`\nsignature [0-9a-f]{128}\nkey ${pub}\n\n`))
  assert.is((await run('pc-hash', ['--verify', tmp('k.pub'), tmp('song.hashtree')])).code, 0)
  const both = await run('pc-hash', ['--verify', pub, '--check', tmp('song.hashtree'), SONG])
  assert.is(both.code, 0, both.stderr)

  const wrongKey = await run('pc-hash', ['--verify', tmp('other.pub'), tmp('song.hashtree')])
  assert.is(wrongKey.code, 65)
  assert.match(wrongKey.stderr, /signed by key/)
  const sig = /signature ([0-9a-f]+)/.exec(text)?.[1] ?? ''
  const forged = text.replace(sig, sig.slice(0, 10) + (sig[10] === '0' ? '1' : '0') + sig.slice(11))
  await writeFile(tmp('forged'), forged)
  const f = await run('pc-hash', ['--verify', tmp('k.pub'), '--check', tmp('forged'), SONG])
  assert.is(f.code, 65)
  assert.match(f.stderr, /forged: bad signature on root/)
  const unsigned = out(await run('pc-hash', [SONG]))
  const u = await run('pc-hash', ['--verify', tmp('k.pub'), '-'], unsigned)
  assert.is(u.code, 65)
  assert.match(u.stderr, /stdin: tree is not signed/)
  await writeFile(tmp('badsig'), text.replace(sig, 'zz'))
  assert.is((await run('pc-hash', ['--verify', tmp('k.pub'), tmp('badsig')])).code, 65)
  assert.is(s.stderr, '')
  await chmod(tmp('k'), 0o644)
  const open = await run('pc-hash', ['--sign', tmp('k'), SONG])
  assert.is(open.code, 0)
  assert.match(open.stderr, /k: secret key is readable by others \(mode 0644\); chmod 600 it/)
  assert.is((await run('pc-hash', ['-q', '--sign', tmp('k'), SONG])).stderr, '')
})

test('missing input, missing tree, 404 URL: 66; unreachable URL: 69', async () => {
  const a = await run('pc-hash', [tmp('nope.mp3')])
  assert.is(a.code, 66)
  assert.match(a.stderr, /nope\.mp3: cannot open: ENOENT/)
  const b = await run('pc-hash', ['--check', tmp('nope.hashtree'), SONG])
  assert.is(b.code, 66)
  const base = await serveMedia()
  const c = await run('pc-hash', [`${base}/nope.mp3`])
  assert.is(c.code, 66)
  assert.match(c.stderr, /HTTP 404/)
  await new Promise(resolve => server?.close(resolve))
  server = undefined
  const d = await run('pc-hash', [`${base}/tone-cbr.mp3`])
  assert.is(d.code, 69)
  assert.is(d.stdout.length, 0)
})

test('usage errors exit 64', async () => {
  for (const args of [['--root', '--info-hash', SONG], ['-c', '12', SONG], ['-j', 'many', SONG], ['--check', '-', '-'], ['--sign', 'k', '--root', SONG], ['--keygen', 'k', SONG], [SONG, SONG]]) {
    const r = await run('pc-hash', args)
    assert.is(r.code, 64, args.join(' '))
    assert.match(r.stderr, /Usage: pc-hash /)
  }
})

test('a closed stdout ends it quietly with exit 0', async () => {
  const big = await bigFile('big', 4 * 1024 * 1024)
  const c = start('pc-hash', ['-c', '1k', big]) // about 270 KB of tree: more than a pipe holds
  const done = finish(c)
  await withTimeout(new Promise(resolve => c.stdout?.once('readable', resolve)), 10_000, 'first output')
  c.stdout?.destroy()
  const r = await done
  assert.is(r.code, 0)
  assert.is(r.stderr, '')
})

test('SIGINT while it waits on an open stdin pipe ends it at once with 130 and no output', async () => {
  // A FIFO, as a shell pipeline gives (a spawned child's stdin is a socket, which behaves otherwise).
  const fifo = tmp('fifo')
  execFileSync('mkfifo', [fifo])
  for (const args of [['-'], ['-j', '2', '-']]) {
    // sh opens the FIFO, then becomes the command (exec), so the signal goes to it
    const d = start('sh', ['-c', `exec "$0" "$1" ${args.join(' ')} < "$2"`, process.execPath, join(ROOT, 'dist', 'bin', 'pc-hash.js'), fifo])
    const done = finish(d, 10_000)
    const w = await withTimeout(open(fifo, 'w'), 10_000, 'the FIFO to open')
    try {
      // 1 MiB cannot fit in the FIFO: once written, the command is reading, its signal handlers in place
      await withTimeout(w.write(Buffer.alloc(1 << 20)), 10_000, 'stdin to be read')
      await sleep(300) // let it drain the FIFO, so that a read is pending when the signal comes
      d.kill('SIGINT') // the FIFO stays open: the command must not wait for its end
      const r = await done
      assert.is(r.code, 130, args.join(' '))
      assert.is(r.stdout.length, 0)
    } finally { await w.close() }
  }
})

test('the EXAMPLES of pc-hash(1) run as written', async () => {
  const page = readFileSync(join(ROOT, 'man', 'pc-hash.1'), 'utf8')
  const ex = /^\.Sh EXAMPLES$([\s\S]*?)^\.Sh /m.exec(page)?.[1] ?? ''
  const lines = [...ex.matchAll(/^(?:\.Dl )?\$ (.*)$/gm)].map(m => m[1].replace(/\\\(dq/g, '"'))
  assert.ok(lines.length >= 5, `examples found: ${lines.length}`)
  await mkdir(tmp('bin'))
  await writeFile(tmp('bin/pc-hash'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist', 'bin', 'pc-hash.js')}" "$@"\n`)
  await chmod(tmp('bin/pc-hash'), 0o755)
  await copyFile(SONG, tmp('song.mp3'))
  await copyFile(join(MEDIA, 'chirp-vbr.mp3'), tmp('other.mp3'))
  const base = await serveMedia()
  for (const line of lines) {
    // the origin of the example is this test's server, which serves media/tone-cbr.mp3 as song.mp3's twin
    const cmd = line.replace('https://radio.example/song.mp3', `${base}/tone-cbr.mp3`)
    const r = await run('sh', ['-c', cmd], undefined, { cwd: dir.path, env: { ...process.env, PATH: `${tmp('bin')}:${process.env.PATH ?? ''}` } })
    assert.is(r.code, 0, `${cmd}: ${r.stderr}`)
  }
  assert.match(await readFile(tmp('whitelist'), 'utf8'), /^([0-9a-f]{40}\n){2}$/)
})

test.run()
