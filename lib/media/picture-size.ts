// The picture size an elementary video stream declares: an H.264 sequence parameter set
// (ITU-T H.264 §7.3.2.1.1, sizes by §7.4.2.1.1 with the frame cropping of Table 6-1) or an
// MPEG-1/2 sequence header (ISO/IEC 13818-2 §6.2.2.1: 12 bits width, 12 bits height after
// the start code 00 00 01 B3). Enough to tell two items that cannot be one TS stream apart.

export interface PictureSize { width: number, height: number }

/** H.264 profiles whose SPS carries chroma format and bit depths (§7.3.2.1.1) */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135])

/** Exp-Golomb and fixed-width reads over an RBSP; a read past the end throws RangeError. */
class Bits {
  private at = 0
  constructor (private readonly b: Buffer) {}
  u (n: number): number {
    let v = 0
    for (let i = 0; i < n; i++) {
      const byte = this.at >> 3
      if (byte >= this.b.length) throw new RangeError('end of SPS')
      v = v * 2 + ((this.b[byte] >> (7 - (this.at & 7))) & 1)
      this.at++
    }
    return v
  }

  ue (): number {
    let zeros = 0
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code')
    return 2 ** zeros - 1 + this.u(zeros)
  }

  se (): number { const k = this.ue(); return k % 2 ? (k + 1) / 2 : -k / 2 }
}

/** The NAL unit's payload without emulation prevention bytes (00 00 03 → 00 00). */
function rbsp (nal: Buffer): Buffer {
  const out: number[] = []
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0 && out.length >= 2 && out[out.length - 1] === 0 && out[out.length - 2] === 0) continue
    out.push(nal[i])
  }
  return Buffer.from(out)
}

/** Width and height from an H.264 SPS NAL unit (its header byte first); undefined when it is cut short or malformed. */
export function spsSize (nal: Buffer): PictureSize | undefined {
  if (nal.length < 4 || (nal[0] & 0x1f) !== 7) return undefined
  try {
    const r = new Bits(rbsp(nal.subarray(1)))
    const profile = r.u(8)
    r.u(16) // constraint flags, level
    r.ue() // seq_parameter_set_id
    let chroma = 1
    let separate = 0
    if (HIGH_PROFILES.has(profile)) {
      chroma = r.ue()
      if (chroma === 3) separate = r.u(1)
      r.ue(); r.ue(); r.u(1) // bit depths, qpprime_y_zero_transform_bypass
      if (r.u(1)) { // seq_scaling_matrix_present
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
          if (!r.u(1)) continue
          let last = 8; let next = 8
          for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) { next = (last + r.se() + 256) % 256; if (next !== 0) last = next }
        }
      }
    }
    r.ue() // log2_max_frame_num_minus4
    const poc = r.ue()
    if (poc === 0) r.ue()
    else if (poc === 1) {
      r.u(1); r.se(); r.se()
      for (let n = r.ue(), i = 0; i < n; i++) r.se()
    }
    r.ue(); r.u(1) // max_num_ref_frames, gaps_in_frame_num_allowed
    const wMbs = r.ue() + 1
    const hUnits = r.ue() + 1
    const frameOnly = r.u(1)
    if (!frameOnly) r.u(1)
    r.u(1) // direct_8x8_inference
    let crop = [0, 0, 0, 0]
    if (r.u(1)) crop = [r.ue(), r.ue(), r.ue(), r.ue()]
    const arrayType = separate ? 0 : chroma
    const cropX = arrayType === 0 ? 1 : (chroma === 3 ? 1 : 2)
    const cropY = (arrayType === 0 ? 1 : (chroma === 1 ? 2 : 1)) * (2 - frameOnly)
    return { width: wMbs * 16 - cropX * (crop[0] + crop[1]), height: (2 - frameOnly) * hUnits * 16 - cropY * (crop[2] + crop[3]) }
  } catch (e) {
    if (e instanceof RangeError) return undefined
    throw e
  }
}

/**
 * The picture size declared in a run of video elementary stream bytes (the start of a
 * PES payload): the first H.264 SPS or MPEG-1/2 sequence header in it.
 */
export function pictureSize (es: Buffer, codec: string): PictureSize | undefined {
  for (let i = es.indexOf(Buffer.of(0, 0, 1)); i >= 0 && i + 4 < es.length; i = es.indexOf(Buffer.of(0, 0, 1), i + 3)) {
    if ((codec === 'mpeg2video' || codec === 'mpeg1video') && es[i + 3] === 0xb3 && i + 7 <= es.length) {
      return { width: (es[i + 4] << 4) | (es[i + 5] >> 4), height: ((es[i + 5] & 0x0f) << 8) | es[i + 6] }
    }
    if (codec === 'h264' && (es[i + 3] & 0x1f) === 7) {
      const end = es.indexOf(Buffer.of(0, 0, 1), i + 3)
      return spsSize(es.subarray(i + 3, end < 0 ? es.length : end))
    }
  }
  return undefined
}
