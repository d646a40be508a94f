// pc-tracker's own code end to end, without sockets, for the in-process announce tests
// (live-swarm, swarm-announce): the client's query, the server's reading of it, the swarms,
// the bencoded answer and the client's reading of that; and the times a swarm announced.
import { randomBytes } from 'node:crypto'
import { Announcer, type AnnouncedSwarm } from '../../lib/swarm/announce.js'
import type { SwarmClock } from '../../lib/swarm/clock.js'
import { Swarms } from '../../lib/tracker/swarms.js'
import { parseAnnounceQuery, parseQuery } from '../../lib/tracker/server.js'
import { announceQuery, parseAnnounce, type AnnounceParams, type AnnounceResult } from '../../lib/tracker/client.js'
import { decode, encode } from '../../lib/tracker/bencode.js'

const URL = 'http://tracker.example/announce'

/**
 * When `sw` (of info-hash `infoHash`) announced, in seconds, until `untilMs` on `clock`
 * (moved by `run`), with `before` peers in its swarm at pc-tracker already (60 s interval).
 */
export async function announcedAt (sw: AnnouncedSwarm, infoHash: Buffer, clock: SwarmClock & { now: () => number }, run: (until: number) => Promise<void>, untilMs: number, before: number): Promise<number[]> {
  const swarms = new Swarms({ intervalS: 60, maxSwarms: 10, maxPeers: 1000 })
  const viaTracker = async (p: AnnounceParams): Promise<AnnounceResult> =>
    parseAnnounce(decode(encode(swarms.announce(parseAnnounceQuery(parseQuery(announceQuery(p)), '127.0.0.1')))), 'pc-tracker')
  for (let k = 0; k < before; k++) await viaTracker({ announceUrl: URL, infoHash, peerId: randomBytes(20), port: 7000 + k, uploaded: 0, downloaded: 0, left: 1 })
  const at: number[] = []
  const a = new Announcer(URL, sw, { port: 6881, io: { warn: () => {}, info: () => {} }, clock, announce: async (p) => { at.push(clock.now() / 1000); return await viaTracker(p) } })
  await a.start()
  await run(untilMs)
  return at
}
