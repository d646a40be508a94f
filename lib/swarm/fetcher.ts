// pc-fetch's engine: reads schedule records in order, opens a swarm per item (hash
// tree from tree-fetch.ts or from peers), announces it to the trackers (announce.ts),
// accepts peer connections on one port for every swarm it holds, writes each item in
// turn while the next one is already being fetched, and keeps serving an item for a
// while after it has been written.
import { createServer, type Server, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, mkdir, appendFile } from 'node:fs/promises'
import { tmpdir, availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import { infoHash, CHUNK_BYTES } from '../hashing/hashtree.js'
import { encodeMagic, encodeFrame } from '../frames/frame.js'
import { fetchLive } from './live-fetch.js'
import { findLiveManifest } from '../live/find.js'
import { writeAll } from '../core/ndjson.js'
import type { ScheduleRecord } from '../core/records.js'
import { Swarm, checkLimit, type SwarmStats } from './swarm.js'
import type { OutputFile } from './store.js'
import { Peer } from './peer.js'
import type { PeerLink } from './link.js'
import { RateLimiter } from './ratelimit.js'
import { ShareLedger, DEFAULT_MAX_SHARE, DEFAULT_FAIR_SHARE } from './uploads.js'
import type { PeerAddress } from './wire.js'
import { emitItem } from './emit.js'
import { realClock, within } from './clock.js'
import { Announcer, LEAVE_GRACE_MS } from './announce.js'
import { treeFromUrls, treeFromGateway, treeFromOrigin } from './tree-fetch.js'
import { VerifyPool, VERIFY_MIN_BYTES } from '../hashing/verify-pool.js'
import { UnavailableError, PcError, DataError } from '../core/errors.js'
import { listenOn } from '../core/listen.js'

/** NEXT frames waiting for a place between frames of the item being written */
const MAX_NEXT_QUEUED = 4096

/** verifier threads for a --raw download into a file, given 2+ cores (-j auto) */
export const AUTO_WORKERS = 2
/** how long to wait for a hash tree from peers before asking the tracker gateway */
export const TREE_FROM_PEERS_MS = 3000
/** incoming connections held at once, over all swarms (FetcherOptions.maxConnections) */
export const MAX_CONNECTIONS = 256
/** how long an incoming connection for a swarm we do not (yet) hold is kept waiting */
export const UNKNOWN_SWARM_WAIT_MS = 3000

export interface FetcherOptions {
  trackers: string[]
  peers: PeerAddress[]
  host: string
  port: number
  raw: boolean
  cacheDir?: string
  keepMs: number
  uploadLimit: number
  /** --max-share: past this × what it received, over every item, the line refuses chunks others can send (uploads.ts; 0: no bound; default DEFAULT_MAX_SHARE) */
  maxShare?: number
  /** --fair-share: past this × what it received, over every item, the line refuses the requests whose sender has another holder at hand (AREQUEST, uploads.ts; 0: never; default DEFAULT_FAIR_SHARE) */
  fairShare?: number
  /** each swarm dials peers while it has fewer than this (SwarmOptions.maxPeers; default members.ts MAX_PEERS) */
  maxPeers?: number
  /** incoming connections held at once, over all swarms (default MAX_CONNECTIONS) */
  maxConnections?: number
  statsFile?: string
  window: number
  deadlineMs: number
  progress: boolean
  /** stdout as a regular file: a one-off --raw fetch writes chunks straight into it (see ChunkStore) */
  output?: OutputFile
  /** threads verifying chunks: 0 none (main thread); undefined auto: one for a one-off download into an output file of VERIFY_MIN_BYTES and more, given 2+ cores */
  workers?: number
  /** the station key for live items (--key); a record's "publicKey" wins */
  publicKey?: Buffer
}

export interface FetcherIo {
  warn: (msg: string) => void
  info: (msg: string) => void
  debug: (msg: string) => void
  progress: (line: string) => void
  signal: AbortSignal
}

interface Item { rec: ScheduleRecord, ready: Promise<Swarm>, swarm?: Swarm }

/**
 * At MAX_CONNECTIONS, the incoming connection that gives way to a new one for swarm `to`
 * (undefined: its handshake has not named it yet, and any swarm still fetching may be
 * it): one of another swarm that holds its whole item (it asks the peer for nothing),
 * not serving the peer and with no request of it waiting, while `to` still fetches. The
 * connections of the item just played held a reachable listener's 256 places when the
 * next item's swarm opened, 10 s before it went on air: the next item's peers were
 * refused, dialled nobody else, and took its first chunks from the origin (bench/sim day,
 * N = 300, 3 items: 629,884 dials refused, 84 % of the listeners stalled, origin 14.8 ×
 * the second item). A connection for a swarm that holds its item takes no place: two
 * such swarms passed their peers' redials back and forth. The oldest such connection of
 * the oldest swarm goes first.
 */
export function yieldingConnection (swarms: Iterable<Swarm>, to?: Swarm): PeerLink | undefined {
  let fetching = to !== undefined && !to.complete && !to.closed
  let found: PeerLink | undefined
  for (const s of swarms) {
    if (s.closed || s === to) continue
    if (!s.complete) { if (to === undefined) fetching = true; continue }
    if (found) continue
    for (const p of s.peers) if (!p.outgoing && !p.closed && !p.serving && p.wanted.length === 0) { found = p; break }
  }
  return fetching ? found : undefined
}

/** connections let in past MAX_CONNECTIONS while their handshake is awaited, each to take the place of one that gives way (yieldingConnection) */
export const MAX_CONNECTIONS_PENDING = 16

/** a live item has no item swarm: it is followed when its turn comes (fetchLive) */
const LIVE_ITEM = new Promise<Swarm>(() => {})

/** Wake every waiter at once. */
class Bell {
  private waiters: Array<() => void> = []
  wait (): Promise<void> { return new Promise(resolve => this.waiters.push(resolve)) }
  ring (): void { const w = this.waiters; this.waiters = []; for (const f of w) f() }
}

export class Fetcher {
  readonly peerId = Buffer.concat([Buffer.from('-PC0001-'), randomBytes(12)])
  port = 0
  private server?: Server
  private readonly swarms = new Map<string, Swarm>()
  private readonly announcers = new Map<Swarm, Announcer[]>()
  private readonly keepTimers = new Map<Swarm, NodeJS.Timeout>()
  private readonly users = new Map<Swarm, number>()
  /** what the --stats line of a swarm's item said, for the line written when pc-fetch leaves it */
  private readonly written = new Map<Swarm, { item: number, url: string, root: string, size: number }>()
  private readonly limiter: RateLimiter
  /** the line's upload against what it received, over every item of this run */
  private readonly share: ShareLedger
  private readonly sockets = new Set<Socket>()
  private cacheDir = ''
  private tempCache = false
  private readonly totals: Omit<SwarmStats, 'peersSeen'> & { peersSeen: Set<string> } =
    { bytesFromOrigin: 0, bytesFromPeers: 0, bytesUploaded: 0, chunksRejected: 0, requestsRefused: 0, peersSeen: new Set() }
  private readonly idle = new Bell()
  private readonly registered = new Bell()
  private itemsDone = 0
  private listening?: Promise<{ host: string, port: number }>

  private readonly verifier?: VerifyPool
  private readonly verifyMinBytes: number
  private readonly maxConnections: number

  constructor (readonly opts: FetcherOptions, readonly io: FetcherIo) {
    this.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS
    // (checked here too, not only when a swarm is made: a bad maxPeers threw then, mid-run)
    checkLimit('maxConnections', this.maxConnections)
    if (opts.maxPeers !== undefined) checkLimit('maxPeers', opts.maxPeers)
    this.limiter = new RateLimiter(opts.uploadLimit)
    this.share = new ShareLedger(opts.maxShare ?? DEFAULT_MAX_SHARE, opts.fairShare ?? DEFAULT_FAIR_SHARE)
    // two threads beside the main one, even on two cores: BLAKE2b at ~580 MB/s a core is
    // the bottleneck of a download into a file (256 MiB: medians 0.98 s with one, 0.78 s with two)
    const workers = opts.workers ?? (availableParallelism() >= 2 ? AUTO_WORKERS : 0)
    // its threads start with the first item big enough to need them
    if (workers > 0) this.verifier = new VerifyPool(workers, CHUNK_BYTES, io.warn)
    this.verifyMinBytes = opts.workers === undefined ? VERIFY_MIN_BYTES : 0
  }

  /**
   * Create the cache and listen for peers; resolves to the bound address. run() may be
   * called at once: it fetches the first item's hash tree meanwhile (start-up is on the
   * path to the first byte) and waits for this before it needs the port or the cache.
   */
  start (): Promise<{ host: string, port: number }> {
    this.listening ??= Promise.all([this.makeCache(), this.listen()]).then(() => ({ host: this.opts.host, port: this.port }))
    return this.listening
  }

  private async makeCache (): Promise<void> {
    if (this.opts.cacheDir) { await mkdir(this.opts.cacheDir, { recursive: true }); this.cacheDir = this.opts.cacheDir } else {
      this.cacheDir = await mkdtemp(join(tmpdir(), 'pc-fetch-'))
      this.tempCache = true
    }
  }

  private async listen (): Promise<void> {
    const server = createServer((s) => this.incoming(s))
    this.server = server
    await listenOn(server, this.opts.port, this.opts.host)
    server.on('error', (e) => this.io.warn(`peer port: ${e.message}`))
    const a = server.address()
    this.port = typeof a === 'object' && a ? a.port : this.opts.port
  }

  private incoming (s: Socket): void {
    // at the limit, one is let in (a few at a time) only while a connection may give way to it once its handshake names its swarm (route)
    const max = this.maxConnections
    if (this.sockets.size >= max && (this.sockets.size >= max + MAX_CONNECTIONS_PENDING || !yieldingConnection(this.swarms.values()))) { s.destroy(); return }
    this.sockets.add(s)
    s.on('close', () => this.sockets.delete(s))
    const p = new Peer(s, false, `${(s.remoteAddress ?? '?').replace(/^::ffff:/, '')}:${s.remotePort ?? 0}`)
    p.on('dropped', (why: string) => { if (!p.remote) this.io.debug(`peer ${p.address}: ${why}`) })
    p.once('handshake', () => { void this.route(p) })
  }

  /**
   * Hand an incoming connection to its swarm. A swarm we are about to join (its record
   * is on its way, as at an item boundary) is waited for a little before the peer is dropped.
   */
  private async route (p: Peer): Promise<void> {
    const key = p.remote!.infoHash.toString('hex')
    const until = Date.now() + UNKNOWN_SWARM_WAIT_MS
    let sw = this.swarms.get(key)
    while (!sw && !p.closed && Date.now() < until && !this.io.signal.aborted) {
      await within(realClock, this.registered.wait(), Math.max(1, until - Date.now()))
      sw = this.swarms.get(key)
    }
    if (!sw || sw.closed) { p.drop('unknown swarm'); return }
    if (this.sockets.size > this.maxConnections && !p.closed) {
      const idle = yieldingConnection(this.swarms.values(), sw)
      if (!idle) { p.drop(`more than ${this.maxConnections} connections`); return }
      idle.drop('making room for a swarm still fetching')
    }
    if (!p.closed) sw.attach(p)
  }

  /** Fetch and write every record in order; resolves when all are written and kept. */
  async run (records: AsyncIterable<ScheduleRecord>, out: Writable, oneOff = false): Promise<void> {
    const items: Item[] = []
    const nexts: Buffer[] = []
    const bell = new Bell()
    let inputDone = false
    let inputError: unknown
    const signal = this.io.signal
    signal.addEventListener('abort', () => { bell.ring(); this.idle.ring() }, { once: true })
    const producer = (async () => {
      for await (const rec of records) {
        // "up next" (pc-schedule --announce): passed on as a NEXT frame, not fetched
        if (rec.announce === true) { if (!this.opts.raw && nexts.length < MAX_NEXT_QUEUED) nexts.push(encodeFrame({ type: 'next', item: 0, record: rec })); continue }
        while (items.length >= 2 && !signal.aborted) await bell.wait()
        if (signal.aborted) return
        const it: Item = { rec, ready: rec.live ? LIVE_ITEM : this.openSwarm(rec, oneOff).then(sw => this.use(sw)) }
        it.ready.then(sw => { it.swarm = sw }, () => {})
        items.push(it)
        bell.ring()
      }
    })().then(() => { inputDone = true }, (e: unknown) => { inputError = e }).finally(() => bell.ring())
    // a download into a file is likely big: have the verifier thread load meanwhile
    if (oneOff && this.opts.raw && this.opts.output && this.opts.workers === undefined) this.verifier?.warm()
    await this.start()
    if (!this.opts.raw) await writeAll(out, encodeMagic())
    let n = 0
    // the next item's START goes out as soon as its swarm is ready, between frames of the
    // current one (pc-frames(5) allows it): a sink knows what is coming (pc-icecast /next.json)
    let announced = -1
    const startOf = (it: Item, sw: Swarm, item: number): Buffer =>
      encodeFrame({ type: 'start', item, header: { ...it.rec, size: sw.tree!.size, chunkSize: sw.tree!.chunkSize } })
    const ahead = (): Buffer | undefined => {
      if (nexts.length) return Buffer.concat(nexts.splice(0))
      const next = items[1]
      if (this.opts.raw || announced === n + 1 || !next?.swarm?.tree) return undefined
      announced = n + 1
      return startOf(next, next.swarm, n + 1)
    }
    for (;;) {
      while (!items.length && !inputDone && inputError === undefined && !signal.aborted) await bell.wait()
      if (signal.aborted) break
      if (inputError !== undefined) throw inputError
      const it = items[0]
      if (!it) break
      if (it.ready === LIVE_ITEM) {
        try { await this.followLive(it.rec, out, n) } catch (e) {
          if (oneOff || !(e instanceof PcError)) throw e
          this.io.warn(`${e.message}; skipping this live item`)
        }
        n++; this.itemsDone++; items.shift(); bell.ring()
        continue
      }
      let swarm: Swarm
      try { swarm = await it.ready } catch (e) {
        if (oneOff || !(e instanceof PcError) || e instanceof DataError) throw e
        this.io.warn(`${e.message}; skipping this item`)
        items.shift(); bell.ring()
        continue
      }
      const tree = swarm.tree!
      const progress = this.opts.progress ? setInterval(() => this.showProgress(swarm, n), 1000) : undefined
      try {
        await emitItem(swarm, out, { item: n, start: announced === n ? undefined : startOf(it, swarm, n), raw: this.opts.raw, window: this.opts.window, signal, between: ahead })
      } finally { clearInterval(progress) }
      const item = { item: n, url: it.rec.url, root: tree.root.toString('hex'), size: tree.size }
      this.written.set(swarm, item)
      await this.writeStats({ type: 'item', ...item, gaps: swarm.gaveUp.size, ...this.statsOf(swarm) })
      n++
      this.itemsDone++
      items.shift()
      bell.ring()
      this.release(swarm)
    }
    await producer
    // serve what we hold for --keep, then leave
    while (this.swarms.size > 0 && !signal.aborted) await this.idle.wait()
  }

  /**
   * A live item: its manifest, then its swarm until the slot or the show ends (pc-fetch(1)
   * LIVE MODE). Its peers connect to a port of its own, not --port.
   */
  private async followLive (rec: ScheduleRecord, out: Writable, item: number): Promise<void> {
    const found = await findLiveManifest(rec.url, this.io.signal)
    if (!found) throw new DataError('a live item, but no live manifest at its URL', rec.url)
    const o = this.opts
    const st = await fetchLive(rec, found, out, {
      trackers: o.trackers, peers: o.peers, host: o.host, port: 0, raw: o.raw, publicKey: o.publicKey,
      deadlineMs: Math.max(o.deadlineMs, 2 * found.manifest.chunkMs), magic: false, item,
    }, this.io)
    const { peersSeen, ...counts } = st
    await this.writeStats({ type: 'item', item, url: rec.url, live: true, ...counts, peersSeen: peersSeen.size })
  }

  private statsOf (s: Swarm): Record<string, number> {
    const { bytesFromOrigin, bytesFromPeers, bytesUploaded, chunksRejected, requestsRefused } = s.stats
    return { bytesFromOrigin, bytesFromPeers, bytesUploaded, chunksRejected, requestsRefused, peersSeen: s.stats.peersSeen.size }
  }

  private showProgress (s: Swarm, n: number): void {
    const st = s.store
    if (!st) return
    const f = (b: number): string => (b / 1048576).toFixed(1) + 'M'
    this.io.progress(`item ${n}: ${st.held}/${st.count} chunks, origin ${f(s.stats.bytesFromOrigin)}, peers ${f(s.stats.bytesFromPeers)}, up ${f(s.stats.bytesUploaded)}, ${s.peers.size} peers`)
  }

  private async writeStats (rec: object): Promise<void> {
    if (!this.opts.statsFile) return
    try { await appendFile(this.opts.statsFile, JSON.stringify(rec) + '\n') } catch (e) { this.io.warn(`--stats ${this.opts.statsFile}: ${(e as Error).message}`) }
  }

  /** An item about to be written holds its swarm: no --keep timer may close it meanwhile. */
  private use (s: Swarm): Swarm {
    this.users.set(s, (this.users.get(s) ?? 0) + 1)
    clearTimeout(this.keepTimers.get(s))
    this.keepTimers.delete(s)
    return s
  }

  /** The item is written; once no queued item uses the swarm, it is kept for --keep. */
  private release (s: Swarm): void {
    const n = (this.users.get(s) ?? 1) - 1
    if (n > 0) { this.users.set(s, n); return }
    this.users.delete(s)
    this.keep(s)
  }

  private keep (s: Swarm): void {
    clearTimeout(this.keepTimers.get(s))
    this.keepTimers.set(s, setTimeout(() => { void this.closeSwarm(s, true) }, this.opts.keepMs))
  }

  private async closeSwarm (s: Swarm, polite: boolean): Promise<void> {
    clearTimeout(this.keepTimers.get(s))
    this.keepTimers.delete(s)
    if (this.swarms.get(s.infoHashHex) === s) this.swarms.delete(s.infoHashHex)
    const ann = this.announcers.get(s) ?? []
    this.announcers.delete(s)
    await Promise.all([s.close(polite, polite ? LEAVE_GRACE_MS : 0), ...ann.map(a => a.stop())])
    const item = this.written.get(s)
    this.written.delete(s)
    // the item's counters once its swarm is left: uploads go on after the item was written
    if (item) await this.writeStats({ type: 'left', ...item, ...this.statsOf(s) })
    this.totals.bytesFromOrigin += s.stats.bytesFromOrigin
    this.totals.bytesFromPeers += s.stats.bytesFromPeers
    this.totals.bytesUploaded += s.stats.bytesUploaded
    this.totals.chunksRejected += s.stats.chunksRejected
    this.totals.requestsRefused += s.stats.requestsRefused
    for (const id of s.stats.peersSeen) this.totals.peersSeen.add(id)
    this.idle.ring()
  }

  /** Leave every swarm (politely: goodbye, announce stopped, uploads finish) and stop listening. */
  async close (polite: boolean): Promise<void> {
    await Promise.all([...this.keepTimers.keys(), ...this.swarms.values()].filter((s, i, a) => a.indexOf(s) === i).map(s => this.closeSwarm(s, polite)))
    this.server?.close()
    for (const s of this.sockets) s.destroy()
    await this.verifier?.close()
    const t = this.totals
    await this.writeStats({ type: 'exit', items: this.itemsDone, bytesFromOrigin: t.bytesFromOrigin, bytesFromPeers: t.bytesFromPeers, bytesUploaded: t.bytesUploaded, chunksRejected: t.chunksRejected, requestsRefused: t.requestsRefused, peersSeen: t.peersSeen.size })
    if (this.tempCache) await rm(this.cacheDir, { recursive: true, force: true })
  }

  // ---- opening an item's swarm ------------------------------------------------

  private async openSwarm (rec: ScheduleRecord, oneOff: boolean): Promise<Swarm> {
    if (!/^https?:\/\//i.test(rec.url)) throw new DataError(`not an http(s) URL: ${rec.url}`, oneOff ? undefined : rec.url)
    if (rec.root) {
      // the swarm is known at once: join it as soon as the port is open, while the tree is on its way
      const root = Buffer.from(rec.root, 'hex')
      const fetching = this.swarms.get(infoHash(root).toString('hex'))?.tree ? undefined : treeFromUrls(rec, this.io, root)
      await this.start()
      const s = this.reuse(root) ?? this.createSwarm(rec, root, oneOff)
      if (!s.tree) {
        const tree = await (fetching ?? treeFromUrls(rec, this.io, root))
        if (tree && !s.tree) await s.setTree(tree)
      }
      return await this.withTree(s, rec)
    }
    let originBytes = 0
    let tree = await treeFromUrls(rec, this.io) ?? await treeFromGateway(rec, this.opts.trackers, this.io)
    await this.start()
    if (!tree) {
      const r = await treeFromOrigin(rec, this.cacheDir, this.io)
      tree = r.tree
      originBytes = r.bytes
    }
    const s = this.reuse(tree.root) ?? this.createSwarm(rec, tree.root, oneOff)
    s.stats.bytesFromOrigin += originBytes
    if (!s.tree) await s.setTree(tree)
    return s
  }

  private reuse (root: Buffer): Swarm | undefined {
    const s = this.swarms.get(infoHash(root).toString('hex'))
    if (s) { clearTimeout(this.keepTimers.get(s)); this.keepTimers.delete(s) }
    return s
  }

  private createSwarm (rec: ScheduleRecord, root: Buffer, oneOff: boolean): Swarm {
    const output = oneOff && this.opts.raw ? this.opts.output : undefined
    // by default threads verify only downloads into a file, where speed is the point; a
    // stream is paced by its consumer, and a thread costs ~20 MB (a long-running listener's memory)
    const swarm = new Swarm({
      url: rec.url, root, infoHash: infoHash(root), peerId: this.peerId, port: this.port, cacheDir: this.cacheDir,
      removeCache: this.tempCache, window: this.opts.window, deadlineMs: this.opts.deadlineMs,
      playFraction: !this.opts.raw && rec.duration && rec.offset ? Math.min(1, rec.offset / rec.duration) : 0,
      durationMs: !this.opts.raw && rec.duration ? rec.duration : undefined,
      limiter: this.limiter, share: this.share, maxPeers: this.opts.maxPeers, output, verifier: this.opts.workers !== undefined || output ? this.verifier : undefined, verifyMinBytes: this.verifyMinBytes, warn: this.io.warn, debug: this.io.debug,
    })
    swarm.on('error', (e: Error) => this.io.warn(`${rec.url}: ${e.message}`))
    swarm.on('complete', () => { for (const a of this.announcers.get(swarm) ?? []) a.completed() })
    this.swarms.set(swarm.infoHashHex, swarm)
    this.registered.ring()
    const anns = this.opts.trackers.map(u => new Announcer(u, swarm, this))
    this.announcers.set(swarm, anns)
    const announced = Promise.all(anns.map(a => a.start()))
    for (const p of this.opts.peers) swarm.addAddress(p, true)
    void swarm.discover(announced, this.io.signal)
    return swarm
  }

  /** Wait for a swarm opened by root alone to get its tree from peers, else the gateway. */
  private async withTree (s: Swarm, rec: ScheduleRecord): Promise<Swarm> {
    if (s.tree) return s
    const got = new Promise<void>(resolve => s.once('tree', () => resolve()))
    await within(realClock, got, TREE_FROM_PEERS_MS, this.io.signal)
    if (!s.tree && !this.io.signal.aborted) {
      const t = await treeFromGateway(rec, this.opts.trackers, this.io, s.opts.root)
      if (t) await s.setTree(t)
    }
    if (!s.tree) await within(realClock, got, TREE_FROM_PEERS_MS, this.io.signal)
    if (!s.tree) await this.closeSwarm(s, false)
    if (!s.tree) throw new UnavailableError('no hash tree: not published, no peer has it and no gateway gave it', rec.url)
    return s
  }
}
