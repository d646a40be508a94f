// What the in-process swarm tests (swarm-miss, swarm-timing, swarm-asked) share: a peer
// played by the test (a PeerLink whose messages the test writes), and an origin that
// records when each chunk is first asked of it and sends each 100 ms after the one before.
import type { SimClock } from '../../bench/sim/clock.js'
import { PeerLink } from '../../lib/swarm/link.js'
import type { OriginSource } from '../../lib/swarm/origin.js'
import type { Handshake, PeerAddress } from '../../lib/swarm/wire.js'

/** A peer 10.0.0.9 that accepts no connection; what it says is what the test makes it receive(). */
export abstract class ScriptedLink extends PeerLink {
  readonly outgoing = false
  readonly address = '10.0.0.9:6881'
  get listenAddress (): PeerAddress | undefined { return undefined }
  sendHandshake (_h: Handshake): void {}
  async sendPiece (): Promise<void> {}
  end (): void {}
  protected destroy (): void {}
  /** as the transport would: its handshake for swarm `infoHash` */
  open (infoHash: Buffer, port: number): void {
    this.received({ type: 'handshake', handshake: { infoHash, peerId: Buffer.alloc(20, 9), port } })
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
