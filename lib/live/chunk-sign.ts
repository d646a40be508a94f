// What binds a live chunk to its station (man pc-live.5): BLAKE2b-256 of the chunk's
// bytes, and with a station key an ed25519 signature over a fixed 164-byte message.
// The listener side calls verifyLiveChunk on every chunk before playing or relaying it.
//
//   offset  bytes  field
//        0     16  ASCII "pc-live chunk v1" (domain: no other signed message starts so)
//       16     32  stream id
//       48      8  u64be sequence number
//       56      8  u64be start, ms since the Unix epoch (source clock)
//       64      4  u32be duration, ms
//       68     32  BLAKE2b-256(chunk bytes)
//      100     32  BLAKE2b-256(header blob) the chunk needs, or 32 zero bytes
//      132     32  BLAKE2b-256(UTF-8 title) at the chunk's start, or 32 zero bytes
//      164         end
import { sodium } from '../hashing/sodium.js'
import { sign, verify } from '../hashing/sign.js'
import { infoHash, HASH_BYTES } from '../hashing/hashtree.js'

export const SIGNED_BYTES = 164
export const SIGNATURE_BYTES = 64
const DOMAIN = Buffer.from('pc-live chunk v1', 'latin1')
const STREAM_DOMAIN = Buffer.from('pc-live stream v1', 'latin1')
const ZERO = Buffer.alloc(HASH_BYTES)

/** What a signature covers besides the bytes; the manifest entry carries these fields. */
export interface ChunkClaim {
  seq: number
  /** ms since the Unix epoch */
  startMs: number
  durationMs: number
  /** BLAKE2b-256 of the chunk */
  hash: Buffer
  /** BLAKE2b-256 of the header blob the chunk needs (Ogg), if any */
  headerHash?: Buffer
  title?: string
}

export function blake2b (data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  sodium.crypto_generichash(out, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  return out
}

/**
 * The stream id: BLAKE2b-256("pc-live stream v1" || public key or nothing || nonce).
 * The nonce (16 random bytes per show, kept in the manifest) makes every show a new
 * stream, so a chunk of an earlier show with the same number cannot be replayed.
 */
export function streamIdOf (nonce: Buffer, publicKey?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  sodium.crypto_generichash_batch(out, [STREAM_DOMAIN, publicKey ?? Buffer.alloc(0), nonce])
  return out
}

/** The live swarm's tracker info-hash: derived from the stream id as an item's is from its root. */
export function liveInfoHash (streamId: Buffer): Buffer { return infoHash(streamId) }

export function signedMessage (streamId: Buffer, c: ChunkClaim): Buffer {
  if (streamId.length !== HASH_BYTES || c.hash.length !== HASH_BYTES) throw new RangeError('stream id and hash are 32 bytes')
  const m = Buffer.alloc(SIGNED_BYTES)
  DOMAIN.copy(m, 0)
  streamId.copy(m, 16)
  m.writeBigUInt64BE(BigInt(c.seq), 48)
  m.writeBigUInt64BE(BigInt(c.startMs), 56)
  m.writeUInt32BE(c.durationMs, 64)
  c.hash.copy(m, 68)
  ;(c.headerHash ?? ZERO).copy(m, 100)
  ;(c.title ? blake2b(Buffer.from(c.title, 'utf8')) : ZERO).copy(m, 132)
  return m
}

export function signChunk (streamId: Buffer, c: ChunkClaim, secretKey: Buffer): Buffer {
  return sign(signedMessage(streamId, c), secretKey)
}

export interface VerifyOptions {
  streamId: Buffer
  /** the station's key: then the signature must hold; without it the manifest's hash is trusted */
  publicKey?: Buffer
}

/**
 * Check chunk bytes against their claim (from the manifest or a peer). Without a public
 * key only the hash is checked: the claim must then come from the origin's manifest.
 */
export function verifyLiveChunk (bytes: Uint8Array, claim: ChunkClaim & { signature?: Buffer }, opts: VerifyOptions): boolean {
  if (claim.hash.length !== HASH_BYTES || !blake2b(bytes).equals(claim.hash)) return false
  if (!opts.publicKey) return true
  if (!claim.signature) return false
  return verify(claim.signature, signedMessage(opts.streamId, claim), opts.publicKey)
}

/** A header blob is good when its hash is the one a verified chunk names. */
export function verifyLiveHeader (bytes: Uint8Array, headerHash: Buffer): boolean {
  return headerHash.length === HASH_BYTES && blake2b(bytes).equals(headerHash)
}
