// The tracker's memory: which peers are in which swarm, with expiry and hard caps, and
// the answer to an announce or scrape (BEP 3, BEP 23 compact peers, BEP 7 peers6).
// Pure: no sockets, the clock is a parameter; lib/tracker-server.ts puts HTTP around it.
import { randomInt } from 'node:crypto'
import type { BEncodable } from './bencode.js'
import { DataError } from './cli.js'

/** numwant when a client gives none, and the most any client gets (BitTorrent's usual 50/200). */
export const DEFAULT_NUMWANT = 50
export const MAX_NUMWANT = 200
/** A peer is forgotten when it has missed its next announce by half an interval. */
export const EXPIRY_FACTOR = 1.5

export type AnnounceEvent = 'started' | 'completed' | 'stopped' | 'paused' | ''

export interface Announce {
  infoHash: Buffer
  peerId: Buffer
  /** address as seen (or as allowed by the `ip` parameter) */
  ip: string
  port: number
  uploaded: number
  downloaded: number
  left: number
  event: AnnounceEvent
  numwant: number
  compact: boolean
  noPeerId: boolean
}

interface PeerEntry {
  peerId: Buffer
  ip: string
  port: number
  /** 6 bytes (IPv4) or 18 bytes (IPv6), ready for a compact answer */
  compact: Buffer
  left: number
  uploaded: number
  downloaded: number
  expiresAt: number
}

interface Swarm {
  infoHash: Buffer
  peers: Map<string, PeerEntry>
  /** `completed` events seen (scrape's `downloaded`) */
  completed: number
  /** byte counters as peers reported them, summed over increases */
  uploadedBytes: number
  downloadedBytes: number
}

export interface SwarmStats {
  infoHash: string
  seeders: number
  leechers: number
  completed: number
  uploadedBytes: number
  downloadedBytes: number
}

export interface SwarmLimits {
  intervalS: number
  maxSwarms: number
  maxPeers: number
  /** hex info-hashes this tracker serves; undefined: any */
  whitelist?: Set<string>
}

/** A refusal the client is told about in a bencoded `failure reason`. */
export class TrackerFailure extends Error {}

export function compactAddress (ip: string, port: number): Buffer | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (v4) {
    const b = Buffer.allocUnsafe(6)
    for (let i = 0; i < 4; i++) { const n = Number(v4[i + 1]); if (n > 255) return undefined; b[i] = n }
    b.writeUInt16BE(port, 4)
    return b
  }
  const words = expandIPv6(ip)
  if (!words) return undefined
  const b = Buffer.allocUnsafe(18)
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2))
  b.writeUInt16BE(port, 16)
  return b
}

function expandIPv6 (ip: string): number[] | undefined {
  if (!/^[0-9a-f:]+$/i.test(ip) || ip.length > 39) return undefined
  const halves = ip.split('::')
  if (halves.length > 2) return undefined
  const part = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) { if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined; out.push(parseInt(g, 16)) }
    return out
  }
  const a = part(halves[0]); const b = halves.length === 2 ? part(halves[1]) : []
  if (!a || !b) return undefined
  if (halves.length === 1) return a.length === 8 ? a : undefined
  if (a.length + b.length > 7) return undefined
  return [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b]
}

export class Swarms {
  private readonly swarms = new Map<string, Swarm>()
  announces = 0
  scrapes = 0
  failures = 0

  constructor (readonly limits: SwarmLimits, private readonly now: () => number = Date.now) {}

  get size (): number { return this.swarms.size }
  get peerCount (): number { let n = 0; for (const s of this.swarms.values()) n += s.peers.size; return n }

  /** Register (or remove) the peer and choose peers for it; throws TrackerFailure. */
  announce (a: Announce): Map<string, BEncodable> {
    this.announces++
    const key = a.infoHash.toString('hex')
    if (this.limits.whitelist && !this.limits.whitelist.has(key)) throw new TrackerFailure('info_hash is not on this tracker\'s whitelist')
    const now = this.now()
    let swarm = this.swarms.get(key)
    if (swarm) this.expire(swarm, now)
    if (!swarm && a.event !== 'stopped') {
      if (this.swarms.size >= this.limits.maxSwarms) this.sweep()
      if (this.swarms.size >= this.limits.maxSwarms) throw new TrackerFailure(`tracker full: ${this.limits.maxSwarms} swarms`)
      swarm = { infoHash: Buffer.from(a.infoHash), peers: new Map(), completed: 0, uploadedBytes: 0, downloadedBytes: 0 }
      this.swarms.set(key, swarm)
    }
    const answer = new Map<string, BEncodable>([['interval', this.limits.intervalS], ['min interval', Math.max(1, Math.floor(this.limits.intervalS / 2))]])
    if (!swarm) { // stopped, for a swarm we do not know
      answer.set('complete', 0); answer.set('incomplete', 0); answer.set('peers', a.compact ? Buffer.alloc(0) : [])
      return answer
    }
    // The same peer id from another address is another peer: no one can evict or move
    // a peer by replaying its id from elsewhere.
    const peerKey = a.ip + ' ' + a.peerId.toString('hex')
    const old = swarm.peers.get(peerKey)
    if (old) {
      swarm.uploadedBytes += Math.max(0, a.uploaded - old.uploaded)
      swarm.downloadedBytes += Math.max(0, a.downloaded - old.downloaded)
    } else {
      swarm.uploadedBytes += a.uploaded
      swarm.downloadedBytes += a.downloaded
    }
    let warning: string | undefined
    if (a.event === 'stopped') {
      swarm.peers.delete(peerKey)
    } else {
      if (a.event === 'completed' && (!old || old.left > 0)) swarm.completed++
      const compact = compactAddress(a.ip, a.port)
      if (!compact) throw new TrackerFailure(`cannot use address ${a.ip}`)
      const entry: PeerEntry = { peerId: Buffer.from(a.peerId), ip: a.ip, port: a.port, compact, left: a.left, uploaded: a.uploaded, downloaded: a.downloaded, expiresAt: now + this.limits.intervalS * 1000 * EXPIRY_FACTOR }
      if (old || swarm.peers.size < this.limits.maxPeers) swarm.peers.set(peerKey, entry)
      else warning = `swarm full (${this.limits.maxPeers} peers): you are not listed, but here are peers`
    }
    let seeders = 0
    for (const p of swarm.peers.values()) if (p.left === 0) seeders++
    answer.set('complete', seeders)
    answer.set('incomplete', swarm.peers.size - seeders)
    answer.set('downloaded', swarm.completed)
    if (warning) answer.set('warning message', warning)
    const chosen = a.event === 'stopped' ? [] : this.choose(swarm, peerKey, a.left === 0, Math.min(a.numwant, MAX_NUMWANT))
    if (a.compact) {
      const v4 = chosen.filter(p => p.compact.length === 6)
      const v6 = chosen.filter(p => p.compact.length === 18)
      answer.set('peers', Buffer.concat(v4.map(p => p.compact)))
      if (v6.length) answer.set('peers6', Buffer.concat(v6.map(p => p.compact)))
    } else {
      answer.set('peers', chosen.map(p => a.noPeerId ? { ip: p.ip, port: p.port } : { ip: p.ip, port: p.port, 'peer id': p.peerId }))
    }
    if (swarm.peers.size === 0) this.swarms.delete(key)
    return answer
  }

  /** Up to n random peers other than the asker; a seeder is not sent other seeders. */
  private choose (swarm: Swarm, self: string, seeder: boolean, n: number): PeerEntry[] {
    const pool: PeerEntry[] = []
    for (const [k, p] of swarm.peers) if (k !== self && !(seeder && p.left === 0)) pool.push(p)
    n = Math.min(n, pool.length)
    for (let i = 0; i < n; i++) { // partial Fisher–Yates
      const j = i + randomInt(pool.length - i)
      const t = pool[i]; pool[i] = pool[j]; pool[j] = t
    }
    return pool.slice(0, n)
  }

  /** scrape's `files` dictionary; all swarms when no info-hash is named. */
  scrape (infoHashes: Buffer[]): Map<string, BEncodable> {
    this.scrapes++
    const files = new Map<string, BEncodable>()
    const now = this.now()
    const keys = infoHashes.length ? infoHashes.map(h => h.toString('hex')) : [...this.swarms.keys()]
    for (const key of keys) {
      const s = this.swarms.get(key)
      if (s) this.expire(s, now)
      const st = this.statsOf(key)
      if (!st) continue
      files.set(Buffer.from(key, 'hex').toString('latin1'), new Map<string, BEncodable>([['complete', st.seeders], ['incomplete', st.leechers], ['downloaded', st.completed]]))
    }
    return new Map<string, BEncodable>([['files', files]])
  }

  private statsOf (key: string): SwarmStats | undefined {
    const s = this.swarms.get(key)
    if (!s) return undefined
    let seeders = 0
    for (const p of s.peers.values()) if (p.left === 0) seeders++
    return { infoHash: key, seeders, leechers: s.peers.size - seeders, completed: s.completed, uploadedBytes: s.uploadedBytes, downloadedBytes: s.downloadedBytes }
  }

  stats (): SwarmStats[] {
    const out: SwarmStats[] = []
    for (const key of this.swarms.keys()) { const st = this.statsOf(key); if (st) out.push(st) }
    return out.sort((a, b) => (b.seeders + b.leechers) - (a.seeders + a.leechers) || a.infoHash.localeCompare(b.infoHash))
  }

  private expire (s: Swarm, now: number): void {
    for (const [k, p] of s.peers) if (p.expiresAt <= now) s.peers.delete(k)
  }

  /** Forget expired peers and empty swarms; returns how many peers went. */
  sweep (): number {
    const now = this.now()
    let gone = 0
    for (const [key, s] of this.swarms) {
      const before = s.peers.size
      this.expire(s, now)
      gone += before - s.peers.size
      if (s.peers.size === 0) this.swarms.delete(key)
    }
    return gone
  }
}

/**
 * A whitelist: one info-hash (40 hex digits) at the start of each line, optionally
 * followed by whitespace and anything (a title, a URL); blank lines and `#` comments
 * are skipped. The format opentracker reads, and what `pc-hash --info-hash` prints.
 */
export function parseWhitelist (text: string, where: string): Set<string> {
  const out = new Set<string>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '')
    if (/^\s*(#.*)?$/.test(line)) continue
    const m = /^([0-9a-fA-F]{40})(\s.*)?$/.exec(line)
    if (!m) throw new DataError(`not an info-hash (40 hex digits): '${line.slice(0, 60)}'`, `${where}:${i + 1}`)
    out.add(m[1].toLowerCase())
  }
  return out
}
