// Worker thread for lib/leaf-pool.ts: hashes the leaves of one stripe per job,
// either reading the byte range itself from the main thread's fd (descriptors are
// shared by all threads), so reads run in parallel too, or hashing transferred bytes;
// or, from its start, claims stripes of a file in shared memory (SharedStripes) until none are left.
import { parentPort, workerData } from 'node:worker_threads'
import { hashLeaves, hashNextStripe, hashRangeSync, stopClaims, READY_ID, SHARED_ID, type WorkerJob, type WorkerReply, type WorkerSetup } from './leaves.js'

const setup = workerData as WorkerSetup
const fd = setup.fd ?? -1
let buf: Buffer | undefined
const readBuf = (): Buffer => (buf ??= Buffer.allocUnsafe(setup.readBytes))

function fail (id: number, e: unknown): WorkerReply {
  const err = e as NodeJS.ErrnoException
  return { id, error: err.message, code: err.code }
}

parentPort?.on('message', (job: WorkerJob) => {
  let reply: WorkerReply
  const transfer: ArrayBuffer[] = []
  try {
    const leaves = job.data ? hashLeaves(job.data, setup.chunkSize) : hashRangeSync(fd, job.start, job.end, setup.chunkSize, readBuf())
    reply = { id: job.id, leaves }
    transfer.push(leaves.buffer as ArrayBuffer)
    if (job.data) { reply.data = job.data; transfer.push(job.data.buffer as ArrayBuffer) }
  } catch (e) {
    reply = fail(job.id, e)
  }
  parentPort?.postMessage(reply, transfer)
})
parentPort?.postMessage({ id: READY_ID })
if (setup.stripes) {
  try {
    while (hashNextStripe(setup.stripes, fd, setup.chunkSize, readBuf()));
  } catch (e) {
    stopClaims(setup.stripes)
    parentPort?.postMessage(fail(SHARED_ID, e))
  }
}
