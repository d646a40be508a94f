// Loaded into each command by `bench/soak.js --heap` (node --expose-gc --import): every
// HEAP_SAMPLE_MS a full garbage collection, then what is left on the JS heap, appended to
// $PC_SOAK_HEAP_DIR/<pid>.csv. What survives a full collection is what the program keeps;
// the anonymous memory also holds V8's spare heap pages and malloc's free lists, which
// grow in steps and are not given back (BENCHMARKS.md, soak, 2026-12-04 evening).
// That heap also holds V8's compiled code, which grows as functions become hot for the
// first time: with a function called once per item change that is hundreds of item
// changes in (BENCHMARKS.md, soak, 2026-12-05 morning). So each line also gives the code
// and bytecode with their metadata (v8.getHeapCodeStatistics()), to read the heap's rise
// against them.
//   lines: ms since the epoch, heap used, heap total, external, array buffers,
//          compiled code and its metadata, bytecode and its metadata (bytes)
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { getHeapCodeStatistics } from 'node:v8'
import { isMainThread } from 'node:worker_threads'

export const HEAP_SAMPLE_MS = 10_000

const dir = process.env.PC_SOAK_HEAP_DIR
const gc = (globalThis as { gc?: () => void }).gc
if (isMainThread && dir !== undefined && gc !== undefined) {
  const file = join(dir, `${process.pid}.csv`)
  setInterval(() => {
    gc()
    const m = process.memoryUsage()
    const c = getHeapCodeStatistics()
    try { appendFileSync(file, `${Date.now()},${m.heapUsed},${m.heapTotal},${m.external},${m.arrayBuffers},${c.code_and_metadata_size},${c.bytecode_and_metadata_size}\n`) } catch { /* the bench is gone */ }
  }, HEAP_SAMPLE_MS).unref()
}
