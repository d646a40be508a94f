// When the simulator says a listener tuning in first hears the item: for pc, once chunk 0
// (codec headers, written by pc-fetch before anything else of an item) and the chunk at its
// position are both held; for the baselines, the chunk at its position alone.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { firstAudioAt } from '../../bench/sim/scenario.js'

test('a pc listener whose chunk 0 comes after the chunk it plays first hears nothing before chunk 0', () => {
  const haveAt = Float64Array.from([900, NaN, NaN, NaN, 400, 450])
  assert.is(firstAudioAt(haveAt, 4, true), 900)
  assert.is(firstAudioAt(haveAt, 4, false), 400, 'a plain HTTP or BitTorrent-like listener needs only its first chunk')
  haveAt[0] = 100
  assert.is(firstAudioAt(haveAt, 4, true), 400)
  assert.is(firstAudioAt(haveAt, 0, true), 100, 'at the item\'s top, chunk 0 is the first chunk')
})

test('a pc listener still missing chunk 0 or its first chunk has no first audio (NaN)', () => {
  assert.ok(Number.isNaN(firstAudioAt(Float64Array.from([NaN, 300, 400]), 2, true)))
  assert.ok(Number.isNaN(firstAudioAt(Float64Array.from([100, 300, NaN]), 2, true)))
})

test.run()
