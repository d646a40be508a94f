// What the in-process swarm tests (swarm-miss, swarm-timing, swarm-asked) share: one real
// Swarm on host 10.0.0.1 of a SimNet, a peer played by the test (a PeerLink whose messages
// the test writes), an origin that never answers, and one that records when each chunk is
// first asked of it and sends each 100 ms after the one before.
import { SimClock } from '../../bench/sim/clock.js'
import { Host, SimNet } from '../../bench/sim/net.js'
import { loopbackHost, Rng } from '../../bench/sim/population.js'
import type { Item } from '../../bench/sim/scenario.js'
import { PeerLink } from '../../lib/swarm/link.js'
import type { OriginSource } from '../../lib/swarm/origin.js'
import { Swarm } from '../../lib/swarm/swarm.js'
import { MemoryStore } from '../../lib/swarm/store.js'
import { RateLimiter } from '../../lib/swarm/ratelimit.js'
import type { Handshake, PeerAddress } from '../../lib/swarm/wire.js'

/** A peer 10.0.0.`idByte` (9 unless given) that accepts no connection; what it says is what the test makes it receive(). */
export abstract class ScriptedLink extends PeerLink {
  readonly outgoing = false
  readonly address: string
  constructor (readonly idByte = 9) { super(); this.address = `10.0.0.${idByte}:6881` }
  get listenAddress (): PeerAddress | undefined { return undefined }
  sendHandshake (_h: Handshake): void {}
  async sendPiece (): Promise<void> {}
  end (): void {}
  protected destroy (): void {}
  /** as the transport would: its handshake for swarm `infoHash` */
  open (infoHash: Buffer, port: number): void {
    this.received({ type: 'handshake', handshake: { infoHash, peerId: Buffer.alloc(20, this.idByte), port } })
  }
}

/** An origin sending chunks 100 ms apart; `asked[i]` is set to when chunk i was first asked of it. */
export function recordingOrigin (clock: SimClock, chunks: Buffer[], asked: number[]): OriginSource {
  return {
    fetchChunks: async (first, count, _cs, _size, sink, counter, signal, received) => {
      for (let i = first; i < first + count; i++) if (Number.isNaN(asked[i])) asked[i] = clock.now()
      for (let i = first; i < first + count && !(signal?.aborted ?? false); i++) {
        await new Promise<void>(resolve => { clock.setTimeout(resolve, 100) })
        counter.bytes += chunks[i].length
        await sink(i, chunks[i])
      }
      received?.()
    },
    fetchSequential: async () => { throw new Error('ranges only') },
    close: () => {},
  }
}

/** an origin that never answers */
export const SILENT_ORIGIN: OriginSource = { fetchChunks: async () => await new Promise<void>(() => {}), fetchSequential: async () => await new Promise<void>(() => {}), close: () => {} }

/** One Swarm of `item` (peer id 7s, port 6881, window 16) on host 10.0.0.1 of `net`, its tree set; `durationMs` for a scheduled item. */
export async function oneSwarm (clock: SimClock, net: SimNet, item: Item, infoHash: Buffer, deadlineMs: number, origin: OriginSource, durationMs?: number, uploadLimit = 0): Promise<Swarm> {
  const port = 6881
  const host = new Host(0, { host: '10.0.0.1', port }, loopbackHost())
  net.add(host)
  const sw = new Swarm({
    url: 'http://origin.test/item', root: item.tree.root, infoHash, peerId: Buffer.alloc(20, 7), port,
    cacheDir: '', removeCache: false, window: 16, deadlineMs, playFraction: 0, durationMs, limiter: new RateLimiter(uploadLimit, clock),
    warn: () => {}, debug: () => {}, clock, connect: net.connector(host), origin,
    store: (t) => new MemoryStore(t, { keepBuffers: true }),
  })
  host.swarm = sw
  await sw.setTree(item.tree)
  return sw
}

/**
 * A scheduled item's Swarm (oneSwarm) under a fresh clock and network, its origin
 * recording (recordingOrigin), the tracker counting `audience`: `asked[i]` and `held[i]`
 * are set to when chunk i was first asked of the origin, and first held.
 */
export async function recordedSwarm (item: Item, infoHash: Buffer, deadlineMs: number, durationMs: number, audience: number): Promise<{ clock: SimClock, sw: Swarm, asked: number[], held: number[] }> {
  const clock = new SimClock(10)
  const net = new SimNet(clock, new Rng(1))
  const asked: number[] = new Array(item.chunks.length).fill(NaN)
  const held: number[] = new Array(item.chunks.length).fill(NaN)
  const sw = await oneSwarm(clock, net, item, infoHash, deadlineMs, recordingOrigin(clock, item.chunks, asked), durationMs)
  sw.counted(audience)
  sw.on('have', (i: number) => { if (Number.isNaN(held[i])) held[i] = clock.now() })
  return { clock, sw, asked, held }
}
