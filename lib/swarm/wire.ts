// The peer wire protocol (man pc-wire.7): a fixed handshake, then length-prefixed
// messages. Every length is checked against a named bound before a byte is buffered
// for it, so a peer can make us hold at most one bounded message.
//
// Handshake (52 bytes, both sides; the connecting side speaks first):
//   offset  width  field
//   0       8      magic "PCWIRE" 0x00 0x01 (name, u16 version: 1 items, 2 live shows)
//   8       20     info-hash of the swarm (lib/hashtree.ts infoHash(root))
//   28      20     peer id
//   48      2      listen port of the sender, 0 when it accepts no connections
//   50      2      flags: bit 0 (HS_PEXFULL) the sender's list of addresses is full, as a PEXFULL 1
//                  at once (send it no PEX); bit 1 (HS_AREQUEST) the sender reads AREQUEST, bit 2
//                  (HS_ASKING) it reads ASKING (an item swarm's; a live swarm's 0); the other
//                  bits 0, ignored on receipt
// Message:
//   0       4      length L of what follows (0: keep-alive, no type byte)
//   4       1      type
//   5       L-1    payload:
//     1 BITFIELD  u32 chunk count | ceil(count/8) bytes, chunk 0 in the high bit of byte 0
//     2 HAVE      u32 index
//     3 REQUEST   u32 index
//     4 CANCEL    u32 index
//     5 PIECE     u32 index | chunk bytes (≤ the swarm's chunk size)
//     6 REJECT    u32 index          (will not send it: not held, or too busy)
//     7 TREE?     (empty)            ask for the hash tree
//     8 TREE      pc-hashtree(5) text, empty when the sender has none
//     9 PEX       u16 n | n × (u8 family 4|6, 4|16 address bytes, u16 port)
//    10 GOODBYE   (empty)            the sender is leaving; finish nothing more
//    17 ASKED     u32 first | u16 n  the sender has asked the origin for chunks first..first+n-1,
//                                    or a peer told it so in an ASKED (it will hold them soon)
//    18 PEXFULL   u8 full            1: the sender's list of addresses is full, PEX tells it
//                                    nothing (send it none); 0: it has room again. A peer
//                                    that does not know it skips it and keeps sending PEX
//    19 AREQUEST  u32 index          a REQUEST whose sender has another holder at hand and time
//                                    to ask it: a line past its fair share may answer REJECT.
//                                    Sent only to a peer whose handshake set HS_AREQUEST
//    20 ASKING    u32 first | u16 n  an ASKED made at a designated turn, a moment before the
//                 | u32 score        origin is asked (scheduler.ts CLAIM_INTENT_MS): score is
//                                    the asker's for the chunks' block (picker.ts score), the
//                                    higher asks, the lower stands down. Passed on as it came;
//                                    sent only to a peer whose handshake set HS_ASKING, as
//                                    ASKED to others
//   live swarms (version 2) use these instead of 1-6 (chunks by sequence number):
//    11 LHAVE     u32 seq            the sender holds verified live chunk seq
//    12 LREQUEST  u32 seq
//    13 LCANCEL   u32 seq
//    14 LREJECT   u32 seq            not held (any more), or too busy
//    15 LPIECE    u32 seq | u64 start ms | u32 duration ms | 32 hash | 32 header hash or 0s
//                 | 64 signature or 0s | u16 T | T title (UTF-8) | u32 H | H header blob
//                 | chunk bytes: the claim pc-live(5) signs, then what it covers
//   others: ignored (a later version's message)
import { isIPv4, isIPv6 } from 'node:net'
import { MAX_CHUNK_BYTES, MAX_LEAVES, INFO_HASH_BYTES } from '../hashing/hashtree.js'
import { MAX_HEADER_BLOB_BYTES } from '../live/manifest.js'

export const WIRE_MAGIC = Buffer.from([0x50, 0x43, 0x57, 0x49, 0x52, 0x45, 0x00, 0x01])
/** the wire version of item swarms and of live swarms: each refuses the other's handshake */
export const WIRE_VERSION = 1
export const WIRE_VERSION_LIVE = 2
/** a live chunk is a second or so of media: 8 MiB holds several seconds of HD video */
export const MAX_LIVE_CHUNK_BYTES = 8 * 1024 * 1024
/** a header blob (pc-live(5)): pc-live warns when a source's is larger */
export const MAX_LIVE_HEADER_BYTES = MAX_HEADER_BLOB_BYTES
export const MAX_LIVE_TITLE_BYTES = 1024
const LIVE_PIECE_FIXED = 150
export const HANDSHAKE_BYTES = 52
export const PEER_ID_BYTES = 20
/** a hash tree of MAX_TREE_LEAVES leaves is about this big in text; larger ones are refused on the wire */
export const MAX_TREE_BYTES = 4 * 1024 * 1024
/** up to this many addresses in one PEX message (BEP 11 suggests 50 per minute) */
export const MAX_PEX_PEERS = 200
/** one PIECE of the largest chunk size, or the largest tree, whichever is larger */
export const MAX_MESSAGE_BYTES = Math.max(5 + MAX_CHUNK_BYTES, 1 + MAX_TREE_BYTES)
export const MAX_BITFIELD_CHUNKS = MAX_LEAVES

export const M_BITFIELD = 1
export const M_HAVE = 2
export const M_REQUEST = 3
export const M_CANCEL = 4
export const M_PIECE = 5
export const M_REJECT = 6
export const M_TREE_REQUEST = 7
export const M_TREE = 8
export const M_PEX = 9
export const M_GOODBYE = 10
export const M_LHAVE = 11
export const M_LREQUEST = 12
export const M_LCANCEL = 13
export const M_LREJECT = 14
export const M_LPIECE = 15
export const M_LKEYS = 16
export const M_ASKED = 17
export const M_PEXFULL = 18
export const M_AREQUEST = 19
export const M_ASKING = 20
/** designation keys in one LKEYS */
export const MAX_LKEYS = 256

export interface Handshake {
  infoHash: Buffer
  peerId: Buffer
  port: number
  /** WIRE_VERSION unless said */
  version?: number
  /**
   * the sender's list of addresses was full when it sent this (flag HS_PEXFULL): as a
   * PEXFULL 1 before any message, so the newcomer's first PEX is not sent; a peer that
   * reads no flags sends it anyway and is answered PEXFULL 1 as before
   */
  pexFull?: boolean
  /**
   * the sender reads AREQUEST (flag HS_AREQUEST): it may be sent one instead of a REQUEST.
   * An item swarm's handshake says so; a peer that reads no flags is sent REQUEST only
   */
  altRequests?: boolean
  /**
   * the sender reads ASKING (flag HS_ASKING): a claim made at a designated turn is sent it
   * with its asker's score. An item swarm's handshake says so; a peer that reads no flags
   * is sent ASKED instead
   */
  asking?: boolean
}

/** the handshake's flag: the sender's list of addresses is full (Handshake.pexFull) */
export const HS_PEXFULL = 1
/** the handshake's flag: the sender reads AREQUEST (Handshake.altRequests) */
export const HS_AREQUEST = 2
/** the handshake's flag: the sender reads ASKING (Handshake.asking) */
export const HS_ASKING = 4

/** A live chunk on the wire: its claim (what the station signs) and its bytes. */
export interface LivePiece {
  type: 'live-piece'
  seq: number
  startMs: number
  durationMs: number
  hash: Buffer
  headerHash?: Buffer
  signature?: Buffer
  title?: string
  /** the header blob the chunk needs (Ogg), sent with it */
  header?: Buffer
  data: Buffer
}
export interface PeerAddress { host: string, port: number }

export type Message =
  | { type: 'keepalive' }
  | { type: 'bitfield', count: number, bits: Buffer }
  | { type: 'have' | 'cancel' | 'reject', index: number }
  /** `alt`: the sender has another holder at hand and time to ask it (AREQUEST; a REQUEST without) */
  | { type: 'request', index: number, alt?: boolean }
  | { type: 'piece', index: number, data: Buffer }
  | { type: 'tree-request' }
  | { type: 'tree', text: string }
  | { type: 'pex', peers: PeerAddress[] }
  | { type: 'goodbye' }
  /**
   * the sender has asked the origin for chunks first..first+count-1, or was told so by a peer
   * (an item's swarm); `score`: at a designated turn, a moment before (ASKING), with the
   * asker's score for their block
   */
  | { type: 'asked', first: number, count: number, score?: number }
  /** the sender's list of addresses is full (PEX brings it nothing), or has room again: PEXFULL */
  | { type: 'pex-full', full: boolean }
  | { type: 'live-have' | 'live-request' | 'live-cancel' | 'live-reject', seq: number }
  /** the designation keys (picker.ts peerKey) of the sender's peers in a live swarm */
  | { type: 'live-keys', keys: number[] }
  | LivePiece

/** A protocol violation by the remote side: the connection is dropped. */
export class WireError extends Error {}

export function encodeHandshake (h: Handshake): Buffer {
  const b = Buffer.alloc(HANDSHAKE_BYTES)
  WIRE_MAGIC.copy(b, 0)
  b.writeUInt16BE(h.version ?? WIRE_VERSION, 6)
  h.infoHash.copy(b, 8, 0, INFO_HASH_BYTES)
  h.peerId.copy(b, 28, 0, PEER_ID_BYTES)
  b.writeUInt16BE(h.port, 48)
  b.writeUInt16BE((h.pexFull === true ? HS_PEXFULL : 0) | (h.altRequests === true ? HS_AREQUEST : 0) | (h.asking === true ? HS_ASKING : 0), 50)
  return b
}

/** Decode a handshake of a version we speak (1 or 2); the swarm it names checks it is its own. */
export function decodeHandshake (b: Buffer): Handshake {
  if (b.length !== HANDSHAKE_BYTES) throw new WireError('short handshake')
  if (!b.subarray(0, 6).equals(WIRE_MAGIC.subarray(0, 6))) throw new WireError('bad handshake magic')
  const v = b.readUInt16BE(6)
  if (v !== WIRE_VERSION && v !== WIRE_VERSION_LIVE) throw new WireError(`wire version ${v}, not one this peer speaks`)
  const h: Handshake = { infoHash: Buffer.from(b.subarray(8, 28)), peerId: Buffer.from(b.subarray(28, 48)), port: b.readUInt16BE(48) }
  if (v !== WIRE_VERSION) h.version = v
  const flags = b.readUInt16BE(50)
  if ((flags & HS_PEXFULL) !== 0) h.pexFull = true
  if ((flags & HS_AREQUEST) !== 0) h.altRequests = true
  if ((flags & HS_ASKING) !== 0) h.asking = true
  return h
}

function header (type: number, payload: number): Buffer {
  const b = Buffer.allocUnsafe(5 + payload)
  b.writeUInt32BE(1 + payload, 0)
  b[4] = type
  return b
}

const INDEX_TYPES = { have: M_HAVE, request: M_REQUEST, cancel: M_CANCEL, reject: M_REJECT } as const
const LIVE_TYPES = { 'live-have': M_LHAVE, 'live-request': M_LREQUEST, 'live-cancel': M_LCANCEL, 'live-reject': M_LREJECT } as const

export function encodeMessage (m: Message): Buffer {
  switch (m.type) {
    case 'keepalive': return Buffer.alloc(4)
    case 'bitfield': {
      const b = header(M_BITFIELD, 4 + m.bits.length)
      b.writeUInt32BE(m.count, 5); m.bits.copy(b, 9)
      return b
    }
    case 'have': case 'request': case 'cancel': case 'reject': {
      const b = header(m.type === 'request' && m.alt === true ? M_AREQUEST : INDEX_TYPES[m.type], 4)
      b.writeUInt32BE(m.index, 5)
      return b
    }
    case 'piece': {
      const b = encodePieceHeader(m.index, m.data.length)
      return Buffer.concat([b, m.data])
    }
    case 'tree-request': return header(M_TREE_REQUEST, 0)
    case 'tree': {
      const t = Buffer.from(m.text)
      if (t.length > MAX_TREE_BYTES) throw new RangeError(`tree longer than ${MAX_TREE_BYTES} bytes`)
      const b = header(M_TREE, t.length); t.copy(b, 5)
      return b
    }
    case 'pex': {
      const list = m.peers.filter(p => isIPv4(p.host) || isIPv6(p.host)).slice(0, MAX_PEX_PEERS)
      const parts: Buffer[] = []
      for (const p of list) {
        const v4 = isIPv4(p.host)
        const e = Buffer.alloc(v4 ? 7 : 19)
        e[0] = v4 ? 4 : 6
        if (v4) p.host.split('.').forEach((o, i) => { e[1 + i] = Number(o) })
        else ipv6Bytes(p.host).copy(e, 1)
        e.writeUInt16BE(p.port, e.length - 2)
        parts.push(e)
      }
      const body = Buffer.concat(parts)
      const b = header(M_PEX, 2 + body.length)
      b.writeUInt16BE(list.length, 5); body.copy(b, 7)
      return b
    }
    case 'goodbye': return header(M_GOODBYE, 0)
    case 'asked': {
      const b = header(m.score === undefined ? M_ASKED : M_ASKING, m.score === undefined ? 6 : 10)
      b.writeUInt32BE(m.first, 5); b.writeUInt16BE(m.count, 9)
      if (m.score !== undefined) b.writeUInt32BE(m.score, 11)
      return b
    }
    case 'pex-full': {
      const b = header(M_PEXFULL, 1)
      b[5] = m.full ? 1 : 0
      return b
    }
    case 'live-have': case 'live-request': case 'live-cancel': case 'live-reject': {
      const b = header(LIVE_TYPES[m.type], 4)
      b.writeUInt32BE(m.seq, 5)
      return b
    }
    case 'live-piece': return Buffer.concat([encodeLivePieceHead(m), m.header ?? Buffer.alloc(0), m.data])
    case 'live-keys': {
      const keys = m.keys.slice(0, MAX_LKEYS)
      const b = header(M_LKEYS, 2 + 4 * keys.length)
      b.writeUInt16BE(keys.length, 5)
      keys.forEach((k, i) => b.writeUInt32BE(k >>> 0, 7 + 4 * i))
      return b
    }
  }
}

/** An LPIECE up to its header blob (which follows, then the chunk bytes). */
export function encodeLivePieceHead (m: LivePiece): Buffer {
  const title = Buffer.from(m.title ?? '')
  const hl = m.header?.length ?? 0
  if (title.length > MAX_LIVE_TITLE_BYTES || hl > MAX_LIVE_HEADER_BYTES || m.data.length > MAX_LIVE_CHUNK_BYTES) throw new RangeError('live piece over its bounds')
  const h = Buffer.alloc(5 + LIVE_PIECE_FIXED + title.length)
  h.writeUInt32BE(1 + LIVE_PIECE_FIXED + title.length + hl + m.data.length, 0)
  h[4] = M_LPIECE
  h.writeUInt32BE(m.seq, 5)
  h.writeBigUInt64BE(BigInt(m.startMs), 9)
  h.writeUInt32BE(m.durationMs, 17)
  m.hash.copy(h, 21)
  m.headerHash?.copy(h, 53)
  m.signature?.copy(h, 85)
  h.writeUInt16BE(title.length, 149)
  title.copy(h, 151)
  h.writeUInt32BE(hl, 151 + title.length)
  return h
}

function decodeLivePiece (p: Buffer): LivePiece {
  if (p.length < LIVE_PIECE_FIXED) throw new WireError('short LPIECE')
  const t = p.readUInt16BE(144)
  if (t > MAX_LIVE_TITLE_BYTES || p.length < LIVE_PIECE_FIXED + t) throw new WireError('bad LPIECE title')
  const hl = p.readUInt32BE(146 + t)
  if (hl > MAX_LIVE_HEADER_BYTES || p.length < LIVE_PIECE_FIXED + t + hl) throw new WireError('bad LPIECE header blob')
  const at = LIVE_PIECE_FIXED + t + hl
  if (p.length - at > MAX_LIVE_CHUNK_BYTES) throw new WireError('LPIECE chunk too long')
  const start = p.readBigUInt64BE(4)
  if (start > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError('bad LPIECE start')
  const zero = (b: Buffer): boolean => b.every(x => x === 0)
  const m: LivePiece = {
    type: 'live-piece', seq: p.readUInt32BE(0), startMs: Number(start), durationMs: p.readUInt32BE(12),
    hash: Buffer.from(p.subarray(16, 48)), data: p.subarray(at),
  }
  if (!zero(p.subarray(48, 80))) m.headerHash = Buffer.from(p.subarray(48, 80))
  if (!zero(p.subarray(80, 144))) m.signature = Buffer.from(p.subarray(80, 144))
  if (t) m.title = p.subarray(146, 146 + t).toString('utf8')
  if (hl) m.header = Buffer.from(p.subarray(150 + t, 150 + t + hl))
  return m
}

/** The 9 bytes before a PIECE's chunk, for senders that write the chunk separately. */
export function encodePieceHeader (index: number, length: number): Buffer {
  const b = header(M_PIECE, 4)
  b.writeUInt32BE(5 + length, 0)
  b.writeUInt32BE(index, 5)
  return b
}

function ipv6Bytes (host: string): Buffer {
  const out = Buffer.alloc(16)
  const [l, r] = host.includes('::') ? host.split('::') : [host, undefined]
  const left = l ? l.split(':') : []
  const right = r ? r.split(':') : []
  const groups = r === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  groups.slice(0, 8).forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2))
  return out
}

function ipv6Text (b: Buffer): string {
  const g: string[] = []
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16))
  return g.join(':')
}

/**
 * Incremental decoder: push bytes in any split; returns the handshake once and then
 * whole messages. `maxMessage` bounds a message's length (a swarm lowers it to its
 * chunk size once it knows the tree). Throws WireError on any violation.
 */
export class WireDecoder {
  private parts: Buffer[] = []
  private bytes = 0
  handshake?: Handshake
  constructor (public maxMessage = MAX_MESSAGE_BYTES) {}

  private take (n: number): Buffer {
    if (this.parts[0].length >= n) {
      const head = this.parts[0]
      const out = head.subarray(0, n)
      if (head.length === n) this.parts.shift(); else this.parts[0] = head.subarray(n)
      this.bytes -= n
      return out
    }
    const all = Buffer.concat(this.parts, this.bytes)
    this.parts = all.length > n ? [all.subarray(n)] : []
    this.bytes -= n
    return all.subarray(0, n)
  }

  private peekU32 (): number {
    if (this.parts[0].length >= 4) return this.parts[0].readUInt32BE(0)
    return Buffer.concat(this.parts, this.bytes).readUInt32BE(0)
  }

  /** Feed bytes; returns what became complete. A handshake is returned as the first item. */
  push (chunk: Buffer): Array<Message | { type: 'handshake', handshake: Handshake }> {
    if (chunk.length) { this.parts.push(chunk); this.bytes += chunk.length }
    const out: Array<Message | { type: 'handshake', handshake: Handshake }> = []
    if (!this.handshake) {
      // check the magic as soon as bytes arrive, so garbage is refused at once
      const head = WIRE_MAGIC.subarray(0, Math.min(6, this.bytes))
      const have = Buffer.concat(this.parts, this.bytes).subarray(0, head.length)
      if (!have.equals(head)) throw new WireError('bad handshake magic')
      if (this.bytes < HANDSHAKE_BYTES) return out
      this.handshake = decodeHandshake(Buffer.from(this.take(HANDSHAKE_BYTES)))
      out.push({ type: 'handshake', handshake: this.handshake })
    }
    while (this.bytes >= 4) {
      const len = this.peekU32()
      if (len > this.maxMessage) throw new WireError(`message length ${len} exceeds ${this.maxMessage}`)
      if (this.bytes < 4 + len) break
      this.take(4)
      if (len === 0) { out.push({ type: 'keepalive' }); continue }
      const body = this.take(len)
      const m = decodeBody(body[0], body.subarray(1))
      if (m) out.push(m)
    }
    return out
  }
}

function decodeBody (type: number, p: Buffer): Message | undefined {
  const exactly = (n: number, name: string): void => { if (p.length !== n) throw new WireError(`${name} of ${p.length} bytes, expected ${n}`) }
  switch (type) {
    case M_BITFIELD: {
      if (p.length < 4) throw new WireError('short BITFIELD')
      const count = p.readUInt32BE(0)
      if (count > MAX_BITFIELD_CHUNKS) throw new WireError(`BITFIELD of ${count} chunks`)
      exactly(4 + Math.ceil(count / 8), 'BITFIELD')
      return { type: 'bitfield', count, bits: Buffer.from(p.subarray(4)) }
    }
    case M_HAVE: exactly(4, 'HAVE'); return { type: 'have', index: p.readUInt32BE(0) }
    case M_REQUEST: exactly(4, 'REQUEST'); return { type: 'request', index: p.readUInt32BE(0) }
    case M_AREQUEST: exactly(4, 'AREQUEST'); return { type: 'request', index: p.readUInt32BE(0), alt: true }
    case M_CANCEL: exactly(4, 'CANCEL'); return { type: 'cancel', index: p.readUInt32BE(0) }
    case M_REJECT: exactly(4, 'REJECT'); return { type: 'reject', index: p.readUInt32BE(0) }
    case M_PIECE:
      if (p.length < 4) throw new WireError('short PIECE')
      return { type: 'piece', index: p.readUInt32BE(0), data: p.subarray(4) }
    case M_TREE_REQUEST: exactly(0, 'TREE?'); return { type: 'tree-request' }
    case M_TREE:
      if (p.length > MAX_TREE_BYTES) throw new WireError('TREE too long')
      return { type: 'tree', text: p.toString('utf8') }
    case M_PEX: {
      if (p.length < 2) throw new WireError('short PEX')
      const n = p.readUInt16BE(0)
      if (n > MAX_PEX_PEERS) throw new WireError(`PEX of ${n} peers`)
      const peers: PeerAddress[] = []
      let o = 2
      for (let i = 0; i < n; i++) {
        const fam = p[o]
        const alen = fam === 4 ? 4 : fam === 6 ? 16 : -1
        if (alen < 0 || o + 1 + alen + 2 > p.length) throw new WireError('bad PEX entry')
        const a = p.subarray(o + 1, o + 1 + alen)
        const host = fam === 4 ? [...a].join('.') : ipv6Text(a)
        const port = p.readUInt16BE(o + 1 + alen)
        if (port > 0) peers.push({ host, port })
        o += 3 + alen
      }
      if (o !== p.length) throw new WireError('trailing bytes in PEX')
      return { type: 'pex', peers }
    }
    case M_GOODBYE: exactly(0, 'GOODBYE'); return { type: 'goodbye' }
    case M_ASKED: exactly(6, 'ASKED'); return { type: 'asked', first: p.readUInt32BE(0), count: p.readUInt16BE(4) }
    case M_ASKING: exactly(10, 'ASKING'); return { type: 'asked', first: p.readUInt32BE(0), count: p.readUInt16BE(4), score: p.readUInt32BE(6) }
    case M_PEXFULL:
      exactly(1, 'PEXFULL')
      if (p[0] > 1) throw new WireError(`PEXFULL of ${p[0]}`)
      return { type: 'pex-full', full: p[0] === 1 }
    case M_LHAVE: exactly(4, 'LHAVE'); return { type: 'live-have', seq: p.readUInt32BE(0) }
    case M_LREQUEST: exactly(4, 'LREQUEST'); return { type: 'live-request', seq: p.readUInt32BE(0) }
    case M_LCANCEL: exactly(4, 'LCANCEL'); return { type: 'live-cancel', seq: p.readUInt32BE(0) }
    case M_LREJECT: exactly(4, 'LREJECT'); return { type: 'live-reject', seq: p.readUInt32BE(0) }
    case M_LPIECE: return decodeLivePiece(p)
    case M_LKEYS: {
      if (p.length < 2) throw new WireError('short LKEYS')
      const n = p.readUInt16BE(0)
      if (n > MAX_LKEYS) throw new WireError(`LKEYS of ${n} keys`)
      exactly(2 + 4 * n, 'LKEYS')
      const keys: number[] = []
      for (let i = 0; i < n; i++) keys.push(p.readUInt32BE(2 + 4 * i))
      return { type: 'live-keys', keys }
    }
    default: return undefined
  }
}

export function setBit (bits: Uint8Array, i: number): void { bits[i >> 3] |= 0x80 >> (i & 7) }
export function getBit (bits: Uint8Array, i: number): boolean { return (bits[i >> 3] & (0x80 >> (i & 7))) !== 0 }
