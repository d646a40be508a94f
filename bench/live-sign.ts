// Benchmark: the cost of binding live chunks to the station, per chunk, for the two
// designs pc-live(5) weighs: an ed25519 signature on every chunk, or one signature on
// a Merkle root per batch of B chunks (hypercore's way). Also the per-chunk overhead in
// bytes (manifest entry with its signature) against the chunk size, for several chunk
// durations, which is what --chunk trades against latency.
//
//   node dist/bench/live-sign.js [--rounds 2000] [--kbps 128]
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { generateKeyPair, sign, verify } from '../lib/hashing/sign.js'
import { parentHash } from '../lib/hashing/hashtree.js'
import { blake2b, signChunk, signedMessage, streamIdOf, verifyLiveChunk } from '../lib/live/chunk-sign.js'
import { isoMs } from '../lib/live/manifest.js'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '2000' }, kbps: { type: 'string', default: '128' } } })
const ROUNDS = Number(args.rounds)
const BYTES_PER_S = Number(args.kbps) * 1000 / 8

function perCallUs (f: () => void, n = ROUNDS): number {
  for (let i = 0; i < Math.min(200, n); i++) f()
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) f()
    runs.push(Number(process.hrtime.bigint() - t) / 1000 / n)
  }
  runs.sort((a, b) => a - b)
  return runs[2]
}

const kp = generateKeyPair()
const id = streamIdOf(randomBytes(16), kp.publicKey)
const chunk = randomBytes(BYTES_PER_S) // one second at --kbps
const hash = blake2b(chunk)
const claim = { seq: 123456, startMs: Date.now(), durationMs: 1000, hash }
const sig = signChunk(id, claim, kp.secretKey)
const msg = signedMessage(id, claim)

const hashUs = perCallUs(() => { blake2b(chunk) })
const signUs = perCallUs(() => { sign(msg, kp.secretKey) })
const verifyUs = perCallUs(() => { verify(sig, msg, kp.publicKey) })
const verifyChunkUs = perCallUs(() => { verifyLiveChunk(chunk, { ...claim, signature: sig }, { streamId: id, publicKey: kp.publicKey }) })
const parentUs = perCallUs(() => { parentHash(hash, hash) })

console.log(`chunk of 1 s at ${args.kbps} kbit/s = ${chunk.length} bytes; medians of 5 runs × ${ROUNDS}`)
console.log(`  BLAKE2b-256 of the chunk      ${hashUs.toFixed(1)} µs`)
console.log(`  ed25519 sign (164-byte msg)   ${signUs.toFixed(1)} µs`)
console.log(`  ed25519 verify                ${verifyUs.toFixed(1)} µs`)
console.log(`  verifyLiveChunk (hash+verify) ${verifyChunkUs.toFixed(1)} µs`)
console.log(`  Merkle parent hash            ${parentUs.toFixed(2)} µs`)
console.log('')
console.log('per chunk, signing side / listener side (µs), and what a chunk waits for its batch:')
console.log('  design              sign/chunk  verify/chunk  proof bytes  added latency')
for (const b of [1, 4, 16, 64]) {
  const merkleSign = hashUs + (b > 1 ? parentUs * (b - 1) / b + signUs / b : signUs)
  // a listener that holds only some chunks of the batch checks a path of log2(B) parents and the root's signature once per batch
  const depth = Math.ceil(Math.log2(b))
  const merkleVerify = hashUs + depth * parentUs + verifyUs / b
  const name = b === 1 ? 'sign every chunk' : `Merkle root per ${b}`
  console.log(`  ${name.padEnd(18)}  ${merkleSign.toFixed(1).padStart(10)}  ${merkleVerify.toFixed(1).padStart(12)}  ${String(depth * 32 + (b === 1 ? 64 : Math.ceil(64 / b))).padStart(11)}  ${b === 1 ? 'none' : `up to ${b - 1} chunks`}`)
}
console.log('')
console.log('overhead per chunk (manifest entry with its signature) against latency:')
console.log('  --chunk   chunk bytes  entry bytes  overhead  chunks/s  sign+verify CPU/s')
for (const ms of [250, 500, 1000, 2000, 4000]) {
  const size = Math.round(BYTES_PER_S * ms / 1000)
  const entry = JSON.stringify({ seq: 123456, name: '123456.mp3', start: isoMs(Date.now()), duration: ms, size, hash: hash.toString('hex'), sig: sig.toString('hex') }).length + 1
  const perS = 1000 / ms
  console.log(`  ${(ms + 'ms').padEnd(8)}  ${String(size).padStart(11)}  ${String(entry).padStart(11)}  ${(100 * entry / size).toFixed(1).padStart(7)}%  ${perS.toFixed(2).padStart(8)}  ${((signUs + verifyUs) * perS / 1e4).toFixed(4)}%`)
}
