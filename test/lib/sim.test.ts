// The simulator (bench/sim) on a tiny audience: real Swarm instances over simulated home
// lines. Checks that its books balance (no byte appears from nowhere) and that everyone
// gets the item, for pc and for both baselines.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runScenario, makeItem, DEFAULTS, type ScenarioOptions, type Result } from '../../bench/sim/scenario.js'
import { runLive, LIVE_DELAY_MS } from '../../bench/sim/live.js'
import { parseOriginLine, readTrace, summarizeTrace, type TraceRecord } from '../../bench/sim/trace.js'

// one minute of 128 kbit/s (8 chunks of 128 KiB), 30 listeners tuning in at the top of the hour, nobody leaving
const base: ScenarioOptions = { ...DEFAULTS, listeners: 30, durationMs: 60_000, tailMs: 20_000, churn: false, seed: 7 }
const item = makeItem(Math.round(base.bitrate / 8 * base.durationMs / 1000), base.chunkBytes)

function everyoneComplete (r: Result): void {
  assert.is(r.completedShare, 1, 'every listener holds every chunk from its play position on')
  for (const l of r.listeners!) {
    for (let i = l.firstChunk; i < r.chunks; i++) assert.ok(l.haveAt[i] >= l.joinAt, `listener ${l.host.id} got chunk ${i} after it tuned in`)
  }
}

test('pc: bytes are conserved between listeners, the network and the origin, and every listener completes', async () => {
  const traced: TraceRecord[] = []
  const r = await runScenario({ ...base, mode: 'pc', traceOrigin: (t, listener, line) => traced.push({ mode: 'pc', n: base.listeners, t, listener, line }) }, item, true)
  everyoneComplete(r)
  const c = r.conservation
  assert.ok(c.receivedFromPeers > 0, 'peers swapped chunks')
  // a listener counts a chunk only when it asked for it: at most what the links delivered
  assert.ok(c.receivedFromPeers <= c.deliveredByNet, `listeners counted ${c.receivedFromPeers} B from peers, the links delivered ${c.deliveredByNet} B`)
  assert.ok(c.deliveredByNet <= c.sentByPeers, 'nothing delivered that was not sent')
  assert.is(c.uploadedBySwarms, c.sentByPeers, 'what the swarms say they uploaded went through the links')
  assert.is(c.receivedFromOrigin, c.sentByOrigin, 'what the listeners counted from the origin is what it sent')
  // each listener holds its part of the item, and all of that came from a peer or the origin
  const held = r.listeners!.reduce((a, l) => a + (r.chunks - l.firstChunk), 0)
  assert.ok(c.receivedFromPeers + c.receivedFromOrigin >= held * base.chunkBytes - r.listeners!.length * base.chunkBytes, 'every chunk held was received')
  assert.ok(r.originRatio >= 1, 'the origin sent the item at least once')
  assert.ok(r.originRatio < base.listeners, `origin ${r.originRatio}× is less than plain HTTP`)
  assert.ok(r.firstAudioMs.median > 0)
  // the origin's copies by chunk add up to what it sent, and its copies after a chunk's first to the bins
  const oc = r.originCopies!
  assert.is(oc.byChunk.length, r.chunks)
  assert.is(oc.byChunk.reduce((a, n, i) => a + n * item.chunks[i].length, 0), r.originBytes, 'copies × chunk sizes = the origin\'s bytes')
  assert.is(oc.extraBy10s.reduce((a, n) => a + n, 0), oc.byChunk.reduce((a, n) => a + Math.max(0, n - 1), 0), 'each copy after a chunk\'s first is in a bin')
  assert.ok(oc.byChunk.every(n => n >= 1), 'each chunk went out at least once')
  // each origin request is traced with its chunks, place and holders; the origin sent no chunk nobody asked for
  const asked = new Array<number>(r.chunks).fill(0)
  for (const x of traced) {
    const q = parseOriginLine(x.line)
    assert.ok(q, `traced: ${x.line}`)
    assert.ok(x.listener >= 0 && x.listener < base.listeners && x.t > 0)
    for (let i = q.first; i <= q.last; i++) asked[i]++
  }
  oc.byChunk.forEach((n, i) => assert.ok(n <= asked[i], `chunk ${i}: sent ${n} times, asked ${asked[i]} times`))
  // and read back by chunk (run.ts --from-trace): each chunk asked, as many times
  const summary = summarizeTrace(traced, 1)
  asked.forEach((n, i) => { if (n > 0) assert.ok(summary.includes(`\nchunk ${i}: ${n} ${n === 1 ? 'ask' : 'asks'}\n`), `chunk ${i} asked ${n} times, not in:\n${summary}`) })
  assert.throws(() => summarizeTrace([{ ...traced[0], line: 'a line of something else' }]), /trace line 1: not an origin request/)
  assert.equal(readTrace(traced.map(x => JSON.stringify(x)).join('\n') + '\n'), traced)
  assert.throws(() => readTrace(JSON.stringify(traced[0]) + '\n{"t":'), /trace line 2: not JSON/)
})

test('the baselines, origin unbounded: plain HTTP sends one copy per listener; the BitTorrent-like client completes everyone', async () => {
  // 30 copies need three times what an origin of 10× the stream sends in the item's time: unbounded here
  const http = await runScenario({ ...base, mode: 'http', originRateFactor: Infinity }, item, true)
  everyoneComplete(http)
  const copies = http.listeners!.reduce((a, l) => a + (r0(l.firstChunk)), 0)
  function r0 (first: number): number { return item.chunks.slice(first).reduce((a, b) => a + b.length, 0) }
  assert.is(http.originBytes, copies, 'the origin sent each listener its part, once')
  // (with the origin bounded, its web seed is the lockstep trap: all ask it for the same next chunk)
  const bt = await runScenario({ ...base, mode: 'bt', originRateFactor: Infinity }, item, true)
  everyoneComplete(bt)
  assert.ok(bt.conservation.deliveredByNet <= bt.conservation.sentByPeers)
  assert.is(bt.originCopies!.byChunk.reduce((a, n, i) => a + n * item.chunks[i].length, 0), bt.originBytes, 'the web seed\'s copies by chunk add up to what it sent')
  assert.is(http.originCopies, undefined, 'a plain HTTP stream is not counted by chunk')
})

test('pc, origin capped at 10 × the stream: each next chunk is not asked of the origin by every listener at once', async () => {
  // (before origin requests had a deadline and the others went overdue in rank order, this
  // crowd cost the origin 8.5 × the item and the listeners 251 s of stalls)
  const r = await runScenario({ ...base, mode: 'pc' }, item)
  assert.is(base.originRateFactor, 10)
  assert.ok(r.originRatio < 6, `origin sent ${r.originRatio.toFixed(2)} × the item`)
  assert.is(r.stallSeconds, 0, 'nobody stalled')
  assert.is(r.completedShare, 1)
})

test('pc, a steady audience on home lines, origin capped: nobody stalls, and nobody uploads pieces only to have them cancelled', async () => {
  // (before requests over all peers were bounded by what the listener's own line brings within a
  // deadline, 8 % of this audience stalled, 893 s in all: on a 5 Mbit/s line a window asked of
  // many peers at once came past the deadline, was cancelled and asked again, and some chunks
  // never came; the mean listener uploaded 4.6 × the item; and before a request cancelled at its
  // deadline counted as still in flight for two deadlines more, 3 % stalled, 82 s: one tuning in
  // near the end on a 5.75 Mbit/s line had its line filled with cancelled chunks and heard nothing for 50 s)
  const r = await runScenario({ ...DEFAULTS, listeners: 100, arrival: 'steady', seed: 2 }, makeItem(Math.round(DEFAULTS.bitrate / 8 * DEFAULTS.durationMs / 1000), DEFAULTS.chunkBytes))
  assert.is(DEFAULTS.originRateFactor, 10)
  assert.is(r.stallSeconds, 0, `${(r.stalledShare * 100).toFixed(0)} % of listeners stalled, ${r.stallSeconds} s`)
  assert.ok(r.uploadRatio.mean < 2, `listeners uploaded ${r.uploadRatio.mean.toFixed(2)} × the item on average`)
  // (2.3 s when a busy slow line queued first chunks past their deadline, and a listener
  // tuning in asked for its whole window, and near an item's end for what it had skipped;
  // 1.43 s when it asked for what it had skipped once chunk 0 came, and waited for a first
  // chunk asked of a slow line that had been idle: scheduler.ts FIRST_POSITIONS)
  assert.ok(r.firstAudioMs.p95 < 1100, `first audio p95 ${r.firstAudioMs.p95.toFixed(0)} ms`)
})

test('pc, a flash crowd of 100 on home lines, origin capped: each block goes to the origin about once, near its time, and the crowd plays', async () => {
  // (when every listener designated among the few peers it knew fetched its blocks at once,
  // and counted a chunk as holding up its output four 8 s positions ahead of play, this crowd
  // cost the origin 7.74 × the item and 99 % of listeners stalled)
  const r = await runScenario({ ...DEFAULTS, listeners: 100, arrival: 'flash', seed: 1 }, makeItem(Math.round(DEFAULTS.bitrate / 8 * DEFAULTS.durationMs / 1000), DEFAULTS.chunkBytes))
  assert.is(DEFAULTS.originRateFactor, 10)
  // (issue 13's targets: the origin at most 1.1 × the item, at most 0.1 % of listeners stalled)
  assert.ok(r.originRatio <= 1.1, `origin sent ${r.originRatio.toFixed(3)} × the item`)
  assert.ok(r.stalledShare <= 0.001, `${(r.stalledShare * 100).toFixed(1)} % of listeners stalled, ${r.stallSeconds} s`)
})

test('pc, a flash crowd of 1,000, origin capped: the listeners designated for a block take it from the origin steps apart, not all at once', async () => {
  // (with a step of 1 s between one listener's turn and the next, ORIGIN_STEP_MS, each block
  // went to the origin 10-20 times, its queue held everything late: 11.0 × the item, 96 %
  // stalled; issue 13's targets, at most 1.1 × and 0.1 % stalled, are what it must keep:
  // BENCHMARKS.md "scale")
  const r = await runScenario({ ...DEFAULTS, listeners: 1000, arrival: 'flash', seed: 1 }, makeItem(Math.round(DEFAULTS.bitrate / 8 * DEFAULTS.durationMs / 1000), DEFAULTS.chunkBytes))
  assert.ok(r.originRatio <= 1.1, `origin sent ${r.originRatio.toFixed(3)} × the item`)
  assert.ok(r.stalledShare <= 0.001, `${(r.stalledShare * 100).toFixed(1)} % of listeners stalled, ${r.stallSeconds.toFixed(0)} s`)
})

test('live: every listener plays the show from where it tuned in, chunks swapped between peers, the origin under plain HTTP', async () => {
  const r = await runLive({ ...base, listeners: 12, durationMs: 30_000, tailMs: 2000, originRateFactor: Infinity })
  const c = r.conservation
  assert.ok(c.receivedFromPeers > 0, 'live chunks went between peers')
  assert.ok(c.receivedFromPeers <= c.deliveredByNet && c.deliveredByNet <= c.sentByPeers, 'no byte from nowhere')
  assert.is(c.uploadedBySwarms, c.sentByPeers, 'what the swarms say they uploaded went through the links')
  assert.ok(c.receivedFromOrigin <= c.sentByOrigin)
  assert.ok(r.originRatio >= 1, 'the origin sent the show at least once')
  assert.ok(r.originRatio < 12, `origin ${r.originRatio.toFixed(2)} × the stream, less than one copy per listener`)
  assert.is(r.stalledShare, 0, 'every chunk held by its play time (its start + the live delay)')
  assert.ok(r.firstAudioMs.p99 <= LIVE_DELAY_MS + 1000, `first audio p99 ${r.firstAudioMs.p99} ms`)
})

test('live, 100 listeners, origin capped at 10 × the stream: no stretch where the whole audience falls back to the web server at once', async () => {
  // (when everyone's fallback came at the same moment, a chunk the mesh had not yet carried to
  // all was asked of the server by most of the audience; the next chunks' designated requests
  // queued behind them and the audience fell back chunk after chunk for ~25 s: 94 % of
  // listeners had gaps, 2,478 s in all, and the server sent 3.59 × the stream)
  // (and a relay on a slow line queues only what it sends within a fifth of a chunk: with six
  // queued on any line the tail of the audience got chunks after their play time. Since a
  // chunk plays at its start + pc-icecast's 3 s delay, as the real player does (before, the
  // simulator gave it a chunk more, and the 1.5 s delay of then left most chunks late on home
  // lines): 0 s of gaps here; 22 s without the relay bound, 1,522 s with everyone's fallback
  // at once. BENCHMARKS.md "scale")
  const r = await runLive({ ...DEFAULTS, listeners: 100, seed: 1 })
  assert.is(DEFAULTS.originRateFactor, 10)
  assert.ok(r.stallSeconds < 10 && r.stalledShare < 0.05, `${(r.stalledShare * 100).toFixed(0)} % of listeners had gaps, ${r.stallSeconds.toFixed(0)} s in all`)
  assert.ok(r.originRatio < 3, `the web server sent ${r.originRatio.toFixed(2)} × the stream`)
})

test('live, 100 listeners, seed 10: a chunk that had not reached the audience by the fallback is not asked of the web server by everyone', async () => {
  // (every listener asked the capped server for such a chunk within half a chunk, the next
  // chunks' designated requests queued behind them, and the whole audience fell back for ten
  // seconds: 97 % of listeners with gaps, 1,922 s in all; now only the first FALLBACK_PLACES
  // of the audience for each chunk. lib/swarm/live-swarm.ts, BENCHMARKS.md "scale")
  const r = await runLive({ ...DEFAULTS, listeners: 100, seed: 10 })
  assert.ok(r.stallSeconds < 60 && r.stalledShare < 0.3, `${(r.stalledShare * 100).toFixed(0)} % of listeners had gaps, ${r.stallSeconds.toFixed(0)} s in all`)
  assert.ok(r.originRatio < 2.5, `the web server sent ${r.originRatio.toFixed(2)} × the stream`)
})

test('live, 100 listeners: a chunk is taken from the origin by about one designated listener, each ranking itself among its peers and theirs (LKEYS)', async () => {
  // (ranked among its own peers alone, ~30 of the 100, a listener was first for a chunk
  // while two or three others, unknown to it, were too: 314 designated bodies for 240
  // chunks here, and the server sent 2.05 x the stream. lib/swarm/live-swarm.ts, BENCHMARKS.md "scale")
  const r = await runLive({ ...DEFAULTS, listeners: 100, seed: 1 })
  const perChunk = r.originChunks!.designated / r.chunks
  assert.ok(perChunk < 1.1, `${perChunk.toFixed(2)} designated bodies a chunk`)
  assert.ok(r.originRatio < 2, `the web server sent ${r.originRatio.toFixed(2)} x the stream`)
})

test('live, 100 listeners, seed 2: a peer gone without a word is not ranked first for its chunks by everyone who knew of it', async () => {
  // (its peers keep its connection for PEER_IDLE_MS, 150 s, and named it in their LKEYS: the
  // audience waited for it until the fallback, asked the capped server at once, and fell
  // behind: 94 % of listeners with gaps, 1,511 s in all. Now a peer silent for LIVE_SILENT_MS
  // is neither ranked among nor named.)
  const r = await runLive({ ...DEFAULTS, listeners: 100, seed: 2 })
  assert.ok(r.stallSeconds < 60 && r.stalledShare < 0.3, `${(r.stalledShare * 100).toFixed(0)} % of listeners had gaps, ${r.stallSeconds.toFixed(0)} s in all`)
})

test('live, 100 listeners, seed 4: a chunk not known to exist is asked of the web server whole only by the first places at the fallback, the others ask its claim', async () => {
  // (when everyone took the chunk itself, a chunk whose first and second in rank had brought
  // nothing by the fallback was taken by dozens at once: 248 fallback bodies here, and the
  // server sent 2.16 x the stream; with the claim alone beyond the first 16 places, 75)
  const r = await runLive({ ...DEFAULTS, listeners: 100, seed: 4 })
  assert.ok(r.originChunks!.fallback < 150, `${r.originChunks!.fallback} chunks taken from the web server at the fallback`)
  assert.ok(r.originRatio < 2, `the web server sent ${r.originRatio.toFixed(2)} x the stream`)
})

test.run()
