// Each item's swarm shows its own peer id for a listener (lib/swarm/swarm.ts itemPeerId),
// so the blocks a listener is designated for (picker.ts rank over the peer ids' keys)
// change from item to item: with one id for every item, the same listeners took the same
// blocks of each, and the load with them (bench/sim day).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { itemPeerId } from '../../lib/swarm/swarm.js'
import { peerKey, rank } from '../../lib/swarm/picker.js'

const ids = Array.from({ length: 50 }, (_, k) => Buffer.concat([Buffer.from('-PC0001-'), createHash('sha256').update(`listener ${k}`).digest().subarray(0, 12)]))
const items = ['item a', 'item b'].map(s => createHash('sha1').update(s).digest())

/** for each of `blocks` blocks, the listener (by index) designated for it among all */
function designated (keys: number[], blocks: number): number[] {
  const out: number[] = []
  for (let b = 0; b < blocks; b++) out.push(keys.findIndex((k, j) => rank(k, keys.filter((_, x) => x !== j), b) === 0))
  return out
}

test('a listener\'s id in an item: its prefix, 20 bytes, the same for the same item, another for another', () => {
  const a = itemPeerId(ids[0], items[0])
  assert.is(a.length, 20)
  assert.is(a.subarray(0, 8).toString(), '-PC0001-')
  assert.ok(a.equals(itemPeerId(ids[0], items[0])))
  assert.not.ok(a.equals(itemPeerId(ids[0], items[1])))
  assert.not.ok(a.equals(itemPeerId(ids[1], items[0])))
  assert.not.ok(a.equals(ids[0]))
})

test('the listeners designated for the blocks of one item are not those of the next', () => {
  const blocks = 60
  const per = items.map(ih => designated(ids.map(id => peerKey(itemPeerId(id, ih))), blocks))
  const same = per[0].filter((d, b) => d === per[1][b]).length
  // one in 50 by chance, about (with one id for every item: all 60)
  assert.ok(same <= 6, `${same} of ${blocks} blocks designated to the same listener in both items`)
})

test.run()
