// What a container must do so that a player can join its stream mid-item (join.ts
// picks a rule by kind; join-video.ts holds the video containers'): the shared type.
import type { MediaUnit, StreamInfo } from '../media/media.js'

export interface JoinRule {
  /**
   * Take each unit of the item, in input order (headers are flagged `header`);
   * returns the bytes to send for it, which may differ from the input's (Ogg: a link
   * reusing the serial number of the link before gets another).
   */
  take: (u: MediaUnit) => Buffer
  /**
   * The headers a player joining at the last unit taken must get first. The array
   * is replaced, never changed, when the set changes, so a segment can keep it.
   */
  readonly headers: readonly Buffer[]
  /** what to send of the unit a player joins `skipUs` into (it lasts `unitUs`); undefined: the whole unit */
  entry: (unit: Buffer, skipUs: number, unitUs: number, info?: StreamInfo) => Buffer | undefined
  /** a joiner starts at the last unit flagged `key` at or before now (video), not at the unit that covers now */
  readonly keyed?: boolean
  /** the next item of the stream begins (its units follow) */
  newItem?: () => void
  /** what the last take() found worth a warning (a setup that cannot continue the stream), once */
  takeNote?: () => string | undefined
}
