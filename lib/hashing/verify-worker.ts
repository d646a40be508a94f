// Worker thread for lib/verify-pool.ts: takes slot numbers from its job ring, hashes the
// chunk in that shared slot, compares it with the leaf the main thread put beside it,
// writes it to the store's file (fds are shared by all threads) only when it matches,
// and posts the slot to its done ring. Idle, it waits on the ring without a timer.
import { parentPort, workerData } from 'node:worker_threads'
import { HASH_BYTES, leafHashInto } from './hashtree.js'
import { writeAllAt, VERIFY_SLOTS, C_HEAD, C_TAIL, C_DONE, C_JOBS, C_DONES, R_OK, R_BAD, R_ERROR, type VerifySetup } from './verify-pool.js'

const s = workerData as VerifySetup
const c = new Int32Array(s.control)
const leaves = Buffer.from(s.leaves)
const where = new Float64Array(s.where)
const state = new Int32Array(s.state)
const got = Buffer.allocUnsafe(HASH_BYTES)
const MASK = VERIFY_SLOTS - 1

function run (slot: number): number {
  try {
    const len = state[slot * 2]
    const chunk = Buffer.from(s.data, slot * s.slotBytes, len)
    leafHashInto(got, chunk)
    if (!got.equals(leaves.subarray(slot * HASH_BYTES, (slot + 1) * HASH_BYTES))) return R_BAD
    if (len > 0) writeAllAt(where[slot * 2], chunk, where[slot * 2 + 1])
    return R_OK
  } catch {
    return R_ERROR // the main thread does it again and reports the error
  }
}

async function loop (): Promise<never> {
  for (;;) {
    const head = Atomics.load(c, C_HEAD)
    let tail = c[C_TAIL]
    if (tail === head) {
      const w = Atomics.waitAsync(c, C_HEAD, head)
      if (w.async) await w.value
      continue
    }
    while (tail !== head) {
      const slot = c[C_JOBS + (tail & MASK)]
      tail = (tail + 1) | 0
      Atomics.store(c, C_TAIL, tail)
      Atomics.store(state, slot * 2 + 1, run(slot))
      const done = c[C_DONE]
      c[C_DONES + (done & MASK)] = slot
      Atomics.store(c, C_DONE, (done + 1) | 0)
      Atomics.notify(c, C_DONE)
    }
  }
}

// a listening port keeps this thread alive while it waits on the ring (a pending waitAsync does not)
parentPort?.on('message', () => {})
parentPort?.postMessage('ready')
void loop()
