// Output of one item, read from its store as fast as the consumer takes it: frames
// (START, DATA within a bounded window ahead of the first chunk not yet written, GAP
// for what was skipped or given up, END) or, with raw, the whole item's bytes in order.
// The swarm never waits for this: it stores, and this reads back. Chunks were verified
// before they were stored; they are not hashed a second time on the way to stdout.
import type { Writable } from 'node:stream'
import { encodeFrame, encodeDataHeader } from '../frames/frame.js'
import { writeAll, drained } from '../core/ndjson.js'
import type { Swarm } from './swarm.js'
import { UnavailableError } from '../core/errors.js'
import { BufferPool } from '../core/buffer-pool.js'

export interface EmitOptions {
  item: number
  /** the item's START frame, unless it went out already (ahead, during the item before) */
  start?: Buffer
  raw: boolean
  window: number
  signal?: AbortSignal
  /** called between frames: a frame to write there (the next item's START), if any */
  between?: () => Buffer | undefined
}

/** chunk buffers in flight to the consumer at once; each is reused once written */
export const POOL_BUFFERS = 4

function epipe (): Error {
  const e = new Error('write after destroy') as NodeJS.ErrnoException
  e.code = 'EPIPE'
  return e
}

/** Write `data`, calling `written` once the stream is done with it (or gone); wait for 'drain' when asked to. */
async function writeThen (out: Writable, data: Buffer, written: () => void): Promise<void> {
  if (out.destroyed) { written(); throw epipe() }
  let called = false
  const onClose = (): void => once()
  const once = (): void => { if (!called) { called = true; out.off('close', onClose); written() } }
  out.on('close', onClose)
  if (!out.write(data, once)) await drained(out)
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
  if (!o.raw && o.start) await writeAll(out, o.start)
  const pool = new BufferPool(POOL_BUFFERS, cs, () => Buffer.allocUnsafe(cs))
  const done = new Uint8Array(limit)
  let first = 0 // first position not yet written
  // play order skips chunks 1..play-1 after chunk 0: say so with a GAP right after chunk 0
  const skipped = !o.raw && limit > 1 && order[1] > 1 ? { start: cs, end: order[1] * cs } : undefined
  while (first < limit) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted')
    if (swarm.closed) throw new Error('swarm closed while its item was being written')
    const extra = o.between?.()
    if (extra) await writeAll(out, extra)
    // a joined item opens with chunk 0 (codec headers) and the GAP, before anything else
    const win = Math.min(limit, first + (o.raw || (skipped && first === 0) ? 1 : o.window))
    let wrote = false
    for (let k = first; k < win; k++) {
      if (done[k]) continue
      const i = order[k]
      if (swarm.gaveUp.has(i) && !store.has(i)) {
        if (o.raw) throw new UnavailableError(`chunk ${i} (bytes ${i * cs}-${end(i)}) could not be fetched from peers or the origin`, swarm.opts.url)
        await writeAll(out, encodeFrame({ type: 'gap', item: o.item, start: i * cs, end: end(i) }))
      } else if (store.has(i)) {
        // a store that is the output file (--raw into a file) holds the chunk in place already
        if (!store.isOutput) {
          const buf = await pool.take()
          let data: Buffer
          try { data = await store.get(i, buf, false) } catch { pool.give(buf); swarm.kick(); continue }
          if (!o.raw) out.write(encodeDataHeader(o.item, i * cs, data.length))
          await writeThen(out, data, () => pool.give(buf))
        }
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
