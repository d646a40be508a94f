// What a live listener's ranking costs at pc-fetch's connection limit (lib/swarm/live-swarm.ts
// RANK_EVERY_MS): gathering the keys its peers named (LKEYS: up to 256 peers, each naming up
// to MAX_LKEYS) and ranking itself among them for one chunk. There is no reference tool for
// this: the figure is CPU per operation, and the share of a core at a tick's pace (10 a
// second with 1 s chunks, as before the bound) against once a second (the bound). Medians of --rounds.
//   node dist/bench/live-keys.js [--peers 256] [--rounds 15]
import minimist from 'minimist'
import { gatherKeys, liveRank, RANK_EVERY_MS, TICK_MAX_MS, TICK_MIN_MS } from '../lib/swarm/live-swarm.js'
import { MAX_LKEYS } from '../lib/swarm/wire.js'
import { median } from './proc.js'

const args = minimist(process.argv.slice(2), { default: { peers: 256, rounds: 15 } })
const peers = Number(args.peers)
const rounds = Number(args.rounds)

/** CPU ms of one call of fn, median of `rounds` */
function cpuMs (fn: () => unknown): number {
  const out: number[] = []
  for (let r = 0; r < rounds; r++) {
    const t = process.cpuUsage()
    fn()
    const u = process.cpuUsage(t)
    out.push((u.user + u.system) / 1000)
  }
  return median(out)
}

const rand = (): number => Math.floor(Math.random() * 2 ** 32)
const me = rand()
const direct = Array.from({ length: peers }, rand)
// each peer names MAX_LKEYS keys: all distinct (an audience of ≥ 65,536), or drawn from 1,000 (an audience of 1,000)
for (const audience of [Infinity, 1000]) {
  const pool = Number.isFinite(audience) ? Array.from({ length: audience }, rand) : []
  const lists = direct.map(() => Array.from({ length: MAX_LKEYS }, () => pool.length ? pool[Math.floor(Math.random() * pool.length)] : rand()))
  const keys = gatherKeys(direct, lists, me)
  const gather = cpuMs(() => gatherKeys(direct, lists, me))
  let seq = 0
  const rank = cpuMs(() => liveRank(me, keys, seq++))
  // a tick every tenth of a chunk, pc-live's default chunk of 1 s (LiveSwarm.tickMs)
  const perTick = 1000 / Math.max(TICK_MIN_MS, Math.min(TICK_MAX_MS, 1000 / 10))
  console.log(`${peers} peers naming ${MAX_LKEYS} keys each, audience ${Number.isFinite(audience) ? audience : 'unbounded'}: ${keys.length} keys; gather ${gather.toFixed(2)} ms, rank for a chunk ${rank.toFixed(3)} ms; gathering every tick ${(gather * perTick / 10).toFixed(1)} % of a core, every ${RANK_EVERY_MS} ms ${(gather * 1000 / RANK_EVERY_MS / 10).toFixed(1)} %`)
}
