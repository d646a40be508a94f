// The tracker's memory: which peers are in which swarm, with expiry and hard caps, and
// the answer to an announce or scrape (BEP 3, BEP 23 compact peers, BEP 7 peers6).
// Pure: no sockets, the clock is a parameter; lib/tracker-server.ts puts HTTP around it.
import type { BEncodable } from './bencode.js'
import { DataError } from '../core/errors.js'

/** numwant when a client gives none, and the most any client gets (BitTorrent's usual 50/200). */
export const DEFAULT_NUMWANT = 50
export const MAX_NUMWANT = 200
/** A peer is forgotten when it has missed its next announce by half an interval. */
export const EXPIRY_FACTOR = 1.5
/** the `min interval` of an answer that names fewer peers than were asked for (minIntervalS) */
export const SHORT_MIN_INTERVAL_S = 1
/**
 * The `min interval` a tracker answers: half the interval, at most 5 s. A peer with few
 * others announces again that soon (lib/swarm/announce.ts FEW_PEERS); one announce is
 * a few microseconds of this tracker's time (BENCHMARKS.md "tracker").
 * An answer naming fewer peers than were asked for (every other peer the swarm has) gives
 * SHORT_MIN_INTERVAL_S instead: the swarm is small and may be growing fast, and a peer
 * that could reach none of those named (it tuned in first; they are behind NATs) hears of
 * the next ones only by asking again. In a live show's flash crowd the first listeners,
 * behind NATs, were alone for 5 s and took their first chunks from the web server, each
 * for itself, while it was full (simulated: BENCHMARKS.md `## scale`, "Live: a listener
 * alone…").
 */
export function minIntervalS (intervalS: number, given = Infinity, asked = 0): number {
  return given < asked ? SHORT_MIN_INTERVAL_S : Math.max(1, Math.min(5, Math.floor(intervalS / 2)))
}
const EXPIRE_EVERY_MS = 1000

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

/** Kept small (about 500 bytes of heap with the map entry): the peer id lives only in `key`. */
interface PeerEntry {
  /** address, a space, the peer id in hex */
  key: string
  ip: string
  port: number
  /** the IPv4 address as a 32-bit number, or -1 for IPv6 */
  v4: number
  /** 18 compact bytes of an IPv6 peer */
  v6?: Buffer
  left: number
  uploaded: number
  downloaded: number
  expiresAt: number
}

/**
 * One swarm's peers: a map by key for updates and an array for O(1) random choice,
 * with the seeder count kept as peers come, change and go, so an announce costs
 * O(numwant), not O(peers).
 */
export class PeerSet {
  private readonly byKey = new Map<string, number>()
  private readonly list: PeerEntry[] = []
  seeders = 0

  get size (): number { return this.list.length }
  get (key: string): PeerEntry | undefined { const i = this.byKey.get(key); return i === undefined ? undefined : this.list[i] }

  set (p: PeerEntry): void {
    const i = this.byKey.get(p.key)
    if (p.left === 0) this.seeders++
    if (i === undefined) { this.byKey.set(p.key, this.list.length); this.list.push(p); return }
    if (this.list[i].left === 0) this.seeders--
    this.list[i] = p
  }

  delete (key: string): boolean {
    const i = this.byKey.get(key)
    if (i === undefined) return false
    if (this.list[i].left === 0) this.seeders--
    const last = this.list.pop() as PeerEntry
    this.byKey.delete(key)
    if (i < this.list.length) { this.list[i] = last; this.byKey.set(last.key, i) }
    return true
  }

  /** Drop peers whose time is up; how many went. */
  expire (now: number): number {
    let gone = 0
    for (let i = this.list.length - 1; i >= 0; i--) {
      if (i < this.list.length && this.list[i].expiresAt <= now) { this.delete(this.list[i].key); gone++ }
    }
    return gone
  }

  /**
   * Up to n distinct random peers passing `ok`. A small sample of a large swarm draws
   * random indices (rejecting repeats); otherwise the passing peers are shuffled.
   */
  sample (n: number, ok: (p: PeerEntry) => boolean): PeerEntry[] {
    const len = this.list.length
    if (n <= 0 || len === 0) return []
    if (n * 4 <= len) {
      const picked = new Set<number>()
      const out: PeerEntry[] = []
      // Enough tries that a swarm where most peers pass almost always yields n.
      for (let tries = 0; tries < n * 8 && out.length < n; tries++) {
        const i = Math.floor(Math.random() * len)
        if (picked.has(i)) continue
        picked.add(i)
        if (ok(this.list[i])) out.push(this.list[i])
      }
      if (out.length === n) return out
    }
    const pool = this.list.filter(ok)
    const k = Math.min(n, pool.length)
    for (let i = 0; i < k; i++) { // partial Fisher–Yates
      const j = i + Math.floor(Math.random() * (pool.length - i))
      const t = pool[i]; pool[i] = pool[j]; pool[j] = t
    }
    return pool.slice(0, k)
  }
}

interface Swarm {
  infoHash: Buffer
  peers: PeerSet
  /** when expired peers were last dropped (ms) */
  expiredAt: number
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
      swarm = { infoHash: Buffer.from(a.infoHash), peers: new PeerSet(), expiredAt: now, completed: 0, uploadedBytes: 0, downloadedBytes: 0 }
      this.swarms.set(key, swarm)
    }
    const answer = new Map<string, BEncodable>([['interval', this.limits.intervalS], ['min interval', minIntervalS(this.limits.intervalS)]])
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
      const entry: PeerEntry = { key: peerKey, ip: a.ip, port: a.port, v4: compact.length === 6 ? compact.readUInt32BE(0) : -1, v6: compact.length === 18 ? compact : undefined, left: a.left, uploaded: a.uploaded, downloaded: a.downloaded, expiresAt: now + this.limits.intervalS * 1000 * EXPIRY_FACTOR }
      if (old || swarm.peers.size < this.limits.maxPeers) swarm.peers.set(entry)
      else warning = `swarm full (${this.limits.maxPeers} peers): you are not listed, but here are peers`
    }
    answer.set('complete', swarm.peers.seeders)
    answer.set('incomplete', swarm.peers.size - swarm.peers.seeders)
    answer.set('downloaded', swarm.completed)
    if (warning) answer.set('warning message', warning)
    const asked = Math.min(a.numwant, MAX_NUMWANT)
    const chosen = a.event === 'stopped' ? [] : this.choose(swarm, peerKey, a.left === 0, asked)
    if (a.event !== 'stopped') answer.set('min interval', minIntervalS(this.limits.intervalS, chosen.length, asked))
    if (a.compact) {
      const v4 = chosen.filter(p => p.v4 >= 0)
      const peers = Buffer.allocUnsafe(v4.length * 6)
      v4.forEach((p, i) => { peers.writeUInt32BE(p.v4, i * 6); peers.writeUInt16BE(p.port, i * 6 + 4) })
      answer.set('peers', peers)
      const v6 = chosen.filter(p => p.v6)
      if (v6.length) answer.set('peers6', Buffer.concat(v6.map(p => p.v6 as Buffer)))
    } else {
      answer.set('peers', chosen.map(p => a.noPeerId ? { ip: p.ip, port: p.port } : { ip: p.ip, port: p.port, 'peer id': Buffer.from(p.key.slice(-40), 'hex') }))
    }
    if (swarm.peers.size === 0) this.swarms.delete(key)
    return answer
  }

  /** Up to n random peers other than the asker; a seeder is not sent other seeders. */
  private choose (swarm: Swarm, self: string, seeder: boolean, n: number): PeerEntry[] {
    return swarm.peers.sample(n, p => p.key !== self && !(seeder && p.left === 0))
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
    const seeders = s.peers.seeders
    return { infoHash: key, seeders, leechers: s.peers.size - seeders, completed: s.completed, uploadedBytes: s.uploadedBytes, downloadedBytes: s.downloadedBytes }
  }

  stats (): SwarmStats[] {
    const out: SwarmStats[] = []
    for (const key of this.swarms.keys()) { const st = this.statsOf(key); if (st) out.push(st) }
    return out.sort((a, b) => (b.seeders + b.leechers) - (a.seeders + a.leechers) || a.infoHash.localeCompare(b.infoHash))
  }

  /** Drop a swarm's expired peers, at most once a second: a busy swarm is not rescanned on every announce. */
  private expire (s: Swarm, now: number, force = false): number {
    if (!force && now - s.expiredAt < EXPIRE_EVERY_MS) return 0
    s.expiredAt = now
    return s.peers.expire(now)
  }

  /** Forget expired peers and empty swarms; returns how many peers went. */
  sweep (): number {
    const now = this.now()
    let gone = 0
    for (const [key, s] of this.swarms) {
      gone += this.expire(s, now, true)
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
