// Worker thread for lib/leaf-pool.ts: hashes the leaves of one stripe per job,
// either reading the byte range itself from the main thread's fd (descriptors are
// shared by all threads), so reads run in parallel too, or hashing transferred bytes.
import { parentPort, workerData } from 'node:worker_threads'
import { hashLeaves, hashRangeSync, READY_ID, type WorkerJob, type WorkerReply, type WorkerSetup } from './leaves.js'

const setup = workerData as WorkerSetup
const fd = setup.fd ?? -1
let buf: Buffer | undefined

parentPort?.on('message', (job: WorkerJob) => {
  let reply: WorkerReply
  const transfer: ArrayBuffer[] = []
  try {
    let leaves: Uint8Array
    if (job.data) leaves = hashLeaves(job.data, setup.chunkSize)
    else {
      buf ??= Buffer.allocUnsafe(setup.readBytes)
      leaves = hashRangeSync(fd, job.start, job.end, setup.chunkSize, buf)
    }
    reply = { id: job.id, leaves }
    transfer.push(leaves.buffer as ArrayBuffer)
    if (job.data) { reply.data = job.data; transfer.push(job.data.buffer as ArrayBuffer) }
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    reply = { id: job.id, error: err.message, code: err.code }
  }
  parentPort?.postMessage(reply, transfer)
})
parentPort?.postMessage({ id: READY_ID })
