// What every media format module speaks: the stream description, the timed unit, and the
// step a format takes at a unit boundary. media.ts drives the formats through these.

/** audio frames (mp3, aac), pages (ogg), video containers (ts, matroska, fmp4), or plain slices */
export type MediaKind = 'mp3' | 'aac' | 'ogg' | 'ts' | 'matroska' | 'fmp4' | 'other'

export interface StreamInfo {
  kind: MediaKind
  /** mp3 (mp1, mp2 for Layers I and II), aac, vorbis, opus; for containers the
   * streams joined by '+': TS codec names (h264+aac), Matroska CodecIDs (V_VP8+A_OPUS),
   * fMP4 handler types (vide+soun) */
  codec?: string
  sampleRate?: number
  channels?: number
  bitrateKbps?: number
  /** a video container with a video track */
  video?: boolean
  /** Matroska DocType: 'webm' or 'matroska' */
  docType?: string
}

export interface MediaUnit {
  /** byte offset of this unit in the item */
  offset: number
  /** one MPEG/ADTS frame, one Ogg page, a group of TS packets, a Matroska element,
   * an fMP4 box or fragment, or a slice for 'other' */
  bytes: Buffer
  /** play time of this unit; 0 for headers and unknown (the first Ogg page after a gap).
   * TS: the decode-time step to the next unit; Matroska: the media clock's advance since
   * the previous block; fMP4: the fragment's sample durations */
  durationUs: number
  /** an Ogg codec-header page, a container's header (TS PAT/PMT, Matroska EBML header to
   * Tracks, fMP4 ftyp+moov): a joining listener gets these first */
  header?: boolean
  /** a random-access point: a listener given the header units and then this unit and
   * all after it can decode (TS random_access_indicator, a Matroska Cluster that opens
   * with a keyframe, an fMP4 fragment that opens with a sync sample) */
  key?: boolean
  /** for a header unit, the bytes to give a joining listener instead of `bytes` (same
   * length): a Matroska Segment head with its size made unknown */
  joinBytes?: Buffer
  /** a unit that no stream can begin with: a Matroska block, which belongs to the Cluster
   * head before it (a live chunk is cut before any other unit) */
  inner?: boolean
  /** media time at the start of this unit when the format says it exactly (Ogg granule,
   * TS DTS from the first seen, Matroska block timecode, fMP4 tfdt) */
  timeUs?: number
}

/** What a format says about the bytes at a unit boundary (buf[0]). */
export type Step =
  | { t: 'unit', len: number, durationUs: number, header?: boolean, key?: boolean, timeUs?: number, joinBytes?: Buffer, inner?: boolean }
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
