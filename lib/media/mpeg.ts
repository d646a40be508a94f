// MPEG audio frame headers (ISO/IEC 11172-3 §2.4.1.3, 13818-3 and the unofficial
// MPEG 2.5 extension): Layers I, II and III, CBR and VBR. From a 4-byte header we get
// the frame's length and play time, which is all a pacing sink needs.
//
//   bits  field
//   11    sync, all ones
//   2     version: 00 MPEG 2.5, 01 reserved, 10 MPEG 2, 11 MPEG 1
//   2     layer: 01 III, 10 II, 11 I, 00 reserved
//   1     protection bit (0: a 16-bit CRC follows the header)
//   4     bitrate index (0 free format: refused, 15 invalid)
//   2     sample-rate index (3 reserved)
//   1     padding, 1 private
//   2     channel mode (3 mono), 2 mode extension, 1 copyright, 1 original
//   2     emphasis (2 reserved)
//
// The Xing/Info/VBRI frame a VBR encoder puts first holds no audio (a table of
// contents for seeking): it is dropped, not emitted, since mid-stream in a chained
// radio stream it would describe the wrong file and only add a frame of silence.

import { SyncFrameFormat, type FrameSpec } from './sync-frames.js'

export const MPEG_HEADER_BYTES = 4

const BITRATE_KBPS: Record<string, readonly number[]> = {
  '1-1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '1-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '2-1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  '2-3': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
const SAMPLE_RATE: Record<number, readonly number[]> = {
  3: [44100, 48000, 32000], // MPEG 1
  2: [22050, 24000, 16000], // MPEG 2
  0: [11025, 12000, 8000], // MPEG 2.5
}

export interface MpegHeader {
  /** 1, 2 or 2.5 */
  version: number
  layer: 1 | 2 | 3
  bitrateKbps: number
  sampleRate: number
  channels: 1 | 2
  samples: number
  frameBytes: number
  crc: boolean
}

/** Parse a frame header at buf[0]; null when the 4 bytes are not a valid header (or fewer than 4). */
export function parseMpegHeader (buf: Buffer): MpegHeader | null {
  if (buf.length < 4 || buf[0] !== 0xff || (buf[1] & 0xe0) !== 0xe0) return null
  const v = (buf[1] >> 3) & 3
  const l = (buf[1] >> 1) & 3
  if (v === 1 || l === 0) return null
  const layer = (4 - l) as 1 | 2 | 3
  const bi = buf[2] >> 4
  const si = (buf[2] >> 2) & 3
  if (bi === 0 || bi === 15 || si === 3 || (buf[3] & 3) === 2) return null
  const bitrateKbps = BITRATE_KBPS[`${v === 3 ? 1 : 2}-${layer}`][bi]
  const sampleRate = SAMPLE_RATE[v][si]
  const pad = (buf[2] >> 1) & 1
  let frameBytes: number
  let samples: number
  if (layer === 1) { samples = 384; frameBytes = (Math.floor(12000 * bitrateKbps / sampleRate) + pad) * 4 } else if (layer === 2 || v === 3) { samples = 1152; frameBytes = Math.floor(144000 * bitrateKbps / sampleRate) + pad } else { samples = 576; frameBytes = Math.floor(72000 * bitrateKbps / sampleRate) + pad }
  return {
    version: v === 3 ? 1 : v === 2 ? 2 : 2.5,
    layer,
    bitrateKbps,
    sampleRate,
    channels: (buf[3] >> 6) === 3 ? 1 : 2,
    samples,
    frameBytes,
    crc: (buf[1] & 1) === 0,
  }
}

/** Whether two headers can belong to one stream (what a decoder needs unchanged). */
export function sameMpegStream (a: MpegHeader, b: MpegHeader): boolean {
  return a.version === b.version && a.layer === b.layer && a.sampleRate === b.sampleRate
}

/** Whether a whole Layer III frame is a Xing/Info (LAME) or VBRI (Fraunhofer) header frame. */
export function isVbrInfoFrame (frame: Buffer, h: MpegHeader): boolean {
  if (h.layer !== 3) return false
  const side = h.version === 1 ? (h.channels === 1 ? 17 : 32) : (h.channels === 1 ? 9 : 17)
  const at = MPEG_HEADER_BYTES + side
  const tag = frame.subarray(at, at + 4).toString('latin1')
  return tag === 'Xing' || tag === 'Info' || frame.subarray(36, 40).toString('latin1') === 'VBRI'
}

export const MPEG_FRAMES: FrameSpec<MpegHeader> = {
  name: 'MPEG audio',
  headerBytes: MPEG_HEADER_BYTES,
  parse: parseMpegHeader,
  same: sameMpegStream,
  durationUs: h => h.samples / h.sampleRate * 1e6,
  skip: isVbrInfoFrame,
  info: h => ({ kind: 'mp3', codec: h.layer === 3 ? 'mp3' : `mp${h.layer}`, sampleRate: h.sampleRate, channels: h.channels, bitrateKbps: h.bitrateKbps }),
}

/** MPEG audio frames as media units; the Xing/Info frame is left out. */
export class MpegFormat extends SyncFrameFormat<MpegHeader> {
  constructor () { super(MPEG_FRAMES) }
}
