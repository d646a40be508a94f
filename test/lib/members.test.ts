// Members (lib/swarm/members.ts) keeps what it works out between changes of its peers:
// the designation keys of the peers that count (otherKeys, a new array at each change,
// the newcomers' keys after the others'), and the newcomers told to every peer in one
// PEX batch, each newcomer without its own address.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock } from '../../bench/sim/clock.js'
import { PeerLink } from '../../lib/swarm/link.js'
import { FEW_PEERS } from '../../lib/swarm/announce.js'
import { Members, PEX_BATCH_MS, PEX_MAX_ADDRESSES, DIAL_RETRIES, DIAL_GRACE_MS, MAX_PEERS, type MembersHost } from '../../lib/swarm/members.js'
import type { Handshake, Message, PeerAddress } from '../../lib/swarm/wire.js'

const INFO = Buffer.alloc(20, 1)

/** A peer 10.0.0.`n` that listens on 6881 and keeps what it is sent. */
class Link extends PeerLink {
  readonly outgoing: boolean = false
  readonly address: string
  readonly sent: Message[] = []
  /** the handshake we sent it */
  hs?: Handshake
  constructor (readonly n: number) { super(); this.address = `10.0.0.${n}:50000` }
  // a new object each time, as a transport may give: the batch compares addresses, not objects
  get listenAddress (): PeerAddress | undefined { return this.remote ? { host: `10.0.0.${this.n}`, port: this.remote.port } : undefined }
  sendHandshake (h: Handshake): void { this.hs ??= h }
  send (m: Message): boolean { this.sent.push(m); return true }
  async sendPiece (): Promise<void> {}
  end (): void {}
  protected destroy (): void {}
  /** its handshake, with the peer id of `id` bytes (its own n's unless given) */
  open (port = 6881, pexFull?: boolean, id = this.n): void { this.received({ type: 'handshake', handshake: { infoHash: INFO, peerId: Buffer.alloc(20, id), port, pexFull } }) }
  say (m: Message): void { this.received(m) }
  pexes (): string[][] { return this.sent.filter(m => m.type === 'pex').map(m => (m as { peers: PeerAddress[] }).peers.map(a => `${a.host}:${a.port}`)) }
}

/** A connection we dialled that never answers: it closes `ms` after it was made. */
class Unanswered extends Link {
  override readonly outgoing = true
  constructor (clock: SimClock, ms: number) { super(0); clock.setTimeout(() => this.ended(), ms) }
}

function members (clock: SimClock, connect: MembersHost['connect'] = () => { throw new Error('no dialling here') }, maxPeers?: number): Members {
  const host: MembersHost = {
    opts: { infoHash: INFO, peerId: Buffer.alloc(20, 200), port: 6881, maxPeers, warn: () => {}, debug: () => {} },
    clock,
    closed: false,
    stats: { peersSeen: new Set() },
    scheduler: { forget: () => {} },
    connect,
    greet: () => {},
    kick: () => {},
    // as a swarm does with a PEX (swarm.ts onMessage)
    onMessage: (_p, msg) => { if (msg.type === 'pex') for (const a of msg.peers) m.addAddress(a) },
  }
  const m = new Members(host)
  return m
}

function join (m: Members, n: number, pexFull?: boolean): Link {
  const p = new Link(n)
  p.open(6881, pexFull)
  m.attach(p)
  return p
}

/** the answer otherKeys gives by walking every peer */
const walk = (m: Members): number[] => [...m.peers].filter(p => p.remote && !p.goodbye).map(p => p.key)

test('otherKeys: a new array at each change, the peers that count in the order they joined', () => {
  const m = members(new SimClock(10))
  const a = join(m, 2)
  const b = join(m, 3)
  const k1 = m.otherKeys()
  assert.equal(k1, [a.key, b.key])
  assert.is(m.otherKeys(), k1, 'the same array while nothing changes')
  const c = join(m, 4)
  const k2 = m.otherKeys()
  assert.is.not(k2, k1, 'a join gives a new array (the scheduler keeps its ranks per array)')
  assert.equal(k2, [a.key, b.key, c.key])
  assert.equal(k1, [a.key, b.key], 'the array handed out before is not changed')
  // several joins between two asks, then a goodbye, a leaving peer, joins again
  const d = join(m, 5)
  const e = join(m, 6)
  assert.equal(m.otherKeys(), walk(m))
  assert.equal(m.otherKeys(), [a.key, b.key, c.key, d.key, e.key])
  c.say({ type: 'goodbye' })
  assert.equal(m.otherKeys(), [a.key, b.key, d.key, e.key])
  a.drop('gone')
  const f = join(m, 7)
  assert.equal(m.otherKeys(), [b.key, d.key, e.key, f.key])
  const g = join(m, 8)
  g.say({ type: 'goodbye' })
  const h = join(m, 9)
  assert.equal(m.otherKeys(), walk(m))
  assert.equal(m.otherKeys(), [b.key, d.key, e.key, f.key, h.key])
})

test('a PEX batch: every newcomer is told the others but not itself, the peers before them all of them', async () => {
  const clock = new SimClock(10)
  const m = members(clock)
  const old = join(m, 2)
  await clock.run(2 * PEX_BATCH_MS)
  old.sent.length = 0
  const x = join(m, 3)
  const y = join(m, 4)
  const z = join(m, 5)
  await clock.run(4 * PEX_BATCH_MS)
  // on joining each was told who was there (attach), then the batch of newcomers less itself
  assert.equal(x.pexes(), [['10.0.0.2:6881'], ['10.0.0.4:6881', '10.0.0.5:6881']])
  assert.equal(y.pexes(), [['10.0.0.2:6881', '10.0.0.3:6881'], ['10.0.0.3:6881', '10.0.0.5:6881']])
  assert.equal(z.pexes(), [['10.0.0.2:6881', '10.0.0.3:6881', '10.0.0.4:6881'], ['10.0.0.3:6881', '10.0.0.4:6881']])
  assert.equal(old.pexes(), [['10.0.0.3:6881', '10.0.0.4:6881', '10.0.0.5:6881']])
})

test('a newcomer is told the peers there now: not one that left, one that handshook again at its new port', async () => {
  const clock = new SimClock(10)
  const m = members(clock)
  const a = join(m, 2)
  const b = join(m, 3)
  join(m, 4)
  const c = [...m.peers][2] as Link
  join(m, 5)
  await clock.run(2 * PEX_BATCH_MS)
  b.drop('gone')
  c.open(7000) // a second handshake, another listen port
  a.sent.length = 0
  const d = join(m, 6)
  assert.equal(d.pexes(), [['10.0.0.2:6881', '10.0.0.4:7000', '10.0.0.5:6881']])
  await clock.run(4 * PEX_BATCH_MS)
  assert.equal(a.pexes(), [['10.0.0.6:6881']], 'the batch goes to the peers there')
  assert.equal(b.pexes().length, 2, 'not to the one that left (its attach and its batch before)')
})

test('two connections to one peer: the one opened by the smaller peer id stays, found by the id each peer says now (after a second handshake too)', () => {
  const clock = new SimClock(10)
  const m = members(clock)
  class Dialled extends Link { override readonly outgoing = true }
  const connect = (p: Link): Link => { p.open(); m.attach(p); return p }
  // ours is c8…: 05… is smaller, so its connection to us stays, and ours to it goes
  const in5 = connect(new Link(5))
  const out5 = connect(new Dialled(5))
  assert.is(out5.dropped, 'duplicate')
  assert.is(in5.dropped, undefined)
  // e6… is larger: ours to it stays, its connection to us goes
  const in230 = connect(new Link(230))
  const out230 = connect(new Dialled(230))
  assert.is(in230.dropped, 'duplicate')
  assert.is(out230.dropped, undefined)
  // a peer that handshakes again with another id is that id's from then on
  const a = connect(new Link(7))
  a.open(6881, undefined, 9)
  const again9 = connect(new Link(9))
  assert.is(again9.dropped, 'duplicate', 'the id it says now')
  const again7 = connect(new Link(7))
  assert.is(again7.dropped, undefined, 'not the id it said before')
  assert.equal([...m.peers], [in5, out230, a, again7])
})

test('a newcomer among more than PEX_MAX_ADDRESSES peers is told the first of those there now: not one that left, one that handshook again at its new port', () => {
  const m = members(new SimClock(10))
  const first: Link[] = []
  for (let n = 2; n < 2 + PEX_MAX_ADDRESSES + 5; n++) first.push(join(m, n))
  const told = (p: Link): string[] => p.pexes()[0]
  const addrs = (ns: number[]): string[] => ns.map(n => `10.0.0.${n}:6881`)
  const upTo = (from: number, count: number): number[] => Array.from({ length: count }, (_, k) => from + k)
  assert.equal(told(join(m, 150)), addrs(upTo(2, PEX_MAX_ADDRESSES)))
  assert.equal(told(join(m, 151)), addrs(upTo(2, PEX_MAX_ADDRESSES)), 'the next newcomer the same')
  first[1].drop('gone')
  assert.equal(told(join(m, 152)), addrs([2, ...upTo(4, PEX_MAX_ADDRESSES - 1)]), 'not peer 3, gone')
  first[2].open(7000)
  const l = told(join(m, 153))
  assert.equal(l.slice(0, 3), ['10.0.0.2:6881', '10.0.0.4:7000', '10.0.0.5:6881'], 'peer 4 at its new port')
  assert.is(l.length, PEX_MAX_ADDRESSES)
})

test('an address that never answers is dialled again after 0.5 s × 2^tries (at most 30 s), DIAL_RETRIES times unless sticky', async () => {
  const clock = new SimClock(10)
  const dials = new Map<string, number[]>()
  const m = members(clock, (to) => {
    const k = `${to.host}:${to.port}`
    dials.set(k, [...dials.get(k) ?? [], clock.now()])
    return new Unanswered(clock, 50)
  })
  m.addAddress({ host: '10.0.0.9', port: 6881 })
  m.addAddress({ host: '10.0.0.8', port: 6881 }, true)
  await clock.run(200_000)
  // each closes 50 ms after its dial, then waits 1, 2, 4, 8, 16, 30, 30, … s (tries 1, 2, …)
  assert.equal(dials.get('10.0.0.9:6881'), [0, 1050, 3100, 7150].slice(0, DIAL_RETRIES))
  assert.equal(dials.get('10.0.0.8:6881'), [0, 1050, 3100, 7150, 15200, 31250, 61300, 91350, 121400, 151450, 181500])
})

test('an address whose redial found the swarm full is kept with its tries, and dialled with them once made sticky', async () => {
  const clock = new SimClock(10)
  const dials: number[] = []
  const m = members(clock, (to) => { if (to.host === '10.0.0.9') dials.push(clock.now()); return new Unanswered(clock, 50) }, 1)
  // dialled at 0, no answer by 50: tries 1, dialled again at 1,050
  m.addAddress({ host: '10.0.0.9', port: 6881 })
  await clock.run(500)
  // one peer: full (maxPeers 1), so the redial dials nothing
  const p = join(m, 1)
  await clock.run(6000)
  assert.equal(dials, [0])
  assert.is((m as unknown as { dials: Map<string, unknown> }).dials.get('10.0.0.9:6881'), 1, 'kept as its tries alone')
  m.addAddress({ host: '10.0.0.9', port: 6881 }, true)
  p.drop('gone')
  // the address connects to us and leaves: a sticky one is dialled 0.5 s later, then, its
  // dial unanswered (tries 2), 500 × 2^2 ms after that
  join(m, 9).drop('gone')
  await clock.run(10_000)
  assert.equal(dials, [0, 6500, 8550])
})

test('at maxPeers, an address learned (PEX) or whose redial found us full is dialled when a peer leaves or a dial fails: oldest first, up to maxPeers with the dials under way', async () => {
  const clock = new SimClock(10)
  const dials: string[] = []
  // .9's first dial is refused at 50 ms and .1's at 100 ms; every other dial never answers
  const m = members(clock, (to) => {
    const first = !dials.some(d => d.startsWith(`${to.host}@`))
    dials.push(`${to.host}@${clock.now()}`)
    return new Unanswered(clock, first && to.host === '10.0.1.9' ? 50 : to.host === '10.0.1.1' ? 100 : 60_000)
  }, 2)
  m.addAddress({ host: '10.0.1.9', port: 6881 })
  const a = join(m, 1)
  const b = join(m, 2)
  // .9's redial at 1,050 finds two peers: kept as its tries
  await clock.run(2000)
  a.say({ type: 'pex', peers: [{ host: '10.0.1.1', port: 6881 }, { host: '10.0.1.2', port: 6881 }, { host: '10.0.1.3', port: 6881 }] })
  assert.equal(dials, ['10.0.1.9@0'], 'at maxPeers: nothing dialled')
  // a leaves (its address, of a peer that connected to us, is forgotten): the oldest idle
  // address, .9, is dialled with the try it had, and that is one place
  a.drop('gone')
  await clock.run(2500)
  assert.equal(dials, ['10.0.1.9@0', '10.0.1.9@2000'])
  assert.is((m as unknown as { dials: Map<string, { tries: number }> }).dials.get('10.0.1.9:6881')?.tries, 1, 'its tries kept')
  // b leaves: the next, .1; refused at 2,600, it makes room for .2 (and waits 1 s for its redial)
  b.drop('gone')
  await clock.run(3000)
  assert.equal(dials, ['10.0.1.9@0', '10.0.1.9@2000', '10.0.1.1@2500', '10.0.1.2@2600'], '.3 waits: two dials under way')
})

test('maxPeers: no dial with that many peers connected; at most 4 × as many addresses known', async () => {
  for (const [max, peers] of [[undefined, MAX_PEERS], [3, 3]] as const) {
    const clock = new SimClock(10)
    const dialled: string[] = []
    const m = members(clock, (to) => { dialled.push(`${to.host}:${to.port}`); return new Unanswered(clock, 60_000) }, max)
    const links: Link[] = []
    for (let n = 1; n <= peers; n++) links.push(join(m, n))
    m.addAddress({ host: '10.0.1.1', port: 6881 })
    assert.equal(dialled, [], `${String(max)}: ${peers} peers connected, none dialled`)
    links[0].drop('gone')
    // a place free: each new address is dialled (and never answers) until the known list,
    // the peers' own addresses and 10.0.1.1 among them, holds 4 × maxPeers
    for (let n = 2; n <= 4 * peers + 10; n++) m.addAddress({ host: '10.0.1.' + String(n), port: 6881 })
    await clock.run(1000)
    assert.is(dialled.length, 4 * peers - (peers - 1) - 1, `${String(max)}: dialled until the known list was full`)
  }
})

test('a full list: a new address takes the place of the one whose dial failed longest ago, not of one still being dialled or sticky', async () => {
  const clock = new SimClock(10)
  const dials: string[] = []
  // maxPeers 1: a list of 4 addresses; .1 and .2 refuse at once, .3 never answers, .4 is sticky and refuses
  const m = members(clock, (to) => { dials.push(to.host); return new Unanswered(clock, to.host === '10.0.1.3' ? 60_000 : 50) }, 1)
  m.addAddress({ host: '10.0.1.4', port: 6881 }, true)
  m.addAddress({ host: '10.0.1.1', port: 6881 })
  m.addAddress({ host: '10.0.1.3', port: 6881 })
  m.addAddress({ host: '10.0.1.2', port: 6881 })
  m.addAddress({ host: '10.0.1.5', port: 6881 })
  assert.equal(dials, ['10.0.1.4', '10.0.1.1', '10.0.1.3', '10.0.1.2'], 'full, and no dial has failed yet: .5 is not taken')
  await clock.run(100)
  dials.length = 0
  m.addAddress({ host: '10.0.1.5', port: 6881 })
  m.addAddress({ host: '10.0.1.6', port: 6881 })
  m.addAddress({ host: '10.0.1.7', port: 6881 })
  assert.equal(dials, ['10.0.1.5', '10.0.1.6'], '.1 then .2 gave way; .3 is still being dialled and .4 is sticky')
  // .4 closed at 50 ms and is dialled again 1 s later; .5 and .6 would be at 1,150 ms
  await clock.run(1100)
  assert.equal(dials, ['10.0.1.5', '10.0.1.6', '10.0.1.4'], 'of the first four only the sticky one is dialled again')
})

test('a full list: a failed address gives way only while the swarm has fewer than FEW_PEERS peers', async () => {
  const clock = new SimClock(10)
  const dials: string[] = []
  // maxPeers 6: a list of 24, the peers' own addresses among them; every dial is refused
  const m = members(clock, (to) => { dials.push(to.host); return new Unanswered(clock, 50) }, 6)
  const peers = [1, 2, 3, 4, 5].map(n => join(m, n))
  for (let n = 1; n <= 19; n++) m.addAddress({ host: `10.0.1.${n}`, port: 6881 })
  await clock.run(100)
  dials.length = 0
  m.addAddress({ host: '10.0.2.1', port: 6881 })
  assert.equal(dials, [], `${FEW_PEERS} peers: the list is full and stays so`)
  // one leaves (its address is forgotten, a place frees), a new address fills it; then one gives way
  peers[0].drop('gone')
  m.addAddress({ host: '10.0.2.2', port: 6881 })
  m.addAddress({ host: '10.0.2.3', port: 6881 })
  assert.equal(dials, ['10.0.2.2', '10.0.2.3'], `${FEW_PEERS - 1} peers: 10.0.1.1 gave way to 10.0.2.3`)
})

test('PEXFULL: a full list tells a peer that sends PEX once, and that it has room again when an address goes; a peer that said it is full gets no PEX batch until it has room', async () => {
  const clock = new SimClock(10)
  // maxPeers 1: a list of 4 addresses
  const m = members(clock, () => new Unanswered(clock, 60_000), 1)
  const a = join(m, 2)
  const b = join(m, 3)
  const full = (l: Link): boolean[] => l.sent.filter(x => x.type === 'pex-full').map(x => (x as { full: boolean }).full)
  a.say({ type: 'pex', peers: [{ host: '10.0.1.1', port: 6881 }] })
  assert.equal(full(a), [], 'a PEX that leaves room says nothing')
  a.say({ type: 'pex', peers: [{ host: '10.0.1.2', port: 6881 }, { host: '10.0.1.3', port: 6881 }] })
  assert.equal(full(a), [true], 'the PEX that filled the list (a and b, 10.0.1.1 and .2)')
  a.say({ type: 'pex', peers: [{ host: '10.0.1.4', port: 6881 }] })
  b.say({ type: 'pex', peers: [{ host: '10.0.1.5', port: 6881 }] })
  assert.equal(full(a), [true], 'said once')
  assert.equal(full(b), [true])
  // b says its own list is full; a never does (as a peer that does not know PEXFULL)
  b.say({ type: 'pex-full', full: true })
  await clock.run(2 * PEX_BATCH_MS)
  a.sent.length = 0
  b.sent.length = 0
  const c = join(m, 4)
  await clock.run(4 * PEX_BATCH_MS)
  assert.equal(a.pexes(), [['10.0.0.4:6881']])
  assert.equal(b.pexes(), [], 'no batch to a peer whose list is full')
  // a and c leave: their addresses are forgotten (c's had made 5), the list has room, and those told otherwise hear it
  a.drop('gone')
  assert.equal(full(b), [], 'still 4 known')
  c.drop('gone')
  assert.equal(full(b), [false])
  assert.equal(full(c), [], 'c sent no PEX, was told nothing')
  b.say({ type: 'pex-full', full: false })
  join(m, 5)
  await clock.run(8 * PEX_BATCH_MS)
  assert.equal(b.pexes(), [['10.0.0.5:6881']], 'b has room again: the next batch')
})

test('the handshake\'s PEXFULL flag: a peer whose list was full when it handshook is sent no PEX, its first included; ours says so when our list is full; a peer that reads no flag still sends PEX and is answered PEXFULL 1 once', async () => {
  const clock = new SimClock(10)
  // maxPeers 1: a list of 4 addresses
  const m = members(clock, () => new Unanswered(clock, 60_000), 1)
  const full = (l: Link): boolean[] => l.sent.filter(x => x.type === 'pex-full').map(x => (x as { full: boolean }).full)
  const a = join(m, 2)
  assert.is(a.hs?.pexFull, undefined, 'our list has room: no flag')
  const b = join(m, 3, true)
  assert.equal(a.pexes(), [], 'a came first: nobody to tell it of')
  assert.equal(b.pexes(), [], 'b said its list is full: not told of a')
  const c = join(m, 4)
  assert.equal(c.pexes(), [['10.0.0.2:6881', '10.0.0.3:6881']], 'c said nothing (an older peer): told of a and b as before')
  await clock.run(4 * PEX_BATCH_MS)
  assert.equal(a.pexes(), [['10.0.0.3:6881', '10.0.0.4:6881']])
  assert.equal(b.pexes(), [], 'nor in the batch')
  // our list fills (a, b, c and 10.0.1.1); the next peer's handshake from us says so
  a.say({ type: 'pex', peers: [{ host: '10.0.1.1', port: 6881 }] })
  assert.equal(full(a), [true], 'the PEX that filled it is answered as before')
  const d = join(m, 5)
  assert.is(d.hs?.pexFull, true, 'our list full: the flag')
  assert.is(a.hs?.pexFull, undefined, 'each link keeps the handshake it was sent')
  assert.equal(full(d), [], 'told by the handshake, not a message')
  // d reads no flags (an older peer): its PEX is answered PEXFULL 1, once
  d.say({ type: 'pex', peers: [{ host: '10.0.1.9', port: 6881 }] })
  d.say({ type: 'pex', peers: [{ host: '10.0.1.8', port: 6881 }] })
  assert.equal(full(d), [true])
  // known now: a, b, c, 10.0.1.1, d and e (a peer's own address is kept whatever the list
  // holds); a, b and c leave, their addresses are forgotten, the list has room at the third:
  // each peer told it was full hears it has room
  const e = join(m, 6)
  assert.is(e.hs?.pexFull, true)
  a.drop('gone')
  b.drop('gone')
  assert.equal(full(e), [], 'still 4 known')
  c.drop('gone')
  assert.equal(full(e), [false], 'told by the handshake, then by PEXFULL 0')
  assert.equal(full(d), [true, false])
  assert.equal([...b.sent, ...c.sent].filter(x => x.type === 'pex-full'), [], 'b and c were never told')
})

test('dialling: while a dial begun less than DIAL_GRACE_MS ago is under way, again at each redial; close() stops a redial waiting for its timer', async () => {
  const clock = new SimClock(10)
  const dials: number[] = []
  // each dial closes unanswered after 5 s, and is dialled again 1 s later (its first try)
  const m = members(clock, () => { dials.push(clock.now()); return new Unanswered(clock, 5000) })
  m.addAddress({ host: '10.0.0.9', port: 6881 })
  const at = async (t: number): Promise<boolean> => { await clock.run(t); return m.dialling }
  assert.is(m.dialling, true, 'dialled at 0')
  assert.is(await at(DIAL_GRACE_MS - 10), true)
  assert.is(await at(DIAL_GRACE_MS), false, 'under way, but for DIAL_GRACE_MS')
  assert.is(await at(5500), false, 'closed, waiting to dial again')
  assert.is(await at(6000), true, 'dialled again at 6,000')
  assert.is(await at(6000 + DIAL_GRACE_MS), false)
  assert.equal(dials, [0, 6000])
  await clock.run(11_500) // closed at 11,000, dialled again at 13,000 (its second try) unless closed
  m.close(false)
  await clock.run(30_000)
  assert.equal(dials, [0, 6000], 'the redial waiting for its timer was stopped')
})

test.run()
