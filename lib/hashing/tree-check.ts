// Checking media against a hash tree, and signing a tree's root (pc-hashtree.5).
// The signed message is a fixed ASCII context string followed by the 32 root bytes,
// so a signature made for a tree can never be replayed as one over anything else
// (a playlist, another protocol's message) that a key holder signs.
import { randomBytes } from 'node:crypto'
import { constants } from 'node:buffer'
import { writeFile, rename, rm, stat } from 'node:fs/promises'
import { openInput, type Io } from '../core/cli.js'
import { DataError, IOError } from '../core/errors.js'
import { MAX_LEAVES, TREE_MAGIC, parseTree, type HashTree } from './hashtree.js'
import { sign, verify, publicKeyOf } from './sign.js'

export const SIGNATURE_CONTEXT = `${TREE_MAGIC} root `

/** The bytes an ed25519 tree signature covers: 'pc-hashtree 1 root ' || root. */
export function rootMessage (root: Buffer): Buffer {
  return Buffer.concat([Buffer.from(SIGNATURE_CONTEXT, 'ascii'), root])
}

/** A copy of the tree with `signature` and `key` header lines (replacing old ones). */
export function signTree (tree: HashTree, secretKey: Buffer): HashTree {
  const sig = sign(rootMessage(tree.root), secretKey)
  const headers = tree.headers.filter(([k]) => k !== 'signature' && k !== 'key')
  headers.push(['signature', sig.toString('hex')], ['key', publicKeyOf(secretKey).toString('hex')])
  return { ...tree, headers }
}

function header (tree: HashTree, key: string): string | undefined {
  return tree.headers.find(([k]) => k === key)?.[1]
}

/**
 * Why the tree's signature does not hold for `publicKey`, or undefined if it does.
 * A malformed signature or key line is bad data (DataError at `where`).
 */
export function treeSignatureProblem (tree: HashTree, publicKey: Buffer, where: string): string | undefined {
  const sig = header(tree, 'signature')
  const key = header(tree, 'key')
  if (sig === undefined) return 'tree is not signed (no signature line)'
  if (!/^[0-9a-f]{128}$/.test(sig)) throw new DataError('bad signature line (128 lowercase hex digits expected)', where)
  if (key !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new DataError('bad key line (64 lowercase hex digits expected)', where)
    if (key !== publicKey.toString('hex')) return `signed by key ${key}, not by ${publicKey.toString('hex')}`
  }
  if (!verify(Buffer.from(sig, 'hex'), rootMessage(tree.root), publicKey)) return `bad signature on root ${tree.root.toString('hex')}`
  return undefined
}

export interface BadChunk {
  index: number
  /** half-open byte range [start, end) of the chunk in the tree (or in the file, past the tree's end) */
  start: number
  end: number
  why: 'differs' | 'missing' | 'extra'
}

/** Chunks where `got` (the media as hashed) departs from `want` (the tree), in order. */
export function compareTrees (want: HashTree, got: HashTree): BadChunk[] {
  const cs = want.chunkSize
  if (got.chunkSize !== cs) throw new Error(`compareTrees: chunk sizes ${cs} and ${got.chunkSize}`)
  const bad: BadChunk[] = []
  const n = Math.max(want.leaves.length, got.leaves.length)
  for (let i = 0; i < n; i++) {
    const inWant = i < want.leaves.length
    const inGot = i < got.leaves.length
    const size = inWant ? want.size : got.size
    const range = { index: i, start: i * cs, end: Math.min(size, (i + 1) * cs) }
    if (inWant && !inGot) bad.push({ ...range, why: 'missing' })
    else if (!inWant) bad.push({ ...range, why: 'extra' })
    else if (!want.leaves[i].equals(got.leaves[i])) bad.push({ ...range, why: 'differs' })
  }
  return bad
}

export function describeBadChunk (b: BadChunk): string {
  const what = b.why === 'differs' ? 'does not match the tree' : b.why === 'missing' ? 'is missing (input too short)' : 'is past the end of the tree (input too long)'
  return `chunk ${b.index} (bytes [${b.start}, ${b.end})) ${what}`
}

/** Largest tree file read: a header plus MAX_LEAVES leaf lines of 65 bytes, if V8 can hold the text. */
export const MAX_TREE_FILE_BYTES = Math.min(4096 + MAX_LEAVES * 65, constants.MAX_STRING_LENGTH)

/** Read and parse a tree file given as a path, an http(s) URL or `-`. */
export async function loadTree (spec: string, io: Io): Promise<HashTree> {
  const where = spec === '-' ? 'stdin' : spec
  const input = await openInput(spec, io)
  const parts: Buffer[] = []
  let n = 0
  for await (const d of input) {
    n += (d as Buffer).length
    if (n > MAX_TREE_FILE_BYTES) { input.destroy(); throw new DataError(`larger than ${MAX_TREE_FILE_BYTES} bytes: not a hash tree`, where) }
    parts.push(d as Buffer)
  }
  return parseTree(Buffer.concat(parts).toString('utf8'), where)
}

/**
 * Write a tree file whole or not at all (a temporary name, then rename), so a web
 * server publishing `song.mp3.hashtree` never serves a half-written one.
 */
export async function writeTreeFile (path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, text, { flag: 'wx' })
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw new IOError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path)
  }
}

/** A warning when a secret key file can be read by group or others (as ssh refuses such keys). */
export async function keyFileWarning (path: string): Promise<string | undefined> {
  const mode = (await stat(path)).mode & 0o777
  if ((mode & 0o077) === 0) return undefined
  return `${path}: secret key is readable by others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`
}
