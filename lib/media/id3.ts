// ID3 tags around MPEG audio (and sometimes ADTS): found so they can be left out of
// the stream (titles travel as ICY metadata, and a tag mid-stream upsets decoders).
// ID3v2: id3.org "ID3 tag version 2.4.0 - Main Structure" §3.1; ID3v1: a fixed 128-byte 'TAG' block.

import type { Step } from './format.js'

export const ID3V2_HEADER_BYTES = 10
export const ID3V1_BYTES = 128

/**
 * Total length of an ID3v2 tag starting at buf[0] (header, body, optional footer),
 * null when buf does not start with a valid tag header, undefined when buf is too
 * short to tell.
 */
export function id3v2Length (buf: Buffer): number | null | undefined {
  const n = Math.min(buf.length, 3)
  if (buf.subarray(0, n).toString('latin1') !== 'ID3'.slice(0, n)) return null
  if (buf.length < ID3V2_HEADER_BYTES) return undefined
  // version and revision are never 0xFF; the four size bytes are "syncsafe" (7 bits each)
  if (buf[3] === 0xff || buf[4] === 0xff) return null
  let size = 0
  for (let i = 6; i < 10; i++) {
    if (buf[i] & 0x80) return null
    size = size * 128 + buf[i]
  }
  const footer = (buf[5] & 0x10) !== 0 ? 10 : 0
  return ID3V2_HEADER_BYTES + size + footer
}

export function isId3v1 (buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === 0x54 && buf[1] === 0x41 && buf[2] === 0x47 // 'TAG'
}

/**
 * At a frame boundary of MPEG audio or ADTS: a tag to leave out ('skip'), more bytes
 * needed, or null when buf[0] does not start a tag. `isFrame` tells whether bytes
 * begin a frame header, so an ID3v1 'TAG' is only taken for one where it ends the
 * stream or a frame follows it.
 */
export function tagStep (buf: Buffer, atEnd: boolean, isFrame: (b: Buffer) => boolean): Step | null {
  if (buf.length < 3) {
    if (atEnd || !('ID3'.startsWith(buf.toString('latin1')) || 'TAG'.startsWith(buf.toString('latin1')))) return null
    return { t: 'need', bytes: 3 }
  }
  const v2 = id3v2Length(buf)
  if (v2 === undefined) return atEnd ? null : { t: 'need', bytes: ID3V2_HEADER_BYTES }
  if (v2 !== null) return { t: 'skip', len: v2 }
  if (!isId3v1(buf)) return null
  if (buf.length < ID3V1_BYTES) return atEnd ? null : { t: 'need', bytes: ID3V1_BYTES + 4 }
  const after = buf.subarray(ID3V1_BYTES)
  if (after.length === 0 && atEnd) return { t: 'skip', len: ID3V1_BYTES }
  if (after.length < 4 && !atEnd) return { t: 'need', bytes: ID3V1_BYTES + 4 }
  if (isFrame(after) || id3v2Length(after) || isId3v1(after)) return { t: 'skip', len: ID3V1_BYTES }
  return null
}
