// How a player joins the stream mid-item: the container-specific part of pacing.
// A joining player first needs the headers that set up its decoder (Ogg: the codec
// header pages of the link being played), then the unit that covers now, cut where
// the container allows (Ogg: the page without its packets already over). The
// timeline gives a JoinRule each unit in input order and keeps, with each segment,
// the headers in force for it; the server sends those to a player joining there.
// The video containers (join-video.ts) start a joiner at a random-access unit instead.
import type { MediaKind, MediaUnit, StreamInfo } from '../media/media.js'
import { trimOggPage, OggSerials } from '../media/ogg-join.js'
import { TsJoin, MatroskaJoin, Fmp4Join } from './join-video.js'
import type { JoinRule } from './join-rule.js'
export type { JoinRule } from './join-rule.js'


/**
 * Headers come in runs: a run after media units replaces the set before (the next
 * link of a chained Ogg stream). Media with no headers (MP3, ADTS) keeps an empty set.
 */
class HeaderRuns implements JoinRule {
  headers: readonly Buffer[] = []
  private inRun = false
  constructor (readonly entry: JoinRule['entry'], private readonly rewrite: (b: Buffer) => Buffer = b => b) {}

  take (u: MediaUnit): Buffer {
    const bytes = this.rewrite(u.bytes)
    if (u.header) this.headers = this.inRun ? [...this.headers, bytes] : [bytes]
    this.inRun = u.header === true
    return bytes
  }
}

export function joinRule (kind: MediaKind | undefined): JoinRule {
  if (kind === 'ogg') {
    const serials = new OggSerials()
    return new HeaderRuns((page, skipUs, pageUs, info) => trimOggPage(page, skipUs, pageUs, info?.codec), p => serials.page(p))
  }
  if (kind === 'ts') return new TsJoin()
  if (kind === 'matroska') return new MatroskaJoin()
  if (kind === 'fmp4') return new Fmp4Join()
  return new HeaderRuns(() => undefined)
}
