// The live manifest (man pc-live.5): a small JSON file next to the chunk files that
// names the stream, its format, and the window of chunks with their hashes (and
// signatures). Written by pc-live; parsed and checked here for the listener side.
import { DataError } from '../core/errors.js'
import { HASH_BYTES } from '../hashing/hashtree.js'
import { SIGNATURE_BYTES, type ChunkClaim } from './chunk-sign.js'

export const MANIFEST_VERSION = 1
/** a manifest longer than this is refused by the parser (a 10-minute window of 500 ms chunks is ~400 kB) */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** a claim file (SEQ.json) is one manifest entry: a few hundred bytes */
export const MAX_CLAIM_BYTES = 4096
/** the suffix that turns a mount URL into its manifest's URL: /live → /live.json */
export const MANIFEST_SUFFIX = '.json'
/**
 * the largest header blob listeners take (from the origin or a peer): Ogg codec headers
 * (a Vorbis setup with a long comment packet), a video container's header
 */
export const MAX_HEADER_BLOB_BYTES = 256 * 1024
/** the response header on the mount that names the manifest too */
export const MANIFEST_HEADER = 'X-Pc-Live-Manifest'

export interface ChunkEntry {
  seq: number
  /** file name, relative to base */
  name: string
  /** ISO 8601 UTC with milliseconds: the source-clock time at which the chunk starts */
  start: string
  /** ms */
  duration: number
  /** bytes */
  size: number
  /** BLAKE2b-256, hex */
  hash: string
  /** hash of the header blob the chunk needs (Ogg, video containers), hex */
  header?: string
  /** false: the chunk does not begin at a random-access point (video); a player starts at one that does */
  key?: boolean
  title?: string
  /** ed25519, hex, with --key */
  sig?: string
}

export interface HeaderEntry { name: string, hash: string }

export interface FormatChange { seq: number, start: string, kind: string, codec?: string, sampleRate?: number, channels?: number }

export interface LiveManifest {
  pcLive: number
  stream: string
  nonce: string
  publicKey?: string
  infoHash: string
  mount: string
  mime: string
  kind: string
  codec?: string
  sampleRate?: number
  channels?: number
  bitrateKbps?: number
  /** target chunk duration, ms */
  chunkMs: number
  /** how much the directory keeps, ms */
  windowMs: number
  /** where the chunk and header files are: relative to the manifest's URL, or absolute */
  base: string
  /** whether a source is feeding the show now */
  source: boolean
  /** the show is over: no chunk will follow the last one listed */
  ended: boolean
  title?: string
  updated: string
  headers: HeaderEntry[]
  changes: FormatChange[]
  chunks: ChunkEntry[]
}

export function encodeManifest (m: LiveManifest): string { return JSON.stringify(m) + '\n' }

/** The manifest's URL for a mount URL (the suffix rule; a GET of the mount also says it in MANIFEST_HEADER). */
export function manifestUrlOf (mountUrl: string): string {
  const u = new URL(mountUrl)
  u.pathname += MANIFEST_SUFFIX
  u.search = ''
  return u.toString()
}

/** Where a file named in the manifest is, given the URL the manifest came from. */
export function resolveChunkUrl (manifestUrl: string, m: LiveManifest, name: string): string {
  return new URL(name, new URL(m.base, manifestUrl)).toString()
}

const HEX32 = new RegExp(`^[0-9a-f]{${HASH_BYTES * 2}}$`)
const HEX_SIG = new RegExp(`^[0-9a-f]{${SIGNATURE_BYTES * 2}}$`)
/** a file name in the window: no slashes, no dot-dot, nothing a URL would reinterpret */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

function fail (why: string, where: string): never { throw new DataError(`live manifest: ${why}`, where) }

function isUint (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number { return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max }

/** Parse and check a manifest; throws DataError naming the first bad field. */
export function parseManifest (text: string, where: string): LiveManifest {
  if (text.length > MAX_MANIFEST_BYTES) fail(`longer than ${MAX_MANIFEST_BYTES} bytes`, where)
  let m: LiveManifest
  try { m = JSON.parse(text) as LiveManifest } catch (e) { fail(`not JSON: ${(e as Error).message}`, where) }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('not an object', where)
  if (m.pcLive !== MANIFEST_VERSION) fail(`pcLive is ${String(m.pcLive)}, this reader knows ${MANIFEST_VERSION}`, where)
  for (const k of ['stream', 'nonce', 'infoHash'] as const) if (typeof m[k] !== 'string') fail(`${k} missing`, where)
  if (!HEX32.test(m.stream)) fail('stream is not 64 hex digits', where)
  if (m.publicKey !== undefined && !HEX32.test(m.publicKey)) fail('publicKey is not 64 hex digits', where)
  if (typeof m.base !== 'string' || typeof m.mime !== 'string' || typeof m.kind !== 'string') fail('base, mime or kind missing', where)
  if (!isUint(m.chunkMs) || !isUint(m.windowMs)) fail('chunkMs or windowMs is not a whole number', where)
  if (typeof m.source !== 'boolean' || typeof m.ended !== 'boolean') fail('source or ended is not a boolean', where)
  if (!Array.isArray(m.chunks) || !Array.isArray(m.headers) || !Array.isArray(m.changes)) fail('chunks, headers or changes is not a list', where)
  for (const h of m.headers) {
    if (typeof h?.name !== 'string' || !FILE_NAME.test(h.name) || typeof h.hash !== 'string' || !HEX32.test(h.hash)) fail('bad header entry', where)
  }
  let prev = -1
  for (const c of m.chunks) {
    if (!isUint(c?.seq) || c.seq <= prev) fail(`chunk ${String(c?.seq)}: seq missing or not increasing`, where)
    prev = c.seq
    checkChunkEntry(c, where, m.publicKey !== undefined)
  }
  return m
}

/** Check one chunk entry (of a manifest, or alone in its SEQ.json claim file); throws DataError. */
export function checkChunkEntry (c: ChunkEntry, where: string, signed: boolean): ChunkEntry {
  const at = `chunk ${String(c?.seq)}`
  if (typeof c !== 'object' || c === null || !isUint(c.seq)) fail(`${at}: seq missing`, where)
  {
    if (typeof c.name !== 'string' || !FILE_NAME.test(c.name)) fail(`${at}: bad name`, where)
    if (typeof c.start !== 'string' || Number.isNaN(Date.parse(c.start))) fail(`${at}: bad start`, where)
    if (!isUint(c.duration, 0xffffffff) || !isUint(c.size)) fail(`${at}: bad duration or size`, where)
    if (typeof c.hash !== 'string' || !HEX32.test(c.hash)) fail(`${at}: bad hash`, where)
    if (c.header !== undefined && (typeof c.header !== 'string' || !HEX32.test(c.header))) fail(`${at}: bad header hash`, where)
    if (c.title !== undefined && typeof c.title !== 'string') fail(`${at}: bad title`, where)
    if (c.key !== undefined && typeof c.key !== 'boolean') fail(`${at}: key is not a boolean`, where)
    if (c.sig !== undefined && (typeof c.sig !== 'string' || !HEX_SIG.test(c.sig))) fail(`${at}: bad sig`, where)
    if (signed && c.sig === undefined) fail(`${at}: unsigned in a signed stream`, where)
  }
  return c
}

/** The claim verifyLiveChunk checks, from a manifest entry. */
export function claimOf (c: ChunkEntry): ChunkClaim & { signature?: Buffer } {
  const claim: ChunkClaim & { signature?: Buffer } = {
    seq: c.seq, startMs: Date.parse(c.start), durationMs: c.duration, hash: Buffer.from(c.hash, 'hex'),
  }
  if (c.header) claim.headerHash = Buffer.from(c.header, 'hex')
  if (c.title) claim.title = c.title
  if (c.sig) claim.signature = Buffer.from(c.sig, 'hex')
  return claim
}

/** ISO 8601 UTC with milliseconds always, so every entry has the same shape. */
export function isoMs (ms: number): string { return new Date(ms).toISOString() }
