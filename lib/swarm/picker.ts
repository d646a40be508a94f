// Piece choice, as pure functions over the swarm's state: deadline-first from the play
// position, then rarest-first (webtorrent's rarity-map idea, over a bounded scan), and
// the origin rule that breaks the lockstep trap: each block of chunks has one
// "designated" peer among those connected (rendezvous hashing over peer ids), and only
// that peer fetches it from the origin before its deadline; everyone else waits to get
// it from a peer. Listeners of one item thus ask the origin for different ranges and
// swap them, so the origin sends each chunk about once.

/** chunks per designation block: one origin request covers at most a block when others are around */
export const BLOCK_CHUNKS = 4
/** positions looked at beyond the urgent window when choosing rarest-first */
export const SCAN_POSITIONS = 4096
export const RAREST_CANDIDATES = 64

export interface PickState {
  count: number
  /** chunk indices in the order they are wanted (play order) */
  order: Int32Array
  /** positions of `order` before this may go to the origin; later ones only from peers */
  originLimit: number
  /** first position in `order` not yet held */
  cursor: number
  window: number
  has: (i: number) => boolean
  busy: (i: number) => boolean
  avail: Uint16Array
}

/**
 * The play order of an item joined at chunk `play`: chunk 0 (codec headers), then
 * from `play` to the end, then what was skipped (fetched only from peers, last).
 */
export function playOrder (count: number, play: number): { order: Int32Array, originLimit: number } {
  const order = new Int32Array(count)
  let k = 0
  order[k++] = 0
  for (let i = Math.max(1, play); i < count; i++) order[k++] = i
  const originLimit = k
  for (let i = 1; i < Math.max(1, play); i++) order[k++] = i
  return { order, originLimit }
}

/** The chunks a scheduling pass may ask for, in play order: the window's missing ones, then those the rarest-first scan looks at. */
export interface Candidates { win: number[], rest: number[] }

/**
 * What every peer's pick starts from (what is held does not change during one pass):
 * the first `window` missing positions still to be played, then up to SCAN_POSITIONS
 * positions beyond. What was skipped (after `originLimit`) is never in the window: a
 * listener tuning in near an item's end had its window run on into chunks 1, 2, 3…, asked
 * them at once beside the one it was to play first, and on a 5 Mbit/s line got that one
 * 4 s later (the simulator, steady audience, N = 100, seed 2).
 */
export function candidates (s: PickState): Candidates {
  // gathered in two arrays for all, then copied at their length: an array grown by pushes
  // was made two or three times over, and candidates allocated 95 MiB of the 1,987 a flash
  // crowd did (bench/sim, N = 1,000, 20 peers, first 30 s)
  const w = winScratch
  const r = restScratch
  let nw = 0
  let nr = 0
  let k = s.cursor
  const played = Math.min(s.order.length, s.originLimit)
  for (; k < played && nw < s.window; k++) if (!s.has(s.order[k])) w[nw++] = s.order[k]
  for (let n = 0; k < s.order.length && n < SCAN_POSITIONS; k++, n++) if (!s.has(s.order[k])) r[nr++] = s.order[k]
  return { win: w.slice(0, nw), rest: r.slice(0, nr) }
}

const winScratch: number[] = []
const restScratch: number[] = []

/**
 * Chunks to ask peer `peerHas` for: in order within the window, then (unless
 * `windowOnly`) rarest first; `reserve` slots are kept for window chunks, so a chunk that
 * becomes urgent does not queue behind a full pipeline of rare ones. `c`: the pass's
 * candidates, when several peers are picked for in one pass.
 */
export function pickForPeer (s: PickState, peerHas: (i: number) => boolean, free: number, reserve = 0, windowOnly = false, c = candidates(s)): number[] {
  return pickFrom(c, s.avail, (i) => !s.busy(i) && peerHas(i), free, reserve, windowOnly)
}

/**
 * The rarest-first candidates of one pickFrom, in one array for all (pickFrom runs to its
 * end before the next: it calls nothing that picks), sorted as they are put in: with an
 * array of their own each time, pickFrom allocated 47 MiB of the 1,987 a flash crowd did
 * (bench/sim, N = 1,000, 20 peers, first 30 s; 19 with this, the picks it returns).
 */
const scratch: number[] = []

/** pickForPeer over candidates `c`, of which `ok` says which may be asked of the peer. */
export function pickFrom (c: Candidates, avail: Uint16Array, ok: (i: number) => boolean, free: number, reserve: number, windowOnly: boolean): number[] {
  const picks: number[] = []
  if (free <= 0) return picks
  for (const i of c.win) {
    if (picks.length >= free) break
    if (ok(i)) picks.push(i)
  }
  if (windowOnly || picks.length >= free - reserve) return picks
  const cand = scratch
  let n = 0
  const rest = c.rest
  for (let k = 0; k < rest.length && n < RAREST_CANDIDATES; k++) {
    const i = rest[k]
    if (!ok(i)) continue
    // by avail, ties in play order (a stable insertion: at most RAREST_CANDIDATES)
    const a = avail[i]
    let j = n++
    while (j > 0 && avail[cand[j - 1]] > a) { cand[j] = cand[j - 1]; j-- }
    cand[j] = i
  }
  for (let k = 0; k < n && picks.length < free - reserve; k++) picks.push(cand[k])
  return picks
}

/**
 * A set of chunks in a bitfield's layout, to test a peer's bitfield against it in a few byte
 * operations (PeerLink.holdsAny). Its bytes are a plain array of small integers: a
 * Uint8Array and its buffer were ~200 bytes of every scheduling pass (FreeCandidates), a
 * few percent of what a flash crowd allocated (bench/sim, N = 1,000, 20 peers, first 30 s:
 * 54 of 1,987 MiB sampled).
 */
export class ChunkMask {
  readonly mask: number[]
  constructor (count: number) {
    const n = Math.ceil(count / 8)
    const m = this.mask = new Array<number>(n)
    for (let b = 0; b < n; b++) m[b] = 0
  }
  has (i: number): boolean { return (this.mask[i >> 3] & (0x80 >> (i & 7))) !== 0 }
  set (i: number): void { this.mask[i >> 3] |= 0x80 >> (i & 7) }
  /** chunk i leaves the set (asked for in this pass) */
  take (i: number): void { this.mask[i >> 3] &= ~(0x80 >> (i & 7)) }
}

/**
 * The candidates of one scheduling pass that no request covers: as lists in play order
 * (what pickFrom walks) and as a mask in a bitfield's layout, so that a peer holding none
 * of them is passed over in a few byte operations. Most peers are: a chunk some peer with
 * room in its pipeline holds is asked for in the pass that first sees it, so what stays
 * free is mostly what nobody around holds yet, and a pass used to test each of them
 * against each peer (measured at N = 100: 57 peers and 13 free candidates a pass).
 * Within a pass a chunk stops being free only by being asked for (take()).
 */
export class FreeCandidates extends ChunkMask implements Candidates {
  readonly win: number[]
  readonly rest: number[]
  /**
   * `c`'s lists become its own, the busy chunks taken out: `c` is not to be used after (a
   * copy of each, on every scheduling pass, was a twentieth of what a flash crowd
   * allocated, bench/sim, N = 1,000, 20 peers, first 30 s).
   */
  constructor (c: Candidates, busy: (i: number) => boolean, count: number) {
    super(count)
    this.win = this.keep(c.win, busy)
    this.rest = this.keep(c.rest, busy)
  }

  /** the chunks of `l` not busy, in its order, in `l` itself; each set in the mask */
  private keep (l: number[], busy: (i: number) => boolean): number[] {
    let n = 0
    for (let k = 0; k < l.length; k++) {
      const i = l[k]
      if (busy(i)) continue
      l[n++] = i
      this.set(i)
    }
    l.length = n
    return l
  }

  get empty (): boolean { return this.win.length === 0 && this.rest.length === 0 }
  /**
   * Whether a peer may hold any of them: `avail` counts the peers holding each chunk that
   * have not missed it (PickState.avail), so where it is 0 for all, no peer is worth
   * looking at (at N = 200 in bench/sim, 97 % of the passes with a free candidate).
   */
  available (avail: Uint16Array): boolean {
    for (const i of this.win) if (avail[i] > 0) return true
    for (const i of this.rest) if (avail[i] > 0) return true
    return false
  }
}

/** A 32-bit key for a peer id (FNV-1a). */
export function peerKey (id: Uint8Array): number {
  let h = 0x811c9dc5
  for (const b of id) { h ^= b; h = Math.imul(h, 0x01000193) >>> 0 }
  return h >>> 0
}

/** Rendezvous score of a peer for a block (a murmur3 finaliser over key and block). */
export function score (key: number, block: number): number {
  return (signedScore(key, block) ^ 0x80000000) >>> 0
}

/**
 * score(key, block) - 2^31, in the order of score's: a signed 32-bit integer, which V8
 * keeps as a small integer where score's values above 2^31 were a heap number each. rank()
 * over score() allocated two of them a peer, a twentieth of what a flash crowd allocated
 * (bench/sim, N = 1,000, 20 peers, first 30 s: 118 of 1,987 MiB sampled), and took twice
 * as long (60 keys, 3 million ranks: ~1.7 s against ~0.8 s).
 */
export function signedScore (key: number, block: number): number {
  let h = key ^ Math.imul(block + 1, 0x9e3779b1)
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h ^ 0x80000000
}

/** Whether `me` wins block `block` against every key in `others`. */
export function designated (me: number, others: number[], block: number): boolean {
  const mine = signedScore(me, block)
  for (let k = 0; k < others.length; k++) {
    const o = others[k]
    const s = signedScore(o, block)
    if (s > mine || (s === mine && o > me)) return false
  }
  return true
}

/** The place of `me` among `others` for block `block`: 0 is the designated peer. */
export function rank (me: number, others: number[], block: number): number {
  const mine = signedScore(me, block)
  let r = 0
  for (let k = 0; k < others.length; k++) { const o = others[k]; const s = signedScore(o, block); if (s > mine || (s === mine && o > me)) r++ }
  return r
}
