// Reads pc-icecast's input into a Timeline: sniffs whether it is a frame stream or
// plain media bytes, and reads no further while the timeline already reaches far
// enough past now (the read-ahead), which is the backpressure to the writer upstream.
import { FRAME_MAGIC, looksLikeFrames, decodeFrames } from '../frames/frame.js'
import { reorderStream } from '../frames/reorder.js'
import type { Timeline } from './timeline.js'

/**
 * Drive a timeline from an async source, never reading further while the timeline
 * already reaches `readAheadMs` past now (backpressure to the writer upstream).
 */
export async function feedTimeline<T> (input: AsyncIterable<T>, push: (x: T) => void, timeline: Timeline,
  opts: { readAheadMs: number, now: () => number, signal?: AbortSignal }): Promise<void> {
  for await (const x of input) {
    push(x)
    for (;;) {
      if (opts.signal?.aborted) return
      const ahead = timeline.aheadMs(opts.now())
      if (!(ahead > opts.readAheadMs)) break
      await sleepFor(Math.min(ahead - opts.readAheadMs + 5, 1000), opts.signal)
    }
  }
}

function sleepFor (ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

export interface InputOptions {
  readAheadMs: number
  /** reorder window for frame input */
  windowBytes: number
  now: () => number
  warn: (m: string) => void
  /** -v: ranges given up that had played before they were found missing (as late units are said) */
  verbose?: (m: string) => void
  signal?: AbortSignal
  where?: string
}

/**
 * Read the input into the timeline: the frame magic means a frame stream (ordered by
 * the shared Reorderer, which gives up a missing range when the bytes held after it
 * are due to play); anything else is plain media bytes. Ends the timeline at end of
 * input, or, once `signal` aborts, as stopped.
 */
export async function pumpInput (input: AsyncIterable<Buffer>, timeline: Timeline, opts: InputOptions): Promise<void> {
  const it = input[Symbol.asyncIterator]()
  const pre: Buffer[] = []
  let got = 0
  while (got < FRAME_MAGIC.length) {
    const r = await it.next()
    if (r.done) break
    pre.push(r.value); got += r.value.length
  }
  const head = Buffer.concat(pre)
  async function * rest (): AsyncGenerator<Buffer> {
    if (head.length) yield head
    for (;;) { const r = await it.next(); if (r.done) return; yield r.value }
  }
  const feed = { readAheadMs: opts.readAheadMs, now: opts.now, signal: opts.signal }
  if (head.length >= FRAME_MAGIC.length && looksLikeFrames(head)) {
    timeline.plain = false
    const frames = reorderStream(decodeFrames(rest(), opts.where ?? 'stdin'), { windowBytes: opts.windowBytes, deadlineMs: 0, now: opts.now, warn: opts.warn, late: opts.verbose ?? (() => {}), signal: opts.signal })
    await feedTimeline(frames, f => timeline.pushFrame(f), timeline, feed)
  } else {
    timeline.plain = true
    await feedTimeline(rest(), b => timeline.pushPlain(b), timeline, feed)
  }
  timeline.end({ stopped: opts.signal?.aborted })
}
