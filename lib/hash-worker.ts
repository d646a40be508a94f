// Worker thread for lib/hash-parallel.ts: hashes the leaves of one stripe per job,
// either reading the byte range itself from the main thread's fd (descriptors are
// shared by all threads), so reads run in parallel too, or hashing transferred bytes.
import { parentPort, workerData } from 'node:worker_threads'
import { readSync } from 'node:fs'
import { hashLeaves, type WorkerJob, type WorkerReply, type WorkerSetup } from './hash-parallel.js'

const setup = workerData as WorkerSetup
const fd = setup.fd ?? -1
let buf: Buffer | undefined

function readRange (start: number, end: number): Buffer {
  buf ??= Buffer.allocUnsafe(setup.stripeBytes)
  const want = end - start
  let got = 0
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, start + got)
    if (n === 0) throw Object.assign(new Error(`file ended at byte ${start + got}, expected ${end}: it changed while being hashed`), { code: 'ESHRUNK' })
    got += n
  }
  return buf.subarray(0, want)
}

parentPort?.on('message', (job: WorkerJob) => {
  let reply: WorkerReply
  const transfer: ArrayBuffer[] = []
  try {
    const data = job.data ?? readRange(job.start, job.end)
    const leaves = hashLeaves(data, setup.chunkSize)
    reply = { id: job.id, leaves }
    transfer.push(leaves.buffer as ArrayBuffer)
    if (job.data) { reply.data = job.data; transfer.push(job.data.buffer as ArrayBuffer) }
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    reply = { id: job.id, error: err.message, code: err.code }
  }
  parentPort?.postMessage(reply, transfer)
})
