// Who is asked for which chunk, and when: requests to peers (deadline-first, then
// rarest, picker.ts), their deadlines, end-game, and the origin rule (designated
// blocks, the view-settling wait, overdue chunks, giving up). It owns no socket and no
// global timer: it reads the swarm's clock and talks to peers through PeerLink, so it
// runs as well under a virtual clock with simulated links. Scheduling runs on events
// (a chunk arrived, a peer came or went) and on a timer that exists only while requests
// are in flight, so an idle swarm costs no CPU.
import type { PeerLink } from './link.js'
import type { TimerHandle } from './clock.js'
import type { Store } from './store.js'
import type { OriginFeed } from './origin-feed.js'
import type { SwarmClock } from './clock.js'
import { playOrder, pickFrom, candidates, rank, score, signedScore, ChunkMask, FreeCandidates, BLOCK_CHUNKS, SCAN_POSITIONS, type PickState } from './picker.js'

/** requests in flight over all peers however slow our own line seems (inboundBudget) */
export const INBOUND_MIN = 2
/**
 * A request cancelled past its deadline takes the place of one in flight for this many
 * deadlines more (inboundBudget; at least INBOUND_MIN stay possible). A listener tuning
 * in near an item's end on a 5.75 Mbit/s line asked its peers for the next chunks, they
 * came late behind each other, were cancelled and asked of other peers while the first
 * copies still came: its line held 2 to 5 s of chunks nobody wanted any more, every
 * request after missed its deadline, it dropped 44 peers one after another and heard
 * nothing for 50 s (simulated, bench/sim steady, 100 listeners, seed 2: 402 chunks
 * received for the 5 it needed). Counted beyond INBOUND_MIN, a listener whose peers were
 * slow (not its line) stopped asking anyone for seconds after each cancel.
 */
export const CANCELLED_IN_FLIGHT_DEADLINES = 2
/** requests in flight to one peer, of which URGENT_SLOTS only for the urgent window */
export const PIPELINE = 10
export const URGENT_SLOTS = 2
/**
 * Fewer are in flight to a peer whose link delivers less than PIPELINE chunks within the
 * deadline (PeerLink.pipeline), and UNKNOWN_PIPELINE before its first piece: on home
 * lines a slow peer asked for 10 chunks queued them for longer than the deadline, and a
 * third of what peers uploaded arrived after its request had been cancelled.
 */
export const UNKNOWN_PIPELINE = 2
/** after the origin is first allowed, a peer that is not alone uses one origin request at a time while the swarm's view settles */
export const SETTLE_MS = 1000
/**
 * While peers are still joining, each peer's view of the swarm is partial and the
 * designated origin fetchers of a block overlap (measured: duplicated blocks were taken
 * by peers that saw 4, 6 and 11 of 19 others). So non-overdue origin fetches wait until
 * no peer has joined for VIEW_QUIET_MS, for at most VIEW_WAIT_MAX_MS after the origin is allowed,
 * except for the next OVERDUE_POSITIONS positions to be written: the output waits for those now.
 */
export const VIEW_QUIET_MS = 300
export const VIEW_WAIT_MAX_MS = 2000
/**
 * The next OVERDUE_POSITIONS positions do not wait for a quiet view, only until they have
 * been wanted this long: a peer that joined a moment earlier may be reading them from the
 * origin, where no bitfield shows it. Run in-process (test/lib/swarm-schedule.test.ts:
 * eight listeners joined in a chain 3 ms apart, 30 ms between peers, a 4 MiB item), with no
 * wait the origin sent 1.25 to 1.75× the item, as the eight-process test sometimes saw
 * (each joiner saw two peers, and three or four of them took block 0 from the origin);
 * with this wait 1.00 to 1.13×, at the cost of the joiners' first chunk (median 137 →
 * 307 ms there; unchanged at 5 ms between peers, and for a listener alone).
 */
export const NEAR_WAIT_MS = VIEW_QUIET_MS
/**
 * Only a chunk within this many play positions of the first one missing can be overdue
 * (go to the origin out of turn): one further ahead holds up no output yet. Measured at
 * N = 20 on two cores, where every process is short of CPU: chunks 7 to 15 positions
 * ahead went past the deadline while the peer designated for them was still reading
 * them from the origin, and up to seven peers fetched each of them again.
 */
export const OVERDUE_POSITIONS = 4
/**
 * With the item's duration known, a chunk is near (may become overdue) only once it plays
 * within this many deadlines, however few positions ahead it is: a listener that had
 * fetched ahead of play from its peers found the next chunk "holding up" its output half a
 * minute before it played (4 positions of 8 s audio chunks), and with the peers of a
 * flash crowd all that far ahead the origin sent that chunk 10-17 times (simulated,
 * bench/sim audio, 100 listeners, origin at 10 × the stream).
 */
export const OVERDUE_LEAD_DEADLINES = 8
/**
 * An overdue chunk goes to the origin from the peer designated for its block after the
 * deadline, from any other peer after this many deadlines. Measured at N = 20 on two
 * cores: a designated peer short of CPU took 0.7 s to get its block from the origin and
 * announce it, and four peers whose deadline fell in between fetched it again.
 */
export const OVERDUE_OTHERS = 2
/**
 * Past OVERDUE_OTHERS deadlines the other peers take an overdue chunk from the origin one
 * after another, OVERDUE_STEP deadlines apart in their rendezvous rank for its block (and
 * each also after the origin's own wait, OriginFeed.latencyMs). Run in the simulator
 * (bench/sim, audio item, 100 listeners, origin capped at 10 × the stream): with every
 * other peer at 2 deadlines, each next chunk was asked of the origin by nearly every
 * listener at once, its queue grew to two minutes and everyone stalled (origin 10.9 ×
 * the item); one step of 1 deadline gave 5.9 × with no NAT, 4 gave 3.5 ×.
 */
export const OVERDUE_STEP = 4
/**
 * Listeners of one rank for a block (OVERDUE_STEP) are told apart by the fraction of a place
 * their score stands below the next in the whole audience, up to this many deadlines
 * later: two listeners sharing four peers but not connected, each second in rank, took an
 * overdue chunk from the origin 20-80 ms apart, before either one's ASKED reached the other
 * (bench/sim steady, N = 100, seed 7, chunk 6; flash, seed 3, chunk 9).
 */
export const OVERDUE_SPREAD = 0.5
/**
 * For a scheduled item while others listen, an overdue chunk (not the first one to play
 * after tuning in) also waits OVERDUE_PLACE_STEP_MS for each listener that our score for
 * its block places above us in the whole audience (the tracker's count), as the origin's
 * timing does, at most OVERDUE_PLACE_MAX_MS; a listener with fewer than
 * OVERDUE_PLACE_PEERS peers keeps the rank rule alone. Ranked among its ~50 peers, about
 * one listener in 51 is first for a block: in a flash crowd of 1,000 (bench/sim, origin at
 * 10 × the stream, seed 1) ~20 asked the origin together for each early chunk nobody held
 * yet, 2 s after it came near, ~20 more 2 s later, its queue grew to 20 s and chunk 3 came
 * late for a quarter of the crowd (4.79 × the item, 25.7 % stalled); by place, 2.40 ×
 * and 0.2 % (1 s). In a small audience the rank rule is the slower one and decides, as
 * before (BENCHMARKS.md "scale"). After a claim on the chunk (ASKED) ran out, the wait
 * counts from the claim's end, as from a deadline after the chunk came near: the claim had
 * held everyone while their places passed. In a flash crowd of 1,000 (bench/sim audio,
 * origin at 10 × the stream, seed 2) three listeners placed 1, none with a holder at hand,
 * took chunk 1 from the origin within 10 ms at 7.2 s, when by its bounds the first
 * listener's claim on it ran out (1.10 × the item; 1.00 × so, and steady N = 100 seed 10
 * 1.14 → 1.07 ×).
 */
export const OVERDUE_PLACE_STEP_MS = 1000
/** (a listener whose peers never bring a chunk waits at most this long past the rank rule's time) */
export const OVERDUE_PLACE_MAX_MS = 60_000
export const OVERDUE_PLACE_PEERS = 5
/**
 * The origin's timing, for an item whose duration is known (a schedule record) while
 * others listen (the tracker counts more than us, or a peer is connected). A chunk goes to
 * the origin from the listener designated for its block no sooner than ORIGIN_LEAD_MS
 * before it plays; ORIGIN_STEP_MS later for each listener that its score for the block
 * places above it in the whole audience (the tracker's count, or the peers it knows;
 * at most ORIGIN_STEP_MAX_MS later); and a chunk that plays after the first
 * OVERDUE_LEAD_DEADLINES deadlines not before ORIGIN_SETTLE_MS after the swarm started,
 * while its view of the swarm settles. Each listener is designated among the peers it
 * knows, so with ~50 of N known about N / 51 are designated for each block; in a flash
 * crowd each knew only a few peers, and all of them fetched every block of the item in
 * the first seconds (simulated, bench/sim audio, 100 listeners, origin at 10 × the
 * stream: each block 4-12 times in the first 20 s, 7.7 × the item, 99 % stalled). Now
 * one fetches a chunk about a minute before it plays, it spreads through the swarm, and
 * the others, finding it held by a peer, do not ask the origin. Overdue chunks keep
 * their own rule. A listener alone, or an item with no duration (a whole file, --raw),
 * is fetched as soon as it may be: nobody else would fetch it again.
 */
export const ORIGIN_LEAD_MS = 60_000
/**
 * The step between one listener's turn and the next: the time for a chunk the one above
 * took from the origin to reach the peers of the next. At 1 s, in a flash crowd of 1,000
 * with the origin at 10 × the stream, the listeners designated for a block (one in ~51)
 * took it one after another a second apart, before the first copy had spread, each
 * block went to the origin 10-20 times, and its queue held the rest late (11.0 × the
 * item, 96 % stalled; at 4 s 6.7 ×, 26 %: BENCHMARKS.md "scale").
 */
export const ORIGIN_STEP_MS = 4000
/**
 * The last turn: a listener whose turn would come later than this after the first takes
 * none (the chunk reaches it from a peer, or goes to the origin when it is overdue). Each
 * listener is designated among the ~50 peers it knows, so with 1,000 listeners about 20
 * are designated for each block and two thirds of them are placed past the seventh turn;
 * when all of those took the last turn together, ~12 asked the origin at once for each
 * chunk whose first copy still sat in its queue (bench/sim, flash crowd, N = 1,000,
 * origin at 10 × the stream, seed 1: 6.73 × the item with it, 4.79 × without).
 */
export const ORIGIN_STEP_MAX_MS = 30_000
export const ORIGIN_SETTLE_MS = 10_000
/**
 * For its first ISOLATED_WAIT_MS, a listener with no peer while the tracker counts others
 * (timed()) waits for one before it takes from the origin the first chunk it plays (when
 * it tuned in within FIRST_SECOND_AFTER_MS of the item's start); and while it has no peer,
 * however long, it takes a chunk that plays later than ISOLATED_LEAD_DEADLINES deadlines
 * (and the origin's measured wait) from now no sooner than that.
 * In a flash crowd the first listeners are mostly behind NATs and told of each other
 * only: each alone, each took the first chunks from the origin at once, before anyone
 * could pass them on (bench/sim audio, N = 300, origin at 10 × the stream, seed 1: chunk
 * 0 went to the origin 11 times, five of them to listeners with no peer yet). Past its
 * first ISOLATED_WAIT_MS such a listener took chunks from the origin a minute ahead, by
 * its designated turn, for nobody but itself: in a steady audience's first 18 s with
 * nobody reachable (bench/sim steady, N = 100, seed 4) the first listener, alone behind a
 * NAT, took chunks 4-9 at 11-13 s, the origin's wait grew to 2.9 s for the next listener's
 * first chunk, and the listeners behind NATs after it took the same chunks again (1.92 ×
 * the item, first audio p95 3.69 s; bounded only by the chunk's play time 1.75 ×, 3.26 s).
 * The other first positions of a listener tuning in near the start wait for a peer for its
 * first deadline: the first listeners of a flash crowd, alone behind NATs for their first
 * second, took chunk 1 (playing 8 s later) from the origin at once while the chunk 0 they
 * play waited for a peer, and it came from a peer to everyone else (bench/sim audio, origin
 * at 10 × the stream, seed 1: N = 100 / 300 / 1,000 1.10 / 1.14 / 1.03 × the item; 1.07 /
 * 1.07 / 1.00 × with the wait). Waiting ISOLATED_WAIT_MS for them instead cost a steady
 * audience whose first listeners stayed alone (N = 100, seed 4: 1.75 → 1.79 ×, first
 * audio p95 3.26 → 3.33 s): chunk 1 went to the origin from two of them at once.
 */
export const ISOLATED_WAIT_MS = 6000
/**
 * It was 4: with several listeners alone behind NATs sharing a capped origin, each asked its
 * next chunk 8 s and the origin's wait ahead, and a newcomer's first chunk queued there behind
 * them (bench/sim steady, N = 100, origin at 10 × the stream: at 3, first audio p95 seed 1
 * 881 → 832 ms, seed 4 1,271 → 1,241 ms, the origin one chunk lower on seeds 7 and 11, one
 * higher on seed 13, no stall; at 2, seed 13's p95 2.29 → 4.96 s).
 */
export const ISOLATED_LEAD_DEADLINES = 3
/**
 * A listener whose line cannot pass a chunk on within half a deadline (uploads.ts canPassOn),
 * or that --max-share stops, takes no turn for a chunk and finds it overdue only when it
 * plays within this many deadlines and the origin's wait: its copy would reach few if any,
 * and the listeners placed below it take the chunk first. In a flash crowd of 100,000
 * (bench/sim audio, 20 peers dialled, origin at 10 × the stream, seed 1) a listener on a
 * 0.5 Mbit/s line took chunk 5 at its turn 15.6 s before it played (the rule was then for
 * chunks more than OVERDUE_LEAD_DEADLINES deadlines ahead only), refused every request for
 * it, and 4 s later the listener placed 2 took it from the origin again.
 */
export const SLOW_LINE_LEAD_DEADLINES = ISOLATED_LEAD_DEADLINES
/**
 * The first chunk waits ISOLATED_WAIT_MS for a peer only while listeners come fast enough
 * that ISOLATED_WAIT_ARRIVALS of them are due within it, by the tracker's count since the
 * item's start (one in three or so accepts connections; the others, behind NATs as we are,
 * cannot reach us nor we them). In a steady audience of 100 over a 4-minute item (~0.4
 * a second), listeners behind NATs tuning in before anyone reachable had come each waited
 * the 6 s for nobody, then queued at the origin behind the others' chunks: first audio
 * 4.6-11.5 s for 8 listeners (bench/sim steady, N = 100, origin at 10 × the stream, seed
 * 13: p95 7.13 s; 2.29 s without the wait, the origin 1.82 → 1.92 × the item; seed 11
 * 2.18 → 1.20 s, 1.27 → 1.34 ×). A flash crowd (~10 a second at its start) still waits,
 * and its figures are the same (BENCHMARKS.md `## scale`).
 */
export const ISOLATED_WAIT_ARRIVALS = 3
/**
 * origin requests in flight at once, alone / with peers around. Alone with an item whose
 * duration is known (a schedule record) and a tracker that counts us, one at a time (with
 * no tracker nobody arrives to take the other ranges again, and three keep a slow origin
 * busy, as for a URL): the first listener of a flash
 * crowd, alone for its first seconds, asked three ranges at once, the origin's line sent
 * them side by side, and chunk 3 came 11.5 s after chunk 0 (bench/sim audio, N = 1,000,
 * origin at 10 × the stream, seed 2), while the crowd arriving meanwhile took chunks 0-3
 * from the origin again; one range after another brings them in the order they play.
 */
export const ORIGIN_JOBS_ALONE = 3
export const ORIGIN_JOBS = 2
export const ORIGIN_RUN_CHUNKS = 16
/**
 * Tuning in, the first FIRST_POSITIONS positions to play (chunk 0, the one before the play
 * position, that one) come before anything else. Until they are held only the window is
 * asked for: a listener tuning in near an item's end, its window short, asked its peers for
 * the chunks it had skipped as soon as chunk 0 came, and a peer serving lowest index first
 * sent those before the chunk it was to play. And a first position asked of a peer that has
 * sent us nothing yet is asked of a second one as well, the quickest that has sent us a
 * chunk, once the first has taken longer than that one took for its chunk: nothing tells a
 * listener tuning in which of its peers are on a slow line, and a 0.45-0.8 Mbit/s line that
 * had been idle (so it had forgotten its pace and did not refuse) sent the first chunk
 * 0.95-1.35 s later, or past the deadline (bench/sim, steady audience, N = 100, seed 2:
 * four of the six slowest first audios). The copy that comes second is cancelled, or ignored if already sent. The
 * second ask is only for a listener tuning in SECOND_ASK_AFTER_MS or more into an item
 * and for a chunk that at least half its peers hold: in a flash crowd at an item's top the
 * few quick peers holding the first chunks were asked for them again by everyone (358
 * second asks at N = 300, and 3.7-6.7 % of the crowd stalled instead of 0.3 %).
 */
export const FIRST_POSITIONS = 3
export const FIRST_SECOND_AFTER_MS = 30_000
/**
 * It was FIRST_SECOND_AFTER_MS: listeners of a steady audience tuning in 12-16 s into an
 * item asked chunk 0 of a peer on a 1.2 Mbit/s line while one on a 42 Mbit/s line that had
 * just sent them the next chunk held it too, and had it 0.96-1.08 s later (bench/sim
 * steady, N = 100, origin at 10 × the stream, seed 8: first audio p95 1.18 s; from 8 s,
 * 1.04 s, and seeds 1-16 better on five, worse on two by 34 and 67 ms; flash crowds'
 * p95 the same or better, BENCHMARKS.md `## scale`).
 */
export const SECOND_ASK_AFTER_MS = 8000
/** end-game: when this few chunks are missing, ask a second peer for chunks in flight */
export const ENDGAME_CHUNKS = 8
/**
 * A chunk a peer refused, or did not send within the deadline, is not asked of it again for
 * MISS_FORGET_DEADLINES deadlines; then it may be (the peer's queue has drained, or it has
 * measured its line and refuses what it cannot send in time). Never asked again, the first
 * holder of a chunk kept it to itself: in a flash crowd its ~65 peers all asked it at once,
 * its 2 Mbit/s line could not send them in time, every one of them wrote it off, and the
 * chunk, held since 2.7 s, reached nobody else until the origin sent it again at 35 s
 * behind a 15 s queue (bench/sim audio, N = 1,000, origin at 10 × the stream, seed 2: 3.30 ×
 * the item, 18.5 % of the crowd stalled on chunks 2 and 4; forgiven after 4 deadlines 2.41 ×,
 * 1.9 %; after 2, 2.31 ×, none).
 */
export const MISS_FORGET_DEADLINES = 2
/**
 * A peer that answered REJECT (its line too busy or too slow to send a chunk within half a
 * deadline, uploads.ts) comes after every peer that did not, for any chunk, for
 * REFUSED_DEADLINES deadlines: a line that slow refuses every request while it remembers
 * its pace. In connection order, a listener tuning in asked the chunk at its offset of
 * four lines (0.3-2.5 Mbit/s) in turn, each refusing one round trip later, and had it from
 * the fifth, an 8.7 Mbit/s line, 0.89 s after the first ask (bench/sim steady, N = 100,
 * origin at 10 × the stream, seed 7: such chains in four of the six first audios over 1 s;
 * p95 1.10 s, 0.97 s with this rule; seeds 1-16 BENCHMARKS.md `## scale`).
 */
export const REFUSED_DEADLINES = 2
/**
 * A peer that says it has asked the origin for a chunk (ASKED, pc-wire(7)) is waited for:
 * the chunk is not taken from the origin by us, on a designated turn or overdue, until that
 * peer holds it (then it is asked of it as of any holder) or the claim runs out (its
 * leaving does not end it: it may have passed the claim on, claimedUntil):
 * CLAIM_MAX_MS after the first claim for that chunk came, and no later than a deadline and
 * the origin's measured wait before the chunk plays, but at least CLAIM_MIN_DEADLINES
 * deadlines for chunk 0 and for a chunk that has not played yet by the schedule. A chunk
 * newly waited for so is passed on to our other peers (we will hold it soon, they may wait
 * for us), once, and told to each new peer after our BITFIELD (waitedFor(); passed on only
 * when it came, a claim missed the listeners of a flash crowd that connected a moment
 * later: bench/sim audio, N = 1,000, seeds 1-2, 1.31 / 1.21 × the item, told 1.17 / 1.17 ×).
 * In a flash crowd the first copies of the first chunks sat in a capped
 * origin's queue for 11-19 s, unseen, and listeners around the one that had asked took
 * them from the origin again (bench/sim audio, N = 1,000, origin at 10 × the stream, seed
 * 2: chunks 0-3 asked 32 times); told to the asker's peers alone, a claim reached ~65 of
 * the 1,000 (seed 1: 2.26 × the item before, 2.33 × so, 1.99 × passed on; BENCHMARKS.md
 * "scale"). The bounds are what a peer claiming every chunk and sending none can cost: a
 * chunk still comes from the origin in time, or at most CLAIM_MIN_DEADLINES deadlines
 * late (the minimum also for a chunk past its play time cost 2 s more than a minute of
 * waiting in test/lib/swarm-timing, with no gain).
 */
export const CLAIM_MAX_MS = 30_000
export const CLAIM_MIN_DEADLINES = 2
/**
 * A claim (ASKED) that comes after the one before for its chunk ran out is waited for
 * afresh, once (CLAIM_RENEWALS), from when it came, no later than a deadline and the
 * origin's wait before the chunk plays (and with no CLAIM_MIN_DEADLINES minimum): a
 * listener's claim made at its turn ran out after CLAIM_MAX_MS, its copy having reached
 * nobody (a 0.6 Mbit/s line), and when two listeners then found the chunk overdue 20 ms
 * apart, the first one's ASKED, coming after, was not waited for (bench/sim audio, N = 100,
 * origin at 10 × the stream, seed 3: chunk 9 from the origin three times). Not chunk 0,
 * which every listener tuning in waits for and which a claim holds at most
 * CLAIM_MIN_DEADLINES (pc-fetch(1)): renewed, a peer claiming every chunk and sending none
 * held it 1.5 s past that in test/cmd/pc-fetch-asked (a CI run, 4,062 ms after the start
 * against chunks 1-2 at 2,571 ms), the origin's wait having shrunk meanwhile.
 */
export const CLAIM_RENEWALS = 1
/**
 * When a claim runs out and its chunk is overdue, a listener takes it from the origin up to
 * CLAIM_SPREAD deadlines later, by its place for the chunk's block in the whole audience
 * (place / CLAIM_SPREAD_PLACES of it, all of it from that place on), and no later than
 * (1 - CLAIM_SPREAD) deadlines and the origin's wait before the chunk plays; a claim
 * renewed (CLAIM_RENEWALS) lasts to that bound too. A claim ends at the same moment for
 * every listener it reached: in a flash crowd of 1,000 the first holder of chunk 1, behind
 * a NAT on a 2.2 Mbit/s line, refused it to ~95 peers while it sent chunk 0, its claim ran
 * out a deadline before chunk 1 played for five listeners, all overdue, and all five took it
 * from the origin in the same 10 ms (bench/sim audio, origin at 10 × the stream, seed 2:
 * 1.17 × the item; 1.10 × spread). The first placed asks at once, its ASKED renews the claim
 * for the others, and they wait for its copy. Not chunk 0, nor a chunk about to play (the
 * bound is past): a peer claiming every chunk costs no more on those (CLAIM_MIN_DEADLINES),
 * and on the others its claims keep the chunk from the origin until 0.75 deadline and the
 * origin's wait before it plays. With half a deadline, 1.00 × there, but three listeners of
 * a steady audience stalled 0.02-0.74 s on a chunk whose claims, renewed one after another,
 * held them until half a deadline before it played, and the origin's copy came late
 * (steady, N = 100, seed 10).
 */
export const CLAIM_SPREAD = 0.25
export const CLAIM_SPREAD_PLACES = 4
/**
 * A designated listener's turn (releaseAt) for chunks playing more than
 * OVERDUE_LEAD_DEADLINES deadlines and this long ahead is said to its peers first, with its
 * score for their block (ASKING, pc-wire(7); picker.ts score: the higher is placed first),
 * passed on as any claim, and the origin is asked this long after, unless meanwhile a claim
 * with a higher score came for them, or one without (ASKED: its asker is at the origin
 * already): then it stands down and waits for that one's copy like any claim. A claim with
 * a lower score does not hold it. Two listeners whose turns for a block fell 20 ms apart,
 * each timed from its own start (ORIGIN_SETTLE_MS), both asked the origin before the
 * other's ASKED could reach them (bench/sim audio, N = 100,000, 20 peers dialled, origin
 * at 10 × the stream, seed 1: chunks 8-9 twice at 20.2 s). Said first, each hears the
 * other's before it asks, when the claims cross the crowd in less than half of this: a
 * few hops of 10-300 ms.
 */
export const CLAIM_INTENT_MS = 1000
/** a turn said (CLAIM_INTENT_MS) this long ago and not taken is said again */
export const INTENT_STALE_MS = 4 * CLAIM_INTENT_MS
/** a peer that has answered nothing and let this many requests pass their deadline is dropped */
export const MAX_STRIKES = 6
export const MAX_MISSED = 4096

/** What the scheduler needs of its swarm (swarm.ts Swarm). */
export interface SchedulerHost {
  readonly opts: { url: string, window: number, deadlineMs: number, durationMs?: number, debug: (m: string) => void }
  readonly clock: SwarmClock
  /** the tracker's count of the swarm (0: not known) */
  readonly audience: number
  /** tell our peers we asked the origin for chunks first..first+n-1 (ASKED); with `from`, pass that peer's ASKED on to our others (claimed()) */
  asked: (first: number, n: number, from?: PeerLink, score?: number) => void
  readonly closed: boolean
  complete: boolean
  readonly store?: Store
  readonly feed: OriginFeed
  readonly myKey: number
  readonly peers: Set<PeerLink>
  readonly members: { readonly lastJoinAt: number, otherKeys: () => number[] }
  emit: (event: string, ...args: unknown[]) => boolean
  /** whether our line can pass a chunk of `len` bytes on in time, as far as we know (uploads.ts canPassOn) */
  canPassOn: (len: number) => boolean
}

/** A peer's claim (ASKED) on a chunk: who told us, when we began waiting for it, until when, and how often it was renewed (CLAIM_RENEWALS). */
/** a peer's claim on a chunk (claimed()); `score`: made at a designated turn, the asker's (ASKING, CLAIM_INTENT_MS) */
interface Claim { p: PeerLink, from: number, until: number, renewed?: number, score?: number }
/** our designated turn for a chunk, said to our peers (CLAIM_INTENT_MS): our score for its block, and when */
interface Intent { score: number, at: number }

export class Scheduler {
  state?: PickState
  readonly gaveUp = new Set<number>()
  /** chunk → the peers asked for it */
  readonly pendingPeers = new Map<number, Set<PeerLink>>()
  /** verified, being written to the store */
  readonly writing = new Set<number>()
  private readonly urgentSince = new Map<number, number>()
  /** when each chunk came within OVERDUE_POSITIONS of the first missing position */
  private readonly nearSince = new Map<number, number>()
  private kickQueued = false
  private quietTimer?: TimerHandle
  private tick?: TimerHandle
  /** the time of the scheduling pass under way */
  private now = 0
  /** no request in flight to a peer was made before this (a pass with none past its deadline skips looking) */
  private oldestAsk = Infinity
  /** rankFor's answers, for the `others` array they were worked out over */
  private ranksOf?: number[]
  /** our own line's pace (arrived()) */
  private readonly inbound = new LinePace()
  /** rankFor's answer per block, -1: not worked out */
  private ranks = new Int32Array(0)
  /** when requests were cancelled past their deadline (inboundBudget), oldest first */
  private readonly cancels: number[] = []
  /** ms of play per chunk (0: no duration known) */
  private chunkMs = 0
  /** the first positions not yet held, while we tune in (firstPositions; originBusy) */
  private tuning?: number[]
  /** the chunk holding the record's offset (askTwice) */
  private tuneChunk = 0
  /** each chunk's play position (the inverse of PickState.order) */
  private positionOf = new Int32Array(0)
  /** when we started, and when chunk 0 played by the record's offset then */
  private startedAt = 0
  private itemStartAt = 0
  /** the earliest time a chunk now waiting for its release (releaseAt) may go to the origin, and the timer set for it */
  private nextRelease = Infinity
  private releaseTimer?: TimerHandle
  private releaseTimerAt = Infinity
  /** chunk → the peer that said it asked the origin for it, and until when we wait for that (CLAIM_MAX_MS) */
  private readonly claims = new Map<number, Claim>()
  /** chunk → our turn for it said to our peers (CLAIM_INTENT_MS), until it is stored or a higher claim comes */
  private readonly intents = new Map<number, Intent>()
  /** the misses (missedBy) not yet forgiven, oldest first (MISS_FORGET_DEADLINES) */
  private readonly misses: Array<{ at: number, p: PeerLink, i: number }> = []
  /** when each peer last answered REJECT (REFUSED_DEADLINES) */
  private readonly refusedAt = new Map<PeerLink, number>()

  constructor (private readonly sw: SchedulerHost) {}

  /** The store is open: work out the play order (joined at `playFraction` of the item). */
  start (store: Store, playFraction: number): void {
    const n = store.count
    const tree = store.tree
    const play = Math.min(n - 1, Math.max(0, Math.floor(playFraction * tree.size / tree.chunkSize) - 1))
    this.tuneChunk = Math.min(n - 1, Math.floor(playFraction * tree.size / tree.chunkSize))
    const { order, originLimit } = playOrder(n, play)
    this.ranks = new Int32Array(Math.ceil(n / BLOCK_CHUNKS)).fill(-1)
    this.positionOf = new Int32Array(n)
    for (let k = 0; k < n; k++) this.positionOf[order[k]] = k
    const d = this.sw.opts.durationMs
    this.chunkMs = d !== undefined && d > 0 ? d / n : 0
    this.startedAt = this.sw.clock.now()
    this.itemStartAt = this.startedAt - (d ?? 0) * playFraction
    this.state = {
      count: n, order, originLimit, cursor: 0, window: this.sw.opts.window, avail: new Uint16Array(n),
      has: (i) => store.has(i),
      busy: (i) => this.pendingPeers.has(i) || this.writing.has(i) || this.originBusy(i),
    }
  }

  /**
   * Chunk i is on its way from the origin, asked for less than a deadline ago. An origin
   * request has a deadline like a peer's: a capped origin serving a crowd queues its
   * requests for seconds, and a chunk waiting there is asked of a peer that holds it
   * meanwhile (the origin request is aborted once all it would bring is held). A first
   * position (FIRST_POSITIONS) asked of the origin while we tune in is asked of a peer that
   * holds it at once: the first listener that accepts connections in a steady audience
   * asked the origin for chunks 0-2 at its turn, its peers behind NATs, holding them,
   * dialled it 0.2-1 s later, and it asked them only when the deadline had passed; the
   * origin, queueing, sent chunk 0 2.6 s after its ask, and the listeners behind NATs that
   * tuned in then waited for its claim (bench/sim steady, N = 100, origin at 10 × the
   * stream, seed 4: first audio 3.1-3.7 s for five listeners; BENCHMARKS.md `## scale`).
   */
  private originBusy (i: number): boolean {
    const t = this.sw.feed.pending.get(i)
    return t !== undefined && this.now - t <= this.sw.opts.deadlineMs && this.tuning?.includes(i) !== true
  }

  kick (): void {
    if (this.kickQueued || this.sw.closed) return
    this.kickQueued = true
    this.sw.clock.defer(() => { this.kickQueued = false; this.schedule() })
  }

  /**
   * Whether peer p's HAVE for chunk i may let a pass ask for something now (Swarm kicks a
   * pass for a HAVE only then): i is not held and not on its way, and p may be asked for it
   * (handshook, not leaving, has not missed it, room in its pipeline); or i is asked of
   * one peer only in the end-game, or waited for by p's claim, which its copy ends; and every
   * HAVE while we tune in (the first positions' second asks count the holders). A HAVE
   * kicked a pass each (half of all passes in a flash crowd, bench/sim audio, N = 1,000, 20
   * peers, first 60 s), of which 11 % asked for anything: the others found the chunk held,
   * asked already or the peer full. What a pass does on time is done by the next one, at
   * most the tick (armTick) later, or by this HAVE's when a request is past its deadline, a
   * miss is to be forgiven or a cancel leaves the inbound budget: without that, first audio
   * p95 moved by -72 to +26 ms on four of 16 seeds of a steady audience (bench/sim, N = 100),
   * with it one by +10 ms (seed 3); in a flash crowd of 1,000 (seed 1) +39 ms, with it +29 ms.
   */
  haveMayAct (p: PeerLink, i: number): boolean {
    const st = this.state
    const sw = this.sw
    if (st === undefined) return false
    // (or the pass has timed work due: a request past its deadline, a miss to forgive, a
    // cancel that leaves the inbound budget; as the HAVEs' passes did it soon after it fell due)
    const dl = sw.opts.deadlineMs
    const now = sw.clock.now()
    if (now - this.oldestAsk > dl || (this.misses.length > 0 && now - this.misses[0].at >= MISS_FORGET_DEADLINES * dl) ||
      (this.cancels.length > 0 && now - this.cancels[0] > CANCELLED_IN_FLIGHT_DEADLINES * dl)) return true
    if (sw.store!.has(i) || this.gaveUp.has(i)) return false
    if (st.cursor < FIRST_POSITIONS || this.claims.get(i)?.p === p) return true
    const s = this.pendingPeers.get(i)
    if (s !== undefined) {
      const missing = st.count - sw.store!.held - this.gaveUp.size
      return s.size === 1 && missing <= ENDGAME_CHUNKS
    }
    const t = sw.feed.pending.get(i)
    if (this.writing.has(i) || (t !== undefined && now - t <= dl)) return false
    if (!p.remote || p.goodbye || p.missed.has(i)) return false
    // (room for it: a chunk of the urgent window takes any slot, a later one only past those
    // kept for the window, as pickFrom does)
    const limit = p.pipeline(dl, sw.store!.tree.chunkSize, PIPELINE, UNKNOWN_PIPELINE)
    const room = limit - p.inflight.size
    return room > (this.inWindow(i) ? 0 : Math.min(URGENT_SLOTS, limit >> 1))
  }

  /** Whether chunk i is among the first `window` positions not held from the cursor (candidates' `win`). */
  private inWindow (i: number): boolean {
    const st = this.state!
    const k = this.positionOf[i]
    if (k >= st.originLimit) return false
    const store = this.sw.store!
    let seen = 0
    for (let j = st.cursor; j < k; j++) if (!store.has(st.order[j]) && ++seen >= st.window) return false
    return true
  }

  /** Chunk i is stored: no one else need send it. */
  stored (i: number): void {
    const s = this.pendingPeers.get(i)
    if (s) for (const q of s) { q.inflight.delete(i); q.send({ type: 'cancel', index: i }) }
    this.pendingPeers.delete(i)
    this.urgentSince.delete(i)
    this.nearSince.delete(i)
    this.claims.delete(i)
    this.intents.delete(i)
  }

  /**
   * Peer p says it asked the origin for chunks first..first+count-1, or was told so (ASKED):
   * wait for its copies, within CLAIM_MAX_MS of the first such claim for each chunk (a peer
   * saying it again, or another peer, does not make us wait longer than that), and pass the
   * chunks newly waited for on to our other peers.
   */
  claimed (p: PeerLink, first: number, count: number, score?: number): void {
    const st = this.state
    if (!st) return
    const now = this.sw.clock.now()
    const dl = this.sw.opts.deadlineMs
    // the chunks newly waited for are passed on to our other peers, in runs
    let run = -1
    let n = 0
    for (let i = first; i < first + count && i < st.count; i++) {
      if (n > 0 && i !== run + n) { this.sw.asked(run, n, p, score); n = 0 }
      if (this.sw.store!.has(i) || p.has(i)) continue
      // (our turn said for it, CLAIM_INTENT_MS: ours come back, or a lower one, holds us
      // not and goes no further; a higher one, or one at the origin already, and we stand down)
      const mine = this.intent(i, now)
      if (mine !== undefined) {
        if (score !== undefined && score <= mine.score) continue
        this.intents.delete(i)
      }
      const c = this.claims.get(i)
      // (a claim coming after the one before ran out is waited for afresh, once: CLAIM_RENEWALS)
      const renew = c !== undefined && c.until <= now && (c.renewed ?? 0) < CLAIM_RENEWALS && i !== 0
      const from = c === undefined || renew ? now : c.from
      // (at least CLAIM_MIN_DEADLINES for the first chunk, which everyone tuning in plays, and for one that has not played yet; not when renewed)
      const plays = this.playTime(i)
      const least = !renew && (i === 0 || from < plays || this.chunkMs === 0) ? from + CLAIM_MIN_DEADLINES * dl : -Infinity
      // (renewed, to the bound of CLAIM_SPREAD)
      const until = this.chunkMs === 0 ? least : Math.min(from + CLAIM_MAX_MS, Math.max(least, plays - (renew ? 1 - CLAIM_SPREAD : 1) * dl - this.sw.feed.latencyMs))
      let pass = false
      if (c === undefined) {
        this.claims.set(i, score === undefined ? { p, from, until } : { p, from, until, score })
        pass = until > now
      } else {
        // (a claim higher than the one waited for, or one at the origin already, is passed on
        // too: it must reach the listener whose turn it puts below, CLAIM_INTENT_MS)
        const higher = c.until > now && c.score !== undefined && (score === undefined || score > c.score)
        if (higher || renew) { c.score = score; pass = higher || until > now }
        if (renew) { c.from = now; c.renewed = (c.renewed ?? 0) + 1 }
        if (c.until <= now || c.p !== p) { c.p = p; c.until = Math.max(c.until, until) }
      }
      if (pass) { if (n === 0) run = i; n++ }
    }
    if (n > 0) this.sw.asked(run, n, p, score)
  }

  /**
   * Until when chunk i waits for a peer's copy from the origin (claimed()), -Infinity when
   * it does not. A teller that leaves does not end the claim: it may only have passed it
   * on, and the asker, elsewhere in the swarm, still brings the chunk to its other peers.
   * Ended when the teller left, in a flash crowd of 1,000 (bench/sim audio, origin at 10 ×
   * the stream, seed 1) a listener whose only teller of a claim left took chunks 4-7 from
   * the origin again 1.3 s after the asker (1.44 × the item; 1.38 × with the claim lasting
   * CLAIM_MIN_DEADLINES deadlines after, 1.31 × kept to its end). A claim's bounds are
   * those of a peer that claims and never sends.
   */
  private claimedUntil (i: number, now: number): number {
    const c = this.claims.get(i)
    if (c === undefined || c.until <= now) return -Infinity
    if (c.p.has(i) && this.sw.peers.has(c.p)) { c.until = now; return -Infinity }
    return c.until
  }

  /** The chunks we wait for by a peer's claim now (claimedUntil), and those of our turns said and not yet taken (CLAIM_INTENT_MS), to tell a new peer of them. */
  waitedFor (): number[] {
    const now = this.sw.clock.now()
    const out: number[] = []
    for (const i of this.claims.keys()) if (this.claimedUntil(i, now) > now) out.push(i)
    for (const i of this.intents.keys()) if (this.intent(i, now) !== undefined && !this.sw.feed.pending.has(i)) out.push(i)
    return out
  }

  /**
   * Our turn said for chunk i (CLAIM_INTENT_MS), while it stands: taken (at the origin now),
   * or said less than INTENT_STALE_MS ago. One said longer ago and never taken holds
   * nothing (it is said again at the next turn, and a lower claim is waited for): forgotten.
   */
  private intent (i: number, now: number): Intent | undefined {
    const t = this.intents.get(i)
    if (t === undefined || now - t.at < INTENT_STALE_MS || this.sw.feed.pending.has(i)) return t
    this.intents.delete(i)
    return undefined
  }

  /**
   * The score a new peer is told with chunk i of waitedFor() or of the origin's requests:
   * ours for a turn said, taken or not, or the claim's we wait for (ASKING); undefined: an
   * ASKED. Told a turn taken as an ASKED, a newcomer holding the same claim with its score
   * passed it on again, as one at the origin already, and so did all it reached: a second
   * flood of every claim through the crowd for each newcomer a fetching listener greeted.
   */
  claimScore (i: number): number | undefined {
    return this.intent(i, this.sw.clock.now())?.score ?? (this.sw.feed.pending.has(i) ? undefined : this.claims.get(i)?.score)
  }

  /** Peer p is gone: what it held is no longer available, what it was asked for is free. */
  forget (p: PeerLink): void {
    const st = this.state
    if (st) for (let i = 0; i < st.count; i++) if (p.has(i) && !p.missed.has(i) && st.avail[i] > 0) st.avail[i]--
    this.refusedAt.delete(p)
    this.release(p)
  }

  /** Requests in flight to p are not coming (it left or said goodbye). */
  release (p: PeerLink): void {
    for (const i of p.inflight.keys()) this.unpend(i, p)
    p.inflight.clear()
  }

  /**
   * Chunk i is not asked of peer p again (past its deadline, or `refused`: REJECT), and no
   * longer counted as available from it; a peer that refused comes after the others for a
   * while (REFUSED_DEADLINES).
   */
  missedBy (p: PeerLink, i: number, refused = true): void {
    const st = this.state
    if (refused) this.refusedAt.set(p, this.sw.clock.now())
    if (!st || i >= st.count || p.missed.has(i) || p.missed.size >= MAX_MISSED) return
    p.miss(i)
    if (p.has(i) && st.avail[i] > 0) st.avail[i]--
    this.misses.push({ at: this.sw.clock.now(), p, i })
  }

  /**
   * Whether chunk i, come from p with no request in flight, was asked of p and given up on
   * lately (missedBy, not yet forgiven) and is neither held nor being stored: the only
   * pieces taken unasked (Swarm.onLatePiece), so a peer cannot make us hash what we never
   * asked of it, nor a chunk twice.
   */
  lateCopy (p: PeerLink, i: number): boolean {
    const st = this.state
    return st !== undefined && i < st.count && p.missed.has(i) && !st.has(i) && !this.writing.has(i)
  }

  /** MISS_FORGET_DEADLINES: misses older than that are forgiven, and what the peer holds counts as available again. */
  private forgive (now: number): void {
    const st = this.state!
    const ms = MISS_FORGET_DEADLINES * this.sw.opts.deadlineMs
    const misses = this.misses
    let n = 0
    while (n < misses.length && now - misses[n].at >= ms) {
      const { p, i } = misses[n++]
      if (!p.missed.delete(i)) continue
      if (!p.closed && this.sw.peers.has(p) && p.has(i)) st.avail[i]++
    }
    if (n > 0) misses.splice(0, n)
  }

  unpend (i: number, p: PeerLink): void {
    const s = this.pendingPeers.get(i)
    if (s) { s.delete(p); if (s.size === 0) this.pendingPeers.delete(i) }
  }

  private schedule (): void {
    const sw = this.sw
    const st = this.state
    const store = sw.store
    if (sw.closed || !st || !store) return
    const now = this.now = sw.clock.now()
    while (st.cursor < st.order.length && (store.has(st.order[st.cursor]) || this.gaveUp.has(st.order[st.cursor]))) st.cursor++
    if (!sw.complete && this.neededDone()) { sw.complete = true; sw.emit('complete') }
    const dl = sw.opts.deadlineMs
    // (no request stays pending on a connection that is gone: a link that closes leaves the
    // peers at once (Members.detach), and forget() frees what it was asked for; every other
    // place that ends a request ends it in both pendingPeers and the link's inflight. A walk
    // here over every request in flight on every pass, looking for one, found none in a
    // flash crowd and was ~2.5 % of its run: bench/sim audio, N = 3,000, 20 peers dialled,
    // the first 60 s)
    // requests past their deadline go elsewhere; the slow peer ranks lower
    // (strikes grow only here, so a pass that does not look finds no peer to drop either:
    // one that reached MAX_STRIKES with nothing delivered was dropped when it did)
    const scan = now - this.oldestAsk > dl
    if (scan) this.expire(now)
    if (this.misses.length > 0) this.forgive(now)
    // the urgent window: when each chunk started being waited for
    let seen = 0
    for (let k = st.cursor; k < st.order.length && seen < st.window; k++) {
      const i = st.order[k]
      if (store.has(i) || this.gaveUp.has(i)) continue
      if (seen < OVERDUE_POSITIONS && !this.nearSince.has(i) && this.playsAt(k, true) - now <= OVERDUE_LEAD_DEADLINES * sw.opts.deadlineMs) this.nearSince.set(i, now)
      seen++
      if (!this.urgentSince.has(i)) this.urgentSince.set(i, now)
    }
    // (the candidates are made only when a peer may be asked for one: anyAvailable)
    const free = this.anyAvailable() ? new FreeCandidates(candidates(st), st.busy, st.count) : undefined
    const missing = st.count - store.held - this.gaveUp.size
    const endgame = missing > 0 && missing <= ENDGAME_CHUNKS
    // (with nothing to ask for, no peer is looked at: a listener holding the item passes here on every message)
    const chunk = store.tree.chunkSize
    // until the first positions are held, only the urgent window is asked for: a listener
    // tuning in to 20 peers asked them for the whole item at once, and on two cores its
    // first chunk queued behind the others' uploads (first byte ~50 ms later); and see
    // FIRST_POSITIONS
    const windowOnly = st.cursor < FIRST_POSITIONS
    // (and of those only the first positions: firstPositions, askTwice)
    const tuning = this.tuning = windowOnly ? this.firstPositions() : undefined
    const firsts = tuning && this.playedFirst(tuning)
    // only a peer holding a free candidate can be asked for one (the others' picks would be
    // empty); the fastest first, as the sort is stable this is the order of the full ranking
    // (nor is any when no free candidate is available from a peer at all, which is most passes)
    let budget = this.inboundBudget(dl, chunk)
    const asked = budget > 0 && free !== undefined ? this.askable(free, firsts, chunk) : []
    for (const p of this.byRefusal(byRate(asked), now)) {
      if (budget <= 0) break
      const limit = p.pipeline(dl, chunk, PIPELINE, UNKNOWN_PIPELINE)
      const picks = pickFrom(free!, st.avail, (i) => free!.has(i) && p.has(i) && !p.missed.has(i) && (firsts === undefined || firsts.includes(i)), Math.min(limit - p.inflight.size, budget), Math.min(URGENT_SLOTS, limit >> 1), windowOnly)
      for (const i of picks) { free!.take(i); this.request(p, i, now) }
      budget -= picks.length
    }
    if (endgame) {
      // (the peers with room left after the picks above: one filled by them asked for nothing more here)
      const seconds = this.secondAskable()
      for (const p of seconds ? this.byRefusal(byRate(this.openPeers(chunk, seconds)), now) : []) {
        for (const [i, s] of this.pendingPeers) {
          if (budget <= 0 || p.inflight.size >= p.pipeline(dl, chunk, PIPELINE, UNKNOWN_PIPELINE)) break
          if (s.size < 2 && !s.has(p) && p.has(i) && !p.missed.has(i)) { this.request(p, i, now); budget-- }
        }
      }
    }
    if (budget > 0 && st.cursor < FIRST_POSITIONS && this.startedAt - this.itemStartAt >= SECOND_ASK_AFTER_MS) this.askSecond(now, chunk)
    if (budget > 0 && firsts !== undefined) this.askTwice(now, chunk)
    this.scheduleOrigin(now)
    this.giveUpHopeless(now)
    this.armTick()
  }

  /**
   * FIRST_POSITIONS: a first position asked of one peer only, which never sent us anything,
   * and held by at least half our peers, is asked of the quickest peer that has sent us a
   * chunk too, once it has waited longer than that peer took for one.
   */
  private askSecond (now: number, chunk: number): void {
    const st = this.state!
    for (let k = st.cursor; k < FIRST_POSITIONS && k < st.originLimit; k++) {
      const i = st.order[k]
      const s = this.pendingPeers.get(i)
      if (s === undefined || s.size !== 1) continue
      const [p] = s
      const t = p.inflight.get(i)
      if (p.bytesDelivered > 0 || t === undefined || 2 * st.avail[i] < this.sw.peers.size) continue
      const best = this.secondPeer(i, p, now, chunk, true)
      if (best !== undefined && now - t > chunk / best.rate) this.request(best, i, now)
    }
  }

  /**
   * The chunks of the first positions to play not yet held. Until they are held they are
   * all that is asked for, not the rest of the window: a listener tuning in on a 5 Mbit/s
   * downlink asked for its whole window at once, and its first positions shared its line
   * with chunks playing 8-100 s later (2-3 s to first audio; bench/sim, steady audience,
   * N = 100, seed 7). See askTwice for a slow peer asked for one of them.
   */
  private firstPositions (): number[] {
    const st = this.state!
    const out: number[] = []
    for (let k = st.cursor; k < FIRST_POSITIONS && k < st.originLimit; k++) if (!st.has(st.order[k])) out.push(st.order[k])
    return out
  }

  /**
   * Of the first positions not yet held (`firsts`), those asked for now: while chunk 0 or
   * the chunk holding the offset is neither held nor asked, not the chunk before the
   * offset's (at an item's top, where there is none, all of them). First audio
   * waits for both, not for the chunk before the offset's (pc-icecast gives up a range whose
   * time has passed), but in play order that one was asked with chunk 0 of the first peer,
   * and a peer serves its requests lowest index first: a listener tuning in 231 s into an
   * item had the chunk before the offset's, then chunk 0, from one 37.6 Mbit/s line, chunk
   * 0 last (bench/sim steady, N = 100, origin at 10 × the stream, seed 10).
   */
  private playedFirst (firsts: number[]): number[] {
    const open = (i: number): boolean => !this.sw.store!.has(i) && !this.pendingPeers.has(i) && !this.writing.has(i)
    const before = this.tuneChunk - 1
    if (before < 1 || (!open(0) && !open(this.tuneChunk))) return firsts
    return firsts.filter(i => i !== before)
  }

  /**
   * The chunk holding the record's offset (the first to play; chunk 0 at an item's top),
   * while the first positions are not all held and it is asked of one peer only that has
   * sent us nothing yet, is asked of a second one at once, the quickest with room that holds
   * it; the copy that comes second is cancelled, or ignored if already sent. Nothing tells a
   * listener tuning in which peer is on a slow line, and with the first positions spread
   * over its first peers one of them often was (bench/sim, steady audience, N = 100, seeds
   * 1-8: first audio p95 0.75 / 0.81 / 0.79 / 3.69 / 0.81 / 0.94 / 1.27 / 1.20 s without,
   * 0.71 / 0.72 / 0.68 / 3.69 / 0.70 / 0.74 / 0.93 / 1.06 s with; the last of the three
   * positions asked twice instead, which is the same chunk but at an item's first two
   * chunks, 0.71 / 0.72 / 0.72 / 3.69 / 0.70 / 0.74 / 0.93 / 1.16 s). Each first position
   * asked twice gave 1.05 / 0.98 / 1.05 / 3.68 / 1.12 / 1.12 / 1.22 / 1.15 s: the copies took
   * the lines of those on slow downlinks.
   */
  private askTwice (now: number, chunk: number): void {
    const st = this.state!
    const i = this.tuneChunk
    if (st.has(i)) return
    const s = this.pendingPeers.get(i)
    if (s === undefined || s.size !== 1) return
    const [p] = s
    if (p.bytesDelivered > 0) return
    const best = this.secondPeer(i, p, now, chunk, false)
    if (best !== undefined) this.request(best, i, now)
  }

  /**
   * The fastest peer other than `p` that can be asked for chunk i now (askSecond, askTwice):
   * it holds it, has not missed it, has not refused lately (REFUSED_DEADLINES) and has room
   * in its pipeline; with `sentUs`, only one that has sent us something.
   */
  private secondPeer (i: number, p: PeerLink, now: number, chunk: number, sentUs: boolean): PeerLink | undefined {
    const dl = this.sw.opts.deadlineMs
    let best: PeerLink | undefined
    for (const q of this.sw.peers) {
      if (q === p || (sentUs && q.bytesDelivered === 0) || !q.remote || q.goodbye || !q.has(i) || q.missed.has(i) || this.refusing(q, now) || q.inflight.size >= q.pipeline(dl, chunk, PIPELINE, UNKNOWN_PIPELINE)) continue
      if (best === undefined || q.rate > best.rate) best = q
    }
    return best
  }

  /** Whether peer p answered REJECT within REFUSED_DEADLINES deadlines. */
  private refusing (p: PeerLink, now: number): boolean {
    const t = this.refusedAt.get(p)
    return t !== undefined && now - t < REFUSED_DEADLINES * this.sw.opts.deadlineMs
  }

  /** `peers` (in the order given) with those refusing lately (refusing()) moved after the others. */
  private byRefusal (peers: PeerLink[], now: number): PeerLink[] {
    if (this.refusedAt.size === 0) return peers
    const later: PeerLink[] = []
    let n = 0
    for (const p of peers) if (this.refusing(p, now)) later.push(p); else peers[n++] = p
    for (let k = 0; k < later.length; k++) peers[n + k] = later[k]
    return peers
  }

  /** Our own line's pace, measured as a peer's is (PeerLink.credit) but over pieces from anyone. */
  arrived (bytes: number, askedAt: number, now: number): void { this.inbound.arrived(bytes, askedAt, now) }

  /**
   * Chunks that may still be asked of peers in this pass: what our own line brings within a
   * deadline, less what is already asked. Each peer's pipeline is bounded by its link, but
   * their sum was not by ours: a listener on a 5 Mbit/s line asked ~60 peers for a window of
   * 128 kB chunks at once, the last ones came past the deadline, were cancelled and asked
   * again while the cancelled copies still filled the line, and some chunks never came.
   */
  private inboundBudget (dl: number, chunk: number): number {
    if (this.inbound.value === 0) return Infinity
    let asked = 0
    for (const s of this.pendingPeers.values()) asked += s.size
    // requests cancelled past their deadline lately may still be on their way (a peer sends
    // what it had queued): they fill the line as much as those still asked for
    const cancels = this.cancels
    while (cancels.length && this.now - cancels[0] > CANCELLED_IN_FLIGHT_DEADLINES * dl) cancels.shift()
    return Math.max(INBOUND_MIN, Math.floor(this.inbound.value * dl / chunk) - cancels.length) - asked
  }

  /** Requests past their deadline go elsewhere; the slow peer ranks lower, and one that never answered is dropped. */
  private expire (now: number): void {
    const sw = this.sw
    const st = this.state!
    const dl = sw.opts.deadlineMs
    this.oldestAsk = Infinity
    for (const p of sw.peers) {
      if (p.inflight.size > 0) {
        for (const [i, t] of p.inflight) {
          if (now - t <= dl) { if (t < this.oldestAsk) this.oldestAsk = t; continue }
          p.inflight.delete(i)
          this.unpend(i, p)
          p.send({ type: 'cancel', index: i })
          if (this.cancels.length < MAX_MISSED) this.cancels.push(now)
          p.rate *= 0.5
          p.strikes++
          this.missedBy(p, i, false)
        }
      }
      if (p.strikes >= MAX_STRIKES && p.bytesDelivered === 0) p.drop(`${p.strikes} requests unanswered within ${dl} ms, none ever answered`)
    }
  }

  /**
   * End-game: the chunks asked of one peer only, that another peer may hold (or undefined
   * for none). In the end-game a listener was in for most of an item of 30 chunks, and
   * each pass walked every peer against every request in flight. `avail` counts the
   * peers holding a chunk that have not missed it, the one asked among them when it is.
   */
  private secondAskable (): ChunkMask | undefined {
    const st = this.state!
    let m: ChunkMask | undefined
    for (const [i, s] of this.pendingPeers) {
      if (s.size >= 2) continue
      let others = st.avail[i]
      for (const q of s) if (this.sw.peers.has(q) && q.has(i) && !q.missed.has(i)) others--
      if (others <= 0) continue
      m ??= new ChunkMask(st.count)
      m.set(i)
    }
    return m
  }

  /**
   * Whether a candidate (picker.ts candidates) is free and held by a peer that has not missed
   * it (FreeCandidates.available), without making the candidates: in a flash crowd
   * (bench/sim audio, N = 3,000, 20 peers dialled, the first 60 s) 89 % of the passes found
   * none, and made their lists and mask for nothing.
   */
  private anyAvailable (): boolean {
    const st = this.state!
    const avail = st.avail
    const played = Math.min(st.order.length, st.originLimit)
    let k = st.cursor
    let win = 0
    for (; k < played && win < st.window; k++) {
      const i = st.order[k]
      if (st.has(i)) continue
      win++
      if (avail[i] > 0 && !st.busy(i)) return true
    }
    for (let n = 0; k < st.order.length && n < SCAN_POSITIONS; k++, n++) {
      const i = st.order[k]
      if (avail[i] > 0 && !st.has(i) && !st.busy(i)) return true
    }
    return false
  }

  /**
   * The peers worth picking for in this pass (openPeers): those holding a free candidate that
   * a pick may take, none when no peer holds one (FreeCandidates.available). While we tune
   * in (`firsts`: the first positions asked for now) a pick takes only those of them still
   * free, and a peer holding other free candidates alone picked nothing: in a flash crowd
   * (bench/sim audio, N = 3,000, 20 peers dialled, the first 60 s) 67 % of the peers opened
   * for a pass were such, walked and picked for in vain. Leaving them out changes no
   * decision: a peer's picks empty at the start of a pass stay empty, as picks only take.
   */
  private askable (free: FreeCandidates, firsts: number[] | undefined, chunk: number): PeerLink[] {
    if (firsts === undefined) return free.available(this.state!.avail) ? this.openPeers(chunk, free) : []
    const avail = this.state!.avail
    let m: ChunkMask | undefined
    for (const i of firsts) {
      if (!free.has(i) || avail[i] === 0) continue
      m ??= new ChunkMask(this.state!.count)
      m.set(i)
    }
    return m === undefined ? [] : this.openPeers(chunk, m)
  }

  /**
   * The peers that may be asked for more now: handshook, not leaving, with room in their
   * pipeline, holding one of the chunks of `holding` (tested first: few do).
   */
  private openPeers (chunk: number, holding: ChunkMask): PeerLink[] {
    const dl = this.sw.opts.deadlineMs
    const out: PeerLink[] = []
    for (const p of this.sw.peers) {
      if (!p.holdsAny(holding.mask)) continue
      if (p.remote && !p.goodbye && p.sized && p.inflight.size < p.pipeline(dl, chunk, PIPELINE, UNKNOWN_PIPELINE)) out.push(p)
    }
    return out
  }

  private request (p: PeerLink, i: number, now: number): void {
    p.ask(i, now)
    if (now < this.oldestAsk) this.oldestAsk = now
    let s = this.pendingPeers.get(i)
    if (!s) { s = new Set(); this.pendingPeers.set(i, s) }
    s.add(p)
    p.send(this.mayAskElsewhere(p, i, now) ? { type: 'request', index: i, alt: true } : { type: 'request', index: i })
  }

  /**
   * Whether chunk i is asked of p with AREQUEST (pc-wire(7)): p reads it, and we could ask
   * someone else, so a line past its fair share may refuse it (uploads.ts refuseBeyondShares):
   * the chunk has a play time more than OVERDUE_LEAD_DEADLINES deadlines away (it cannot
   * become overdue, and go to the origin, before a second holder is asked; not chunk 0,
   * which plays when we tune in), and another connected peer holds it that has not missed
   * it, has not refused lately and has room (secondPeer). Without a play time (an item's
   * whole fetch) never: nothing says how long a refusal may cost. Never with a single
   * holder either: asked so when the chunk played more than 20 s / 40 s later (it could wait
   * for a second holder), the day's busiest line uploaded 8.87 / 10.26 × what it listened
   * to instead of 22.70 ×, but the origin sent 1.59 / 1.12 × the item instead of 1.085 ×
   * (bench/sim day, N = 100, seed 1).
   */
  private mayAskElsewhere (p: PeerLink, i: number, now: number): boolean {
    if (p.remote?.altRequests !== true || this.chunkMs === 0 || i === 0) return false
    const st = this.state!
    // (p itself is counted in avail when it holds i and has not missed it)
    if (st.avail[i] < 2 || this.playTime(i) - now <= OVERDUE_LEAD_DEADLINES * this.sw.opts.deadlineMs) return false
    return this.secondPeer(i, p, now, this.sw.store!.tree.chunkSize, false) !== undefined
  }

  private neededDone (): boolean {
    const st = this.state!
    for (let k = st.cursor; k < st.originLimit; k++) {
      const i = st.order[k]
      if (!this.sw.store!.has(i) && !this.gaveUp.has(i)) return false
    }
    return true
  }

  /**
   * Chunk i, at play position k, holds up the output and has been waited for past the
   * deadline: once for the peer designated for its block, twice for the others, who give
   * that peer's origin fetch time to arrive (see OVERDUE_OTHERS); and, for a scheduled
   * item in a swarm of at least OVERDUE_PLACE_PEERS peers, past our turn by place in the
   * whole audience (OVERDUE_PLACE_STEP_MS): not for the first chunk to play after tuning
   * in, unless it waited for the first listener's copy in a crowd (crowdWaits). Without
   * the place there, at 100,000 listeners each neighbourhood's designated listener found
   * chunk 0 overdue in the same 50 ms, a deadline after the crowd came, and 21 took it
   * from the origin again (bench/sim audio, 20 peers dialled, origin at 10 × the stream,
   * seed 1, the first 9 s: one did with the place, and chunk 1 went 5 times more instead
   * of 11; BENCHMARKS.md `## scale`).
   */
  private overdue (i: number, k: number, now: number, others: number[]): boolean {
    // counted from when it came near, not from when it entered the window: a swarm that
    // caught up with what exists had waited a minute for every chunk in its window, and at
    // a capped origin each next chunk went to the origin from every listener at once
    const since = this.nearSince.get(i)
    if (since === undefined || k - this.state!.cursor >= OVERDUE_POSITIONS) return false
    const waited = now - since
    const dl = this.sw.opts.deadlineMs
    if (waited < dl) return false
    // (a line that cannot pass it on in time leaves it to the others until the last moment: SLOW_LINE_LEAD_DEADLINES)
    if (this.timed() && !this.sw.canPassOn(this.sw.store!.length(i))) {
      const last = this.playTime(i) - SLOW_LINE_LEAD_DEADLINES * dl - this.sw.feed.latencyMs
      if (last > now) { this.nextRelease = Math.min(this.nextRelease, last); return false }
    }
    const block = Math.floor(i / BLOCK_CHUNKS)
    const c = this.claims.get(i)
    const spread = this.claimSpreadUntil(c, i, block, others, now)
    if (spread > now) { this.nextRelease = Math.min(this.nextRelease, spread); return false }
    if (this.timed() && (k > 0 || this.crowdWaits(i, others)) && others.length >= OVERDUE_PLACE_PEERS) {
      const p = this.place(block, others)
      // (counted from the end of a claim that ran out, as from a deadline after the chunk came
      // near; also one that came after the chunk played, past its bounds at once: a listener
      // stalled on it then waits its place for that asker's copy. Counted as if it had not
      // come, a test saw the origin asked 12 s sooner, and steady N = 100, seed 10 went from
      // 1.068 to 1.205 × the item with 4 % of the listeners stalled, against none)
      const turn = c !== undefined && c.until <= now ? Math.min(waited, now - c.until + dl) : waited
      if (turn < dl + Math.min(OVERDUE_PLACE_MAX_MS, p * OVERDUE_PLACE_STEP_MS) + (p > 0 ? this.sw.feed.latencyMs : 0)) return false
    }
    if (waited < OVERDUE_OTHERS * dl) return this.rankFor(others, block) === 0
    // the others in turn, OVERDUE_STEP deadlines apart by their rank for the block, each also
    // allowing for the origin's own wait: at a capped origin a crowd that asked at once
    // queued each next chunk there from every listener, and every request then took longer
    // (and, in one rank, by the fraction of a place our score stands below the next: OVERDUE_SPREAD)
    const r = this.rankFor(others, block)
    return waited >= (OVERDUE_OTHERS + OVERDUE_STEP * Math.max(0, r - 1)) * dl + this.sw.feed.latencyMs + (this.place(block, others, true) % 1) * OVERDUE_SPREAD * dl
  }

  /**
   * CLAIM_SPREAD: until when chunk i (of `block`), its claim `c` run out, is not overdue for
   * us (-Infinity: no claim ran out): the claim's end and our place's share of CLAIM_SPREAD
   * deadlines, no later than (1 - CLAIM_SPREAD) deadlines and the origin's wait before it plays.
   */
  private claimSpreadUntil (c: Claim | undefined, i: number, block: number, others: number[], now: number): number {
    if (c === undefined || c.until > now || !this.timed()) return -Infinity
    const dl = this.sw.opts.deadlineMs
    const share = Math.min(this.place(block, others, true), CLAIM_SPREAD_PLACES) / CLAIM_SPREAD_PLACES
    return Math.min(c.until + share * CLAIM_SPREAD * dl, this.playTime(i) - (1 - CLAIM_SPREAD) * dl - this.sw.feed.latencyMs)
  }

  /**
   * Whether chunk i, at play position k, may be fetched from the origin now; `late`: whether
   * it is overdue, as scheduleOrigin has just worked out (overdue() again gives the same
   * unless the claim on it ended here, in claimedUntil).
   *
   * A listener whose line cannot pass a chunk on within
   * half a deadline (the pace of the chunks it sent lately, or --upload-limit; uploads.ts
   * canPassOn) or that --max-share stops takes no turn for a chunk, and finds it overdue
   * only at the last moment (SLOW_LINE_LEAD_DEADLINES): its copy reaches few if any, and
   * its claim (ASKED) kept everyone else from the origin meanwhile. In a flash crowd of 100,000
   * (bench/sim audio, 20 peers dialled, origin at 10 × the stream, seed 1) a listener on a
   * 0.5 Mbit/s line took chunks 5-7 at its turn; when its claim ran out chunk 5 had reached
   * none of the peers of four listeners and chunk 7 of eleven, and each group took it from
   * the origin in the same 20 ms (1.33 × the item by 65 s). One that has sent nothing yet
   * takes its turns: nothing says its line is slow. And a turn, like an overdue chunk, waits
   * for our place's share of CLAIM_SPREAD after a claim on the chunk ran out
   * (claimSpreadUntil): the four and the eleven above were designated listeners whose turns
   * had passed while they waited for the claim, and all asked as it ended.
   */
  private originEligible (i: number, k: number, now: number, others: number[], late?: boolean): boolean {
    const st = this.state!
    if (this.sw.store!.has(i) || st.busy(i) || this.sw.feed.pending.has(i) || this.gaveUp.has(i) || this.sw.feed.exhausted(i)) return false
    const c = this.claims.get(i)
    const until = c?.until
    const claim = this.claimedUntil(i, now)
    if (claim > now) { this.nextRelease = Math.min(this.nextRelease, claim); return false }
    const alone = this.isolatedUntil(i, k, others)
    if (alone > now) { this.nextRelease = Math.min(this.nextRelease, alone); return false }
    if (late === undefined || (c !== undefined && c.until !== until) ? this.overdue(i, k, now, others) : late) return true
    const block = Math.floor(i / BLOCK_CHUNKS)
    if (st.avail[i] !== 0 || this.rankFor(others, block) !== 0) return false
    if (this.crowdWaits(i, others)) return false
    // (a line that cannot pass the chunk on in time takes no turn for it, above)
    if (this.timed() && !this.sw.canPassOn(this.sw.store!.length(i))) return false
    const at = Math.max(this.releaseAt(i, block, others), this.claimSpreadUntil(c, i, block, others, now))
    if (at > now) { this.nextRelease = Math.min(this.nextRelease, at); return false }
    return true
  }

  /**
   * Whether chunk i, one of the first to play when we tuned in at an item's top (its turn
   * was due when we started), waits for a holder or a claim while listeners come fast
   * (arriving()) and we have peers: it goes to the origin only when overdue (overdue()),
   * not on our designated turn. In a flash crowd the first listener, alone, takes chunks
   * 0-3 at once (the tracker counting nobody else, timed() does not apply) and its claim
   * (ASKED) reaches nobody until it has a peer; the listeners tuning in in the next second
   * each know ~20 peers, and whoever was designated among its own took chunks 0-2 from the
   * origin again: at N = 30,000 (bench/sim audio, 20 peers dialled, origin at 10 × the
   * stream, seed 1) all 7 extra copies of the item's 30 chunks were those, asked at 1.03
   * s by the first listener and at 1.83-1.85 s by three others whose neighbourhoods had not
   * met; at N = 1,000 seed 2, N = 3,000 and N = 10,000 seed 1 the same pattern gave 1.07,
   * 1.10 and 1.07 × the item, 1.00 × all three with this wait, and at N = 30,000 no chunk
   * went twice in the first 20 s; the day's items, opened 10 s before they play, 1.18 →
   * 1.09 × per item (first audio p95 +31 ms at N = 10,000, +49 ms on the day; BENCHMARKS.md
   * `## scale`). Designated by place in the tracker's count instead (even a count grown with
   * the time since it came), the listener placed first still took them again 0.9 s after the
   * first one, whom nobody could hear yet. With no peer ISOLATED_WAIT_MS decides, and in a
   * slow audience the turns do: waiting there, a listener alone in a steady audience waited
   * a deadline for its first chunk (test/lib/swarm-timing).
   */
  private crowdWaits (i: number, others: number[]): boolean {
    if (others.length === 0 || !this.timed() || this.startedAt - this.itemStartAt >= FIRST_SECOND_AFTER_MS || !this.arriving()) return false
    return this.playTime(i) - OVERDUE_LEAD_DEADLINES * this.sw.opts.deadlineMs <= this.startedAt
  }

  /**
   * ISOLATED_WAIT_MS: until when chunk i, at play position k, waits for a peer (-Infinity:
   * it does not), while we have none though the tracker counts others: the first to play
   * for our first ISOLATED_WAIT_MS, only when we tuned in near the item's start, and the
   * other first positions then (FIRST_POSITIONS) for our first deadline, at most until they
   * play within a deadline and the origin's wait; a later one until it plays within
   * ISOLATED_LEAD_DEADLINES deadlines and the origin's wait.
   */
  private isolatedUntil (i: number, k: number, others: number[]): number {
    if (others.length > 0 || !this.timed()) return -Infinity
    const until = this.startedAt + ISOLATED_WAIT_MS
    const early = this.startedAt - this.itemStartAt < FIRST_SECOND_AFTER_MS
    // (and only while listeners come fast enough that one we can reach may come meanwhile: ISOLATED_WAIT_ARRIVALS)
    if (k === 0) return early && this.arriving() ? until : -Infinity
    const dl = this.sw.opts.deadlineMs
    const lead = this.playTime(i) - ISOLATED_LEAD_DEADLINES * dl - this.sw.feed.latencyMs
    // (the other first positions wait for a peer as the first does, but not past a deadline and the origin's wait before they play)
    if (early && k < FIRST_POSITIONS) return Math.max(lead, Math.min(this.startedAt + dl, this.playTime(i) - dl - this.sw.feed.latencyMs))
    return lead
  }

  /**
   * ISOLATED_WAIT_ARRIVALS: whether listeners come fast enough, by the tracker's count since
   * the item's start, that this many are due within ISOLATED_WAIT_MS.
   */
  private arriving (): boolean {
    const since = Math.max(this.sw.opts.deadlineMs, this.now - this.itemStartAt)
    return (this.sw.audience - 1) * ISOLATED_WAIT_MS >= ISOLATED_WAIT_ARRIVALS * since
  }

  /**
   * Whether the origin's timing applies: the item's duration is known and the tracker or a
   * connection says others listen. A listener alone duplicates nothing by fetching ahead,
   * and keeps the old way: the whole item as fast as the origin sends it.
   */
  private timed (): boolean {
    return this.chunkMs > 0 && (this.sw.audience > 1 || this.sw.peers.size > 0)
  }

  /**
   * When the chunk at play position k plays (-Infinity: no duration known, or the headers;
   * also while the origin's timing does not apply, unless `always`: whether a chunk is near
   * does not hang on whether others listen, which before the tracker's first answer nobody
   * knows: a listener in a flash crowd counted the first four positions near from the
   * moment it tuned in, and took a chunk playing 20 s later as overdue 2 s after).
   */
  private playsAt (k: number, always = false): number {
    if (!(always ? this.chunkMs > 0 : this.timed()) || k >= this.state!.originLimit) return -Infinity
    const i = this.state!.order[k]
    return i === 0 ? -Infinity : this.playTime(i)
  }

  /** When chunk i plays, by the record's duration and offset at our start. */
  private playTime (i: number): number { return this.itemStartAt + i * this.chunkMs }

  /**
   * When chunk i (of `block`) may go to the origin from us, its block's designated listener:
   * ORIGIN_LEAD_MS before it plays (not before ORIGIN_SETTLE_MS after our start unless it
   * plays sooner than OVERDUE_LEAD_DEADLINES deadlines), plus ORIGIN_STEP_MS for each
   * listener our score for the block places above us in the whole audience (the
   * tracker's count, or the peers we know), and for the fraction of a place our score
   * stands below the next: listeners in one place are told apart. In a flash crowd of
   * 1,000 three listeners shared the first place of a block, none connected to another,
   * and all three took each of its chunks from the origin in the same 10 ms, before any
   * one's ASKED could reach the others (bench/sim audio, origin at 10 × the stream, seed
   * 2: 1.56 × the item; 1.27 × told apart); never (Infinity) when the whole places come
   * past ORIGIN_STEP_MAX_MS.
   */
  private releaseAt (i: number, block: number, others: number[]): number {
    if (!this.timed()) return -Infinity
    const plays = this.playTime(i)
    const above = this.place(block, others, true)
    const first = Math.max(plays - ORIGIN_LEAD_MS, Math.min(this.startedAt + ORIGIN_SETTLE_MS, plays - OVERDUE_LEAD_DEADLINES * this.sw.opts.deadlineMs))
    if (Math.floor(above) * ORIGIN_STEP_MS > ORIGIN_STEP_MAX_MS) return Infinity
    return first + above * ORIGIN_STEP_MS
  }

  /**
   * How many listeners our score for `block` places above us in the whole audience (the
   * tracker's count, or the peers we know); `exact`: with the fraction of a place our score
   * stands below the next (ORIGIN_STEP_MS, releaseAt).
   */
  private place (block: number, others: number[], exact = false): number {
    const audience = Math.max(this.sw.audience, others.length + 1)
    const p = (1 - score(this.sw.myKey, block) / 2 ** 32) * audience
    return exact ? p : Math.floor(p)
  }

  /**
   * Our rendezvous rank for a block among `others` (0: designated; picker.ts rank), kept
   * per block for as long as Members hands out the same `others` array, i.e. until the
   * peers change: each pass asked it afresh for every chunk it looked at, a walk over
   * every peer each time.
   */
  private rankFor (others: number[], block: number): number {
    if (this.ranksOf !== others) this.rerank(others)
    let r = this.ranks[block]
    if (r < 0) { r = rank(this.sw.myKey, others, block); this.ranks[block] = r }
    return r
  }

  /**
   * The peers changed (`others` is a new array): a rank is a count over the peers, so when
   * the new array is the old one with newcomers after it (a join, Members.otherKeys), each
   * rank kept grows by the newcomers placed above us; otherwise all are worked out afresh.
   * In a flash crowd (bench/sim audio, N = 3,000, 20 peers dialled, the first 60 s) 93 % of
   * the changes were joins, and working the ranks out again over ~130 peers was most of
   * rankFor.
   */
  private rerank (others: number[]): void {
    const old = this.ranksOf
    const ranks = this.ranks
    this.ranksOf = others
    let same = old !== undefined && others.length >= old.length
    for (let j = 0; same && j < old!.length; j++) same = others[j] === old![j]
    if (!same) { ranks.fill(-1); return }
    const me = this.sw.myKey
    const from = old!.length
    for (let b = 0; b < ranks.length; b++) {
      if (ranks[b] < 0) continue
      const mine = signedScore(me, b)
      // (picker.ts rank, over the newcomers)
      for (let j = from; j < others.length; j++) { const o = others[j]; const s = signedScore(o, b); if (s > mine || (s === mine && o > me)) ranks[b]++ }
    }
  }

  private scheduleOrigin (now: number): void {
    const sw = this.sw
    const st = this.state!
    const f = sw.feed
    if (!f.ready(now)) return
    const others = sw.members.otherKeys()
    const settling = now - f.since < SETTLE_MS
    // a congested origin (its first chunk takes more than half a deadline): one request at a
    // time, and designated blocks only within the window, so what is due soon does not queue
    // there behind chunks wanted in a minute
    const congested = others.length > 0 && f.latencyMs > sw.opts.deadlineMs / 2
    // (alone: no peer, and the tracker knows of nobody else either)
    const alone = others.length === 0 && sw.audience <= 1
    const maxJobs = f.sequential ? 1 : alone ? (this.chunkMs > 0 && sw.audience === 1 ? 1 : ORIGIN_JOBS_ALONE) : settling || congested ? 1 : ORIGIN_JOBS
    const ahead = congested ? st.window : Infinity
    // alone, runs grow with what is held (a slow start): when others join a moment later, little
    // is in flight at the origin where they cannot see it, so their designated blocks do not repeat it
    const runMax = !alone ? BLOCK_CHUNKS : Math.min(ORIGIN_RUN_CHUNKS, Math.max(BLOCK_CHUNKS, sw.store!.held))
    const quietAt = Math.min(sw.members.lastJoinAt + VIEW_QUIET_MS, f.since + VIEW_WAIT_MAX_MS)
    const viewSettling = others.length > 0 && now < quietAt
    // the next few positions hold up the output: while the view settles they wait only until
    // they have been wanted for NEAR_WAIT_MS, not for the view to be quiet
    const nearAt = (this.urgentSince.get(st.order[st.cursor]) ?? now) + NEAR_WAIT_MS
    if (viewSettling && this.quietTimer === undefined) this.quietTimer = sw.clock.setTimeout(() => { this.quietTimer = undefined; this.kick() }, (nearAt > now ? Math.min(nearAt, quietAt) : quietAt) - now)
    let k = st.cursor
    this.nextRelease = Infinity
    while (f.jobs < maxJobs && k < st.originLimit) {
      const at = k
      const i = st.order[k++]
      const late = this.overdue(i, at, now, others)
      if (viewSettling && !late && (at - st.cursor >= OVERDUE_POSITIONS || now - (this.urgentSince.get(i) ?? now) < NEAR_WAIT_MS)) continue
      if (!late && at - st.cursor >= ahead) break
      if (!this.originEligible(i, at, now, others, late)) continue
      if (f.sequential) { f.startSequential(); return }
      let n = 1
      while (n < runMax && k < st.originLimit && st.order[k] === i + n && this.originEligible(i + n, k, now, others) &&
        (alone || Math.floor((i + n) / BLOCK_CHUNKS) === Math.floor(i / BLOCK_CHUNKS))) { n++; k++ }
      // (our designated turn, said first: CLAIM_INTENT_MS)
      const said = late ? -1 : this.turnSaid(i, n, now)
      if (said === 0) continue
      if (said > 0 && said < n) { k -= n - said; n = said }
      sw.opts.debug(`${sw.opts.url}: origin chunks ${i}..${i + n - 1}${late ? ' (overdue)' : ''}, ${others.length} peers, place ${this.place(Math.floor(i / BLOCK_CHUNKS), others)} of ${sw.audience}, ${st.avail[i]} holders`)
      f.startRange(i, n)
      // (a claim our line cannot honour is not made: it held the others from the origin while our copy reached nobody)
      if (said < 0 && sw.canPassOn(sw.store!.length(i))) sw.asked(i, n)
    }
    // a block waiting for its time: look again then (nothing else may wake an idle swarm)
    if (this.nextRelease < this.releaseTimerAt) {
      sw.clock.clearTimeout(this.releaseTimer)
      this.releaseTimerAt = this.nextRelease
      this.releaseTimer = sw.clock.setTimeout(() => { this.releaseTimer = undefined; this.releaseTimerAt = Infinity; this.kick() }, Math.max(0, this.nextRelease - now))
    }
  }

  /**
   * CLAIM_INTENT_MS: of chunks i..i+n-1, due from us at our designated turn, how many go to
   * the origin now: none the first time, when the turn is said to our peers with our score
   * (ASKING); those said CLAIM_INTENT_MS ago and still ours, after; -1: not said first (no
   * time for it, or a line that makes no claim, scheduleOrigin), all go as before.
   */
  private turnSaid (i: number, n: number, now: number): number {
    const sw = this.sw
    if (!this.timed() || this.playTime(i) - now <= OVERDUE_LEAD_DEADLINES * sw.opts.deadlineMs + CLAIM_INTENT_MS || !sw.canPassOn(sw.store!.length(i))) return -1
    const t = this.intent(i, now)
    if (t === undefined) {
      const s = score(sw.myKey, Math.floor(i / BLOCK_CHUNKS))
      for (let j = i; j < i + n; j++) this.intents.set(j, { score: s, at: now })
      sw.asked(i, n, undefined, s)
      this.nextRelease = Math.min(this.nextRelease, now + CLAIM_INTENT_MS)
      return 0
    }
    if (now < t.at + CLAIM_INTENT_MS) { this.nextRelease = Math.min(this.nextRelease, t.at + CLAIM_INTENT_MS); return 0 }
    let m = 1
    while (m < n && (this.intents.get(i + m)?.at ?? Infinity) + CLAIM_INTENT_MS <= now) m++
    return m
  }

  /**
   * Urgent chunks that no peer holds and the origin cannot give are given up (a GAP). (The
   * origin's answer first: it is a read, where whether a chunk is busy asks three maps, and
   * the origin gives nearly every chunk, so most passes look no further.)
   */
  private giveUpHopeless (now: number): void {
    const st = this.state!
    const f = this.sw.feed
    for (const [i, since] of this.urgentSince) {
      if (!f.exhausted(i) || now - since < this.sw.opts.deadlineMs) continue
      if (this.sw.store!.has(i) || st.busy(i) || st.avail[i] > 0) continue
      this.urgentSince.delete(i)
      this.nearSince.delete(i)
      this.gaveUp.add(i)
      this.sw.emit('gaveup', i)
    }
  }

  private armTick (): void {
    if (this.tick !== undefined || this.sw.closed) return
    const work = this.pendingPeers.size > 0 || this.sw.feed.busy || (this.urgentSince.size > 0 && !this.sw.complete)
    if (!work) return
    const ms = Math.max(50, Math.min(500, this.sw.opts.deadlineMs / 4))
    this.tick = this.sw.clock.setTimeout(() => { this.tick = undefined; this.schedule() }, ms)
  }

  close (): void {
    this.sw.clock.clearTimeout(this.tick)
    this.sw.clock.clearTimeout(this.quietTimer)
    this.sw.clock.clearTimeout(this.releaseTimer)
  }
}

/**
 * Our own line's pace, over pieces from any peer (Scheduler.arrived): a link's Pace takes the
 * gap since the piece before as the time a piece took, but pieces from several peers come
 * in side by side, and the second of two counted its 128 KiB as sent in the gap between
 * them. Counted as one arrival only within 2 ms, as it was until 2026-12-07, two chunks
 * from two slow peers, asked together and trickling in side by side, came 10 ms apart to a
 * listener tuning in on a 5 Mbit/s line: it took its line for one of ~24 Mbit/s, asked 27
 * chunks at once (the window, and the chunks it skipped by tuning in), the next one to
 * play missed its deadline at one peer after another behind them, and it stalled for
 * 10 s (bench/sim steady, N = 10,000, 20 peers dialled, seed 3, listener 7154). So the
 * pace is measured over the last LINE_PACE_PIECES pieces together: their bytes over the
 * time since the first of them was asked, or since the piece before them came if that is
 * later (then they were queued behind it, and the line was busy all that time).
 */
export const LINE_PACE_PIECES = 4
export class LinePace {
  value = 0
  /**
   * The last LINE_PACE_PIECES + 1 pieces, a ring of three numbers each: when it was asked,
   * when it came, its bytes. One array of plain numbers: three Float64Arrays were ~800
   * bytes a swarm, this ~240 (the old gap rule's fields ~140): ~24 MiB in all for a
   * simulated audience of 100,000, one per listener, where the 8 GiB margin was 76 MiB.
   */
  private readonly ring: number[] = new Array<number>(3 * (LINE_PACE_PIECES + 1)).fill(0)
  private n = 0
  arrived (bytes: number, askedAt: number, now: number): void {
    const size = LINE_PACE_PIECES + 1
    const r = this.ring
    const at = this.n % size
    r[3 * at] = askedAt
    r[3 * at + 1] = now
    r[3 * at + 2] = bytes
    this.n++
    const k = Math.min(this.n, LINE_PACE_PIECES)
    let sum = 0
    let start = Infinity
    for (let j = 0; j < k; j++) {
      const x = 3 * ((at - j + size) % size)
      sum += r[x + 2]
      if (r[x] < start) start = r[x]
    }
    if (this.n > LINE_PACE_PIECES) start = Math.max(start, r[3 * ((at - LINE_PACE_PIECES + size) % size) + 1])
    // (the window is the smoothing: averaged with the samples before as a link's is, each of
    // several pieces coming together was a part of their bytes over the whole time)
    this.value = sum / Math.max(1, now - start)
  }
}

/** Peers fastest first (a stable sort: equal rates keep the peers' order). */
function byRate (peers: PeerLink[]): PeerLink[] {
  return peers.sort((a, b) => b.rate - a.rate)
}
