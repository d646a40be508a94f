// A run split over worker threads (bench/sim/shard.ts, run.js --shards K): the listeners
// of each thread swap chunks with the other's over the links that cross, the books
// balance as on one thread, and a seed gives the same run every time.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { makeItem, runScenario, DEFAULTS, type ScenarioOptions, type Result } from '../../bench/sim/scenario.js'
import { MessageChannel } from 'node:worker_threads'
import { runSharded, Channel, Outbox } from '../../bench/sim/shard.js'

// one minute of 128 kbit/s (8 chunks), 40 listeners tuning in at the top of the hour; some leave, half without a word
const base: ScenarioOptions = { ...DEFAULTS, listeners: 40, durationMs: 60_000, tailMs: 20_000, seed: 5 }
const item = makeItem(Math.round(base.bitrate / 8 * base.durationMs / 1000), base.chunkBytes)
const run = async (o: Partial<ScenarioOptions> = {}): Promise<Result> => await runSharded({ ...base, ...o }, item, 2, 1024, 16)
const RUN_JS = fileURLToPath(new URL('../../bench/sim/run.js', import.meta.url))

/** a run's figures less those of the wall clock */
function figures (r: Result): unknown {
  const { wallSeconds: _w, simPerWall: _s, peakRssMiB: _p, shards, ...rest } = r
  return { ...rest, shards: { ...shards, waitedS: undefined } }
}

test('two shards: chunks cross between them, the books balance, and every listener who stays holds the item', async () => {
  const r = await run({ churn: false })
  const s = r.shards!
  assert.is(s.of, 2)
  assert.ok(s.crossedPieces > 0, 'pieces went from one shard\'s listeners to the other\'s')
  assert.ok(s.crossedMessages > s.crossedPieces, 'and messages with them')
  assert.is(r.completedShare, 1, 'every listener holds every chunk from its play position on')
  assert.is(r.stalledShare, 0)
  const c = r.conservation
  assert.ok(c.receivedFromPeers <= c.deliveredByNet, `listeners counted ${c.receivedFromPeers} B from peers, the links delivered ${c.deliveredByNet} B`)
  assert.ok(c.deliveredByNet <= c.sentByPeers, 'nothing delivered that was not sent')
  assert.is(c.uploadedBySwarms, c.sentByPeers, 'what the swarms say they uploaded went through the links')
  assert.is(c.receivedFromOrigin, c.sentByOrigin, 'what the listeners counted from the origin is what it sent')
  assert.ok(r.originRatio >= 1 && r.originRatio < 2, `origin ${r.originRatio} × the item`)
  // the shards' copies by chunk add up to what the web server sent, and their copies after a chunk's first to the bins
  const oc = r.originCopies!
  assert.is(oc.byChunk.reduce((a, n, i) => a + n * item.chunks[i].length, 0), r.originBytes)
  assert.is(oc.extraBy10s.reduce((a, n) => a + n, 0), oc.byChunk.reduce((a, n) => a + Math.max(0, n - 1), 0))
  for (const t of ['bitfield', 'have', 'request', 'asked']) assert.ok((r.messages.sent[t] ?? 0) > 0, `${t} sent`)
})

test('two shards: a seed gives the same run every time, with leavers; and the figures of one thread\'s run of the audience', async () => {
  const [a, b] = [await run(), await run()]
  assert.equal(figures(a), figures(b))
  // the same audience on one thread: the same listeners counted, everyone who stayed served
  const one = await runScenario({ ...base }, item)
  assert.is(a.stayedToEnd, one.stayedToEnd)
  assert.is(a.completedShare, one.completedShare)
  assert.ok(a.originRatio >= 1 && a.originRatio < 2)
})

test('run.js: --shards wants a whole number, and only where a run can be split', () => {
  const sim = (...args: string[]): { status: number | null, stderr: string } => {
    const r = spawnSync(process.execPath, ['--max-semi-space-size=16', RUN_JS, ...args], { encoding: 'utf8' })
    return { status: r.status, stderr: r.stderr }
  }
  let r = sim('--scenario', 'audio', '--listeners', '10', '--shards', '0')
  assert.is(r.status, 64)
  assert.match(r.stderr, /--shards wants a whole number of at least 1, not '0'/)
  r = sim('--scenario', 'live', '--listeners', '10', '--shards', '2')
  assert.is(r.status, 64)
  assert.match(r.stderr, /--shards is for audio, steady and video, not live/)
})

test('a channel between two shards: each step\'s batch read whole, a buffer outgrown replaced, the two in turn', () => {
  const { port1, port2 } = new MessageChannel()
  const gens = new Int32Array(new SharedArrayBuffer(4 * 2))
  const w = new Channel(port1, gens, 0)
  const r = new Channel(port2, gens, 0)
  const o = new Outbox()
  // steps 0 and 1 small, 2 larger than the first buffer (65,536 numbers), 3 small, 4 larger than step 2's
  const sizes = [3, 5, 100_000, 7, 300_000]
  for (let step = 0; step < sizes.length; step++) {
    for (let k = 0; k < sizes[step]; k++) o.push(step * 1e6 + k)
    w.write(o, step)
    assert.is(o.n, 0, 'the outbox is empty again')
    const b = r.read(step)
    assert.is(b.length, sizes[step], `step ${step}: its batch's length`)
    assert.ok(b[0] === step * 1e6 && b[b.length - 1] === step * 1e6 + sizes[step] - 1, `step ${step}: its own numbers, not an older batch's`)
  }
  port1.close()
})

test.run()
