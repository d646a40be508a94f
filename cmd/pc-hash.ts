#!/usr/bin/env node
// pc-hash: media (file, URL or stdin) in, its hash tree (pc-hashtree.5) out; checks media against a tree, makes and uses ed25519 keys.
import { run, intOption, sizeOption, UsageError, IOError, DataError, type OptionTable, type CommandInfo } from '../lib/core/cli.js'
import { CHUNK_BYTES, MIN_CHUNK_BYTES, MAX_CHUNK_BYTES, formatTree, infoHash } from '../lib/hashing/hashtree.js'
import { hashSource, MAX_WORKERS, PARALLEL_MIN_BYTES } from '../lib/hashing/hash-parallel.js'
import type { HashTree } from '../lib/hashing/hashtree.js'
import { writeAll } from '../lib/core/ndjson.js'
import { formatSize } from '../lib/core/units.js'

const OPTIONS: OptionTable = {
  'chunk-size': { alias: 'c', type: 'string', default: formatSize(CHUNK_BYTES), arg: 'SIZE', help: 'bytes per chunk (tree leaf)' },
  root: { alias: 'r', type: 'boolean', help: 'print only the root hash' },
  'info-hash': { type: 'boolean', help: 'print only the 20-byte BitTorrent info-hash (for tracker whitelists)' },
  output: { alias: 'o', type: 'string', arg: 'FILE', help: 'write the output to FILE, atomically, instead of stdout' },
  check: { type: 'string', arg: 'TREE', help: 'check the input against the tree file TREE; exit 65 naming the first bad chunk' },
  sign: { type: 'string', arg: 'KEYFILE', help: 'sign the root with the secret key read from KEYFILE' },
  verify: { type: 'string', arg: 'PUBKEY', help: 'require a good signature by PUBKEY (file or hex) on TREE, or on the tree given as input' },
  keygen: { type: 'string', arg: 'NAME', help: 'write a new key pair: secret key NAME (mode 0600), public key NAME.pub' },
  workers: { alias: 'j', type: 'string', default: 'auto', arg: 'N', help: `worker threads, 0..${MAX_WORKERS} (0: main thread only; auto: one per core for inputs of ${formatSize(PARALLEL_MIN_BYTES)} and more, one fewer for a file, which the main thread helps hash)` },
  verbose: { alias: 'v', type: 'boolean', help: 'report every bad chunk, and timings, on stderr' },
  quiet: { alias: 'q', type: 'boolean', help: 'no warnings' },
}

const INFO: CommandInfo = {
  usage: '[options] [FILE|URL|-]',
  summary: 'Print the hash tree of a media file, URL or stdin; check media against a tree; sign and verify trees.',
  examples: [
    'pc-hash -o song.mp3.hashtree song.mp3',
    'pc-hash --check song.mp3.hashtree https://radio.example/song.mp3',
    'pc-hash --keygen station && pc-hash --sign station song.mp3 > song.mp3.hashtree',
    'pc-hash --verify station.pub song.mp3.hashtree',
  ],
  maxArgs: 1,
}

function conflicts (opts: Record<string, unknown>, mode: string, others: string[]): void {
  for (const o of others) {
    const v = opts[o.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())]
    if (v !== undefined && v !== false) throw new UsageError(`--${mode} cannot be combined with --${o}`)
  }
}

// Loaded only by the modes that use them: sign.js loads sodium-native (~25 ms of a start).
const keys = async (): Promise<typeof import('../lib/hashing/sign.js')> => await import('../lib/hashing/sign.js')
const trees = async (): Promise<typeof import('../lib/hashing/tree-check.js')> => await import('../lib/hashing/tree-check.js')

run('pc-hash', OPTIONS, INFO, async (opts, io) => {
  const spec = opts._[0] ?? '-'
  if (opts.keygen !== undefined) {
    conflicts(opts, 'keygen', ['check', 'sign', 'verify', 'root', 'info-hash', 'output'])
    if (opts._.length > 0) throw new UsageError('--keygen takes no input')
    const name = String(opts.keygen)
    const { generateKeyPair, writeKeyPair } = await keys()
    try {
      await writeKeyPair(name, generateKeyPair())
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      throw new IOError(code === 'EEXIST' ? 'key file exists; will not overwrite' : `cannot write key: ${code ?? (e as Error).message}`, name)
    }
    if (io.verbose) io.warn(`wrote secret key ${name} and public key ${name}.pub`)
    return
  }
  const chunkSize = sizeOption(opts, 'chunkSize')
  if (chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) throw new UsageError(`--chunk-size: ${chunkSize} is outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`)
  const workers = opts.workers === 'auto' ? undefined : intOption(opts, 'workers', 0, MAX_WORKERS)
  const publicKey = opts.verify !== undefined ? await (await keys()).readPublicKey(String(opts.verify)) : undefined
  const requireSignature = async (tree: HashTree, where: string): Promise<void> => {
    const problem = publicKey && (await trees()).treeSignatureProblem(tree, publicKey, where)
    if (problem) throw new DataError(problem, where)
  }
  const started = performance.now()
  const timing = (bytes: number): string => {
    const ms = performance.now() - started
    return `${bytes} bytes in ${ms.toFixed(0)} ms (${(bytes / 1048576 / (ms / 1000)).toFixed(0)} MiB/s)`
  }

  if (opts.check !== undefined) {
    conflicts(opts, 'check', ['sign', 'root', 'info-hash', 'output'])
    const treeSpec = String(opts.check)
    if (treeSpec === '-' && spec === '-') throw new UsageError('the tree and the input cannot both be stdin')
    const { loadTree, compareTrees, describeBadChunk } = await trees()
    const tree = await loadTree(treeSpec, io)
    await requireSignature(tree, treeSpec)
    const got = await hashSource(spec, io.stdin, { chunkSize: tree.chunkSize, workers, signal: io.signal })
    const bad = compareTrees(tree, got)
    const where = spec === '-' ? 'stdin' : spec
    if (io.verbose) for (const b of bad) io.warn(`${where}: ${describeBadChunk(b)}`)
    if (bad.length > 0) {
      const sizes = got.size === tree.size ? '' : `; input has ${got.size} bytes, the tree ${tree.size}`
      throw new DataError(`${describeBadChunk(bad[0])} of ${treeSpec}${bad.length > 1 ? ` (${bad.length} bad chunks)` : ''}${sizes}`, where)
    }
    if (io.verbose) io.warn(`${where}: all ${tree.leaves.length} chunks match ${treeSpec}; ${timing(got.size)}`)
    return
  }
  if (publicKey) {
    conflicts(opts, 'verify', ['sign', 'root', 'info-hash', 'output'])
    const tree = await (await trees()).loadTree(spec, io)
    await requireSignature(tree, spec === '-' ? 'stdin' : spec)
    if (io.verbose) io.warn(`${spec}: good signature on root ${tree.root.toString('hex')}`)
    return
  }

  if (opts.root && opts.infoHash) throw new UsageError('--root and --info-hash exclude each other')
  if (opts.sign !== undefined && (opts.root || opts.infoHash)) throw new UsageError('--sign writes a tree; it cannot be combined with --root or --info-hash')
  const secretKey = opts.sign !== undefined ? await (await keys()).readSecretKey(String(opts.sign)) : undefined
  const keyWarning = opts.sign !== undefined ? await (await trees()).keyFileWarning(String(opts.sign)) : undefined
  if (keyWarning) io.warn(keyWarning)
  let tree = await hashSource(spec, io.stdin, { chunkSize, workers, signal: io.signal })
  if (secretKey) tree = (await trees()).signTree(tree, secretKey)
  if (io.verbose) io.warn(`${spec === '-' ? 'stdin' : spec}: ${tree.leaves.length} chunks, ${timing(tree.size)}`)
  const text = opts.root ? tree.root.toString('hex') + '\n' : opts.infoHash ? infoHash(tree.root).toString('hex') + '\n' : formatTree(tree)
  if (opts.output !== undefined) await (await trees()).writeTreeFile(String(opts.output), text)
  else await writeAll(io.stdout, text)
})
