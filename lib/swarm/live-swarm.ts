// One listener in a live show's swarm (pc-fetch(1) LIVE MODE): a mesh, not a tree. Every
// verified chunk is announced to every peer at once (LHAVE), each chunk is asked of whoever
// has it, newest first within the window, and every chunk held is served to peers that ask.
// The lockstep trap (everyone wants chunk n the moment it exists) is met by designation:
// per chunk the listeners rank themselves by a rendezvous score of (seq, peer id), each
// among its peers and the peers those say they have (LKEYS); the
// first `fetchers` of them take it from the origin when it is due (a little later when the
// tracker's count places them far down the whole audience), the others wait for an LHAVE,
// and anyone takes it from the origin only when it is about to miss its deadline.
// Every chunk is verified (station signature, or the origin's claim) before it is kept,
// played or served; a peer that sends one that does not verify is dropped and avoided.
// Decisions read time from a SwarmClock and reach peers through PeerLinks and the origin
// through a LiveOriginSource, so a test runs the same code under a virtual clock.
import { EventEmitter } from 'node:events'
import type { SwarmClock, TimerHandle } from './clock.js'
import type { PeerLink } from './link.js'
import { Members } from './members.js'
import { peerKey, score } from './picker.js'
import type { LiveOriginSource } from './live-origin.js'
import { MAX_LKEYS, WIRE_VERSION_LIVE, type LivePiece, type Message, type PeerAddress } from './wire.js'
import { verifyLiveChunk, verifyLiveHeader } from '../live/chunk-sign.js'
import { claimOf, type ChunkEntry } from '../live/manifest.js'

/** requests in flight to one peer */
export const LIVE_PEER_INFLIGHT = 4
/** pieces queued for upload at once, over all peers: more requests are refused (LREJECT), so the
 * first holders of a fresh chunk hand it to a few who then relay it, instead of uploading it N times */
export const LIVE_MAX_SERVING = 6
/**
 * Fewer still on a slow line: no more pieces queued at once than our line sends in this
 * share of a chunk's duration, at the time a piece took it lately (at least one). A chunk
 * fetched by a listener on a 1.5 Mbit/s line went to its first six requesters one after
 * another, 85 ms each, the sixth half a second after the first, while the others it
 * refused waited for them to relay it; the tail of the audience then got it after its play
 * time (simulated, bench/sim live, 100 listeners, server at 10 × the stream, seeds 1-2:
 * 47 and 271 s of gaps, now 11 and 14 s). A link that takes a piece at once (a socket
 * whose buffer has room) measures no time: the limit stays LIVE_MAX_SERVING.
 */
export const SERVE_BUDGET = 0.2
/**
 * A chunk asked of a peer and not in by this share of a chunk's duration (at least 500 ms)
 * is cancelled and asked of another peer that has it. Peers answer in 90 ms (median), 99 %
 * within 510 ms, 99.9 % within 610 ms (simulated, bench/sim live, 100 listeners, seeds 4
 * and 10, 42,000 requests). At two chunks, the whole time a chunk has from its due time to
 * its deadline, a listener whose peer had gone without a word, or whose line was full,
 * waited for it until the chunk was given up: every chunk a listener missed on those seeds.
 */
export const REASK_AFTER = 0.7
/** an LHAVE this far past the newest chunk we verified is not believed */
export const LIVE_MAX_AHEAD = 64
/**
 * While the source is gone (a drop, or the show's end before the manifest says so) the
 * next chunk is asked of the origin at most this often by a listener designated for it,
 * and the others at most this often (and the manifest at twice it): each interval grows
 * with the time overdue up to these, and no chunk past the first one not known to exist is
 * asked for once that one is a deadline overdue (LATE_AHEAD). Before, every listener asked for every chunk the clock said should exist (up
 * to 64 ahead) about once a second: in the in-process test three listeners sent the origin
 * 4,200 requests during a 30 s drop (47 a second each), now 66.
 */
export const DROP_POLL_DESIGNATED_MS = 2000
export const DROP_POLL_MS = 15_000
/**
 * A chunk the designated listener has not announced by BACKUP_AFTER chunks after its due
 * time is asked of the origin by the next in rank, then by the next every BACKUP_STEP
 * chunks, until everyone's fallback (deadline less a chunk). Before, a designated listener
 * gone without goodbye (its peers keep it for PEER_IDLE_MS) left its chunks to the
 * fallback, where every listener asked the web server at the same moment.
 * Not sooner: the first copy is at the origin's listener ~0.2 s after it asked, and the
 * mesh takes a few hundred ms more to bring it to a listener that does not know that one
 * (most do not: each knows ~30 of 100). At 0.6, nine backups in ten came after another
 * listener had asked the origin: its copy on its way or already in the mesh (simulated,
 * bench/sim live, 100 listeners, server at 10 x the stream, seeds 1, 4, 6: 205 of 242).
 * Seeds 1-20: 2.16 x the stream on average and 158 s of gaps at 0.6; 1.99 x, 132 s at 0.8.
 */
export const BACKUP_AFTER = 0.8
export const BACKUP_STEP = 0.2
// (Both, and STAGED_AFTER, count from a chunk's end on the source clock as the designated
// ask does (EARLY_MAX), not from the later due time measured: a first in rank gone without
// a word left its chunk to an ask 0.8 s after the chunk's end, the first copy was in the
// mesh at 1.0-1.2 s, and the mesh missed its play time (simulated, 100 listeners, seeds
// 1-20: 11 s of gaps, 3 s now; 300 listeners, seeds 1-4: 8 s, 3 s now, the server at 1.58 x
// the stream on average against 1.54 x; BENCHMARKS.md `## scale`).)
/**
 * Everyone's fallback is spread over this many chunk durations by rank, the last in rank
 * asking last: a listener that gets the chunk from a peer meanwhile does not ask. When all
 * fell back at the same moment, a chunk the designated listener had brought but the mesh
 * had not yet carried to everyone was asked of a capped web server by most of the audience
 * at once; the designated requests for the next chunks queued behind them, and the whole
 * audience fell back chunk after chunk for ~25 s (simulated, bench/sim live, 100 listeners,
 * server at 10× the stream: seeds 1-10, 14,539 s of gaps in all and 3.41× the stream; spread
 * over half a chunk 3,735 s and 2.78×; over 0.8 a chunk one seed collapsed again).
 */
export const FALLBACK_SPREAD = 0.5
/**
 * The first in rank among the peers it knows takes a chunk from the origin when it is due
 * only if its score for the chunk also places it among the first FIRST_PLACES of the whole
 * audience (the tracker's count, or the peers it knows when more): its place is estimated
 * as (1 - score / 2³²) × the audience. Otherwise it asks STAGED_AFTER of a chunk later,
 * unless a peer announced the chunk meanwhile. Each listener knows ~40-100 peers, so about
 * N / 51 were first among theirs for each chunk, and in a flash crowd, each knowing a few
 * peers, many more: simulated (bench/sim live, 100 listeners, server at 10 × the stream),
 * seed 4's crowd overran the server from the first seconds, 3,127 s of gaps, 557 s now.
 * The first in rank always asks: a chunk whose best-placed listener is estimated below
 * FIRST_PLACES (one in twenty) is asked for STAGED_AFTER late, not left to the backups.
 */
export const FIRST_PLACES = 3
/**
 * At its fallback, a chunk some peer announced (it exists) is taken from the origin only by
 * listeners whose place for it is among the first FALLBACK_PLACES of the whole audience;
 * the others wait for it from their peers, and skip it if it does not come. When a chunk
 * the designated listener brought late had not reached the audience by the fallback, every
 * listener asked a capped web server for it within half a chunk: a queue of seconds, the
 * next chunks' designated requests behind it, and the whole audience fell back for ten
 * seconds (simulated, bench/sim live, 100 listeners, server at 10 x the stream: seed 10
 * 97 % of listeners with gaps, 1,922 s; with the bound 19 %, 20 s; seeds 1-10 2.13 x the
 * stream on average, 2.27 x without). A chunk not yet known to exist is still asked for
 * by everyone in turn: that is how a listener learns that the source dropped or the show
 * ended; but beyond those places only its claim file (a few hundred bytes), and the chunk is
 * then known to exist. Asking the body too, a chunk whose designated and backup listeners
 * had brought nothing by the fallback (slow, or gone) was taken by dozens at once (simulated,
 * 100 listeners, seed 4: 248 fallback bodies, 2.16 x the stream; with the claim alone 75,
 * 1.69 x; seeds 1-20 1.555 -> 1.439 x on average).
 */
export const FALLBACK_PLACES = 16
export const STAGED_AFTER = 0.3
/**
 * A listener just tuned in that asks a tracker for peers (`tracked`), with no peer and no
 * answer from it yet, takes nothing from the origin for this long after its start: the
 * answer (a round trip or two) names the peers it then dials, and while it dials it is
 * alone (DIAL_GRACE_MS) and waits for them until its fallback. Before, every listener took
 * its first chunk, the newest the manifest listed, from the origin at once, before it knew
 * anyone, though its peers held it already: one chunk body per listener tuning in
 * (simulated, bench/sim live, 100 listeners, server at 10 × the stream, seeds 1-10: 2.74 ×
 * the stream and 676 s of gaps; with the wait 2.43 × and 487 s, seed 4's jam at its start
 * gone but more single chunks missed on the nine others: BENCHMARKS.md `## scale`).
 */
export const START_WAIT_MS = 500
/**
 * A listener tells its peers the designation keys of its own peers (LKEYS) when they
 * change, at most this often, and ranks itself for a chunk among its peers and theirs.
 * Ranked among its own peers alone (~30 of an audience of 100), a listener was first for a
 * chunk while two or three it did not know were first among theirs: 1.33 designated origin
 * bodies a chunk, the web server at 2.16 x the stream on average; among its peers' peers
 * too, 0.98 and 1.55 x (simulated, bench/sim live, 100 listeners, server at 10 x the
 * stream, seeds 1-20; the mean of seeds 1-10 for the bodies).
 */
export const LKEYS_EVERY_MS = 1000
/** ... and at least this often, unchanged: a peer that says nothing for LIVE_SILENT_MS has gone */
export const LKEYS_BEAT_MS = 2000
/**
 * A peer we heard nothing from for this long is not ranked among, nor named in our LKEYS:
 * a listener gone without a word stays connected for PEER_IDLE_MS, and ranked first for
 * its chunks by everyone who knew of it, nobody took them from the origin until the fallback.
 */
export const LIVE_SILENT_MS = 3 * LKEYS_BEAT_MS
/**
 * The keys a listener ranks itself among are gathered again at most this often when only
 * what its peers say changed (at once when its own peers change). At pc-fetch's
 * connection limit, 256 peers each naming 256, gathering 65,536 keys took 25 ms: every
 * tick (10 a second) while LKEYS came in, a quarter of a core; ranking among them 1 ms a
 * chunk (bench/live-keys.ts).
 */
export const RANK_EVERY_MS = 1000
/**
 * A listener tuning in takes the time its manifest took, twice (as a claim's: a chunk's body
 * waits in the same queue again), for the web server's pace until it measures a chunk. It
 * took 0 before: in a flash crowd, when the web server's queue was a second or more, a
 * listener just tuned in fell back on the origin for a chunk it could not have in time,
 * and made the queue longer for everyone (simulated, bench/sim live, 300 listeners, server
 * at 10 x the stream, seed 1: BENCHMARKS.md `## scale`).
 */
export const START_PACE = 2
/** how fast the measure of the web server's pace is forgotten when nothing new was measured */
export const ORIGIN_PACE_HALF_MS = 5000
/**
 * Chunks appear in order, so none past the first one not known to exist is asked for; but
 * this many more while that one is less than a deadline late (it may be on its way, from a
 * busy server or a slow mesh; after a drop, or the show's end, this bounds the extra asks).
 * Before, a chunk late in a flash crowd held back the next one's first request from the
 * origin by as much: its designated listener asked for it only once it heard of the one
 * before (simulated, bench/sim live, 300 listeners, server at 10 x the stream, seed 1:
 * chunk 2's only designated listener asked 0.8 s after its due time, and 45 listeners
 * never had it: BENCHMARKS.md `## scale`).
 */
export const LATE_AHEAD = 1
/**
 * The listener designated for a chunk asks the origin for it from when the source's clock
 * says it ends (its start + duration, taken as at the origin then: pc-icecast plays by that
 * clock too), at most this many chunks before the due time it measured, and never sooner
 * than a claim it asked for earlier said was too soon (the web server answered 404). The
 * measured due time is an upper bound: the soonest any chunk was seen after its end,
 * lowered by the designated listener's own probes, and each listener is designated for a
 * chunk only every N / fetchers chunks, too seldom to learn it. Asked at that due time, the
 * first copy of a chunk was in the mesh 490 ms after the chunk's end (median; 770 ms p90),
 * and the listeners the mesh reached last missed its play time (simulated, bench/sim live,
 * 100 listeners, seed 12: BENCHMARKS.md `## scale`).
 */
export const EARLY_MAX = 1
export const TICK_MIN_MS = 20
export const TICK_MAX_MS = 200

export interface LiveSwarmOptions {
  infoHash: Buffer
  peerId: Buffer
  port: number
  streamId: Buffer
  /** the station's key: without it only chunks whose hash the origin lists are taken */
  publicKey?: Buffer
  chunkMs: number
  /** after a chunk is due at the origin, how long it may take to arrive before it is given up */
  deadlineMs: number
  /** listeners designated per chunk to take it from the origin */
  fetchers: number
  /** a tracker is asked for peers (and counts the audience): until it answers, START_WAIT_MS at most, a listener with no peer takes nothing from the origin */
  tracked?: boolean
  /** chunks kept (to play and to serve) behind the play position */
  keepChunks: number
  clock: SwarmClock
  /** uniform in [0, 1): breaks ties among equally loaded peers (default Math.random; the simulator seeds it) */
  random?: () => number
  connect: (to: PeerAddress) => PeerLink
  origin: LiveOriginSource
  warn: (m: string) => void
  debug: (m: string) => void
}

export interface LiveStats {
  bytesFromOrigin: number
  bytesFromPeers: number
  bytesUploaded: number
  chunksRejected: number
  chunksPlayed: number
  chunksSkipped: number
  peersSeen: Set<string>
  /** chunk bodies taken from the origin, by why: the designated listener at the due time, a backup in rank, everyone's fallback, or a listener with no peer */
  originChunks: Record<OriginWhy, number>
}

export type OriginWhy = 'designated' | 'backup' | 'fallback' | 'alone'

interface Inflight { peer: PeerLink, at: number }

/** What a chunk is as the swarm keeps it: the wire form, ready to relay. */
export function pieceOf (e: ChunkEntry, bytes: Buffer, header?: Buffer): LivePiece {
  const c = claimOf(e)
  const p: LivePiece = { type: 'live-piece', seq: c.seq, startMs: c.startMs, durationMs: c.durationMs, hash: c.hash, data: bytes }
  if (c.headerHash) p.headerHash = c.headerHash
  if (c.signature) p.signature = c.signature
  if (c.title) p.title = c.title
  if (header) p.header = header
  return p
}

/** Our peers' keys `direct` and the keys each of them named (LKEYS), once each, without `me`: what a listener ranks itself among. */
export function gatherKeys (direct: number[], lists: number[][], me: number): number[] {
  const all = new Set(direct)
  for (const k of lists) for (const x of k) all.add(x)
  all.delete(me)
  return [...all]
}

/** The place of `me` among all the listeners for chunk `seq`: 0 is the first designated. */
export function liveRank (me: number, others: number[], seq: number): number {
  const mine = score(me, seq)
  let r = 0
  for (const o of others) { const s = score(o, seq); if (s > mine || (s === mine && o > me)) r++ }
  return r
}

/**
 * Events: 'chunk' (piece) in sequence order, 'skip' (seq) for a chunk given up,
 * 'ended' (once) when the origin's manifest says the show is over and everything listed was played.
 */
export class LiveSwarm extends EventEmitter {
  readonly members: Members
  readonly stats: LiveStats = { bytesFromOrigin: 0, bytesFromPeers: 0, bytesUploaded: 0, chunksRejected: 0, chunksPlayed: 0, chunksSkipped: 0, peersSeen: new Set(), originChunks: { designated: 0, backup: 0, fallback: 0, alone: 0 } }
  readonly scheduler = { forget: (p: PeerLink) => this.forget(p) }
  readonly clock: SwarmClock
  readonly left = 1
  closed = false
  /** the next chunk to play */
  next = -1
  private readonly held = new Map<number, LivePiece>()
  private readonly headers = new Map<string, Buffer>()
  /** the origin's claims (unsigned streams: what a peer's chunk is checked against) */
  private readonly claims = new Map<number, ChunkEntry | Promise<ChunkEntry | null>>()
  private readonly peerHas = new WeakMap<PeerLink, Set<number>>()
  /** each peer's own peers' designation keys, as it last said (LKEYS) */
  private readonly peerKeys = new WeakMap<PeerLink, number[]>()
  /** the keys ranked among: our peers' and theirs (rankKeys), until either changes */
  private rankKeysCache?: { direct: number[], keys: number[], at: number }
  private rankKeysStale = true
  /** our rank for each chunk among rankKeysCache's keys (rankFor) */
  private ranks: { keys: number[], bySeq: Map<number, number> } = { keys: [], bySeq: new Map() }
  /** the peer keys last sent in LKEYS, and when */
  private keysSent?: number[]
  /** when each peer last sent anything */
  private readonly heardAt = new WeakMap<PeerLink, number>()
  /** the keys of the peers heard from lately (LIVE_SILENT_MS): the same array until it changes */
  private aliveKeys: number[] = []
  private keysSentAt = -Infinity
  /** requests to peers in flight, by chunk */
  private readonly inflight = new Map<number, Inflight>()
  /**
   * chunks on their way from the origin (claim, body): apart from the peer requests, as a
   * chunk may be asked of a peer while the origin still brings it, and a record both wrote
   * lost the origin's (waitingOnOrigin then missed it)
   */
  private readonly fromOriginNow = new Set<number>()
  /** peers that refused or failed a chunk: not asked for it again */
  private readonly failed = new Map<number, Set<PeerLink>>()
  private readonly originTried = new Map<number, number>()
  private readonly serving = new Map<PeerLink, number[]>()
  /** the header blobs (hash, hex) each peer was sent: later pieces go to it without them */
  private readonly headersSent = new WeakMap<PeerLink, Set<string>>()
  private servingCount = 0
  /** how long our line took to send a piece lately (ms), and when the last one was sent */
  private pieceMs = 0
  private lastSentAt = -Infinity
  /**
   * local time minus the source time at which a chunk ended, when it is at the origin: first
   * the age of the newest chunk at start (an upper bound), then lowered by every chunk seen
   * sooner, and probed (see fromOrigin)
   */
  private offsetMs = Infinity
  /** how much earlier the next chunk is asked for when the last one was already there */
  private probeStepMs = 0
  /** a chunk was asked for before it was there: the due time is near, steps stop doubling */
  private probeFound = false
  /** the highest local time minus source end time at which a claim was not yet there (404): chunks come no sooner (EARLY_MAX) */
  private floorMs = 0
  private newest?: LivePiece
  /** the newest chunk seen, for when the next ones are due: its number and source end time */
  private ref = { seq: 0, endMs: 0 }
  private newestAnnounced = -1
  private timer?: TimerHandle
  private emitting = false
  private lastManifestPoll = -Infinity
  /** the last chunk the web server said it does not have (its claim file answered 404), and when */
  private missing = { seq: -1, at: -Infinity }
  /** how long a chunk took from the web server lately (claim and body), and when that was measured */
  private originMs = 0
  private originMsAt = -Infinity
  private endedAt?: number
  /** when start() was called (START_WAIT_MS) */
  private startedAt = -Infinity
  /** 'ended' was emitted (once: it was on every tick after the end) */
  private endSaid = false
  readonly key: number
  /** the tracker's count of the swarm (complete + incomplete), 0 until it gives one */
  audience = 0
  private readonly originBase: number

  constructor (readonly opts: LiveSwarmOptions) {
    super()
    this.clock = opts.clock
    this.members = new Members(this, WIRE_VERSION_LIVE)
    this.key = peerKey(opts.peerId)
    this.originBase = opts.origin.counter.bytes
  }

  get peers (): Set<PeerLink> { return this.members.peers }
  connect (to: PeerAddress): PeerLink { return this.opts.connect(to) }
  addAddress (a: PeerAddress, sticky = false): void { this.members.addAddress(a, sticky) }
  attach (p: PeerLink): void { this.members.attach(p) }
  /** the tracker's count (Announcer) */
  counted (audience: number): void { this.audience = audience }

  /**
   * Start at chunk `entry` (the newest the manifest lists): it exists now. `manifestMs`, how
   * long the manifest took to come, is the web server's pace until a chunk is measured (see
   * START_PACE).
   */
  start (entry: ChunkEntry, manifestMs?: number): void {
    if (manifestMs !== undefined) { this.originMs = START_PACE * manifestMs; this.originMsAt = this.clock.now() }
    this.next = entry.seq
    this.ref = { seq: entry.seq, endMs: Date.parse(entry.start) + entry.duration }
    this.offsetMs = this.clock.now() - this.ref.endMs
    this.newestAnnounced = entry.seq
    this.startedAt = this.clock.now()
    this.tick()
  }

  private get tickMs (): number { return Math.max(TICK_MIN_MS, Math.min(TICK_MAX_MS, this.opts.chunkMs / 10)) }

  /** When chunk `seq` should be at the origin, on our clock. */
  dueAt (seq: number): number {
    return this.endOf(seq) + this.offsetMs
  }

  /** When chunk `seq` ends on the source's clock. */
  private endOf (seq: number): number { return this.ref.endMs + (seq - this.ref.seq) * this.opts.chunkMs }

  /** How long before its due time the designated listener asks for a chunk: from its end on the source clock, no sooner than a 404 said (EARLY_MAX). */
  private get earlyMs (): number { return Math.min(EARLY_MAX * this.opts.chunkMs, Math.max(0, this.offsetMs - this.floorMs)) }

  kick (): void { this.clock.defer(() => this.tick()) }

  /** The web server's recent time for a chunk, halved for every ORIGIN_PACE_HALF_MS without a new measure. */
  private originPace (now: number): number {
    return this.originMs * 0.5 ** (Math.max(0, now - this.originMsAt) / ORIGIN_PACE_HALF_MS)
  }

  private paced (ms: number): void {
    const now = this.clock.now()
    this.originMs = this.originPace(now) * 0.7 + ms * 0.3
    this.originMsAt = now
  }

  private tick (): void {
    if (this.closed) return
    this.clock.clearTimeout(this.timer)
    this.timer = this.clock.setTimeout(() => this.tick(), this.tickMs)
    const now = this.clock.now()
    this.play(now)
    // newest first, from what should exist now down to the play position
    let top = Math.max(this.newestAnnounced, this.next)
    while (this.dueAt(top + 1) <= now && top < this.next + LIVE_MAX_AHEAD) top++
    // the designated listener asks from a chunk's end on the source clock (EARLY_MAX): the next may be its to ask for already
    const earlyMs = this.earlyMs
    let last = top
    while (this.dueAt(last + 1) - earlyMs <= now && last < this.next + LIVE_MAX_AHEAD) last++
    const others = this.members.otherKeys()
    // our peers heard from lately and theirs, to rank ourselves among for each chunk
    const alive = this.alivePeerKeys(now)
    this.sendKeys(alive, now)
    const ranked = this.rankKeys(alive, now)
    // still connecting to the peers we were told of: not yet the one to ask the origin
    const alone = others.length === 0 && this.members.dialling
    // just tuned in: no peer, and no answer from the tracker yet (START_WAIT_MS)
    const unplaced = this.opts.tracked === true && others.length === 0 && this.audience === 0 && now - this.startedAt < START_WAIT_MS
    // chunks appear in order: past the first one not known to exist, the origin has none yet
    let known = Math.max(this.newestAnnounced, this.next - 1)
    // Fallen a deadline behind while the server has not said a chunk is missing (a slow
    // server, not a drop): the server is asked only for the newest chunk, one request at a
    // time, and play skips to it; asking for each chunk in turn kept a whole audience
    // behind a busy server, each listener's requests queued behind everyone's.
    const behind = now > this.dueAt(this.next) + this.opts.deadlineMs && this.missing.seq < this.next
    const catchUp = behind && !this.waitingOnOrigin()
    if (behind) known = Math.max(known, top - 1)
    // LATE_AHEAD further while the first one not known to exist is late by less than a deadline
    const reach = known + 1 + (now < this.dueAt(known + 1) + this.opts.deadlineMs ? LATE_AHEAD : 0)
    for (let seq = last; seq >= this.next; seq--) {
      if (this.held.has(seq)) continue
      const f = this.inflight.get(seq)
      if (f) {
        if (now - f.at > Math.max(this.opts.chunkMs * REASK_AFTER, 500)) this.failPeer(seq, f.peer, true)
        else continue
      }
      if (this.fromOriginNow.has(seq)) { this.askPeer(seq); continue }
      if (this.askPeer(seq) || unplaced || seq > reach || (behind && (seq !== top || !catchUp))) continue
      const due = this.dueAt(seq)
      // when the designated listener asks for it, and the backups count from: its end on the source clock (EARLY_MAX)
      const asksFrom = due - earlyMs
      const rank = alone ? 0 : this.rankFor(ranked, seq)
      const first = !alone && rank < this.opts.fetchers
      // our place for this chunk in the whole audience (the tracker's count, or the peers we know)
      const place = (1 - score(this.key, seq) / 2 ** 32) * Math.max(this.audience, ranked.length + 1)
      const designated = first && place < FIRST_PLACES
      let pollMs = designated ? Math.max(50, this.opts.chunkMs / 10) : this.opts.chunkMs
      // a chunk not known to exist and long overdue (the source dropped, or the show ended): asked less and less often
      const overdue = now - due
      if (seq > known && overdue > 2 * this.opts.chunkMs) pollMs = Math.max(pollMs, designated ? Math.min(DROP_POLL_DESIGNATED_MS, overdue / 8) : Math.min(DROP_POLL_MS, overdue / 2))
      const tried = this.originTried.get(seq) ?? -Infinity
      const fallback = due + this.opts.deadlineMs - Math.max(this.opts.chunkMs, 500) + (alone ? 0 : FALLBACK_SPREAD * this.opts.chunkMs * rank / Math.max(1, ranked.length))
      // the next in rank take over one by one when the designated one brought nothing (it
      // left without a word, or its line is slow), before everyone falls back at once;
      // counted, as the designated ask, from asksFrom
      const backup = alone ? fallback : Math.min(fallback, asksFrom + this.opts.chunkMs * (first ? STAGED_AFTER : BACKUP_AFTER + BACKUP_STEP * (rank - this.opts.fetchers)))
      // a backup or fallback that would come after the chunk's deadline at the server's recent pace only makes a busy server busier
      const late = (seq <= known || overdue < this.opts.deadlineMs) && !(designated && now < fallback) && now + this.originPace(now) > due + this.opts.deadlineMs
      // a chunk known to exist is left to the first FALLBACK_PLACES at its fallback
      const capped = !alone && seq <= known && now >= fallback && place >= FALLBACK_PLACES
      // one not known to exist is asked for by everyone in turn, but beyond those places only its claim
      const claimOnly = !alone && seq > known && now >= fallback && place >= FALLBACK_PLACES
      if (!late && !capped && now - tried >= pollMs && ((designated && now >= asksFrom) || now >= backup)) {
        const why: OriginWhy = alone ? 'alone' : now >= fallback ? 'fallback' : designated ? 'designated' : 'backup'
        void this.fromOrigin(seq, why, designated && now < fallback ? pollMs : 0, claimOnly)
      }
    }
    // Behind, and no later chunk known to exist: has the show ended? (Known later chunks say
    // it goes on: the manifest, a few hundred bytes a chunk, is not asked again by everyone
    // who is behind, which with a busy web server made it busier still.)
    // Nor while a request to the web server is still unanswered: then the server is slow,
    // and a manifest (~12 kB) would slow it more.
    // And only once the server said it has no chunk that was due a deadline before: a
    // listener behind because the server is slow (or skipping what would come too late) asks
    // it nothing more.
    const missing = this.missing.seq >= this.next && this.missing.at > this.dueAt(this.missing.seq) + this.opts.deadlineMs
    if (this.newestAnnounced < this.next && missing && !this.waitingOnOrigin() && now > this.dueAt(this.next) + this.opts.deadlineMs + 2 * this.opts.chunkMs) void this.pollManifest(now)
  }

  /**
   * Our peers' keys and those they said are theirs, without ours: the same array until one
   * changes; for what our peers say, at most every RANK_EVERY_MS.
   */
  private rankKeys (direct: number[], now: number): number[] {
    const c = this.rankKeysCache
    if (c && c.direct === direct && (!this.rankKeysStale || now - c.at < RANK_EVERY_MS)) return c.keys
    const lists: number[][] = []
    for (const p of this.peers) {
      if (p.goodbye || !p.remote || !this.heardLately(p, now)) continue
      const k = this.peerKeys.get(p)
      if (k) lists.push(k)
    }
    this.rankKeysCache = { direct, keys: gatherKeys(direct, lists, this.key), at: now }
    this.rankKeysStale = false
    return this.rankKeysCache.keys
  }

  /** liveRank among `keys` for `seq`, kept while `keys` is the same array */
  private rankFor (keys: number[], seq: number): number {
    if (this.ranks.keys !== keys) this.ranks = { keys, bySeq: new Map() }
    let r = this.ranks.bySeq.get(seq)
    if (r === undefined) {
      r = liveRank(this.key, keys, seq)
      if (this.ranks.bySeq.size > 4 * LIVE_MAX_AHEAD) this.ranks.bySeq.clear()
      this.ranks.bySeq.set(seq, r)
    }
    return r
  }

  private heardLately (p: PeerLink, now: number): boolean { return now - (this.heardAt.get(p) ?? -Infinity) < LIVE_SILENT_MS }

  /** The keys of the handshaken peers heard from lately, not leaving: the same array while they are the same. */
  private alivePeerKeys (now: number): number[] {
    const out: number[] = []
    for (const p of this.peers) if (p.remote && !p.goodbye && this.heardLately(p, now)) out.push(p.key)
    const a = this.aliveKeys
    if (out.length === a.length && out.every((k, i) => a[i] === k)) return a
    this.aliveKeys = out
    return out
  }

  /** LKEYS to every peer when our peers changed (at most every LKEYS_EVERY_MS), and every LKEYS_BEAT_MS unchanged. */
  private sendKeys (direct: number[], now: number): void {
    if (now - this.keysSentAt < (direct === this.keysSent ? LKEYS_BEAT_MS : LKEYS_EVERY_MS)) return
    this.keysSent = direct
    this.keysSentAt = now
    const m: Message = { type: 'live-keys', keys: direct.slice(0, MAX_LKEYS) }
    for (const p of this.peers) if (p.remote && !p.goodbye) p.send(m)
  }

  private waitingOnOrigin (): boolean {
    return this.fromOriginNow.size > 0
  }

  /** Play what is in order; give a chunk up when its deadline passed and a later one exists. */
  private play (now: number): void {
    if (this.emitting) return
    const p = this.held.get(this.next)
    if (p) {
      this.emitting = true
      this.next++
      this.stats.chunksPlayed++
      const done = (): void => { this.emitting = false; this.prune(); this.kick() }
      const r = this.listeners('chunk').map(l => (l as (p: LivePiece) => unknown)(p))
      void Promise.all(r).then(done, done)
      return
    }
    const later = this.newest && this.newest.seq > this.next
    if (later && now > this.dueAt(this.next) + this.opts.deadlineMs) {
      this.opts.debug(`live chunk ${this.next}: not here by its deadline, given up`)
      this.emit('skip', this.next)
      this.stats.chunksSkipped++
      this.inflight.delete(this.next)
      this.next++
      this.kick()
    } else if (this.endedAt !== undefined && this.next > this.endedAt && !this.endSaid) { this.endSaid = true; this.emit('ended') }
  }

  /** Ask the least busy peer that announced `seq`; false when none can be asked. */
  private askPeer (seq: number): boolean {
    let best: PeerLink | undefined
    let bestLoad = Infinity
    const failed = this.failed.get(seq)
    for (const p of this.peers) {
      if (p.goodbye || !this.peerHas.get(p)?.has(seq) || failed?.has(p)) continue
      let load = 0
      for (const f of this.inflight.values()) if (f.peer === p) load++
      if (load >= LIVE_PEER_INFLIGHT) continue
      const l = load + (this.opts.random ?? Math.random)() * 0.5
      if (l < bestLoad) { best = p; bestLoad = l }
    }
    if (!best) return false
    this.inflight.set(seq, { peer: best, at: this.clock.now() })
    best.send({ type: 'live-request', seq })
    return true
  }

  private failPeer (seq: number, p: PeerLink, cancel: boolean): void {
    if (this.inflight.get(seq)?.peer === p) this.inflight.delete(seq)
    let s = this.failed.get(seq)
    if (!s) this.failed.set(seq, s = new Set())
    s.add(p)
    if (cancel) p.send({ type: 'live-cancel', seq })
  }

  /**
   * Take chunk `seq` from the origin. `probeMs` (the designated listener's poll interval when
   * it asks at the chunk's due time) moves the due time towards the moment chunks appear. A
   * chunk already there at the first ask could have been asked for sooner: the next is asked
   * for earlier, by a step that starts at one poll and doubles until a chunk is asked for too
   * soon (then half the step back), and by a quarter of a poll after that. A chunk not yet
   * there moves the due time half a poll later. Without this a lone listener kept the due
   * time it guessed at start, up to a chunk late on every chunk, and its player skipped what
   * came after its play time; in a swarm the first holder's announcement lowers everyone's.
   */
  private async fromOrigin (seq: number, why: OriginWhy, probeMs = 0, claimOnly = false): Promise<void> {
    const first = !this.originTried.has(seq)
    const asked = this.clock.now()
    // asked before the due time we measured (EARLY_MAX): a 404 then says the floor, not that the due time is too soon
    const early = asked < this.dueAt(seq)
    this.originTried.set(seq, asked)
    this.fromOriginNow.add(seq)
    const o = this.opts.origin
    try {
      const e = await this.originClaim(seq)
      // the newest chunk it lacks, or an earlier one it lacks a deadline after it was due (the
      // source stopped: LATE_AHEAD asked for the one after it too, sooner)
      if (!e && (seq >= this.missing.seq || this.clock.now() > this.dueAt(seq) + this.opts.deadlineMs)) this.missing = { seq, at: this.clock.now() }
      // a claim is small: what it took is the server's queue, which the body will wait in again
      this.paced(2 * (this.clock.now() - asked))
      if (!e && probeMs > 0) this.floorMs = Math.max(this.floorMs, asked - this.endOf(seq))
      if (first && probeMs > 0 && !early) {
        if (e) { this.probeStepMs = this.probeFound ? probeMs / 4 : Math.min(Math.max(this.probeStepMs * 2, probeMs), this.opts.chunkMs); this.offsetMs -= this.probeStepMs }
        else { this.offsetMs += this.probeFound ? probeMs / 2 : Math.max(probeMs / 2, this.probeStepMs / 2); this.probeFound = true }
      }
      // a peer that has it was asked meanwhile: the web server's upload is left to those who need it
      if (!e || this.held.has(seq) || this.inflight.has(seq)) return
      // the claim says the chunk exists: from now on it is left to the first places and the peers
      if (claimOnly) { this.newestAnnounced = Math.max(this.newestAnnounced, seq); return }
      // the body waits in the queue the claim waited in: one that would come after the
      // deadline is not asked, but for the designated listener (a chunk asked for past its
      // deadline, after a drop or to catch up, is asked on purpose)
      const deadline = this.dueAt(seq) + this.opts.deadlineMs
      if (why !== 'designated' && asked < deadline && 2 * this.clock.now() - asked > deadline) return
      this.stats.originChunks[why]++
      const bytes = await o.fetchChunk(e)
      if (bytes) this.paced(this.clock.now() - asked)
      if (!bytes || this.held.has(seq)) return
      const header = e.header && !this.headers.has(e.header) ? await o.fetchHeader(e.header) ?? undefined : undefined
      const p = pieceOf(e, bytes, header ?? (e.header ? this.headers.get(e.header) : undefined))
      if (!this.verify(p)) { this.opts.warn(`live chunk ${seq} from the origin does not verify; not played`); return }
      this.accept(p)
    } catch (e) {
      this.opts.debug(`live chunk ${seq} from the origin: ${(e as Error).message}`)
    } finally {
      this.countOrigin()
      this.fromOriginNow.delete(seq)
      this.kick()
    }
  }

  /**
   * The web server's bytes since the start, from its own counter. (Adding each request's
   * difference of the counter counted bytes of requests in flight at the same time again:
   * 411 MB for the 42 MB a busy simulated server sent.)
   */
  private countOrigin (): void { this.stats.bytesFromOrigin = this.opts.origin.counter.bytes - this.originBase }

  /** The origin's claim for `seq`, fetched once (also while a request for it is on its way). */
  private async originClaim (seq: number): Promise<ChunkEntry | null> {
    const c = this.claims.get(seq)
    if (c) return await c
    const p = this.opts.origin.fetchClaim(seq).then(e => { if (e) this.claims.set(seq, e); else this.claims.delete(seq); return e }, (err: unknown) => { this.claims.delete(seq); throw err })
    this.claims.set(seq, p)
    return await p
  }

  /** Signature (with the station's key) or the origin's hash; and the header blob it names. */
  private verify (p: LivePiece): boolean {
    const o = this.opts
    if (!verifyLiveChunk(p.data, p, { streamId: o.streamId, publicKey: o.publicKey })) return false
    if (p.headerHash) {
      const h = p.header ?? this.headers.get(p.headerHash.toString('hex'))
      if (!h || !verifyLiveHeader(h, p.headerHash)) return false
      p.header = h
    } else if (p.header) return false
    return true
  }

  private accept (p: LivePiece): void {
    if (this.held.has(p.seq) || p.seq < this.next) return
    this.held.set(p.seq, p)
    if (p.headerHash && p.header) this.headers.set(p.headerHash.toString('hex'), p.header)
    this.inflight.delete(p.seq)
    // a source back from a drop stamps its chunks from the time it returned: a 404 of before says nothing of them
    if (Math.abs(p.startMs + p.durationMs - this.endOf(p.seq)) > this.opts.chunkMs / 2) this.floorMs = 0
    this.offsetMs = Math.min(this.offsetMs, this.clock.now() - (p.startMs + p.durationMs))
    if (!this.newest || p.seq > this.newest.seq) this.newest = p
    if (p.seq >= this.ref.seq) this.ref = { seq: p.seq, endMs: p.startMs + p.durationMs }
    this.newestAnnounced = Math.max(this.newestAnnounced, p.seq)
    for (const q of this.peers) {
      if (this.peerHas.get(q)?.has(p.seq)) continue
      q.send({ type: 'live-have', seq: p.seq })
    }
    this.kick()
  }

  private prune (): void {
    const floor = this.next - this.opts.keepChunks
    for (const k of this.held.keys()) if (k < floor) this.held.delete(k)
    for (const m of [this.claims, this.failed, this.originTried] as Array<Map<number, unknown>>) for (const k of m.keys()) if (k < floor) m.delete(k)
    for (const p of this.peers) { const s = this.peerHas.get(p); if (s) for (const k of s) if (k < floor) s.delete(k) }
    for (const [k, f] of this.inflight) if (k < this.next) { this.inflight.delete(k); f.peer.send({ type: 'live-cancel', seq: k }) }
    const used = new Set([...this.held.values()].map(p => p.headerHash?.toString('hex')))
    for (const k of this.headers.keys()) if (!used.has(k)) this.headers.delete(k)
  }

  /** The show seems stalled: ask the manifest whether it ended (rare: only while no chunk comes). */
  private async pollManifest (now: number): Promise<void> {
    const stalled = now - this.dueAt(this.next)
    if (now - this.lastManifestPoll < Math.max(2000, 2 * this.opts.chunkMs, Math.min(DROP_POLL_MS * 2, stalled / 4))) return
    this.lastManifestPoll = now
    const o = this.opts.origin
    try {
      const m = await o.fetchManifest()
      if (m.ended) this.endedAt = m.chunks.length ? m.chunks[m.chunks.length - 1].seq : this.next - 1
      this.kick()
    } catch (e) {
      this.opts.debug(`live manifest: ${(e as Error).message}`)
    } finally { this.countOrigin() }
  }

  // ---- peers ----

  greet (p: PeerLink): void {
    this.heardAt.set(p, this.clock.now())
    this.peerHas.set(p, new Set())
    for (const seq of this.held.keys()) if (seq >= this.next - 2) p.send({ type: 'live-have', seq })
  }

  onMessage (p: PeerLink, m: Message): void {
    if (this.closed) return
    this.heardAt.set(p, this.clock.now())
    switch (m.type) {
      case 'live-have': {
        const top = Math.max(this.newest?.seq ?? this.next, this.next)
        if (m.seq < this.next - this.opts.keepChunks || m.seq > top + LIVE_MAX_AHEAD) return
        this.peerHas.get(p)?.add(m.seq)
        if (m.seq > this.newestAnnounced) this.newestAnnounced = m.seq
        // also when the chunk is on its way from the origin: a busy web server may take longer than a peer
        if (!this.held.has(m.seq) && !this.inflight.has(m.seq) && m.seq >= this.next) this.askPeer(m.seq)
        break
      }
      case 'live-request': this.serve(p, m.seq); break
      case 'live-cancel': {
        const q = this.serving.get(p)
        const k = q?.indexOf(m.seq) ?? -1
        if (q && k >= 0) { q.splice(k, 1); this.servingCount-- }
        break
      }
      // (Asking a busy relay again 0.1 chunk later instead, tried in the simulator, gave the
      // same origin load and more listeners with a gap: BENCHMARKS.md `## scale`.)
      case 'live-reject': if (this.inflight.get(m.seq)?.peer === p) { this.failPeer(m.seq, p, false); this.kick() } break
      case 'live-piece': void this.onPiece(p, m); break
      case 'live-keys': this.peerKeys.set(p, m.keys); this.rankKeysStale = true; break
      case 'pex': for (const a of m.peers) this.addAddress(a); break
      default: break // item-swarm messages mean nothing here
    }
  }

  private async onPiece (p: PeerLink, m: LivePiece): Promise<void> {
    const f = this.inflight.get(m.seq)
    if (f?.peer === p) this.inflight.delete(m.seq)
    if (this.held.has(m.seq) || m.seq < this.next) return
    // sent without the header blob it names (the sender sent it before) and we no longer hold it: no lie, asked elsewhere
    if (m.headerHash && !m.header && !this.headers.has(m.headerHash.toString('hex'))) { this.failPeer(m.seq, p, false); this.kick(); return }
    let ok: boolean
    if (this.opts.publicKey) ok = this.verify(m)
    else {
      // no station key: the origin's claim decides (one claim file per chunk, fetched once)
      let e: ChunkEntry | null = null
      try { e = await this.originClaim(m.seq) } catch {}
      if (!e) { this.failPeer(m.seq, p, false); return }
      ok = Buffer.from(e.hash, 'hex').equals(m.hash) && (e.header ?? '') === (m.headerHash?.toString('hex') ?? '') && this.verify(m)
    }
    if (!ok) {
      this.stats.chunksRejected++
      this.members.ban(p, `live chunk ${m.seq} does not verify`)
      this.kick()
      return
    }
    this.stats.bytesFromPeers += m.data.length
    this.accept(m)
  }

  private serve (p: PeerLink, seq: number): void {
    if (!this.held.has(seq) || this.servingCount >= this.maxServing()) { p.send({ type: 'live-reject', seq }); return }
    let q = this.serving.get(p)
    if (!q) this.serving.set(p, q = [])
    q.push(seq)
    this.servingCount++
    if (q.length === 1) void this.serveLoop(p, q)
  }

  private async serveLoop (p: PeerLink, q: number[]): Promise<void> {
    while (q.length && !p.closed) {
      const seq = q[0]
      const piece = this.held.get(seq)
      if (piece) {
        // a header blob goes to a peer once: a Vorbis setup is ~4 kB against ~16 kB of a 128 kbit/s chunk
        const h = piece.header && piece.headerHash?.toString('hex')
        let sent = this.headersSent.get(p)
        if (h && !sent) this.headersSent.set(p, sent = new Set())
        const start = this.clock.now()
        await p.sendLivePiece(h && sent?.has(h) ? { ...piece, header: undefined } : piece)
        // the line's time for this piece: from when it was sent or the one before it was out, whichever came later
        const done = this.clock.now()
        this.pieceMs = this.pieceMs * 0.7 + (done - Math.max(start, this.lastSentAt)) * 0.3
        this.lastSentAt = done
        if (h) sent?.add(h)
        this.stats.bytesUploaded += piece.data.length
      } else p.send({ type: 'live-reject', seq })
      if (q[0] === seq) { q.shift(); this.servingCount-- }
    }
    if (p.closed) { this.servingCount -= q.length; q.length = 0 }
  }

  /** pieces queued for upload at once: LIVE_MAX_SERVING, fewer on a line too slow to send them within SERVE_BUDGET of a chunk */
  maxServing (): number {
    return Math.max(1, Math.min(LIVE_MAX_SERVING, Math.floor(SERVE_BUDGET * this.opts.chunkMs / Math.max(1, this.pieceMs))))
  }

  private forget (p: PeerLink): void {
    this.rankKeysStale = true
    for (const [k, f] of this.inflight) if (f.peer === p) this.inflight.delete(k)
    const q = this.serving.get(p)
    if (q) { this.servingCount -= q.length; q.length = 0; this.serving.delete(p) }
    this.kick()
  }

  close (goodbye: boolean): void {
    if (this.closed) return
    this.members.close(goodbye)
    this.closed = true
    this.clock.clearTimeout(this.timer)
    this.members.end()
  }
}
