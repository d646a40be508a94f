// Output of one item, read from its store as fast as the consumer takes it: frames
// (START, DATA within a bounded window ahead of the first chunk not yet written, GAP
// for what was skipped or given up, END) or, with raw, the whole item's bytes in order.
// The swarm never waits for this: it stores, and this reads back.
import type { Writable } from 'node:stream'
import { encodeFrame, type ItemHeader } from './frame.js'
import { writeAll } from './ndjson.js'
import type { Swarm } from './swarm.js'
import { UnavailableError } from './cli.js'

export interface EmitOptions {
  item: number
  header: ItemHeader
  raw: boolean
  window: number
  signal?: AbortSignal
}

/** Resolve on the swarm's next 'have' or 'gaveup' (or abort). */
function change (swarm: Swarm, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      swarm.off('have', done); swarm.off('gaveup', done); swarm.off('close', done)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    swarm.on('have', done); swarm.on('gaveup', done); swarm.on('close', done)
    signal?.addEventListener('abort', done, { once: true })
  })
}

export async function emitItem (swarm: Swarm, out: Writable, o: EmitOptions): Promise<void> {
  const tree = swarm.tree!
  const store = swarm.store!
  const order = swarm.order!
  const limit = o.raw ? order.length : swarm.originLimit
  const cs = tree.chunkSize
  const end = (i: number): number => Math.min(tree.size, (i + 1) * cs)
  if (!o.raw) await writeAll(out, encodeFrame({ type: 'start', item: o.item, header: o.header }))
  const done = new Uint8Array(limit)
  let first = 0 // first position not yet written
  // play order skips chunks 1..play-1 after chunk 0: say so with a GAP right after chunk 0
  const skipped = !o.raw && limit > 1 && order[1] > 1 ? { start: cs, end: order[1] * cs } : undefined
  while (first < limit) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted')
    if (swarm.closed) throw new Error('swarm closed while its item was being written')
    const win = Math.min(limit, first + (o.raw ? 1 : o.window))
    let wrote = false
    for (let k = first; k < win; k++) {
      if (done[k]) continue
      const i = order[k]
      if (swarm.gaveUp.has(i) && !store.has(i)) {
        if (o.raw) throw new UnavailableError(`chunk ${i} (bytes ${i * cs}-${end(i)}) could not be fetched from peers or the origin`, swarm.opts.url)
        await writeAll(out, encodeFrame({ type: 'gap', item: o.item, start: i * cs, end: end(i) }))
      } else if (store.has(i)) {
        let data: Buffer
        try { data = await store.get(i) } catch { swarm.kick(); continue }
        await writeAll(out, o.raw ? data : encodeFrame({ type: 'data', item: o.item, offset: i * cs, data }))
      } else continue
      done[k] = 1
      wrote = true
      if (k === 0 && skipped) await writeAll(out, encodeFrame({ type: 'gap', item: o.item, ...skipped }))
      break
    }
    while (first < limit && done[first]) first++
    if (!wrote && first < limit) await change(swarm, o.signal)
  }
  if (!o.raw) await writeAll(out, encodeFrame({ type: 'end', item: o.item }))
}
