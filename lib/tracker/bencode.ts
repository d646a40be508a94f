// Bencoding (BEP 3), the encoding of tracker requests' answers. The decoder reads
// untrusted bytes from the network: it never allocates more than the input holds,
// bounds nesting depth, and reports the byte offset of the first fault as a DataError.
//
//   integer  i<decimal>e        no leading zeros, no -0
//   string   <length>:<bytes>   length in decimal, bytes are raw (binary safe)
//   list     l<items>e
//   dict     d<key string><value>...e   keys sorted as raw bytes on output
import { DataError } from '../core/errors.js'

/** Decoded dictionaries keep keys as latin1 strings: one char per byte, lossless. */
export type BValue = number | Buffer | BValue[] | BDict
export type BDict = Map<string, BValue>

/** What encode() accepts: strings are written as UTF-8, objects as dicts. */
export type BEncodable = number | string | Buffer | BEncodable[] | Map<string, BEncodable> | { [key: string]: BEncodable | undefined }

/** Nesting deeper than this is refused: no tracker answer needs more than 4. */
export const MAX_DEPTH = 32
/** Integers are kept as JS numbers; anything outside the safe range is bad data. */
const MAX_INT_DIGITS = 16

export function encode (v: BEncodable): Buffer {
  const parts: Buffer[] = []
  encodeInto(v, parts, 0)
  return Buffer.concat(parts)
}

function encodeInto (v: BEncodable, out: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new RangeError('bencode: nesting too deep')
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`bencode: not a safe integer: ${v}`)
    out.push(Buffer.from(`i${v}e`))
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8')
    out.push(Buffer.from(`${b.length}:`), b)
  } else if (Buffer.isBuffer(v)) {
    out.push(Buffer.from(`${v.length}:`), v)
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'))
    for (const x of v) encodeInto(x, out, depth + 1)
    out.push(Buffer.from('e'))
  } else {
    const entries: [Buffer, BEncodable][] = []
    const src = v instanceof Map ? [...v.entries()] : Object.entries(v)
    for (const [k, x] of src) {
      if (x === undefined) continue
      // Map keys come from decode() (latin1); object keys are written by us (UTF-8).
      entries.push([Buffer.from(k, v instanceof Map ? 'latin1' : 'utf8'), x])
    }
    entries.sort((a, b) => Buffer.compare(a[0], b[0]))
    out.push(Buffer.from('d'))
    for (const [k, x] of entries) {
      out.push(Buffer.from(`${k.length}:`), k)
      encodeInto(x, out, depth + 1)
    }
    out.push(Buffer.from('e'))
  }
}

/** Decode exactly one value filling `buf`; trailing bytes are an error. */
export function decode (buf: Buffer, where = 'bencode'): BValue {
  const d = new Decoder(buf, where)
  const v = d.value(0)
  if (d.pos !== buf.length) d.fail(`${buf.length - d.pos} bytes after the end of the value`)
  return v
}

class Decoder {
  pos = 0
  constructor (readonly buf: Buffer, readonly where: string) {}

  fail (what: string): never { throw new DataError(`${what} at byte ${this.pos}`, this.where) }

  value (depth: number): BValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`)
    if (this.pos >= this.buf.length) this.fail('unexpected end of data')
    const c = this.buf[this.pos]
    if (c === 0x69) return this.integer() // i
    if (c >= 0x30 && c <= 0x39) return this.string()
    if (c === 0x6c) { // l
      this.pos++
      const list: BValue[] = []
      while (this.peek() !== 0x65) list.push(this.value(depth + 1))
      this.pos++
      return list
    }
    if (c === 0x64) { // d
      this.pos++
      const dict: BDict = new Map()
      while (this.peek() !== 0x65) {
        if (!(this.buf[this.pos] >= 0x30 && this.buf[this.pos] <= 0x39)) this.fail('dictionary key is not a string')
        const key = this.string().toString('latin1')
        if (dict.has(key)) this.fail('duplicate dictionary key')
        dict.set(key, this.value(depth + 1))
      }
      this.pos++
      return dict
    }
    return this.fail(`unexpected byte 0x${c.toString(16).padStart(2, '0')}`)
  }

  peek (): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end of data')
    return this.buf[this.pos]
  }

  /** digits up to `stop`, at most MAX_INT_DIGITS of them */
  digits (stop: number): string {
    const start = this.pos
    // Look only as far as the longest number we accept could reach.
    const window = this.buf.subarray(start, start + MAX_INT_DIGITS + 2)
    const rel = window.indexOf(stop)
    if (rel < 0) this.fail(window.length < MAX_INT_DIGITS + 2 ? 'unterminated number' : 'number too long')
    const end = start + rel
    const s = this.buf.toString('latin1', start, end)
    if (!/^(0|-?[1-9]\d*)$/.test(s)) this.fail(`bad number '${s.slice(0, 20)}'`)
    if (s.replace('-', '').length > MAX_INT_DIGITS) this.fail('number too large')
    this.pos = end + 1
    return s
  }

  integer (): number {
    this.pos++
    const n = Number(this.digits(0x65))
    if (!Number.isSafeInteger(n)) { this.pos--; this.fail('integer out of range') }
    return n
  }

  string (): Buffer {
    const at = this.pos
    const len = Number(this.digits(0x3a))
    if (len < 0) { this.pos = at; this.fail('negative string length') }
    // Checked against what is actually there before anything is sliced.
    if (len > this.buf.length - this.pos) { this.pos = at; this.fail(`string length ${len} exceeds the data`) }
    const s = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return s
  }
}

// Typed accessors for decoded dictionaries: undefined when absent or of another type.
export function dictGet (d: BValue | undefined, key: string): BValue | undefined {
  return d instanceof Map ? d.get(key) : undefined
}
export function getInt (d: BValue | undefined, key: string): number | undefined {
  const v = dictGet(d, key)
  return typeof v === 'number' ? v : undefined
}
export function getBytes (d: BValue | undefined, key: string): Buffer | undefined {
  const v = dictGet(d, key)
  return Buffer.isBuffer(v) ? v : undefined
}
export function getString (d: BValue | undefined, key: string): string | undefined {
  return getBytes(d, key)?.toString('utf8')
}
