import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { growth, perChange } from '../../bench/growth.js'

// a fixed zig-zag of ±0.5 MB: the scatter of resident memory sampled on a busy machine
const wobble = (i: number): number => [0.5, -0.5, 0.3, -0.3, 0][i % 5]
const xs = Array.from({ length: 60 }, (_, i) => i / 10) // 0 .. 5.9 thousand item changes

test('a steady rise of 1 MB per 1000 item changes under the wobble is growth', () => {
  const g = growth(xs, xs.map((x, i) => 60 + x + wobble(i)))
  assert.ok(Math.abs(g.slope - 1) < 0.1, String(g.slope))
  assert.ok(g.grows)
})

test('a level with the same wobble is not growth', () => {
  const g = growth(xs, xs.map((_, i) => 60 + wobble(i)))
  assert.ok(Math.abs(g.slope) < 0.1, String(g.slope))
  assert.not.ok(g.grows)
})

test('a rise smaller than the scatter is within noise, however many samples make it certain', () => {
  // 0.3 MB over the whole span in 2,000 samples scattered by ±0.5 MB: a slope many
  // standard errors above 0, but less than the samples scatter
  const many = Array.from({ length: 2000 }, (_, i) => i * 5.9 / 2000)
  const g = growth(many, many.map((x, i) => 60 + x * 0.3 / 5.9 + wobble(i)))
  assert.ok(g.slope > 3 * g.slopeSe)
  assert.ok(g.rise > 0 && g.rise < 2 * g.noise)
  assert.not.ok(g.grows)
})

test('a fall is not growth, and too few points give no verdict', () => {
  assert.not.ok(growth(xs, xs.map((x, i) => 60 - x + wobble(i))).grows)
  const g = growth([1, 2], [60, 70])
  assert.ok(Number.isNaN(g.slope))
  assert.not.ok(g.grows)
})

test('bytes per item change of the heap and of the code in it, under the scatter', () => {
  // 100 bytes an item change kept by the program and 60 of compiled code, 10 KB of scatter
  const changes = Array.from({ length: 250 }, (_, i) => 2500 + 10 * i)
  const code = changes.map((c, i) => 3e6 + 60 * c + 4000 * wobble(i + 2))
  const heap = changes.map((c, i) => 7e6 + 100 * c + code[i] + 20_000 * wobble(i))
  const per = perChange(changes, heap, code)
  assert.ok(Math.abs(per.heap - 160) < 5, `heap ${per.heap}`)
  assert.ok(Math.abs(per.code - 60) < 2, `code ${per.code}`)
  assert.ok(Number.isNaN(perChange([1, 2], [1, 2], [1, 2]).heap))
})

test.run()
