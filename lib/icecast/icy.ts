// ICY (SHOUTcast/Icecast) in-band metadata: after every `icy-metaint` bytes of audio
// a length byte N, then N×16 bytes of `StreamTitle='…';` padded with NULs. Only for
// clients that asked with `Icy-MetaData: 1`.

/** icecast2's default interval between metadata blocks (its <icy-metadata-interval>) */
export const ICY_METAINT = 16000
/** the length byte counts 16-byte units, so at most 255 of them */
export const ICY_UNIT_BYTES = 16
export const MAX_ICY_UNITS = 255
export const MAX_ICY_BYTES = ICY_UNIT_BYTES * MAX_ICY_UNITS

/** The one-byte block that says "no change". */
export const ICY_EMPTY = Buffer.from([0])

/**
 * Make a value safe inside `Key='value';`. Players (ffmpeg, VLC, mpv) read up to the
 * first `';` and do not unescape, and icecast2 sends quotes as they are; so quotes and
 * backslashes stay literal, the one terminator `';` inside a value is broken up as
 * `' ;`, and control characters (a newline ends the field for some readers) become
 * spaces.
 */
export function escapeIcyValue (v: string): string {
  return v.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/';/g, "' ;")
}

/** Cut a UTF-8 buffer to at most `max` bytes without splitting a character. */
function cutUtf8 (b: Buffer, max: number): Buffer {
  if (b.length <= max) return b
  let n = max
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--
  return b.subarray(0, n)
}

/**
 * Build one metadata block (length byte included) carrying the given fields in
 * order, UTF-8. A value too long for 255 units is shortened at a character boundary.
 */
export function encodeIcyMetadata (fields: Record<string, string>): Buffer {
  const parts: Buffer[] = []
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`${k}='${escapeIcyValue(v)}';`))
  let text = Buffer.concat(parts)
  if (text.length > MAX_ICY_BYTES) {
    // keep the structure valid: shorten the first field's value, which is the title
    const [k, v] = Object.entries(fields)[0]
    const head = Buffer.from(`${k}='`)
    const tail = Buffer.from("';")
    const room = MAX_ICY_BYTES - head.length - tail.length
    const value = cutUtf8(Buffer.from(escapeIcyValue(v)), room)
    text = Buffer.concat([head, value, tail])
  }
  const units = Math.ceil(text.length / ICY_UNIT_BYTES)
  const out = Buffer.alloc(1 + units * ICY_UNIT_BYTES)
  out[0] = units
  text.copy(out, 1)
  return out
}

/** The block for a title (empty title → StreamTitle=''). */
export function titleBlock (title: string | undefined): Buffer {
  return encodeIcyMetadata({ StreamTitle: title ?? '' })
}

/**
 * Parse the text of a metadata block (without the length byte, NUL padding allowed).
 * Lenient: unknown shapes are skipped, never thrown on.
 */
export function parseIcyMetadata (b: Buffer): Record<string, string> {
  const s = b.toString('utf8').replace(/\0+$/, '')
  const out: Record<string, string> = {}
  let i = 0
  while (i < s.length) {
    const eq = s.indexOf('=', i)
    if (eq < 0) break
    const key = s.slice(i, eq).trim()
    let j = eq + 1
    let value = ''
    if (s[j] === "'") {
      // the value runs to the first `';` (or the end): quotes inside stay literal
      const close = s.indexOf("';", j + 1)
      const end = close < 0 ? (s.endsWith("'") && s.length > j + 1 ? s.length - 1 : s.length) : close
      value = s.slice(j + 1, end)
      j = close < 0 ? s.length : close + 2
    } else {
      const semi = s.indexOf(';', j)
      const end = semi < 0 ? s.length : semi
      value = s.slice(j, end)
      j = end + 1
    }
    if (key) out[key] = value
    i = j
  }
  return out
}

/**
 * Per-listener writer state: splits audio at every `metaint` bytes and puts a block
 * there. The block carries the title of the byte that follows it, so the title
 * changes in the stream exactly where the audio of the next item begins (rounded up
 * to the next block), not when the bytes are sent.
 */
export class IcyInterleaver {
  private left: number
  private sentTitle: string | undefined | null = null // null: nothing sent yet
  constructor (readonly metaint: number = ICY_METAINT) { this.left = metaint }

  /** Pieces to write, in order, for `audio` whose bytes belong to an item titled `title`. */
  split (audio: Buffer, title: string | undefined): Buffer[] {
    const out: Buffer[] = []
    let pos = 0
    while (pos < audio.length) {
      if (this.left === 0) {
        out.push(this.block(title))
        this.left = this.metaint
      }
      const n = Math.min(this.left, audio.length - pos)
      out.push(pos === 0 && n === audio.length ? audio : audio.subarray(pos, pos + n))
      pos += n
      this.left -= n
    }
    return out
  }

  private block (title: string | undefined): Buffer {
    if (this.sentTitle !== null && this.sentTitle === title) return ICY_EMPTY
    this.sentTitle = title
    return titleBlock(title)
  }
}

/** Reader side (for tests and tools): strips blocks, reports each metadata change. */
export class IcyReader {
  private left: number
  private metaLeft = -1 // -1: reading audio; else bytes of the block still to read
  private meta: Buffer[] = []
  constructor (readonly metaint: number, private readonly onMeta: (m: Record<string, string>, audioBytes: number) => void) { this.left = metaint }
  audioBytes = 0

  /** Returns the audio bytes of `chunk`. */
  push (chunk: Buffer): Buffer[] {
    const audio: Buffer[] = []
    let i = 0
    while (i < chunk.length) {
      if (this.metaLeft < 0) {
        if (this.left === 0) {
          this.metaLeft = chunk[i] * ICY_UNIT_BYTES
          this.meta = []
          i++
          if (this.metaLeft === 0) { this.metaLeft = -1; this.left = this.metaint }
          continue
        }
        const n = Math.min(this.left, chunk.length - i)
        audio.push(chunk.subarray(i, i + n))
        this.audioBytes += n
        this.left -= n
        i += n
      } else {
        const n = Math.min(this.metaLeft, chunk.length - i)
        this.meta.push(chunk.subarray(i, i + n))
        this.metaLeft -= n
        i += n
        if (this.metaLeft === 0) {
          this.metaLeft = -1
          this.left = this.metaint
          this.onMeta(parseIcyMetadata(Buffer.concat(this.meta)), this.audioBytes)
        }
      }
    }
    return audio
  }
}
