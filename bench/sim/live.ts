// The live scenario: a show cut into signed chunks at the stream's rate (as pc-live does),
// served by the simulated web server with its bounded upload, and one real LiveSwarm
// (lib/swarm/live-swarm.ts) per listener at the live edge, over the simulated network.
// Playback is pc-icecast's for a live item: each chunk plays at its start on the source
// clock plus a fixed delay (--live-delay); a chunk not held by then is a gap. The source
// sends in real time, so a chunk is cut (and at the origin) one chunk after its start.
import { randomBytes } from 'node:crypto'
import { LiveSwarm, type LiveSwarmOptions } from '../../lib/swarm/live-swarm.js'
import type { LiveOriginSource } from '../../lib/swarm/live-origin.js'
import { LIVE_FETCHERS, LIVE_KEEP_CHUNKS } from '../../lib/swarm/live-fetch.js'
import { blake2b, liveInfoHash, signChunk, streamIdOf } from '../../lib/live/chunk-sign.js'
import { isoMs, type ChunkEntry, type LiveManifest } from '../../lib/live/manifest.js'
import { LISTED_CHUNKS } from '../../lib/live/window.js'
import { generateKeyPair } from '../../lib/hashing/sign.js'
import type { LivePiece, PeerAddress } from '../../lib/swarm/wire.js'
import { EXPIRY_FACTOR } from '../../lib/tracker/swarms.js'
import { DEFAULT_INTERVAL_S } from '../../lib/tracker/client.js'
import { SimClock } from './clock.js'
import { Announcer } from '../../lib/swarm/announce.js'
import { Host, SimNet, SimOrigin, SimTracker, UNKEPT } from './net.js'
import { Rng, homeHost, HOME } from './population.js'
import { summary, type ScenarioOptions, type Result } from './scenario.js'

/** pc-live's default chunk (--chunk 1s) */
export const LIVE_CHUNK_MS = 1000
/** pc-icecast's default --live-delay */
export const LIVE_DELAY_MS = 3000
/** a claim file (SEQ.json) and a manifest entry are a few hundred bytes */
const CLAIM_BYTES = 400
/** the manifest's fields besides its chunks (stream id, nonce, key, info-hash, format…) */
const MANIFEST_FIELDS_BYTES = 600
const PORT = 6881
/** live-fetch.ts accepts this many connections (MAX_LIVE_CONNECTIONS there) */
const LIVE_MAX_INCOMING = 128

interface Cut { entry: ChunkEntry, bytes: Buffer, at: number }

/** The show's chunks, cut one per LIVE_CHUNK_MS on the clock from `t0`, signed with the station's key. */
class Show {
  readonly cuts: Cut[] = []
  readonly kp = generateKeyPair()
  readonly streamId = streamIdOf(randomBytes(16), this.kp.publicKey)
  constructor (readonly clock: SimClock, readonly chunkBytes: number, readonly t0: number, readonly count: number) {
    const make = (): void => {
      const seq = this.cuts.length
      const bytes = randomBytes(chunkBytes)
      const claim = { seq, startMs: t0 + seq * LIVE_CHUNK_MS, durationMs: LIVE_CHUNK_MS, hash: blake2b(bytes) }
      const entry: ChunkEntry = { seq, name: `${seq}.mp3`, start: isoMs(claim.startMs), duration: LIVE_CHUNK_MS, size: bytes.length, hash: claim.hash.toString('hex'), sig: signChunk(this.streamId, claim, this.kp.secretKey).toString('hex') }
      this.cuts.push({ entry, bytes, at: clock.now() })
      if (this.cuts.length < count) clock.setTimeout(make, LIVE_CHUNK_MS)
    }
    // chunk SEQ is cut when its second is over
    clock.setTimeout(make, t0 + LIVE_CHUNK_MS - clock.now())
  }

  /** the web server's side: claim files, chunk files and the manifest, through the origin's bounded upload */
  /** what the web server was asked for, by kind: requests and bytes sent */
  readonly asked: Record<'claim' | 'claim404' | 'chunk' | 'manifest', { requests: number, bytes: number }> = {
    claim: { requests: 0, bytes: 0 }, claim404: { requests: 0, bytes: 0 }, chunk: { requests: 0, bytes: 0 }, manifest: { requests: 0, bytes: 0 },
  }

  source (origin: SimOrigin, h: Host): LiveOriginSource {
    const counter = { bytes: 0, requests: 0 }
    const send = async (n: number, kind: keyof Show['asked']): Promise<boolean> => {
      counter.requests++
      this.asked[kind].requests++
      await origin.send(h, n)
      if (!h.online) return false
      counter.bytes += n
      this.asked[kind].bytes += n
      return true
    }
    return {
      counter,
      fetchClaim: async (seq) => {
        const c = this.cuts[seq]
        if (!await send(c ? CLAIM_BYTES : 200, c ? 'claim' : 'claim404')) return null
        return c ? { ...c.entry } : null
      },
      fetchChunk: async (e) => {
        const c = this.cuts[e.seq]
        if (!c || !await send(c.bytes.length, 'chunk')) return null
        return c.bytes
      },
      fetchHeader: async () => null,
      fetchManifest: async () => {
        await send(MANIFEST_FIELDS_BYTES + CLAIM_BYTES * Math.min(LISTED_CHUNKS, this.cuts.length), 'manifest')
        return { ended: this.cuts.length >= this.count, chunks: this.cuts.slice(-LISTED_CHUNKS).map(c => c.entry) } as unknown as LiveManifest
      },
    }
  }
}

interface LiveListener { host: Host, joinAt: number, leaveAt: number, first: number, heldAt: Map<number, number>, startedAt: number }

export async function runLive (o: ScenarioOptions): Promise<Result> {
  const wall0 = performance.now()
  const rng = new Rng(o.seed)
  const chunkBytes = Math.round(o.bitrate / 8 * LIVE_CHUNK_MS / 1000)
  const count = Math.round(o.durationMs / LIVE_CHUNK_MS)
  const streamBytes = chunkBytes * count
  const byteRate = o.bitrate / 8 / 1000
  const clock = new SimClock(o.quantumMs)
  const net = new SimNet(clock, rng)
  net.maxIncoming = o.maxIncoming ?? LIVE_MAX_INCOMING
  const origin = new SimOrigin(clock, net, [], Number.isFinite(o.originRateFactor) ? o.originRateFactor * byteRate : Infinity, 20)
  const tracker = new SimTracker(rng, o.numwant)
  const T0 = 1000
  const show = new Show(clock, chunkBytes, T0, count)
  const infoHash = liveInfoHash(show.streamId)
  const deadlineMs = Math.max(o.deadlineMs, 2 * LIVE_CHUNK_MS) // as pc-fetch sets it for a live item
  const listeners: LiveListener[] = []
  for (let k = 0; k < o.listeners; k++) {
    const spec = homeHost(rng)
    // tuning in once the show has its first chunk
    let joinAt = o.arrival === 'flash' ? T0 + LIVE_CHUNK_MS + rng.exp(10_000) : T0 + LIVE_CHUNK_MS + rng.next() * o.durationMs
    joinAt = Math.min(joinAt, T0 + o.durationMs - 5000)
    const leaveAt = o.churn ? joinAt + rng.exp(HOME.sessionMeanMs) : Infinity
    const goodbye = rng.next() < HOME.goodbyeShare
    const peerId = Buffer.concat([Buffer.from('-PC0001-'), rng.bytes(12)])
    const host = new Host(k, { host: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, port: PORT }, spec)
    net.add(host)
    const l: LiveListener = { host, joinAt, leaveAt, first: -1, heldAt: new Map(), startedAt: NaN }
    listeners.push(l)
    clock.setTimeout(() => { void join(l, peerId, goodbye) }, joinAt)
  }

  async function join (l: LiveListener, peerId: Buffer, goodbye: boolean): Promise<void> {
    const h = l.host
    const src = show.source(origin, h)
    let ann: Announcer | undefined
    // maxPeers is read by the swarm's Members (members.ts MembersHost) from these options;
    // LiveSwarmOptions does not name it yet, so pc-fetch cannot set it for a live item
    const lo: LiveSwarmOptions & { maxPeers?: number } = {
      infoHash, peerId, port: PORT, streamId: show.streamId, publicKey: show.kp.publicKey,
      chunkMs: LIVE_CHUNK_MS, deadlineMs, fetchers: LIVE_FETCHERS, keepChunks: LIVE_KEEP_CHUNKS, tracked: true,
      clock, random: () => rng.next(), connect: net.connector(h), origin: src, warn: () => {}, debug: () => {}, maxPeers: o.maxPeers,
    }
    const sw = new LiveSwarm(lo)
    h.live = sw
    sw.stats.peersSeen = UNKEPT
    sw.on('chunk', (p: LivePiece) => { if (!l.heldAt.has(p.seq)) l.heldAt.set(p.seq, clock.now()) })
    // as pc-fetch: the manifest says the show ended and everything listed was played: leave, saying goodbye
    sw.once('ended', () => { if (h.online) { void net.leave(h, true); void ann?.stop() } })
    // pc-fetch reads the manifest, then joins at its newest chunk
    const asked = clock.now()
    const m = await src.fetchManifest()
    const manifestMs = clock.now() - asked
    if (!h.online) return
    const newest = m.chunks[m.chunks.length - 1]
    if (!newest) return
    l.first = newest.seq
    l.startedAt = clock.now()
    // the announce loop: pc-fetch's own (lib/swarm/announce.ts), on the simulated tracker
    ann = new Announcer('sim:tracker', sw, tracker.announceHost(h, clock))
    void ann.start()
    sw.start(newest, manifestMs)
    if (l.leaveAt < T0 + o.durationMs + o.tailMs) {
      clock.setTimeout(() => {
        void net.leave(h, goodbye)
        if (goodbye) void ann.stop(); else clock.setTimeout(() => tracker.stopped(h.addr), EXPIRY_FACTOR * DEFAULT_INTERVAL_S * 1000)
      }, l.leaveAt - clock.now())
    }
  }

  const end = T0 + o.durationMs + o.tailMs
  let lastShown = 0
  for (let t = 0; t < end; t += 5000) {
    await clock.run(Math.min(end, t + 5000))
    if (o.progress && performance.now() - lastShown > 5000) {
      lastShown = performance.now()
      o.progress(`live N=${o.listeners}: ${(clock.now() / 1000).toFixed(0)} of ${(end / 1000).toFixed(0)} s simulated, ${((performance.now() - wall0) / 1000).toFixed(0)} s wall, origin ${(origin.bytesSent / streamBytes).toFixed(2)}x, ${clock.pending} timers`)
    }
  }
  const wall = (performance.now() - wall0) / 1000
  const t = tracker.load()
  o.progress?.(`tracker: ${t.requests} announces from ${t.hosts} listeners (${t.perHostMean.toFixed(2)} each, at most ${t.perHostMax}), at most ${t.peakPerSecond} in one second (at ${t.peakAtS} s)`)

  // playback at the chunk's start + the live delay, as pc-icecast plays it (its MARK time +
  // --live-delay); a chunk held later (or never) while listening is a gap of one chunk
  const delayMs = o.liveDelayMs ?? LIVE_DELAY_MS
  const playAt = (seq: number): number => show.cuts[seq].at - LIVE_CHUNK_MS + delayMs
  let stalled = 0
  let gapMs = 0
  const firstAudio: number[] = []
  const up: number[] = []
  for (const l of listeners) {
    up.push(l.host.bytesSent / streamBytes)
    if (l.first < 0) continue
    const f = l.heldAt.get(l.first)
    if (f !== undefined) firstAudio.push(Math.max(f, playAt(l.first)) - l.joinAt)
    let gaps = 0
    for (let seq = l.first; seq < show.cuts.length; seq++) {
      const due = playAt(seq)
      if (due >= l.leaveAt) break
      const at = l.heldAt.get(seq)
      if (at === undefined || at > due) gaps++
    }
    if (gaps) stalled++
    gapMs += gaps * LIVE_CHUNK_MS
  }
  const books = { receivedFromPeers: 0, sentByPeers: 0, uploadedBySwarms: 0, receivedFromOrigin: 0 }
  for (const l of listeners) {
    books.sentByPeers += l.host.bytesSent
    const s = l.host.live?.stats
    if (s) { books.receivedFromPeers += s.bytesFromPeers; books.uploadedBySwarms += s.bytesUploaded; books.receivedFromOrigin += s.bytesFromOrigin }
  }
  const originChunks = { designated: 0, backup: 0, fallback: 0, alone: 0 }
  for (const l of listeners) for (const [k, v] of Object.entries(l.host.live?.stats.originChunks ?? {})) originChunks[k as keyof typeof originChunks] += v
  clock.halt()
  for (const l of listeners) l.host.live?.close(false)
  return {
    ...summary({ o, itemBytes: streamBytes, count, originBytes: origin.bytesSent, stalled, listeners: listeners.length, stallMs: gapMs, firstAudio, up, completed: NaN, stayed: listeners.filter(l => l.leaveAt >= T0 + o.durationMs).length, endMs: end, wall, clock, net }),
    conservation: { ...books, deliveredByNet: net.pieceBytesDelivered, sentByOrigin: origin.bytesSent },
    originAsked: show.asked,
    originChunks,
  }
}
