// One scenario run: an item, an audience, a network, and one way of delivering (pc's
// real swarm code, the BitTorrent-like reference, or plain HTTP), then the figures.
import { randomBytes } from 'node:crypto'
import { TreeBuilder, infoHash, leafHash, CHUNK_BYTES, type HashTree } from '../../lib/hashing/hashtree.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { ShareLedger, DEFAULT_MAX_SHARE, DEFAULT_FAIR_SHARE } from '../../lib/swarm/uploads.js'
import { EXPIRY_FACTOR } from '../../lib/tracker/swarms.js'
import { DEFAULT_INTERVAL_S } from '../../lib/tracker/client.js'
import { SimClock } from './clock.js'
import { Host, SimNet, SimOrigin, SimTracker, UNKEPT } from './net.js'
import { Rng, homeHost, loopbackHost, HOME } from './population.js'
import type { PeerAddress } from '../../lib/swarm/wire.js'
import { BtClient } from './bt.js'
import { Announcer } from '../../lib/swarm/announce.js'
import type { Shard } from './shard.js'

export type Mode = 'pc' | 'bt' | 'http'
export type Arrival = 'flash' | 'steady' | 'together'

export interface ScenarioOptions {
  mode: Mode
  /** each pc listener's pc-fetch --max-share (default pc-fetch's, none; 0: none) */
  maxShare?: number
  /** each pc listener's pc-fetch --fair-share (default pc-fetch's, DEFAULT_FAIR_SHARE; 0: none) */
  fairShare?: number
  /** each pc listener's swarm dials while it has fewer peers than this (SwarmOptions.maxPeers; default members.ts MAX_PEERS) */
  maxPeers?: number
  /** incoming connections a host accepts at once (pc-fetch's FetcherOptions.maxConnections; default its MAX_CONNECTIONS, live's LIVE_MAX_INCOMING) */
  maxIncoming?: number
  listeners: number
  /** the stream's rate, bit/s, and the item's length */
  bitrate: number
  durationMs: number
  chunkBytes: number
  arrival: Arrival
  /** the origin's upload as a multiple of the stream rate (Infinity: unbounded) */
  originRateFactor: number
  population: 'home' | 'loopback'
  /** listeners leave (session lengths, HOME.sessionMeanMs) */
  churn: boolean
  seed: number
  /** pc-fetch's --deadline and --window */
  deadlineMs: number
  window: number
  numwant: number
  /** simulated time after the item's end before the run stops */
  tailMs: number
  /** (the loopback validation) every listener is given the address of the one before, as the bench's chain does */
  chain: boolean
  /** the clock's time quantum (SimClock) */
  quantumMs: number
  /** (the loopback validation) listeners who tune in one after another once the first N hold the item, JOINER_GAP_MS apart */
  joiners: number
  /** (live) pc-icecast's --live-delay: a chunk plays this long after its start on the source clock */
  liveDelayMs?: number
  /** stop the run at this simulated time, ms (to profile a part of it, e.g. the flash crowd's first seconds); the figures are then of that part */
  untilMs?: number
  /** each pc listener's origin requests (the swarm's debug line, lib/swarm/scheduler.ts scheduleOrigin), with the simulated time and the listener */
  traceOrigin?: (t: number, listener: number, line: string) => void
  progress?: (line: string) => void
}

export const DEFAULTS: ScenarioOptions = {
  mode: 'pc', listeners: 1000, bitrate: 128_000, durationMs: 240_000, chunkBytes: CHUNK_BYTES, arrival: 'flash',
  originRateFactor: 10, population: 'home', churn: true, seed: 1, deadlineMs: 2000, window: 16, numwant: 50,
  tailMs: 30_000, chain: false, joiners: 0, quantumMs: 10,
}

export interface Listener {
  host: Host
  joinAt: number
  leaveAt: number
  /** chunk holding the play position at join */
  firstChunk: number
  /** when each chunk was held (NaN: never) */
  haveAt: Float64Array
}

export interface Result {
  options: Omit<ScenarioOptions, 'progress'>
  itemBytes: number
  chunks: number
  originRatio: number
  originBytes: number
  stalledShare: number
  stallSeconds: number
  firstAudioMs: { median: number, p95: number, p99: number }
  uploadRatio: { mean: number, max: number }
  completedShare: number
  /** the joiners (options.joiners): first audio of each, and what the origin sent from the first joiner on ÷ item */
  joiners?: { firstAudioMs: number[], originRatio: number }
  /** of those who stayed to the item's end */
  stayedToEnd: number
  simSeconds: number
  wallSeconds: number
  simPerWall: number
  peakRssMiB: number
  timersFired: number
  /** bytes counted by listeners, what the network delivered, what peers and the origin sent */
  /** peer messages sent by type, and pieces that arrived still wanted / after their request was cancelled */
  messages: { sent: Record<string, number>, piecesWanted: number, piecesUnwanted: number }
  conservation: { receivedFromPeers: number, deliveredByNet: number, sentByPeers: number, uploadedBySwarms: number, receivedFromOrigin: number, sentByOrigin: number }
  /** live: what the web server was asked for, by kind (claim files found and not yet there, chunks, manifests) */
  originAsked?: Record<string, { requests: number, bytes: number }>
  /** live: chunk bodies the listeners took from the origin, by why (LiveStats.originChunks) */
  originChunks?: Record<string, number>
  /**
   * pc and bt: the copies of each chunk the origin sent through ranges (a plain HTTP
   * listener's stream is not counted here), and the copies after each chunk's first by
   * when they went, in 10 s bins from the item's top: where an origin ratio over 1 comes from
   */
  originCopies?: { byChunk: number[], extraBy10s: number[] }
  /** per listener, for the test: held every chunk from its first one on by its leaving time */
  listeners?: Listener[]
  /**
   * A run stopped before its end (`untilMs`): the time it stopped, and how many listeners
   * had tuned in by then. Its stalls are counted up to that time only, and `stalledShare`
   * and `completedShare` are of those listeners (a chunk not yet held at the stop is a stall from its turn to
   * the stop, not to the item's end: counted to the end, ~99.5 % of a flash crowd cut at
   * 20 s "stalled").
   */
  cut?: { atMs: number, tunedIn: number }
  /**
   * A run on several threads (shard.ts): how many, the messages and pieces that went from
   * one to another, and how long each waited for the others at the steps' ends (wall s)
   */
  shards?: { of: number, crossedMessages: number, crossedPieces: number, waitedS: number[] }
}

const PORT = 6881
/** the loopback bench's N processes take this long each to start on two cores (BENCHMARKS.md: node -e 0 ×20, 1287 ms median) */
const PROCESS_START_MS = 65
export const JOINER_GAP_MS = 10_000

export interface Item { data: Buffer, chunks: Buffer[], tree: HashTree }

export function makeItem (bytes: number, chunkBytes: number): Item {
  const data = randomBytes(bytes)
  const b = new TreeBuilder(chunkBytes)
  b.update(data)
  const tree = b.finish()
  const chunks: Buffer[] = []
  for (let o = 0; o < bytes; o += chunkBytes) chunks.push(data.subarray(o, Math.min(bytes, o + chunkBytes)))
  return { data, chunks, tree }
}

/** The figures every scenario reports, from its counts. */
export function summary (f: { o: ScenarioOptions, itemBytes: number, count: number, originBytes: number, stalled: number, listeners: number, stallMs: number, firstAudio: number[], up: number[], completed: number, stayed: number, endMs: number, wall: number, clock: Pick<SimClock, 'fired'>, net: Pick<SimNet, 'sent' | 'piecesWanted' | 'piecesUnwanted'> }): Omit<Result, 'conservation'> {
  const { progress: _p, ...options } = f.o
  void _p
  return {
    options,
    itemBytes: f.itemBytes,
    chunks: f.count,
    originRatio: f.originBytes / f.itemBytes,
    originBytes: f.originBytes,
    stalledShare: f.stalled / f.listeners,
    stallSeconds: f.stallMs / 1000,
    firstAudioMs: { median: quantile(f.firstAudio, 0.5), p95: quantile(f.firstAudio, 0.95), p99: quantile(f.firstAudio, 0.99) },
    uploadRatio: { mean: f.up.reduce((a, b) => a + b, 0) / Math.max(1, f.up.length), max: Math.max(0, ...f.up) },
    completedShare: f.completed / f.listeners,
    stayedToEnd: f.stayed,
    simSeconds: f.endMs / 1000,
    wallSeconds: f.wall,
    simPerWall: f.endMs / 1000 / f.wall,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    timersFired: f.clock.fired,
    messages: { sent: f.net.sent, piecesWanted: f.net.piecesWanted, piecesUnwanted: f.net.piecesUnwanted },
  }
}

/**
 * The stall time of a player that plays `first` from `start` on, at `byteRate` bytes per
 * ms, until `playEnd`: a chunk not held (`haveAt`, NaN: never) when its turn comes stalls
 * it until it is, and the rest plays that much later.
 */
export function stallAfter (haveAt: Float64Array, first: number, start: number, playEnd: number, chunkBytes: number, byteRate: number): number {
  const posBytes = first * chunkBytes
  let t = start
  let my = 0
  for (let i = first + 1; i < haveAt.length; i++) {
    const due = t + (i * chunkBytes - posBytes) / byteRate
    if (due > playEnd) break
    const at = haveAt[i]
    if (Number.isNaN(at) || at > due) {
      const until = Number.isNaN(at) ? playEnd : Math.min(at, playEnd)
      my += until - due
      t += until - due
      if (Number.isNaN(at)) break
    }
  }
  return my
}

/**
 * When a pc listener tuning in at chunk `first` can play: pc-fetch writes chunk 0 (codec
 * headers) before anything else of an item (lib/swarm/emit.ts), so its first audio waits
 * for both; NaN while either is missing. (pc-icecast's reorder gives up a range whose time
 * has passed, so the chunk before the offset's, asked with them, is not waited for.) A
 * plain HTTP or BitTorrent-like listener needs only `first` (`pc` false).
 */
export function firstAudioAt (haveAt: Float64Array, first: number, pc: boolean): number {
  return pc ? Math.max(haveAt[0], haveAt[first]) : haveAt[first]
}

export function quantile (xs: number[], q: number): number {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/**
 * What a run's figures are made of, added up over its listeners (a sharded run's shards'
 * put together with addTallies): the same figures whether one thread ran it or several.
 */
export interface Tally {
  /** listeners counted (tuned in by the stop, for a run cut short) */
  listeners: number
  tunedIn: number
  firstAudio: number[]
  stalled: number
  stallMs: number
  completed: number
  stayed: number
  up: number[]
  sentByPeers: number
  uploadedBySwarms: number
  receivedFromPeers: number
  receivedFromOrigin: number
  deliveredByNet: number
  originBytes: number
  /** when each copy of each chunk left the web server */
  copyAt: number[][]
  fired: number
  sent: Record<string, number>
  piecesWanted: number
  piecesUnwanted: number
}

/** Two shards' tallies as one run's. */
export function addTallies (a: Tally, b: Tally): Tally {
  const sent = { ...a.sent }
  for (const k in b.sent) sent[k] = (sent[k] ?? 0) + b.sent[k]
  return {
    listeners: a.listeners + b.listeners,
    tunedIn: a.tunedIn + b.tunedIn,
    firstAudio: a.firstAudio.concat(b.firstAudio),
    stalled: a.stalled + b.stalled,
    stallMs: a.stallMs + b.stallMs,
    completed: a.completed + b.completed,
    stayed: a.stayed + b.stayed,
    up: a.up.concat(b.up),
    sentByPeers: a.sentByPeers + b.sentByPeers,
    uploadedBySwarms: a.uploadedBySwarms + b.uploadedBySwarms,
    receivedFromPeers: a.receivedFromPeers + b.receivedFromPeers,
    receivedFromOrigin: a.receivedFromOrigin + b.receivedFromOrigin,
    deliveredByNet: a.deliveredByNet + b.deliveredByNet,
    originBytes: a.originBytes + b.originBytes,
    copyAt: a.copyAt.map((ts, i) => ts.concat(b.copyAt[i])),
    fired: a.fired + b.fired,
    sent,
    piecesWanted: a.piecesWanted + b.piecesWanted,
    piecesUnwanted: a.piecesUnwanted + b.piecesUnwanted,
  }
}

/** A run's figures from its tally (the whole audience's), its end and its wall time. */
export function resultOf (o: ScenarioOptions, itemBytes: number, count: number, t: Tally, end: number, cut: boolean, wall: number): Result {
  // a copy after a chunk's first, by when it went
  const extraAt: number[] = []
  for (const ts of t.copyAt) { const s = [...ts].sort((x, y) => x - y); extraAt.push(...s.slice(1)) }
  return {
    ...summary({ o, itemBytes, count, originBytes: t.originBytes, stalled: t.stalled, listeners: t.listeners, stallMs: t.stallMs, firstAudio: t.firstAudio, up: t.up, completed: t.completed, stayed: t.stayed, endMs: end, wall, clock: { fired: t.fired }, net: t }),
    conservation: { receivedFromPeers: t.receivedFromPeers, deliveredByNet: t.deliveredByNet, sentByPeers: t.sentByPeers, uploadedBySwarms: t.uploadedBySwarms, receivedFromOrigin: t.receivedFromOrigin, sentByOrigin: t.originBytes },
    joiners: undefined,
    listeners: undefined,
    cut: cut ? { atMs: end, tunedIn: t.tunedIn } : undefined,
    originCopies: o.mode !== 'http' ? { byChunk: t.copyAt.map(ts => ts.length), extraBy10s: bins(extraAt, 10_000) } : undefined,
  }
}

export async function runScenario (o: ScenarioOptions, item?: Item, keepListeners = false): Promise<Result> {
  const r = await simulate(o, item)
  const res = resultOf(o, r.itemBytes, r.count, r.tally, r.end, r.cut, r.wall)
  return {
    ...res,
    joiners: o.joiners ? { firstAudioMs: r.listeners.slice(o.listeners).map(l => firstAudioAt(l.haveAt, l.firstChunk, o.mode === 'pc') - l.joinAt), originRatio: (r.tally.originBytes - r.originAtJoiners) / r.itemBytes } : undefined,
    listeners: keepListeners ? r.listeners : undefined,
  }
}

/** One shard's part of a run (shard.ts): its listeners' tally. */
export async function runShardOf (o: ScenarioOptions, item: Item, shard: Shard): Promise<{ tally: Tally, itemBytes: number, count: number, end: number, cut: boolean, wall: number }> {
  if (o.mode !== 'pc' || o.population !== 'home' || o.chain || o.joiners) throw new Error('a sharded run is of pc listeners on home lines')
  const { tally, itemBytes, count, end, cut, wall } = await simulate(o, item, shard)
  return { tally, itemBytes, count, end, cut, wall }
}

async function simulate (o: ScenarioOptions, item?: Item, shard?: Shard): Promise<{ tally: Tally, listeners: Listener[], itemBytes: number, count: number, end: number, cut: boolean, wall: number, originAtJoiners: number }> {
  const wall0 = performance.now()
  const rng = new Rng(o.seed)
  // each shard its own draws for the network and the tracker, after the audience's (the same on every shard)
  const drawn = shard ? new Rng((o.seed * 0x9e3779b1 + shard.me + 1) >>> 0) : rng
  const itemBytes = Math.round(o.bitrate / 8 * o.durationMs / 1000)
  const it = item ?? makeItem(itemBytes, o.chunkBytes)
  const { chunks, tree } = it
  const count = chunks.length
  const byteRate = o.bitrate / 8 / 1000 // bytes per ms of play
  const clock = new SimClock(o.quantumMs)
  const net = new SimNet(clock, drawn)
  if (o.maxIncoming !== undefined) net.maxIncoming = o.maxIncoming
  const origin = new SimOrigin(clock, net, chunks, Number.isFinite(o.originRateFactor) ? o.originRateFactor * byteRate : Infinity, o.population === 'home' ? 20 : 2)
  const tracker = new SimTracker(drawn, o.numwant)
  const ih = infoHash(tree.root)
  // the item goes on air at T0; the run starts a little before so early comers can look for peers
  const T0 = 1000
  const listeners: Listener[] = []
  const hosts: Host[] = []
  const peerIds: Buffer[] = []
  const check = (i: number, d: Buffer): boolean => d === chunks[i] || leafHash(d).equals(tree.leaves[i])

  // the audience: same draws for every mode
  const joinersFrom = T0 + PROCESS_START_MS * o.listeners + 30_000
  for (let k = 0; k < o.listeners + o.joiners; k++) {
    const spec = o.population === 'home' ? homeHost(rng) : loopbackHost()
    let joinAt: number
    if (k >= o.listeners) joinAt = joinersFrom + (k - o.listeners) * JOINER_GAP_MS
    else if (o.arrival === 'together') joinAt = T0 + rng.next() * PROCESS_START_MS * o.listeners
    else if (o.arrival === 'flash') joinAt = T0 + rng.exp(10_000) // most within the first half minute of the hour
    else joinAt = T0 + rng.next() * o.durationMs // tuning in any time during the item
    if (k < o.listeners) joinAt = Math.min(joinAt, T0 + o.durationMs - 1000)
    const leaveAt = o.churn ? joinAt + rng.exp(HOME.sessionMeanMs) : Infinity
    const goodbye = rng.next() < HOME.goodbyeShare
    const peerId = Buffer.concat([Buffer.from('-PC0001-'), rng.bytes(12)])
    const host = new Host(k, { host: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, port: PORT }, spec)
    net.add(host)
    if (shard) { hosts.push(host); peerIds.push(peerId); if (!shard.mine(host)) continue }
    // the loopback bench fetches the whole item from its start (a URL, not a record)
    const offset = o.arrival === 'together' ? 0 : Math.max(0, joinAt - T0)
    const firstChunk = Math.min(count - 1, Math.floor(offset * byteRate / o.chunkBytes))
    const l: Listener = { host, joinAt, leaveAt, firstChunk, haveAt: new Float64Array(count).fill(NaN) }
    listeners.push(l)
    const got = (i: number): void => { if (Number.isNaN(l.haveAt[i])) l.haveAt[i] = clock.now() }
    clock.setTimeout(() => { void join(l, peerId, offset, got, goodbye) }, joinAt)
  }

  shard?.bind(net, origin, tracker, hosts, peerIds, ih, chunks)

  async function join (l: Listener, peerId: Buffer, offset: number, got: (i: number) => void, goodbye: boolean): Promise<void> {
    const h = l.host
    const end = T0 + o.durationMs + o.tailMs
    if (o.mode === 'http') {
      void origin.stream(h, l.firstChunk, got)
      if (l.leaveAt < end) clock.setTimeout(() => { h.online = false }, l.leaveAt - clock.now())
      return
    }
    const announce = (): PeerAddress[] => tracker.announce(h.addr)
    const trackerRtt = h.spec.rttMs
    if (o.mode === 'bt') {
      const c = new BtClient({ clock, net, host: h, tree, chunks, peerId, infoHash: ih, origin: origin.source(h), firstChunk: l.firstChunk, deadlineMs: o.deadlineMs, got })
      clock.setTimeout(() => { for (const a of announce()) c.addAddress(a) }, trackerRtt)
      if (l.leaveAt < end) clock.setTimeout(() => { h.online = false; h.vanished = !goodbye; c.close(); tracker.stopped(h.addr) }, l.leaveAt - clock.now())
      return
    }
    const sw = new Swarm({
      url: 'http://origin.test/item', root: tree.root, infoHash: ih, peerId, port: PORT, cacheDir: '', removeCache: false,
      window: o.window, deadlineMs: o.deadlineMs, playFraction: offset / o.durationMs, durationMs: o.arrival === 'together' ? undefined : o.durationMs, limiter: new RateLimiter(0), share: new ShareLedger(o.maxShare ?? DEFAULT_MAX_SHARE, o.fairShare ?? DEFAULT_FAIR_SHARE), maxPeers: o.maxPeers,
      warn: () => {}, debug: o.traceOrigin ? (m) => { if (m.includes(': origin chunks ')) o.traceOrigin!(clock.now(), h.id, m) } : () => {}, clock, connect: net.connector(h), origin: origin.source(h),
      store: (t) => new MemoryStore(t, { keepBuffers: true, check }),
    })
    h.swarm = sw
    sw.stats.peersSeen = UNKEPT
    sw.on('have', got)
    await sw.setTree(tree)
    if (o.chain && h.id > 0) sw.addAddress({ host: listeners[h.id - 1].host.addr.host, port: PORT }, true)
    // the announce loop: pc-fetch's own (lib/swarm/announce.ts), on the simulated tracker
    const ann = new Announcer('sim:tracker', sw, tracker.announceHost(h, clock))
    sw.on('complete', () => ann.completed())
    void sw.discover(ann.start())
    if (l.leaveAt < end) {
      clock.setTimeout(() => {
        void net.leave(h, goodbye)
        // a vanished peer stays in the tracker's list until it expires
        if (goodbye) void ann.stop(); else clock.setTimeout(() => tracker.stopped(h.addr), EXPIRY_FACTOR * DEFAULT_INTERVAL_S * 1000)
      }, l.leaveAt - clock.now())
    }
  }

  const whole = Math.max(T0 + o.durationMs + o.tailMs, o.joiners ? joinersFrom + o.joiners * JOINER_GAP_MS : 0)
  const end = Math.min(o.untilMs ?? Infinity, whole)
  // a run cut short: what plays after it stopped is not known, nor counted
  const stopAt = end < whole ? end : Infinity
  let originAtJoiners = 0
  if (o.joiners) clock.setTimeout(() => { originAtJoiners = origin.bytesSent }, joinersFrom)
  let lastShown = 0
  const stepMs = 5000
  const show = (): void => {
    if (!o.progress || performance.now() - lastShown <= 5000) return
    lastShown = performance.now()
    // what grows with the run, to see where a large one spends its time: timers fired, the tracker's announces, dials, peer messages, the heap
    let msgs = 0
    for (const k in net.sent) msgs += net.sent[k]
    o.progress(`${o.mode} N=${o.listeners}${shard ? ` shard ${shard.me}/${shard.of}` : ''}: ${(clock.now() / 1000).toFixed(0)} of ${(end / 1000).toFixed(0)} s simulated, ${((performance.now() - wall0) / 1000).toFixed(0)} s wall, origin ${(origin.bytesSent / itemBytes).toFixed(2)}x (${origin.extraAt.length} copies after a chunk's first), ${clock.pending} timers; fired ${clock.fired}, announces ${tracker.announces}, links ${net.linksMade}, refused full ${net.refusedFull}, peer messages ${msgs}, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB${shard ? `; waited for the other shards ${(shard.waitedMs / 1000).toFixed(0)} s, took in theirs ${(shard.tookMs / 1000).toFixed(0)} s` : ''}`)
  }
  if (shard) {
    // one quantum at a time, everything at its end (what the swarms' promises do then too) before the exchange
    const q = o.quantumMs
    for (let t = 0; t < end;) {
      t = Math.min(end, t + q)
      do await clock.run(t); while (clock.next <= t)
      shard.exchange()
      if (t % stepMs === 0) show()
    }
  } else {
    for (let t = 0; t < end; t += stepMs) {
      await clock.run(Math.min(end, t + stepMs))
      show()
    }
  }
  const wall = (performance.now() - wall0) / 1000

  // playback: from the chunk at the play position, in real time from when it is held;
  // a chunk not held when its turn comes stalls the player until it is
  const firstAudio: number[] = []
  let stalled = 0
  let stallMs = 0
  let completed = 0
  let stayed = 0
  let tunedIn = 0
  for (const l of listeners) {
    const playEnd = Math.min(l.leaveAt, T0 + o.durationMs + o.tailMs, stopAt)
    const f = firstAudioAt(l.haveAt, l.firstChunk, o.mode === 'pc')
    const held = (() => { for (let i = l.firstChunk; i < count; i++) if (Number.isNaN(l.haveAt[i])) return false; return true })()
    if (l.leaveAt >= T0 + o.durationMs) stayed++
    if (held) completed++
    if (l.joinAt < stopAt) tunedIn++
    if (Number.isNaN(f)) { if (Math.min(l.leaveAt, stopAt) > l.joinAt + 10_000) stalled++; continue }
    firstAudio.push(f - l.joinAt)
    const my = stallAfter(l.haveAt, l.firstChunk, f, playEnd, o.chunkBytes, byteRate)
    if (my > 0) stalled++
    stallMs += my
  }
  let sentByPeers = 0
  let uploadedBySwarms = 0
  let receivedFromPeers = 0
  let receivedFromOrigin = 0
  const up: number[] = []
  for (const l of listeners) {
    sentByPeers += l.host.bytesSent
    up.push(l.host.bytesSent / itemBytes)
    const s = l.host.swarm?.stats
    if (s) { uploadedBySwarms += s.bytesUploaded; receivedFromPeers += s.bytesFromPeers; receivedFromOrigin += s.bytesFromOrigin }
  }
  if (o.mode !== 'pc') { receivedFromPeers = net.pieceBytesDelivered; receivedFromOrigin = origin.bytesSent; uploadedBySwarms = sentByPeers }
  // every run leaves the swarms closed (their timers go with them), on a clock that keeps no timer any more
  clock.halt()
  for (const l of listeners) void l.host.swarm?.close(false)
  const tally: Tally = {
    listeners: stopAt < Infinity ? tunedIn : listeners.length,
    tunedIn,
    firstAudio,
    stalled,
    stallMs,
    completed,
    stayed,
    up,
    sentByPeers,
    uploadedBySwarms,
    receivedFromPeers,
    receivedFromOrigin,
    deliveredByNet: net.pieceBytesDelivered,
    originBytes: origin.bytesSent,
    // a plain HTTP listener's stream is not counted (SimOrigin.copies)
    copyAt: origin.copyAt,
    fired: clock.fired,
    sent: net.sent,
    piecesWanted: net.piecesWanted,
    piecesUnwanted: net.piecesUnwanted,
  }
  return { tally, listeners, itemBytes, count, end, cut: stopAt < Infinity, wall, originAtJoiners }
}

/** how many of `ts` fall in each `width`-long bin from 0 */
export function bins (ts: number[], width: number): number[] {
  const out: number[] = []
  for (const t of ts) {
    const k = Math.floor(t / width)
    while (out.length <= k) out.push(0)
    out[k]++
  }
  return out
}

