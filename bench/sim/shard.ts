// A run split over worker threads (`--shards K`): each thread, a shard, runs the swarms of
// the listeners whose number is its own modulo K, on its own clock, network, tracker copy
// and web server queue; the shards step together one quantum of the clock at a time and,
// between two steps, hand each other what crossed: dials, messages, pieces, closes, the
// tracker's additions and the web server's upload time. Nothing sent arrives sooner than
// one quantum later (every one-way delay is at least 5 ms, and arrivals fall on the
// quantum's multiples), so what one shard hands over at the end of a step is never late
// for the other. A seed and K give the same run every time.
import { Worker, MessageChannel, receiveMessageOnPort, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { TreeBuilder } from '../../lib/hashing/hashtree.js'
import { runShardOf, resultOf, addTallies, type Item, type ScenarioOptions, type Result, type Tally } from './scenario.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'
import type { Incoming } from '../../lib/swarm/link.js'
import { HANDSHAKE_TIMEOUT_MS } from '../../lib/swarm/peer.js'
import type { Host, RemoteEnd, SimNet, SimOrigin, SimTracker } from './net.js'

// what crosses, each a kind then its numbers (Float64Array)
const EV_CONNECT = 1 // pair, from, to, dialled at, rtt
const EV_REFUSE = 2 // at, pair: the dialler's end closes
const EV_NAT = 3 // at, pair: the dialler's end is dropped, no handshake
const EV_MSG = 4 // at, pair, type, …
const EV_PIECE = 5 // first byte at, pair, last byte at, bytes, rtt, loss, index
const EV_CLOSE = 6 // at, pair: the end closes once what came before has arrived
const EV_GONE = 7 // at, pair: the far end is gone (what it sent is lost); the end closes at `at`
const EV_TRACKER = 8 // added (1) or taken out (0), host
const EV_ORIGIN = 9 // ms of the web server's upload taken

// message types
const T_HANDSHAKE = 1 // port, version (0: none), flags
const T_BITFIELD = 2 // count, bytes, …
const T_HAVE = 3
const T_CANCEL = 4
const T_REJECT = 5
const T_REQUEST = 6 // index, alt
const T_PEX = 7 // n, (host, port) × n
const T_GOODBYE = 8
const T_KEEPALIVE = 9
const T_TREE_REQUEST = 10
const T_ASKED = 11 // first, count, score (NaN: none)
const T_PEXFULL = 12 // full
const INDEXED = { have: T_HAVE, cancel: T_CANCEL, reject: T_REJECT } as const

/** what one shard hands another at a step, growing as it is written */
export class Outbox {
  buf = new Float64Array(4096)
  n = 0
  push (x: number): void {
    if (this.n === this.buf.length) { const b = new Float64Array(2 * this.n); b.set(this.buf); this.buf = b }
    this.buf[this.n++] = x
  }
}

/** numbers before a shared buffer's batch: its length, and the buffer's generation (Channel) */
const HEAD = 2

/**
 * One direction between two shards: a step's batch at a time, through two shared buffers
 * used in turn (a step's batch is read before its writer can come to the next-but-one
 * step), so that no array is made at each step (each step's batch in an array of its own,
 * handed over, was ~27,000 arrays of up to megabytes a run, outside the heaps, freed on
 * the other thread). A buffer too small is replaced: the new one is posted on the port, and its
 * generation set in `gens` (shared) before the step is counted, so the reader waits for it
 * rather than read the old one.
 */
export class Channel {
  private readonly bufs: Array<Float64Array | undefined> = [undefined, undefined]
  private gen = 0
  /** `gens[at + parity]`: the generation of this direction's buffer of that parity */
  constructor (private readonly port: MessagePort, private readonly gens: Int32Array, private readonly at: number) {}

  /** writer: the batch in `o` as step `step`'s */
  write (o: Outbox, step: number): void {
    const p = step & 1
    let b = this.bufs[p]
    if (b === undefined || b.length < HEAD + o.n) {
      b = new Float64Array(new SharedArrayBuffer(8 * Math.max(1 << 16, 2 * (HEAD + o.n))))
      b[1] = ++this.gen
      this.bufs[p] = b
      this.port.postMessage({ p, b })
      Atomics.store(this.gens, this.at + p, this.gen)
    }
    b[0] = o.n
    b.set(o.buf.subarray(0, o.n), HEAD)
    o.n = 0
  }

  /** reader: step `step`'s batch (valid until this shard's next step is counted) */
  read (step: number): Float64Array {
    const p = step & 1
    for (;;) {
      for (let r = receiveMessageOnPort(this.port); r !== undefined; r = receiveMessageOnPort(this.port)) {
        const m = r.message as { p: number, b: Float64Array }
        this.bufs[m.p] = m.b
      }
      const b = this.bufs[p]
      const gen = Atomics.load(this.gens, this.at + p)
      if (b !== undefined && b[1] === gen) return b.subarray(HEAD, HEAD + b[0])
      // posted, and not come through the port yet
      Atomics.wait(this.gens, this.at + p, gen, 1)
    }
  }
}

/** What a shard's worker is given (workerData), besides the run's options. */
export interface ShardSetup {
  me: number
  of: number
  /** to each other shard */
  ports: Array<MessagePort | undefined>
  /** each shard's count of batches handed to it */
  signal: Int32Array
  /** the generation of each writer's two buffers to each reader: [(writer × of + reader) × 2 + parity] */
  gens: Int32Array
}

/**
 * This thread's part of a sharded run: what its network, tracker and web server hand to the
 * others (the methods below, called by net.ts), and the step's exchange. `bind` gives it
 * what it reads when it takes in the others' (scenario.ts, once its audience is made).
 */
export class Shard {
  readonly me: number
  readonly of: number
  private readonly out: Outbox[]
  private pairs = 0
  private step = 0
  /** wall-clock ms this thread waited for the others at the steps' ends, and took in what they handed over */
  waitedMs = 0
  tookMs = 0
  /** messages and pieces this shard's links sent to another shard's */
  readonly crossed = { messages: 0, pieces: 0 }
  private net!: SimNet
  private origin!: SimOrigin
  private tracker!: SimTracker
  private hosts!: Host[]
  private peerIds!: Buffer[]
  private infoHash!: Buffer
  private pieces!: Array<{ type: 'piece', index: number, data: Buffer }>
  /** one message object for each chunk's HAVE, CANCEL, REJECT and REQUEST (a link never changes a message) */
  private readonly indexed = new Map<number, Message>()
  /** the last handshake taken in from each host, by its number */
  private readonly handshakes: Array<Handshake | undefined> = []

  /** to each other shard, and from it (none for this one) */
  private readonly to: Array<Channel | undefined>
  private readonly from: Array<Channel | undefined>

  constructor (private readonly setup: ShardSetup) {
    this.me = setup.me
    this.of = setup.of
    this.out = Array.from({ length: setup.of }, () => new Outbox())
    this.to = setup.ports.map((p, j) => p === undefined ? undefined : new Channel(p, setup.gens, (this.me * this.of + j) * 2))
    this.from = setup.ports.map((p, j) => p === undefined ? undefined : new Channel(p, setup.gens, (j * this.of + this.me) * 2))
  }

  bind (net: SimNet, origin: SimOrigin, tracker: SimTracker, hosts: Host[], peerIds: Buffer[], infoHash: Buffer, chunks: Buffer[]): void {
    this.net = net
    this.origin = origin
    this.tracker = tracker
    this.hosts = hosts
    this.peerIds = peerIds
    this.infoHash = infoHash
    this.pieces = chunks.map((data, index) => ({ type: 'piece', index, data }))
    net.shard = this
    tracker.mirror = (added, a) => {
      const h = net.hostOf(a)
      if (h === undefined) return
      for (let j = 0; j < this.of; j++) if (j !== this.me) { const o = this.out[j]; o.push(EV_TRACKER); o.push(added ? 1 : 0); o.push(h.id) }
    }
  }

  /** whether host `h` is this shard's */
  mine (h: Host): boolean { return h.id % this.of === this.me }

  /** `from` (ours) dials `there` (another shard's): the pair's number, its dial sent */
  dial (from: Host, there: Host, rttMs: number): number {
    const pair = this.pairs++ * this.of + this.me
    const o = this.out[there.id % this.of]
    o.push(EV_CONNECT); o.push(pair); o.push(from.id); o.push(there.id); o.push(this.net.clock.now()); o.push(rttMs)
    return pair
  }

  /** message `m`, sent to arrive at `at`, to the far end `to` */
  message (to: RemoteEnd, m: Incoming, at: number): void {
    const o = this.out[to.local.id % this.of]
    this.crossed.messages++
    o.push(EV_MSG); o.push(at); o.push(to.pair)
    switch (m.type) {
      case 'handshake': {
        const h = m.handshake
        o.push(T_HANDSHAKE); o.push(h.port); o.push(h.version ?? 0)
        o.push((h.pexFull === true ? 1 : 0) | (h.altRequests === true ? 2 : 0) | (h.asking === true ? 4 : 0))
        return
      }
      case 'bitfield': {
        o.push(T_BITFIELD); o.push(m.count); o.push(m.bits.length)
        for (let k = 0; k < m.bits.length; k++) o.push(m.bits[k])
        return
      }
      case 'have': case 'cancel': case 'reject': o.push(INDEXED[m.type]); o.push(m.index); return
      case 'request': o.push(T_REQUEST); o.push(m.index); o.push(m.alt === true ? 1 : 0); return
      case 'pex': {
        const at = o.n + 1
        o.push(T_PEX); o.push(0)
        let n = 0
        for (const a of m.peers) {
          const h = this.net.hostOf(a)
          if (h === undefined) continue
          o.push(h.id); o.push(a.port); n++
        }
        o.buf[at] = n
        return
      }
      case 'goodbye': o.push(T_GOODBYE); return
      case 'keepalive': o.push(T_KEEPALIVE); return
      case 'tree-request': o.push(T_TREE_REQUEST); return
      case 'asked': o.push(T_ASKED); o.push(m.first); o.push(m.count); o.push(m.score ?? NaN); return
      case 'pex-full': o.push(T_PEXFULL); o.push(m.full ? 1 : 0); return
      default: throw new Error(`a sharded run does not carry a ${m.type} message`)
    }
  }

  /** a piece to the far end `to`: its first byte there at `firstAt`, its last no sooner than `lastAt` (SimNet.receive) */
  transfer (to: RemoteEnd, m: Message, firstAt: number, lastAt: number, len: number, rttMs: number, loss: number): void {
    if (m.type !== 'piece') throw new Error(`a sharded run does not carry a ${m.type}`)
    // the bytes leave this shard's books; the far shard's count them in flight from here
    this.net.pieceBytesInFlight -= len
    this.crossed.pieces++
    const o = this.out[to.local.id % this.of]
    o.push(EV_PIECE); o.push(firstAt); o.push(to.pair); o.push(lastAt); o.push(len); o.push(rttMs); o.push(loss); o.push(m.index)
  }

  /** the far end of `to`'s link closes at `at`: once what was sent before has arrived, or (`gone`) at once with it lost */
  close (to: RemoteEnd, at: number, gone: boolean): void {
    const o = this.out[to.local.id % this.of]
    o.push(gone ? EV_GONE : EV_CLOSE); o.push(at); o.push(to.pair)
  }

  /**
   * The end of a step: hand every other shard what crossed to it (and the web server's
   * upload time taken), wait for theirs, and take it in. Blocks the thread until every
   * shard has reached the same step.
   */
  exchange (): void {
    const { me, of, signal } = this.setup
    const ms = this.origin.sentMs
    this.origin.sentMs = 0
    for (let j = 0; j < of; j++) {
      if (j === me) continue
      if (ms > 0) { this.out[j].push(EV_ORIGIN); this.out[j].push(ms) }
      this.to[j]!.write(this.out[j], this.step)
      Atomics.add(signal, j, 1)
      Atomics.notify(signal, j)
    }
    const step = this.step++
    const want = this.step * (of - 1)
    const t0 = performance.now()
    for (;;) {
      const got = Atomics.load(signal, me)
      if (got >= want) break
      Atomics.wait(signal, me, got)
    }
    this.waitedMs += performance.now() - t0
    for (let j = 0; j < of; j++) {
      if (j === me) continue
      const t1 = performance.now()
      this.take(this.from[j]!.read(step), j)
      this.tookMs += performance.now() - t1
    }
  }

  /** Take in what shard `from` handed over. */
  private take (b: Float64Array, from: number): void {
    const net = this.net
    const now = net.clock.now()
    let k = 0
    while (k < b.length) {
      const ev = b[k++]
      switch (ev) {
        case EV_CONNECT: {
          const pair = b[k]; const f = this.hosts[b[k + 1]]; const to = this.hosts[b[k + 2]]; const dialAt = b[k + 3]; const rtt = b[k + 4]
          k += 5
          const r = net.accept(pair, f, to)
          if (r === 'accepted') break
          const o = this.out[from]
          o.push(r === 'nat' ? EV_NAT : EV_REFUSE); o.push(r === 'nat' ? dialAt + HANDSHAKE_TIMEOUT_MS : dialAt + rtt); o.push(pair)
          break
        }
        case EV_REFUSE: case EV_NAT: {
          const l = net.cross.get(b[k + 1])
          if (l !== undefined) net.closeAt(l, b[k], ev === EV_NAT ? 'no handshake' : undefined)
          k += 2
          break
        }
        case EV_MSG: {
          const at = b[k]; const l = net.cross.get(b[k + 1])
          k += 2
          const [m, next] = this.decode(b, k, l)
          k = next
          if (l !== undefined && m !== undefined) (l.other as RemoteEnd).deliverIn(m, at)
          break
        }
        case EV_PIECE: {
          const firstAt = b[k]; const l = net.cross.get(b[k + 1]); const lastAt = b[k + 2]; const len = b[k + 3]; const rtt = b[k + 4]; const loss = b[k + 5]; const m = this.pieces[b[k + 6]]
          k += 7
          if (l === undefined) break
          const o = l.other as RemoteEnd
          net.pieceBytesInFlight += len
          net.receive(l.local, firstAt, lastAt, len, rtt, loss, (at) => { net.pieceBytesInFlight -= len; o.deliverIn(m, at, len) })
          break
        }
        case EV_CLOSE: case EV_GONE: {
          const at = b[k]; const l = net.cross.get(b[k + 1])
          k += 2
          if (l === undefined) break
          const o = l.other as RemoteEnd
          if (ev === EV_GONE) { o.dead = true; net.closeAt(l, at) } else net.closeAt(l, Math.max(at, o.lastArrival))
          break
        }
        case EV_TRACKER: {
          const a = this.hosts[b[k + 1]].addr
          if (b[k] === 1) this.tracker.add(a, true); else this.tracker.stopped(a, true)
          k += 2
          break
        }
        case EV_ORIGIN: this.origin.queueBehind(b[k++]); break
        default: throw new Error(`shard ${this.me}: unknown event ${ev} at ${k - 1} from shard ${from} (time ${now})`)
      }
    }
  }

  /** A message's numbers from `k`: the message (undefined when its link is gone here) and where the next event starts. */
  private decode (b: Float64Array, k: number, l: { other?: unknown, local: Host } | undefined): [Incoming | undefined, number] {
    const t = b[k++]
    switch (t) {
      case T_HANDSHAKE: {
        if (l === undefined) return [undefined, k + 3]
        const far = (l.other as RemoteEnd).local
        // a host's handshake, one object for every link it comes over while it says the same (as on one thread)
        const port = b[k]; const version = b[k + 1]; const f = b[k + 2]
        let h = this.handshakes[far.id]
        if (h === undefined || h.port !== port || (h.version ?? 0) !== version || h.pexFull !== ((f & 1) !== 0 ? true : undefined) || h.altRequests !== ((f & 2) !== 0 ? true : undefined) || h.asking !== ((f & 4) !== 0 ? true : undefined)) {
          h = { infoHash: this.infoHash, peerId: this.peerIds[far.id], port }
          if (version !== 0) h.version = version
          if ((f & 1) !== 0) h.pexFull = true
          if ((f & 2) !== 0) h.altRequests = true
          if ((f & 4) !== 0) h.asking = true
          this.handshakes[far.id] = h
        }
        return [{ type: 'handshake', handshake: h }, k + 3]
      }
      case T_BITFIELD: {
        const count = b[k]; const n = b[k + 1]
        // from Buffer's pool: a buffer of its own for each was memory outside the heap, a few bytes at a time
        const bits = Buffer.allocUnsafe(n)
        for (let j = 0; j < n; j++) bits[j] = b[k + 2 + j]
        return [{ type: 'bitfield', count, bits }, k + 2 + n]
      }
      case T_HAVE: case T_CANCEL: case T_REJECT: return [this.index(t, b[k]), k + 1]
      case T_REQUEST: return [b[k + 1] === 1 ? { type: 'request', index: b[k], alt: true } : this.index(t, b[k]), k + 2]
      case T_PEX: {
        const n = b[k]
        const peers: PeerAddress[] = []
        for (let j = 0; j < n; j++) peers.push(this.hosts[b[k + 1 + 2 * j]].listenAt(b[k + 2 + 2 * j]))
        return [{ type: 'pex', peers }, k + 1 + 2 * n]
      }
      case T_GOODBYE: return [{ type: 'goodbye' }, k]
      case T_KEEPALIVE: return [{ type: 'keepalive' }, k]
      case T_TREE_REQUEST: return [{ type: 'tree-request' }, k]
      case T_ASKED: {
        const score = b[k + 2]
        return [Number.isNaN(score) ? { type: 'asked', first: b[k], count: b[k + 1] } : { type: 'asked', first: b[k], count: b[k + 1], score }, k + 3]
      }
      case T_PEXFULL: return [{ type: 'pex-full', full: b[k] === 1 }, k + 1]
      default: throw new Error(`shard ${this.me}: unknown message type ${t}`)
    }
  }

  /** the one HAVE, CANCEL, REJECT or REQUEST of a chunk */
  private index (t: number, index: number): Message {
    const key = index * 16 + t
    let m = this.indexed.get(key)
    if (m === undefined) {
      m = t === T_HAVE ? { type: 'have', index } : t === T_CANCEL ? { type: 'cancel', index } : t === T_REJECT ? { type: 'reject', index } : { type: 'request', index }
      this.indexed.set(key, m)
    }
    return m
  }
}

/**
 * Start `of` worker threads running `script` (a shard each, given `data` and its
 * ShardSetup as workerData), connected to each other; `onMessage` hears what each posts.
 * Resolves with each one's last message (its result), in shard order.
 */
async function runShards<T> (script: URL, of: number, data: unknown, resourceLimits: { maxOldGenerationSizeMb: number, maxYoungGenerationSizeMb: number }, onMessage: (shard: number, m: unknown) => void): Promise<T[]> {
  const signal = new Int32Array(new SharedArrayBuffer(4 * of))
  const gens = new Int32Array(new SharedArrayBuffer(4 * 2 * of * of))
  const ports: Array<Array<MessagePort | undefined>> = Array.from({ length: of }, () => new Array<MessagePort | undefined>(of).fill(undefined))
  for (let i = 0; i < of; i++) {
    for (let j = i + 1; j < of; j++) {
      const c = new MessageChannel()
      ports[i][j] = c.port1
      ports[j][i] = c.port2
    }
  }
  const workers: Worker[] = []
  try {
    return await Promise.all(ports.map(async (mine, me) => await new Promise<T>((resolve, reject) => {
      const setup: ShardSetup = { me, of, ports: mine, signal, gens }
      const w = new Worker(script, { workerData: { data, setup }, transferList: mine.filter((p): p is MessagePort => p !== undefined), resourceLimits })
      workers.push(w)
        let done = false
      // its tally is all it has to give: it need not wind down further
      w.on('message', (m: { done?: T }) => { if (m.done !== undefined) { done = true; resolve(m.done); void w.terminate() } else onMessage(me, m) })
      w.on('error', reject)
      w.on('exit', (code) => { if (!done) reject(new Error(`shard ${me} exited with code ${code} before its end`)) })
    })))
  } catch (e) {
    // the others wait for its step for ever
    await Promise.all(workers.map(async w => await w.terminate()))
    throw e
  }
}

/** what a shard's worker is given besides its ShardSetup */
interface ShardData { o: Omit<ScenarioOptions, 'progress' | 'traceOrigin'>, data: Uint8Array }
/** what it posts at its end */
interface ShardDone { tally: Tally, itemBytes: number, count: number, end: number, cut: boolean, wall: number, crossed: { messages: number, pieces: number }, waitedMs: number }

/**
 * Run scenario `o` (pc listeners on home lines) on `of` worker threads, each an old
 * generation of up to `oldMiB` and semi-spaces of `semiMiB`: the same figures as one
 * thread's run would give of the same audience, from one tally of all the shards'.
 */
export async function runSharded (o: ScenarioOptions, item: Item, of: number, oldMiB: number, semiMiB: number): Promise<Result> {
  const { progress, traceOrigin, ...plain } = o
  if (traceOrigin !== undefined) throw new Error('--trace-origin is for a run on one thread')
  const wall0 = performance.now()
  // V8's young generation is its two semi-spaces and a large-object space of one more
  const parts = await runShards<ShardDone>(new URL(import.meta.url), of, { o: plain, data: item.data } satisfies ShardData, { maxOldGenerationSizeMb: oldMiB, maxYoungGenerationSizeMb: 3 * semiMiB }, (_me, m) => {
    const line = (m as { progress?: string }).progress
    if (line !== undefined) progress?.(line)
  })
  const p = parts[0]
  const r = resultOf(o, p.itemBytes, p.count, parts.map(x => x.tally).reduce(addTallies), p.end, p.cut, (performance.now() - wall0) / 1000)
  return {
    ...r,
    shards: {
      of,
      crossedMessages: parts.reduce((a, x) => a + x.crossed.messages, 0),
      crossedPieces: parts.reduce((a, x) => a + x.crossed.pieces, 0),
      waitedS: parts.map(x => x.waitedMs / 1000),
    },
  }
}

/** The item of bytes `data` cut in chunks, its tree made again (each shard its own, the same as the main thread's). */
function itemOf (data: Buffer, chunkBytes: number): Item {
  const b = new TreeBuilder(chunkBytes)
  b.update(data)
  const tree = b.finish()
  const chunks: Buffer[] = []
  for (let k = 0; k < data.length; k += chunkBytes) chunks.push(data.subarray(k, Math.min(data.length, k + chunkBytes)))
  return { data, chunks, tree }
}

// a shard's worker: its part of the run, its progress lines to the main thread, then its tally
if (!isMainThread && (workerData as { setup?: ShardSetup } | undefined)?.setup !== undefined) {
  const { data, setup } = workerData as { data: ShardData, setup: ShardSetup }
  const u = data.data
  const item = itemOf(Buffer.from(u.buffer, u.byteOffset, u.byteLength), data.o.chunkBytes)
  const o: ScenarioOptions = { ...data.o, progress: (line) => parentPort!.postMessage({ progress: line }) }
  const shard = new Shard(setup)
  const done: ShardDone = { ...await runShardOf(o, item, shard), crossed: shard.crossed, waitedMs: shard.waitedMs }
  parentPort!.postMessage({ done })
}
