// BLAKE2b Merkle tree over fixed-size chunks (man pc-hashtree.5). Leaves, parents and
// the root are hashed under distinct type bytes so a leaf can never pose as an inner
// node (the second-preimage attack RFC 6962 §2.1 and BitTorrent v2 guard against), and
// the root commits to the item's size and chunk size.
//
//   leaf   = BLAKE2b-256( 0x00 || u32be(chunk length) || chunk )
//   parent = BLAKE2b-256( 0x01 || left || right )
//   root   = BLAKE2b-256( 0x02 || u64be(size) || u32be(chunk size) || top )
//
// Levels pair nodes left to right; an odd last node moves up unchanged. A 0-byte item
// has one leaf over the empty chunk.
import type { Readable } from 'node:stream'
import { DataError } from '../core/errors.js'
import { blake2b } from './blake2b.js'

export const HASH_BYTES = 32
/** Default chunk size; see pc-hashtree(5) for the measurement behind it. */
export const CHUNK_BYTES = 128 * 1024
export const MIN_CHUNK_BYTES = 1024
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024
/** Refuse trees with more leaves than this (1 TiB at the default chunk size). */
export const MAX_LEAVES = 1 << 23
export const INFO_HASH_BYTES = 20
export const TREE_MAGIC = 'pc-hashtree 1'

const LEAF = 0x00
const PARENT = 0x01
const ROOT = 0x02
const INFO = 0x03

export interface HashTree {
  size: number
  chunkSize: number
  leaves: Buffer[]
  root: Buffer
  /** other header lines (e.g. signature, key), kept in order */
  headers: [string, string][]
}

export function chunkCount (size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize))
}

export function leafHash (chunk: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  leafHashInto(out, chunk)
  return out
}

/** leafHash written into `out` (exactly HASH_BYTES long), for callers that batch leaves. */
export function leafHashInto (out: Buffer, chunk: Uint8Array): void {
  const pre = Buffer.allocUnsafe(5)
  pre[0] = LEAF
  pre.writeUInt32BE(chunk.length, 1)
  blake2b(out, [pre, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)])
}

export function parentHash (left: Buffer, right: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  blake2b(out, [Buffer.of(PARENT), left, right])
  return out
}

/** The root over a complete list of leaf hashes. */
export function rootOf (leaves: Buffer[], size: number, chunkSize: number): Buffer {
  if (leaves.length !== chunkCount(size, chunkSize)) throw new Error(`rootOf: ${leaves.length} leaves for ${size} bytes`)
  return rootOver(topOf(Buffer.concat(leaves)), size, chunkSize)
}

/**
 * The node over consecutive nodes of one level, given concatenated in `nodes` (at least
 * one): pairs left to right, an odd last node moving up unchanged, until one is left.
 * Run over the 2^k leaves from leaf j·2^k on (or the last leaves, from there to the end),
 * it gives the tree's node above them k levels up, so the tree's top is the topOf those
 * nodes: stripes of 2^k leaves can be reduced where they are hashed. One scratch message
 * and flat levels: 8,191 parents of Buffers allocated one by one cost ~60 ms of a 1 GiB
 * `pc-hash --root`, run after the leaves, on one thread (BENCHMARKS.md `## hash`).
 */
export function topOf (nodes: Uint8Array): Uint8Array {
  let level = nodes
  const msg = new Uint8Array(1 + 2 * HASH_BYTES)
  msg[0] = PARENT
  for (let n = level.length / HASH_BYTES; n > 1; n = Math.ceil(n / 2)) {
    const next = new Uint8Array(Math.ceil(n / 2) * HASH_BYTES)
    for (let i = 0; i + 1 < n; i += 2) {
      msg.set(level.subarray(i * HASH_BYTES, (i + 2) * HASH_BYTES), 1)
      blake2b(next.subarray((i / 2) * HASH_BYTES, (i / 2 + 1) * HASH_BYTES), [msg])
    }
    if (n % 2 === 1) next.set(level.subarray((n - 1) * HASH_BYTES, n * HASH_BYTES), (n - 1) / 2 * HASH_BYTES)
    level = next
  }
  return level
}

/** The root over the tree's top node (topOf all its leaves). */
export function rootOver (top: Uint8Array, size: number, chunkSize: number): Buffer {
  const pre = Buffer.allocUnsafe(13)
  pre[0] = ROOT
  pre.writeBigUInt64BE(BigInt(size), 1)
  pre.writeUInt32BE(chunkSize, 9)
  const out = Buffer.allocUnsafe(HASH_BYTES)
  blake2b(out, [pre, top])
  return out
}

/** The 20-byte BitTorrent info-hash a swarm is announced under. */
export function infoHash (root: Buffer): Buffer {
  const out = Buffer.allocUnsafe(INFO_HASH_BYTES)
  blake2b(out, [Buffer.of(INFO), root])
  return out
}

/** Incremental builder: feed bytes in any split, get the tree at the end. */
export class TreeBuilder {
  private readonly buf: Buffer
  private fill = 0
  private size = 0
  readonly leaves: Buffer[] = []
  constructor (readonly chunkSize: number = CHUNK_BYTES) {
    if (chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) throw new RangeError(`chunk size ${chunkSize} outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`)
    this.buf = Buffer.allocUnsafe(chunkSize)
  }

  update (data: Uint8Array): void {
    let off = 0
    this.size += data.length
    while (off < data.length) {
      if (this.fill === 0 && data.length - off >= this.chunkSize) {
        this.leaves.push(leafHash(data.subarray(off, off + this.chunkSize)))
        off += this.chunkSize
        continue
      }
      const n = Math.min(this.chunkSize - this.fill, data.length - off)
      this.buf.set(data.subarray(off, off + n), this.fill)
      this.fill += n
      off += n
      if (this.fill === this.chunkSize) { this.leaves.push(leafHash(this.buf)); this.fill = 0 }
    }
    if (this.leaves.length > MAX_LEAVES) throw new DataError(`more than ${MAX_LEAVES} chunks`)
  }

  finish (): HashTree {
    if (this.fill > 0 || this.leaves.length === 0) this.leaves.push(leafHash(this.buf.subarray(0, this.fill)))
    this.fill = 0
    return { size: this.size, chunkSize: this.chunkSize, leaves: this.leaves, root: rootOf(this.leaves, this.size, this.chunkSize), headers: [] }
  }
}

export async function hashStream (input: Readable | AsyncIterable<Uint8Array>, chunkSize = CHUNK_BYTES): Promise<HashTree> {
  const b = new TreeBuilder(chunkSize)
  for await (const data of input) b.update(data as Uint8Array)
  return b.finish()
}

/** Whether `data` is chunk `index` of the tree (right length and leaf hash). */
export function verifyChunk (tree: HashTree, index: number, data: Uint8Array): boolean {
  if (index < 0 || index >= tree.leaves.length) return false
  const want = Math.min(tree.chunkSize, tree.size - index * tree.chunkSize)
  if (data.length !== Math.max(0, want)) return false
  return leafHash(data).equals(tree.leaves[index])
}

/** The text form (pc-hashtree.5): header lines `key value`, a blank line, one leaf hex a line. */
export function formatTree (t: HashTree): string {
  const head = [TREE_MAGIC, `size ${t.size}`, `chunk-size ${t.chunkSize}`, `root ${t.root.toString('hex')}`]
  for (const [k, v] of t.headers) head.push(`${k} ${v}`)
  return head.join('\n') + '\n\n' + t.leaves.map(l => l.toString('hex')).join('\n') + '\n'
}

/**
 * Parse and check a tree file: the leaves must hash to the stated root, and to
 * `expectRoot` when given. `where` names the source for error messages.
 */
export function parseTree (text: string, where: string, expectRoot?: Buffer): HashTree {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  const fail = (line: number, what: string): never => { throw new DataError(what, `${where}:${line}`) }
  if ((lines[0] ?? '').replace(/\r$/, '') !== TREE_MAGIC) fail(1, `not a hash tree (expected '${TREE_MAGIC}')`)
  let i = 1
  let size = -1; let chunkSize = -1; let root: Buffer | undefined; let rootLine = 4; let sizeLine = 2
  const headers: [string, string][] = []
  for (; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '')
    if (line === '') { i++; break }
    const m = /^([a-z][a-z0-9-]*) (.+)$/.exec(line)
    if (!m) fail(i + 1, 'bad header line')
    const [, k, v] = m as RegExpExecArray
    if (k === 'size') { if (!/^\d{1,15}$/.test(v)) fail(i + 1, 'bad size'); size = Number(v); sizeLine = i + 1 }
    else if (k === 'chunk-size') {
      if (!/^\d{1,9}$/.test(v)) fail(i + 1, 'bad chunk-size')
      chunkSize = Number(v)
      if (chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) fail(i + 1, `chunk-size outside ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`)
    } else if (k === 'root') { if (!/^[0-9a-f]{64}$/.test(v)) fail(i + 1, 'bad root'); root = Buffer.from(v, 'hex'); rootLine = i + 1 }
    else headers.push([k, v])
  }
  if (size < 0 || chunkSize < 0 || !root) fail(i, 'missing size, chunk-size or root')
  const n = chunkCount(size, chunkSize)
  if (n > MAX_LEAVES) fail(sizeLine, `more than ${MAX_LEAVES} chunks`)
  if (lines.length - i !== n) fail(lines.length, `expected ${n} leaves, found ${lines.length - i}`)
  const leaves: Buffer[] = []
  for (let j = i; j < lines.length; j++) {
    const l = lines[j].replace(/\r$/, '')
    if (!/^[0-9a-f]{64}$/.test(l)) fail(j + 1, 'bad leaf hash')
    leaves.push(Buffer.from(l, 'hex'))
  }
  const computed = rootOf(leaves, size, chunkSize)
  if (!computed.equals(root as Buffer)) fail(rootLine, 'leaves do not hash to the root')
  if (expectRoot && !computed.equals(expectRoot)) fail(rootLine, `root ${computed.toString('hex')} is not the expected ${expectRoot.toString('hex')}`)
  return { size, chunkSize, leaves, root: computed, headers }
}
