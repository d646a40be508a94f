// Loaded into each command by `bench/soak.js --heap` (node --expose-gc --import): every
// HEAP_SAMPLE_MS a full garbage collection, then what is left on the JS heap, appended to
// $PC_SOAK_HEAP_DIR/<pid>.csv. What survives a full collection is what the program keeps;
// the anonymous memory also holds V8's spare heap pages and malloc's free lists, which
// grow in steps and are not given back (BENCHMARKS.md, soak, 2026-12-04 evening).
//   lines: ms since the epoch, heap used, heap total, external, array buffers (bytes)
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'

export const HEAP_SAMPLE_MS = 10_000

const dir = process.env.PC_SOAK_HEAP_DIR
const gc = (globalThis as { gc?: () => void }).gc
if (isMainThread && dir !== undefined && gc !== undefined) {
  const file = join(dir, `${process.pid}.csv`)
  setInterval(() => {
    gc()
    const m = process.memoryUsage()
    try { appendFileSync(file, `${Date.now()},${m.heapUsed},${m.heapTotal},${m.external},${m.arrayBuffers}\n`) } catch { /* the bench is gone */ }
  }, HEAP_SAMPLE_MS).unref()
}
