// A day's schedule, compressed: several items back to back, each its own swarm (as
// pc-fetch opens one per record), played to one audience that tunes in and out across
// them. What it measures is issue 13's upload target over a day: each listener's bytes
// uploaded ÷ the bytes of the items it listened to (its share), by line class.
//
// The audience is a steady state of N: N listeners are there when the day starts, and
// others tune in all through it at the rate that keeps N (N ÷ the mean session); every
// session is drawn as population.ts draws it (exponential, HOME.sessionMeanMs; half of
// those who leave vanish without a goodbye). As pc-schedule --follow and pc-fetch do, a
// listener opens the next item's swarm `leadMs` before it goes on air (pc-schedule's
// --lead), with the record's offset 0, and keeps serving an item for `keepMs` after it
// ended (pc-fetch's --keep); one tuning in mid-item opens that item at its offset. One
// pc-fetch uses one peer id and one upload line for all its items, so a listener has one
// here too, and its share bound (pc-fetch --max-share, lib/swarm/uploads.ts) counts over
// the day.
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import { ShareLedger, DEFAULT_MAX_SHARE, DEFAULT_FAIR_SHARE } from '../../lib/swarm/uploads.js'
import { infoHash, leafHash } from '../../lib/hashing/hashtree.js'
import { Announcer } from '../../lib/swarm/announce.js'
import { EXPIRY_FACTOR } from '../../lib/tracker/swarms.js'
import { DEFAULT_INTERVAL_S } from '../../lib/tracker/client.js'
import { SimClock } from './clock.js'
import { Host, SimNet, SimOrigin, SimTracker, UNKEPT } from './net.js'
import { Rng, homeHost, HOME } from './population.js'
import { firstAudioAt, makeItem, quantile, stallAfter, type Item, type ScenarioOptions } from './scenario.js'

export interface DayOptions extends ScenarioOptions {
  /** items in the day, each `durationMs` long, back to back */
  items: number
  /** a listener opens the next item's swarm this long before it goes on air (pc-schedule --lead) */
  leadMs: number
  /** and serves an item this long after it ended (pc-fetch --keep) */
  keepMs: number
  /** the line classes whose listeners set `maxShare` (pc-fetch --max-share); none given: every listener */
  maxShareClasses?: LineClass[]
}

export const DAY_DEFAULTS = { items: 10, leadMs: 10_000, keepMs: 300_000 }

/** a line that accepts connections and sends at least this (bit/s) is "reachable fast" */
export const FAST_UP_BPS = 10e6

export type LineClass = 'reachable fast' | 'reachable slow' | 'unreachable'
export const CLASSES: LineClass[] = ['reachable fast', 'reachable slow', 'unreachable']

export interface DayListener {
  host: Host
  joinAt: number
  leaveAt: number
  cls: LineClass
  /** the items it tuned in to, in order */
  items: number[]
  /** per item it tuned in to: when it opened the swarm, the chunk it played from, when each chunk was held */
  opened: number[]
  firstChunk: number[]
  haveAt: Float64Array[]
  /** its swarms, one per item it tuned in to */
  swarms: Swarm[]
  /** bytes uploaded (all its swarms) ÷ (items tuned in to × the item's bytes) */
  share: number
  stallMs: number
  /** one pc-fetch's upload limit, over all its swarms */
  limiter: RateLimiter
  /** its line's upload against what it received over its items (pc-fetch --max-share) */
  ledger: ShareLedger
  /** its first audio of each item it tuned in to mid-item, ms */
  firstAudio: number[]
}

export interface ShareFigures { listeners: number, mean: number, p99: number, max: number, over4: number }

/** The listeners that set a share bound, or those that did not: their share, stalls and first audio. */
export interface BoundFigures { share: ShareFigures, stalledShare: number, stallSeconds: number, firstAudioMs: { median: number, p95: number } }

export interface DayResult {
  options: Omit<DayOptions, 'progress'>
  itemBytes: number
  chunks: number
  /** origin bytes ÷ (items × item bytes): the origin's load per item */
  originRatio: number
  originBytes: number
  /** per item, what the origin sent for it ÷ the item (counted by the listeners) */
  originPerItem: number[]
  listeners: number
  /** of the listeners, those with any stall; the stall time of all, s */
  stalledShare: number
  stallSeconds: number
  /** listeners tuning in (mid-item, or within `leadMs` before it): from tuning in to the first chunk played, ms */
  firstAudioMs: { median: number, p95: number }
  share: ShareFigures
  byClass: Record<LineClass, ShareFigures>
  /** with a share bound (`maxShare`), the listeners that set it and the others */
  byBound?: { bounded: BoundFigures, others: BoundFigures }
  /** the upload ÷ item of each swarm (one listener, one item), as the item scenarios count it: mean, max */
  perItem: { mean: number, max: number }
  /** pieces that arrived still asked for, and after their request was cancelled (counted in the sender's share all the same) */
  pieces: { wanted: number, unwanted: number }
  /** requests answered REJECT by a listener at its share (uploads.ts refuseBeyondShares), over the day */
  shareRefused: number
  /** requests asked with AREQUEST answered REJECT by a listener past its fair share (uploads.ts refuseBeyondShares), over the day */
  fairRefused: number
  /** dials refused because the far host held pc-fetch's MAX_CONNECTIONS incoming connections (over all its swarms) */
  refusedFull: number
  /** connections dropped by a host at that limit to make room for a dial (fetcher.ts yieldingConnection) */
  yielded: number
  conservation: { receivedFromPeers: number, deliveredByNet: number, sentByPeers: number, uploadedBySwarms: number, uploadedByListeners: number, receivedFromOrigin: number, sentByOrigin: number }
  simSeconds: number
  wallSeconds: number
  peakRssMiB: number
  dayListeners?: DayListener[]
}

const PORT = 6881

function figures (xs: number[]): ShareFigures {
  return { listeners: xs.length, mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), p99: quantile(xs, 0.99), max: Math.max(0, ...xs), over4: xs.filter(x => x > 4).length }
}

export function classOf (h: Host): LineClass {
  if (h.spec.nat) return 'unreachable'
  return h.spec.upBytesPerMs * 8000 >= FAST_UP_BPS ? 'reachable fast' : 'reachable slow'
}

export async function runDay (o: DayOptions, keepListeners = false): Promise<DayResult> {
  const wall0 = performance.now()
  const rng = new Rng(o.seed)
  const itemBytes = Math.round(o.bitrate / 8 * o.durationMs / 1000)
  const items: Item[] = []
  for (let k = 0; k < o.items; k++) items.push(makeItem(itemBytes, o.chunkBytes))
  const count = items[0].chunks.length
  const byteRate = o.bitrate / 8 / 1000
  const clock = new SimClock(o.quantumMs)
  const net = new SimNet(clock, rng)
  if (o.maxIncoming !== undefined) net.maxIncoming = o.maxIncoming
  // one web server for the day: one bounded upload for every item
  const origin = new SimOrigin(clock, net, items[0].chunks, Number.isFinite(o.originRateFactor) ? o.originRateFactor * byteRate : Infinity, 20)
  const trackers = items.map(() => new SimTracker(rng, o.numwant))
  const hashes = items.map(it => infoHash(it.tree.root))
  const hexes = hashes.map(h => h.toString('hex'))
  const checks = items.map(it => (i: number, d: Buffer): boolean => d === it.chunks[i] || leafHash(d).equals(it.tree.leaves[i]))
  // item k goes on air at airAt(k)
  const T0 = 1000 + o.leadMs
  const airAt = (k: number): number => T0 + k * o.durationMs
  const dayEnd = airAt(o.items)
  const end = dayEnd + o.tailMs
  const listeners: DayListener[] = []

  // the audience: N there at the start, then arrivals at N per mean session
  const arrivals: number[] = []
  for (let k = 0; k < o.listeners; k++) arrivals.push(0)
  for (let t = rng.exp(HOME.sessionMeanMs / o.listeners); t < dayEnd - T0 - 1000; t += rng.exp(HOME.sessionMeanMs / o.listeners)) arrivals.push(T0 + t)
  for (const [k, at] of arrivals.entries()) {
    const spec = homeHost(rng)
    const leaveAt = o.churn ? Math.max(at, T0 - o.leadMs) + rng.exp(HOME.sessionMeanMs) : Infinity
    const goodbye = rng.next() < HOME.goodbyeShare
    const peerId = Buffer.concat([Buffer.from('-PC0001-'), rng.bytes(12)])
    const host = new Host(k, { host: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, port: PORT }, spec)
    net.add(host)
    const cls = classOf(host)
    const bounded = o.maxShareClasses === undefined || o.maxShareClasses.includes(cls)
    const l: DayListener = { host, joinAt: at, leaveAt, cls, items: [], opened: [], firstChunk: [], haveAt: [], swarms: [], share: 0, stallMs: 0, limiter: new RateLimiter(0), ledger: new ShareLedger(bounded ? o.maxShare ?? DEFAULT_MAX_SHARE : 0, o.fairShare ?? DEFAULT_FAIR_SHARE), firstAudio: [] }
    listeners.push(l)
    // the items it is there for: opened `leadMs` before air, or when it tunes in mid-item
    for (let k2 = 0; k2 < o.items; k2++) {
      const open = Math.max(at, airAt(k2) - o.leadMs)
      if (open >= leaveAt || open > airAt(k2) + o.durationMs - 1000) continue
      clock.setTimeout(() => { void openItem(l, k2, peerId, open) }, open)
    }
    if (leaveAt < end) {
      clock.setTimeout(() => {
        void net.leave(host, goodbye)
        // a vanished peer stays in the trackers' lists until it expires
        for (const [k2, tr] of trackers.entries()) {
          if (!l.items.includes(k2)) continue
          if (goodbye) tr.stopped(host.addr); else clock.setTimeout(() => tr.stopped(host.addr), EXPIRY_FACTOR * DEFAULT_INTERVAL_S * 1000)
        }
      }, leaveAt)
    }
  }

  async function openItem (l: DayListener, k: number, peerId: Buffer, open: number): Promise<void> {
    const h = l.host
    if (!h.online) return
    const offset = Math.max(0, open - airAt(k))
    const haveAt = new Float64Array(count).fill(NaN)
    l.items.push(k)
    l.opened.push(open)
    l.firstChunk.push(Math.min(count - 1, Math.floor(offset * byteRate / o.chunkBytes)))
    l.haveAt.push(haveAt)
    const it = items[k]
    const sw = new Swarm({
      url: `http://origin.test/item${k}`, root: it.tree.root, infoHash: hashes[k], peerId, port: PORT, cacheDir: '', removeCache: false,
      window: o.window, deadlineMs: o.deadlineMs, playFraction: offset / o.durationMs, durationMs: o.durationMs, limiter: l.limiter, share: l.ledger, maxPeers: o.maxPeers,
      warn: () => {}, debug: () => {}, clock, connect: net.connector(h, hexes[k]), origin: origin.source(h, it.chunks),
      store: (t) => new MemoryStore(t, { keepBuffers: true, check: checks[k] }),
    })
    l.swarms.push(sw)
    sw.stats.peersSeen = UNKEPT
    h.swarms ??= new Map()
    h.swarms.set(hexes[k], sw)
    sw.on('have', (i: number) => { if (Number.isNaN(haveAt[i])) haveAt[i] = clock.now() })
    await sw.setTree(it.tree)
    const ann = new Announcer('sim:tracker', sw, trackers[k].announceHost(h, clock))
    sw.on('complete', () => ann.completed())
    void sw.discover(ann.start())
    // served for keepMs after the item ended, then left politely (unless the listener left before)
    const closeAt = airAt(k) + o.durationMs + o.keepMs
    if (closeAt < l.leaveAt && closeAt < end) {
      clock.setTimeout(() => {
        if (!h.online) return
        h.swarms?.delete(hexes[k])
        void ann.stop()
        void sw.close(true, 2000)
      }, closeAt - clock.now())
    }
  }

  let lastShown = 0
  for (let t = 0; t < end; t += 5000) {
    await clock.run(Math.min(end, t + 5000))
    if (o.progress && performance.now() - lastShown > 5000) {
      lastShown = performance.now()
      o.progress(`day N=${o.listeners}: ${(clock.now() / 1000).toFixed(0)} of ${(end / 1000).toFixed(0)} s simulated, ${((performance.now() - wall0) / 1000).toFixed(0)} s wall, origin ${(origin.bytesSent / itemBytes).toFixed(2)}x the item, ${clock.pending} timers`)
    }
  }
  const wall = (performance.now() - wall0) / 1000

  // playback of each item a listener tuned in to: one there before the item went on air
  // plays chunk 0 at the air time (a chunk held later is a stall); one tuning in mid-item
  // plays from the chunk at its position once it is held (as the item scenarios count it)
  const firstAudio: number[] = []
  let stalled = 0
  let stallMs = 0
  const originPerItem = items.map(() => 0)
  const perItem: number[] = []
  let sentByPeers = 0
  let uploadedBySwarms = 0
  let receivedFromPeers = 0
  let receivedFromOrigin = 0
  for (const l of listeners) {
    let my = 0
    for (const [j, k] of l.items.entries()) {
      const haveAt = l.haveAt[j]
      const first = l.firstChunk[j]
      const air = airAt(k)
      const playEnd = Math.min(l.leaveAt, air + o.durationMs + o.tailMs)
      let t: number
      if (l.opened[j] <= air - o.leadMs) {
        // there when the item was announced: its chunk 0 is due on air
        const f = haveAt[0]
        if (Number.isNaN(f) || f > air) { const until = Number.isNaN(f) ? playEnd : Math.min(f, playEnd); my += Math.max(0, until - air); if (Number.isNaN(f)) continue; t = f } else t = air
      } else {
        // tuning in (shortly before the item or during it): first audio once pc-fetch has written what comes before its first chunk, and that (not before air)
        const f = firstAudioAt(haveAt, first, true)
        if (Number.isNaN(f)) continue
        firstAudio.push(Math.max(f, air) - l.opened[j])
        l.firstAudio.push(Math.max(f, air) - l.opened[j])
        t = Math.max(f, air)
      }
      my += stallAfter(haveAt, first, t, playEnd, o.chunkBytes, byteRate)
    }
    if (my > 0) stalled++
    stallMs += my
    l.stallMs = my
    sentByPeers += l.host.bytesSent
    for (const [j, sw] of l.swarms.entries()) {
      uploadedBySwarms += sw.stats.bytesUploaded
      receivedFromPeers += sw.stats.bytesFromPeers
      receivedFromOrigin += sw.stats.bytesFromOrigin
      originPerItem[l.items[j]] += sw.stats.bytesFromOrigin / itemBytes
      perItem.push(sw.stats.bytesUploaded / itemBytes)
    }
    l.share = l.items.length ? l.host.bytesSent / (l.items.length * itemBytes) : 0
  }
  clock.halt()
  for (const l of listeners) for (const sw of l.swarms) void sw.close(false)
  const tuned = listeners.filter(l => l.items.length > 0)
  const byClass = Object.fromEntries(CLASSES.map(c => [c, figures(tuned.filter(l => l.cls === c).map(l => l.share))])) as Record<LineClass, ShareFigures>
  const boundFigures = (ls: DayListener[]): BoundFigures => {
    const fa = ls.flatMap(l => l.firstAudio)
    return { share: figures(ls.map(l => l.share)), stalledShare: ls.filter(l => l.stallMs > 0).length / Math.max(1, ls.length), stallSeconds: ls.reduce((a, l) => a + l.stallMs, 0) / 1000, firstAudioMs: { median: quantile(fa, 0.5), p95: quantile(fa, 0.95) } }
  }
  const byBound = (o.maxShare ?? 0) > 0 ? { bounded: boundFigures(tuned.filter(l => l.ledger.maxShare > 0)), others: boundFigures(tuned.filter(l => l.ledger.maxShare === 0)) } : undefined
  const { progress: _p, ...options } = o
  void _p
  return {
    options,
    itemBytes,
    chunks: count,
    originRatio: origin.bytesSent / (o.items * itemBytes),
    originBytes: origin.bytesSent,
    originPerItem,
    listeners: tuned.length,
    stalledShare: stalled / Math.max(1, tuned.length),
    stallSeconds: stallMs / 1000,
    firstAudioMs: { median: quantile(firstAudio, 0.5), p95: quantile(firstAudio, 0.95) },
    share: figures(tuned.map(l => l.share)),
    byClass,
    byBound,
    perItem: { mean: perItem.reduce((a, b) => a + b, 0) / Math.max(1, perItem.length), max: Math.max(0, ...perItem) },
    pieces: { wanted: net.piecesWanted, unwanted: net.piecesUnwanted },
    shareRefused: listeners.reduce((a, l) => a + l.ledger.refused, 0),
    fairRefused: listeners.reduce((a, l) => a + l.ledger.fairRefused, 0),
    refusedFull: net.refusedFull,
    yielded: net.yielded,
    conservation: { receivedFromPeers, deliveredByNet: net.pieceBytesDelivered, sentByPeers: net.pieceBytesSent, uploadedBySwarms, uploadedByListeners: sentByPeers, receivedFromOrigin, sentByOrigin: origin.bytesSent },
    simSeconds: end / 1000,
    wallSeconds: wall,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    dayListeners: keepListeners ? listeners : undefined,
  }
}
