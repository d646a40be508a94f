// ADTS, the self-framing transport of AAC (ISO/IEC 13818-7 §6.2, 14496-3 §1.A.2):
// each frame carries its own length; each raw data block is 1024 samples.
//
//   bits  field
//   12    sync, all ones
//   1     ID (0 MPEG-4, 1 MPEG-2), 2 layer (always 00), 1 protection_absent
//   2     profile, 4 sampling_frequency_index (13..15 invalid), 1 private
//   3     channel_configuration, 1 original, 1 home
//   1+1   copyright id bit and start
//   13    frame_length, header included
//   11    buffer fullness
//   2     number_of_raw_data_blocks_in_frame, minus one
//   (16   CRC, when protection_absent is 0)

import { SyncFrameFormat, type FrameSpec } from './sync-frames.js'

export const ADTS_HEADER_BYTES = 7
export const SAMPLES_PER_BLOCK = 1024

const SAMPLE_RATE = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

export interface AdtsHeader {
  profile: number
  sampleRate: number
  /** 0: defined in the stream (a program config element) */
  channels: number
  frameBytes: number
  blocks: number
  crc: boolean
}

/** Parse an ADTS header at buf[0]; null when it is not one (or buf is shorter than 7 bytes). */
export function parseAdtsHeader (buf: Buffer): AdtsHeader | null {
  if (buf.length < ADTS_HEADER_BYTES || buf[0] !== 0xff || (buf[1] & 0xf6) !== 0xf0) return null
  const sfi = (buf[2] >> 2) & 0x0f
  if (sfi >= SAMPLE_RATE.length) return null
  const crc = (buf[1] & 1) === 0
  const frameBytes = ((buf[3] & 3) << 11) | (buf[4] << 3) | (buf[5] >> 5)
  if (frameBytes < ADTS_HEADER_BYTES + (crc ? 2 : 0)) return null
  return {
    profile: buf[2] >> 6,
    sampleRate: SAMPLE_RATE[sfi],
    channels: ((buf[2] & 1) << 2) | (buf[3] >> 6),
    frameBytes,
    blocks: (buf[6] & 3) + 1,
    crc,
  }
}

export function sameAdtsStream (a: AdtsHeader, b: AdtsHeader): boolean {
  return a.sampleRate === b.sampleRate && a.profile === b.profile && a.channels === b.channels
}

export const ADTS_FRAMES: FrameSpec<AdtsHeader> = {
  name: 'ADTS',
  headerBytes: ADTS_HEADER_BYTES,
  parse: parseAdtsHeader,
  same: sameAdtsStream,
  durationUs: h => h.blocks * SAMPLES_PER_BLOCK / h.sampleRate * 1e6,
  info: h => ({ kind: 'aac', codec: 'aac', sampleRate: h.sampleRate, channels: h.channels === 7 ? 8 : h.channels || undefined }),
}

/** ADTS frames as media units, with the same sync rules as MpegFormat. */
export class AdtsFormat extends SyncFrameFormat<AdtsHeader> {
  constructor () { super(ADTS_FRAMES) }
}
