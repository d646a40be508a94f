// A fixed set of hash workers (lib/hash-worker.ts) for lib/hash-parallel.ts.
import { Worker } from 'node:worker_threads'
import { IOError } from '../core/errors.js'
import { READY_ID, SHARED_ID, stopClaims, type WorkerJob, type WorkerReply, type WorkerSetup } from './leaves.js'

/** jobs queued per worker, so none idles while its next job is in the post */
export const JOBS_PER_WORKER = 2

/** A fixed set of hash workers; jobs go to the least busy one. */
export class LeafPool {
  private readonly slots: { worker: Worker, busy: number, ready: boolean }[] = []
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void, reject: (e: Error) => void, slot: number }>()
  private readonly queue: WorkerJob[] = []
  private nextId = 0
  private closing = false
  private failure: Error | undefined
  private rejectFailed: (e: Error) => void = () => {}
  /** Rejects with the first failure of a worker: what a caller of setup.stripes awaits beside them. */
  readonly failed = new Promise<never>((_resolve, reject) => { this.rejectFailed = reject })
  /** data buffers the workers gave back, for reuse */
  readonly spare: Uint8Array[] = []

  constructor (n: number, private readonly setup: WorkerSetup, private readonly where: string) {
    this.failed.catch(() => {}) // jobs report failures themselves
    const url = new URL('./hash-worker.js', import.meta.url)
    for (let i = 0; i < n; i++) {
      const worker = new Worker(url, { workerData: setup })
      const slot = i
      worker.on('message', (r: WorkerReply) => this.reply(r, slot))
      worker.on('error', (e: Error) => this.fail(e))
      worker.on('exit', () => { if (!this.closing) this.fail(new Error('hash worker exited')) })
      this.slots.push({ worker, busy: 0, ready: false })
    }
  }

  get size (): number { return this.slots.length }

  /**
   * Queue a job. Jobs are posted only to workers that have started, at most
   * JOBS_PER_WORKER each; the rest wait here and go to whichever worker is free first,
   * so a worker that the scheduler slows down takes fewer stripes instead of holding
   * up the end.
   */
  submit (job: Omit<WorkerJob, 'id'>): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot: -1 })
      this.queue.push({ ...job, id })
      this.pump()
    })
  }

  private pump (): void {
    while (this.queue.length > 0) {
      let slot = -1
      for (let i = 0; i < this.slots.length; i++) {
        if (this.slots[i].ready && (slot < 0 || this.slots[i].busy < this.slots[slot].busy)) slot = i
      }
      if (slot < 0 || this.slots[slot].busy >= JOBS_PER_WORKER) return
      const job = this.queue.shift() as WorkerJob
      const p = this.pending.get(job.id)
      if (!p) continue
      p.slot = slot
      this.slots[slot].busy++
      this.slots[slot].worker.postMessage(job, job.data ? [job.data.buffer as ArrayBuffer] : [])
    }
  }

  private reply (r: WorkerReply, slot: number): void {
    if (r.id === READY_ID) { this.slots[slot].ready = true; this.pump(); return }
    if (r.id === SHARED_ID) { this.fail(this.error(r)); return }
    const p = this.pending.get(r.id)
    if (!p) return
    this.pending.delete(r.id)
    this.slots[p.slot].busy--
    this.pump()
    if (r.data) this.spare.push(r.data)
    if (r.error !== undefined) p.reject(this.error(r))
    else p.resolve(r)
  }

  private error (r: WorkerReply): Error {
    return r.code === 'ESHRUNK' || r.code === 'EIO' ? new IOError(r.error ?? '', this.where) : new Error(`hash worker: ${r.error}`)
  }

  private fail (e: Error): void {
    this.failure ??= e
    this.rejectFailed(e)
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
    this.queue.length = 0
  }

  /** Stop the workers; jobs still pending fail with an AbortError. */
  close (): void {
    this.closing = true
    const err = new DOMException('hashing aborted', 'AbortError')
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.queue.length = 0
    if (this.setup.stripes) stopClaims(this.setup.stripes)
    // Not awaited: stopping a worker can take 20 ms, and nothing waits on it. Unref'd,
    // a worker still stopping does not keep the process alive.
    for (const s of this.slots) { s.worker.unref(); void s.worker.terminate() }
  }
}
