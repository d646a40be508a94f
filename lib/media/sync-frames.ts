// Self-framing audio (MPEG audio frames, ADTS): one sync state machine for both, told
// by a FrameSpec how to read a header. Out of sync (at the start, after garbage or a
// gap) a header is only believed when the next ones check out too; in sync, a header
// like the previous one is enough. ID3 tags are left out.
import type { Step, StreamInfo, UnitFormat } from './format.js'
import { tagStep, id3v2Length, isId3v1 } from './id3.js'

export interface FrameHeader { frameBytes: number }

export interface FrameSpec<H extends FrameHeader> {
  /** for messages: 'MPEG audio', 'ADTS' */
  name: string
  headerBytes: number
  /** a header at b[0], or null */
  parse: (b: Buffer) => H | null
  /** whether two headers can belong to one stream */
  same: (a: H, b: H) => boolean
  durationUs: (h: H) => number
  /** a whole frame that carries no audio and is left out (the Xing/Info frame) */
  skip?: (frame: Buffer, h: H) => boolean
  info: (h: H) => StreamInfo
}

/** out of sync, a frame header is believed only when this many headers after it check out */
export const CONFIRM_FRAMES = 2

/** the next place a frame or tag could start: 0xFF, 'I' or 'T' */
export function nextCandidate (buf: Buffer, from: number): number {
  for (let i = from; i < buf.length; i++) {
    const b = buf[i]
    if (b === 0xff || b === 0x49 || b === 0x54) return i
  }
  return buf.length
}

/**
 * Whether the frame at buf[0] (header h) starts a run of `frames` more frames of the
 * same stream (or the input ends, or a tag follows, exactly at a frame boundary).
 */
export function confirmSync<H extends FrameHeader> (buf: Buffer, atEnd: boolean, h: H, spec: FrameSpec<H>, frames = CONFIRM_FRAMES): true | Step {
  let at = h.frameBytes
  for (let k = 0; k < frames; k++) {
    if (atEnd && buf.length === at) return true
    if (buf.length < at + spec.headerBytes) return atEnd ? { t: 'bad', why: '' } : { t: 'need', bytes: at + spec.headerBytes }
    const after = buf.subarray(at)
    if (id3v2Length(after) || isId3v1(after)) return true
    const next = spec.parse(after)
    if (!next || !spec.same(h, next)) return { t: 'bad', why: '' }
    at += next.frameBytes
  }
  return true
}

/**
 * The first offset in buf[from, limit) where a frame starts a run of `frames` more
 * that agree with it; `atEnd` when buf ends where the file does. Bytes that merely look
 * like one header (in video, in noise) are not a stream.
 */
export function findFrameRun<H extends FrameHeader> (buf: Buffer, from: number, limit: number, spec: FrameSpec<H>, frames: number, atEnd: boolean): { at: number, h: H } | undefined {
  for (let i = from; i < Math.min(limit, buf.length); i++) {
    if (buf[i] !== 0xff) continue
    const b = buf.subarray(i)
    const h = spec.parse(b)
    if (h && confirmSync(b, atEnd, h, spec, frames) === true) return { at: i, h }
  }
  return undefined
}

/** Play time of the whole frames that follow one another from b[0]. */
export function framesUs<H extends FrameHeader> (b: Buffer, spec: FrameSpec<H>): number {
  let us = 0
  for (let i = 0, h = spec.parse(b); h && i + h.frameBytes <= b.length; i += h.frameBytes, h = spec.parse(b.subarray(i))) us += spec.durationUs(h)
  return us
}

/** Frames as media units; see the file comment. */
export class SyncFrameFormat<H extends FrameHeader> implements UnitFormat {
  private ref?: H

  constructor (private readonly spec: FrameSpec<H>) {}

  step (buf: Buffer, atEnd: boolean, synced: boolean): Step {
    const spec = this.spec
    const lost: Step = { t: 'bad', why: `no ${spec.name} frame sync` }
    const tag = tagStep(buf, atEnd, b => spec.parse(b) !== null)
    if (tag) return tag
    if (buf.length < spec.headerBytes) return atEnd || buf[0] !== 0xff ? lost : { t: 'need', bytes: spec.headerBytes }
    const h = spec.parse(buf)
    if (!h) return lost
    if (buf.length < h.frameBytes) return { t: 'need', bytes: h.frameBytes }
    if (!(synced && this.ref && spec.same(this.ref, h))) {
      const c = confirmSync(buf, atEnd, h, spec)
      if (c !== true) return c.t === 'bad' ? lost : c
    }
    this.ref = h
    if (spec.skip?.(buf.subarray(0, h.frameBytes), h)) return { t: 'skip', len: h.frameBytes }
    return { t: 'unit', len: h.frameBytes, durationUs: spec.durationUs(h) }
  }

  resync (buf: Buffer, from: number): number { return nextCandidate(buf, from) }
  desync (): void {}
  info (): StreamInfo | undefined { return this.ref ? this.spec.info(this.ref) : undefined }
}
