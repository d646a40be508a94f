// What every media format module speaks: the stream description, the timed unit, and the
// step a format takes at a unit boundary. media.ts drives the formats through these.

export type MediaKind = 'mp3' | 'aac' | 'ogg' | 'other'

export interface StreamInfo {
  kind: MediaKind
  /** mp3 (mp1, mp2 for Layers I and II), aac, vorbis, opus */
  codec?: string
  sampleRate?: number
  channels?: number
  bitrateKbps?: number
}

export interface MediaUnit {
  /** byte offset of this unit in the item */
  offset: number
  /** one MPEG/ADTS frame, one Ogg page, or a slice for 'other' */
  bytes: Buffer
  /** play time of this unit; 0 for headers and unknown (the first Ogg page after a gap) */
  durationUs: number
  /** an Ogg codec-header page: a joining listener gets these first */
  header?: boolean
  /** media time at the start of this unit when the format says it exactly (Ogg granule) */
  timeUs?: number
}

/** What a format says about the bytes at a unit boundary (buf[0]). */
export type Step =
  | { t: 'unit', len: number, durationUs: number, header?: boolean, timeUs?: number }
  /** bytes to leave out quietly (tags, the Xing frame); len may run past buf */
  | { t: 'skip', len: number }
  /** buf must hold this many bytes before the format can tell */
  | { t: 'need', bytes: number }
  | { t: 'bad', why: string }

export interface UnitFormat {
  /** examine buf[0…]; mutate state only when returning 'unit' or 'skip' */
  step: (buf: Buffer, atEnd: boolean, synced: boolean) => Step
  /** the first index ≥ from where a unit might begin (buf.length if none) */
  resync: (buf: Buffer, from: number) => number
  /** a gap: what came before no longer tells the time of what comes next */
  desync: () => void
  info: () => StreamInfo | undefined
}
