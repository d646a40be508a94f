import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Reorderer, reorderStream, GAP_COST_BYTES } from '../../lib/frames/reorder.js'
import type { Frame, ItemHeader } from '../../lib/frames/frame.js'
import { withTimeout } from '../helpers.js'

const header = (size: number | null, extra: Partial<ItemHeader> = {}): ItemHeader =>
  ({ url: 'http://o/a.mp3', start: '2026-01-01T00:00:00Z', offset: 0, size, chunkSize: 4, ...extra })

function bytes (n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff
  return b
}

function chunks (item: number, data: Buffer, size: number): Frame[] {
  const out: Frame[] = []
  for (let o = 0; o < data.length; o += size) out.push({ type: 'data', item, offset: o, data: data.subarray(o, o + size) })
  return out
}

/** Check the order rules of the output and return each item's bytes (GAPs as '?' bytes). */
function check (out: Frame[]): Map<number, { bytes: Buffer, ended: boolean, gaps: Array<[number, number]> }> {
  const items = new Map<number, { parts: Buffer[], next: number, ended: boolean, gaps: Array<[number, number]> }>()
  let current = -1
  for (const f of out) {
    if (f.type === 'start') { assert.not.ok(items.has(f.item), `START ${f.item} twice`); items.set(f.item, { parts: [], next: 0, ended: false, gaps: [] }); continue }
    const it = items.get(f.item)
    assert.ok(it, `frame of item ${f.item} before its START`)
    assert.not.ok(it.ended, `frame of item ${f.item} after its END`)
    assert.ok(f.item >= current, `item ${f.item} after item ${current}`)
    if (f.item > current) {
      if (current >= 0) assert.ok(items.get(current)?.ended, `item ${f.item} begins before item ${current} ended`)
      current = f.item
    }
    if (f.type === 'data') { assert.is(f.offset, it.next, `item ${f.item} DATA at ${f.offset}, expected ${it.next}`); it.parts.push(f.data); it.next += f.data.length }
    if (f.type === 'gap') { assert.is(f.start, it.next); assert.ok(f.end > f.start); it.parts.push(Buffer.alloc(f.end - f.start, '?')); it.gaps.push([f.start, f.end]); it.next = f.end }
    if (f.type === 'end') it.ended = true
  }
  return new Map([...items].map(([k, v]) => [k, { bytes: Buffer.concat(v.parts), ended: v.ended, gaps: v.gaps }]))
}

test('passes an in-order stream through unchanged', () => {
  const a = bytes(20)
  const input: Frame[] = [{ type: 'start', item: 0, header: header(20) }, ...chunks(0, a, 4), { type: 'end', item: 0 }]
  const r = new Reorderer({ windowBytes: 100 })
  const out = input.flatMap(f => r.push(f))
  assert.equal(out, input)
  assert.equal(r.end(), [])
  assert.is(r.bufferedBytes, 0)
})

test('a MARK stays just before the byte at its offset, whatever the arrival order; NEXT passes at once', () => {
  const a = bytes(16, 3)
  const mark = (offset: number, seq: number): Frame => ({ type: 'mark', item: 0, offset, mark: { time: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), seq, title: `t${seq}` } })
  const next: Frame = { type: 'next', item: 0, record: { url: 'http://o/b.mp3', start: '2026-01-01T01:00:00Z', offset: 0 } }
  const [d0, d1, d2, d3] = chunks(0, a, 4)
  const r = new Reorderer({ windowBytes: 1000 })
  const out = [{ type: 'start', item: 0, header: header(null, { live: true }) } as Frame, mark(8, 2), d2, mark(12, 3), d3, next, mark(4, 1), d1, mark(0, 0), d0, { type: 'end', item: 0 } as Frame].flatMap(f => r.push(f))
  // NEXT is not held behind the missing bytes
  assert.ok(out.indexOf(next) < out.findIndex(f => f.type === 'data'))
  const seen = out.filter(f => f.type === 'mark' || f.type === 'data').map(f => f.type === 'mark' ? `M${f.offset}` : `D${(f as { offset: number }).offset}`)
  assert.equal(seen, ['M0', 'D0', 'M4', 'D4', 'M8', 'D8', 'M12', 'D12'])
  assert.equal(check(out).get(0)?.bytes, a)
  assert.is(r.bufferedBytes, 0)
  // a MARK inside a DATA range splits it there
  const r2 = new Reorderer({ windowBytes: 1000 })
  const out2 = [{ type: 'start', item: 0, header: header(null) } as Frame, mark(6, 1), { type: 'data', item: 0, offset: 0, data: a } as Frame].flatMap(f => r2.push(f))
  assert.equal(out2.slice(1).map(f => f.type === 'data' ? `D${f.offset}+${f.data.length}` : f.type), ['D0+6', 'mark', 'D6+10'])
  // a MARK for bytes already out is dropped with a warning; one for bytes given up goes with them
  const warnings: string[] = []
  const r3 = new Reorderer({ windowBytes: 1000, warn: m => warnings.push(m) })
  r3.push({ type: 'start', item: 0, header: header(null) }); r3.push(d0)
  assert.equal(r3.push(mark(2, 9)), [])
  assert.match(warnings.join('\n'), /MARK at byte 2 after its bytes went out/)
  r3.push(mark(4, 1)); r3.push(d2)
  assert.ok(r3.bufferedBytes > 0)
  const closed = r3.push({ type: 'end', item: 0 })
  assert.not.ok(closed.some(f => f.type === 'mark'))
  assert.is(r3.bufferedBytes, 0)
})

test('restores byte order within an item and item order across items, START at once', () => {
  const a = bytes(16, 1); const b = bytes(12, 2)
  const [a0, a1, a2, a3] = chunks(0, a, 4)
  const [b0, b1, b2] = chunks(1, b, 4)
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 100, warn: m => warnings.push(m) })
  const got: Frame[] = []
  const push = (f: Frame): Frame[] => { const o = r.push(f); got.push(...o); return o }
  assert.equal(push({ type: 'start', item: 0, header: header(16) }).map(f => f.type), ['start'])
  assert.equal(push(a2), [])
  assert.equal(push(a1), [])
  assert.equal(push({ type: 'start', item: 1, header: header(12) }).map(f => f.type), ['start'], 'START passes ahead of item 0')
  assert.equal(push(b1), [])
  assert.equal(push(b0), [])
  assert.is(r.bufferedBytes, 16)
  assert.equal(push(a0), [a0, a1, a2])
  assert.equal(push(a3), [a3])
  assert.equal(push({ type: 'end', item: 0 }).map(f => f.type), ['end', 'data', 'data'], 'held DATA of item 1 follows END of item 0')
  push(b2); push({ type: 'end', item: 1 })
  const items = check(got)
  assert.ok(items.get(0)?.bytes.equals(a)); assert.ok(items.get(1)?.bytes.equals(b))
  assert.ok(items.get(1)?.ended)
  assert.is(r.bufferedBytes, 0)
  assert.equal(warnings, [])
})

test('any arrival order with duplicates and overlaps gives the same bytes once each', () => {
  for (let round = 0; round < 200; round++) {
    const sizes = [1 + Math.floor(Math.random() * 60), 1 + Math.floor(Math.random() * 60), 1 + Math.floor(Math.random() * 60)]
    const datas = sizes.map((n, i) => bytes(n, i + round))
    const frames: Frame[] = []
    for (let i = 0; i < 3; i++) {
      const d = datas[i]
      const pieces: Frame[] = []
      for (let o = 0; o < d.length;) {
        const n = 1 + Math.floor(Math.random() * 9)
        pieces.push({ type: 'data', item: i, offset: o, data: d.subarray(o, o + n) })
        // an overlapping duplicate now and then (end-game)
        if (Math.random() < 0.3) { const s = Math.max(0, o - 3); pieces.push({ type: 'data', item: i, offset: s, data: d.subarray(s, o + n + 2) }) }
        o += n
      }
      for (let k = pieces.length - 1; k > 0; k--) { const j = Math.floor(Math.random() * (k + 1)); [pieces[k], pieces[j]] = [pieces[j], pieces[k]] }
      frames.push({ type: 'start', item: i, header: header(d.length) }, ...pieces, { type: 'end', item: i })
    }
    const warnings: string[] = []
    const r = new Reorderer({ windowBytes: 1000, warn: m => warnings.push(m) })
    const out = [...frames.flatMap(f => r.push(f)), ...r.end()]
    const items = check(out)
    for (let i = 0; i < 3; i++) {
      assert.ok(items.get(i)?.bytes.equals(datas[i]), `round ${round} item ${i}`)
      assert.ok(items.get(i)?.ended)
    }
    assert.equal(warnings, [])
    assert.is(r.bufferedBytes, 0)
  }
})

test('a full window gives up the missing range with a GAP and a warning, never holding more', () => {
  const a = bytes(40)
  const cs = chunks(0, a, 4)
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 10, warn: m => warnings.push(m) })
  const out: Frame[] = [...r.push({ type: 'start', item: 0, header: header(40) })]
  // chunk 0 never comes
  for (const f of cs.slice(1)) { out.push(...r.push(f)); assert.ok(r.bufferedBytes <= 10) }
  out.push(...r.push({ type: 'end', item: 0 }))
  const items = check(out)
  assert.equal(items.get(0)?.gaps, [[0, 4]])
  assert.ok(items.get(0)?.bytes.subarray(4).equals(a.subarray(4)))
  assert.is(warnings.length, 1)
  assert.match(warnings[0], /item 0: bytes 0-4 window of 10 bytes full/)
})

test('a full window with only a later item buffered closes the stalled item', () => {
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 8, warn: m => warnings.push(m) })
  const out: Frame[] = []
  out.push(...r.push({ type: 'start', item: 0, header: header(100) }))
  out.push(...r.push({ type: 'data', item: 0, offset: 0, data: bytes(10) }))
  out.push(...r.push({ type: 'start', item: 1, header: header(12) }))
  for (const f of chunks(1, bytes(12, 3), 4)) out.push(...r.push(f))
  const items = check(out)
  assert.equal(items.get(0)?.gaps, [[10, 100]])
  assert.ok(items.get(0)?.ended)
  assert.ok(items.get(1)?.bytes.equals(bytes(12, 3)))
  assert.match(warnings.join('\n'), /item 0: bytes 10-100 window of 8 bytes full/)
  // the real END of item 0 and a late chunk are then dropped
  assert.equal(r.push({ type: 'data', item: 0, offset: 10, data: bytes(4) }), [])
  assert.match(warnings.at(-1) ?? '', /item 0: DATA after the item was closed/)
})

test('a held GAP range counts against the window so GAPs cannot pile up', () => {
  const r = new Reorderer({ windowBytes: 10 * GAP_COST_BYTES })
  r.push({ type: 'start', item: 0, header: header(null) })
  for (let i = 1; i < 1000; i++) { r.push({ type: 'gap', item: 0, start: 2 * i, end: 2 * i + 1 }); assert.ok(r.bufferedBytes <= 10 * GAP_COST_BYTES) }
})

test('with a deadline, a missing range is given up that long after a later frame arrived', () => {
  let t = 1_000_000
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 1000, deadlineMs: 500, now: () => t, warn: m => warnings.push(m) })
  const a = bytes(12)
  const [c0, c1, c2] = chunks(0, a, 4)
  r.push({ type: 'start', item: 0, header: header(null, { start: undefined as unknown as string }) })
  assert.is(r.nextDeadline(), undefined, 'nothing held: nothing to wait for')
  assert.equal(r.push(c0), [c0])
  t += 100
  assert.equal(r.push(c2), [])
  assert.is(r.nextDeadline(), t + 500)
  assert.equal(r.expire(t + 499), [])
  const out = r.expire(t + 500)
  assert.equal(out, [{ type: 'gap', item: 0, start: 4, end: 8 }, c2])
  assert.is(r.nextDeadline(), undefined)
  assert.match(warnings[0], /item 0: bytes 4-8 still missing 500 ms after byte 8 was due, skipped/)
  // a late copy of the given-up chunk is dropped quietly (already delivered as a gap)
  assert.equal(r.push(c1), [])
})

test('the schedule makes a missing range due when the byte it holds up plays', () => {
  const start = Date.parse('2030-01-01T00:00:00Z')
  let t = start - 60_000 // prefetching a minute ahead
  const r = new Reorderer({ windowBytes: 1000, deadlineMs: 1000, now: () => t })
  r.push({ type: 'start', item: 0, header: header(100, { start: '2030-01-01T00:00:00Z', duration: 10_000 }) })
  r.push({ type: 'data', item: 0, offset: 0, data: bytes(50) })
  r.push({ type: 'data', item: 0, offset: 60, data: bytes(10) })
  // bytes 50-60 hold up byte 60, which plays 6 s into the item
  assert.is(r.nextDeadline(), start + 6000 + 1000)
  assert.equal(r.expire(start + 6999), [])
  t = start + 7000
  assert.equal(r.expire().map(f => f.type), ['gap', 'data'])
})

test('a hole at the start of an item on air waits until the bytes after it play, not until its own first byte did', () => {
  const start = Date.parse('2030-01-01T00:00:00Z')
  let t = start + 1000 // tuned in a second after the item went on air
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 1000, deadlineMs: 0, now: () => t, warn: m => warnings.push(m) })
  r.push({ type: 'start', item: 0, header: header(100, { start: '2030-01-01T00:00:00Z', duration: 100_000 }) })
  // bytes 40-60 come first; byte 0 was due a second ago, byte 40 plays 40 s in
  assert.equal(r.push({ type: 'data', item: 0, offset: 40, data: bytes(20) }), [])
  assert.is(r.nextDeadline(), start + 40_000)
  assert.equal(r.expire(), [])
  // the first bytes come late: what is left of them is delivered, nothing was given up
  t = start + 5000
  const a = bytes(40)
  assert.equal(r.push({ type: 'data', item: 0, offset: 0, data: a }).map(f => f.type), ['data', 'data'])
  assert.is(r.nextDeadline(), undefined)
  // a hole nobody fills is given up when the bytes after it are due, and said so
  r.push({ type: 'data', item: 0, offset: 80, data: bytes(20) })
  assert.is(r.nextDeadline(), start + 80_000)
  t = start + 80_000
  assert.equal(r.expire(), [{ type: 'gap', item: 0, start: 60, end: 80 }, { type: 'data', item: 0, offset: 80, data: bytes(20) }])
  assert.equal(warnings, ['item 0: bytes 60-80 still missing when byte 80 was due, skipped'])
})

test('a range whose time had passed before it was found missing is given up at once, said apart as late', () => {
  const start = Date.parse('2030-01-01T00:00:00Z')
  const t = start + 30_000 // tuned in 30 s after the item went on air
  const warnings: string[] = []
  const late: string[] = []
  const r = new Reorderer({ windowBytes: 1000, deadlineMs: 0, now: () => t, warn: m => warnings.push(m), late: m => late.push(m) })
  r.push({ type: 'start', item: 0, header: header(100, { start: '2030-01-01T00:00:00Z', duration: 100_000 }) })
  // the writer starts at byte 20, which played 20 s in: bytes 0-20 can only be late
  r.push({ type: 'data', item: 0, offset: 20, data: bytes(20) })
  assert.is(r.nextDeadline(), t)
  assert.equal(r.expire().map(f => f.type), ['gap', 'data'])
  assert.equal(late, ['item 0: bytes 0-20 were due before they were found missing, skipped'])
  assert.equal(warnings, [])
})

test('drops DATA of unknown and ended items with one warning each', () => {
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 100, warn: m => warnings.push(m) })
  assert.equal(r.push({ type: 'data', item: 3, offset: 0, data: bytes(4) }), [])
  assert.equal(r.push({ type: 'data', item: 3, offset: 4, data: bytes(4) }), [])
  r.push({ type: 'start', item: 4, header: header(4) })
  r.push({ type: 'data', item: 4, offset: 0, data: bytes(4) })
  r.push({ type: 'end', item: 4 })
  assert.equal(r.push({ type: 'data', item: 4, offset: 0, data: bytes(4) }), [])
  assert.equal(r.push({ type: 'start', item: 2, header: header(4) }), [])
  assert.equal(warnings, [
    'item 3: DATA for an item with no START, dropped',
    'item 4: DATA after the item was closed, dropped',
    'item 2: START out of order or repeated, dropped',
  ])
})

test('END with bytes missing gives them up as a GAP, up to the size', () => {
  const warnings: string[] = []
  const r = new Reorderer({ windowBytes: 100, warn: m => warnings.push(m) })
  const out = [
    ...r.push({ type: 'start', item: 0, header: header(20) }),
    ...r.push({ type: 'data', item: 0, offset: 0, data: bytes(4) }),
    ...r.push({ type: 'data', item: 0, offset: 8, data: bytes(4) }),
    ...r.push({ type: 'end', item: 0 }),
  ]
  assert.equal(check(out).get(0)?.gaps, [[4, 8], [12, 20]])
  assert.equal(out.at(-1), { type: 'end', item: 0 })
  assert.is(warnings.length, 2)
})

test('a joined-mid-item stream: chunk 0, a writer GAP, later chunks out of order', () => {
  const a = bytes(40)
  const r = new Reorderer({ windowBytes: 100 })
  const out = [
    ...r.push({ type: 'start', item: 0, header: header(40, { offset: 5000 }) }),
    ...r.push({ type: 'data', item: 0, offset: 0, data: a.subarray(0, 4) }),
    ...r.push({ type: 'data', item: 0, offset: 24, data: a.subarray(24, 28) }),
    ...r.push({ type: 'gap', item: 0, start: 4, end: 20 }),
    ...r.push({ type: 'data', item: 0, offset: 20, data: a.subarray(20, 24) }),
    ...r.push({ type: 'data', item: 0, offset: 28, data: a.subarray(28, 40) }),
    ...r.push({ type: 'end', item: 0 }),
  ]
  assert.equal(out.map(f => f.type), ['start', 'data', 'gap', 'data', 'data', 'data', 'end'])
  assert.equal(check(out).get(0)?.gaps, [[4, 20]])
})

test('end of input delivers what is held, closes items followed by others, leaves the last open', () => {
  const r = new Reorderer({ windowBytes: 100 })
  const out = [
    ...r.push({ type: 'start', item: 0, header: header(12) }),
    ...r.push({ type: 'data', item: 0, offset: 4, data: bytes(4) }),
    ...r.push({ type: 'start', item: 1, header: header(null) }),
    ...r.push({ type: 'data', item: 1, offset: 4, data: bytes(4) }),
  ]
  out.push(...r.end())
  const items = check(out)
  assert.equal(items.get(0)?.gaps, [[0, 4], [8, 12]])
  assert.ok(items.get(0)?.ended)
  assert.equal(items.get(1)?.gaps, [[0, 4]])
  assert.not.ok(items.get(1)?.ended)
  assert.is(r.bufferedBytes, 0)
})

test('hostile frames (wild offsets, ranges past the size, unknown items) never throw or overrun the window', () => {
  let x = 7
  const rnd = (n: number): number => { x = (x * 1103515245 + 12345) & 0x7fffffff; return x % n }
  let t = 0
  const r = new Reorderer({ windowBytes: 5000, deadlineMs: 50, now: () => t, warn: () => {} })
  const out: Frame[] = []
  let started = -1
  for (let i = 0; i < 20000; i++) {
    t += rnd(5)
    const item = Math.max(0, started - 1 + rnd(4))
    const k = rnd(100)
    let f: Frame
    if (k < 3) {
      started++
      f = { type: 'start', item: started, header: header(rnd(3) === 0 ? null : rnd(20000), { start: undefined as unknown as string }) }
    } else if (k < 5) {
      f = { type: 'end', item }
    } else if (k < 10) {
      const s = rnd(30000)
      f = { type: 'gap', item, start: s, end: s + rnd(3000) }
    } else {
      f = { type: 'data', item, offset: rnd(30000), data: bytes(1 + rnd(900)) }
    }
    out.push(...r.push(f))
    assert.ok(r.bufferedBytes <= 5000, `held ${r.bufferedBytes}`)
    if (rnd(10) === 0) out.push(...r.expire())
  }
  out.push(...r.end())
  check(out)
})

test('reorderStream calls expire at the deadline while input is idle', async () => {
  let release: () => void = () => {}
  const idle = new Promise<void>(resolve => { release = resolve })
  async function * input (): AsyncGenerator<Frame> {
    yield { type: 'start', item: 0, header: header(null) }
    yield { type: 'data', item: 0, offset: 0, data: bytes(4) }
    yield { type: 'data', item: 0, offset: 8, data: bytes(4) }
    await idle // the writer goes quiet
    yield { type: 'end', item: 0 }
  }
  const got: Frame[] = []
  const gen = reorderStream(input(), { windowBytes: 100, deadlineMs: 30 })
  await withTimeout((async () => {
    for await (const f of gen) {
      got.push(f)
      if (got.length === 4) release()
    }
  })(), 5000, 'the deadline to expire')
  assert.equal(got.map(f => f.type), ['start', 'data', 'gap', 'data', 'end'])
})

test('reorderStream without a deadline waits, then flushes at end of input', async () => {
  async function * input (): AsyncGenerator<Frame> {
    yield { type: 'start', item: 0, header: header(12) }
    yield { type: 'data', item: 0, offset: 8, data: bytes(4) }
    yield { type: 'data', item: 0, offset: 0, data: bytes(4) }
  }
  const got: Frame[] = []
  for await (const f of reorderStream(input(), { windowBytes: 100 })) got.push(f)
  assert.equal(got.map(f => f.type), ['start', 'data', 'gap', 'data'])
})

test.run()
