// How a player joins the stream mid-item: the container-specific part of pacing.
// A joining player first needs the headers that set up its decoder (Ogg: the codec
// header pages of the link being played), then the unit that covers now, cut where
// the container allows (Ogg: the page without its packets already over). The
// timeline feeds a JoinRule each unit in input order; the server asks it what to send.
// A new container (WebM, MPEG-TS, fMP4) implements JoinRule and is picked in joinRule().
import type { MediaKind, StreamInfo } from '../media/media.js'
import { trimOggPage } from '../media/ogg-join.js'

export interface JoinRule {
  /** a unit the parser flagged as a header, in input order */
  header: (bytes: Buffer) => void
  /** a media unit, in input order (ends a run of headers) */
  media: () => void
  /**
   * The headers a player joining at the last unit fed must get first. The array is
   * replaced, never changed, when the set changes: a segment keeps the one in force
   * for its own units.
   */
  readonly headers: readonly Buffer[]
  /** what to send of the unit a player joins `skipUs` into (it lasts `unitUs`); undefined: the whole unit */
  entry: (unit: Buffer, skipUs: number, unitUs: number, info?: StreamInfo) => Buffer | undefined
}

/**
 * Headers come in runs: a run after media units replaces the previous set (the next
 * link of a chained Ogg stream). Media with no headers (MP3, ADTS) keeps an empty set.
 */
class HeaderRuns implements JoinRule {
  headers: readonly Buffer[] = []
  private inRun = false
  constructor (readonly entry: JoinRule['entry']) {}
  header (bytes: Buffer): void {
    this.headers = this.inRun ? [...this.headers, bytes] : [bytes]
    this.inRun = true
  }

  media (): void { this.inRun = false }
}

export function joinRule (kind: MediaKind | undefined): JoinRule {
  if (kind === 'ogg') return new HeaderRuns((page, skipUs, pageUs, info) => trimOggPage(page, skipUs, pageUs, info?.codec))
  return new HeaderRuns(() => undefined)
}
