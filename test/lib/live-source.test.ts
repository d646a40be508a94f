import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkBasicAuth, ChunkedDecoder, parseAudioInfo, SourceSlot, MAX_CHUNK_LINE_BYTES } from '../../lib/live/source.js'

const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64')

test('credentials: user source and the password; anything else is wrong or missing', () => {
  assert.is(checkBasicAuth(basic('source', 'pw'), 'pw'), 'ok')
  assert.is(checkBasicAuth(basic('source', 'pw2'), 'pw'), 'wrong')
  assert.is(checkBasicAuth(basic('admin', 'pw'), 'pw'), 'wrong')
  assert.is(checkBasicAuth(basic('admin', 'pw'), 'pw', ['source', 'admin']), 'ok')
  assert.is(checkBasicAuth(basic('source', 'p:w'), 'p:w'), 'ok', 'a colon in the password')
  assert.is(checkBasicAuth(undefined, 'pw'), 'missing')
  assert.is(checkBasicAuth('Bearer x', 'pw'), 'wrong')
})

test('ice-audio-info with and without the ice- prefix (butt, libshout)', () => {
  assert.equal(parseAudioInfo('ice-bitrate=128;ice-channels=2;ice-samplerate=44100'), { bitrateKbps: 128, channels: 2, sampleRate: 44100 })
  assert.equal(parseAudioInfo('bitrate=96;samplerate=48000;channels=1'), { bitrateKbps: 96, sampleRate: 48000, channels: 1 })
  assert.equal(parseAudioInfo('samplerate=oops;channels=;junk'), {})
  assert.equal(parseAudioInfo(undefined), {})
})

const BODY = '5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nchunked bod\r\n0\r\nX-Trailer: 1\r\n\r\n'

test('chunked bodies decode the same whole, in random splits and byte by byte', () => {
  for (const step of [BODY.length, 3, 1]) {
    const d = new ChunkedDecoder()
    const out: Buffer[] = []
    for (let i = 0; i < BODY.length; i += step) out.push(...d.push(Buffer.from(BODY.slice(i, i + step))))
    assert.is(Buffer.concat(out).toString(), 'hello chunked bod', `step ${step}`)
    assert.ok(d.done)
  }
})

test('chunked: bad size, missing CRLF and an endless size line throw', () => {
  assert.throws(() => new ChunkedDecoder().push(Buffer.from('zz\r\n')), /bad chunk size/)
  assert.throws(() => new ChunkedDecoder().push(Buffer.from('2\r\nabX\r\n')), /no CRLF/)
  assert.throws(() => new ChunkedDecoder().push(Buffer.alloc(MAX_CHUNK_LINE_BYTES + 2, 0x31)), /too long/)
  assert.throws(() => new ChunkedDecoder().push(Buffer.from('7fffffff\r\n')), /chunk of/)
})

test('the mount: busy while the holder sends, taken over once it is silent', () => {
  let t = 0
  const dropped: string[] = []
  const mk = (name: string): { lastDataMs: number, drop: (w: string) => void } => ({ lastDataMs: t, drop: w => dropped.push(`${name}: ${w}`) })
  const slot = new SourceSlot(2000, () => t)
  const a = mk('a')
  assert.is(slot.claim(a), 'ok')
  t = 1500
  assert.is(slot.claim(mk('b')), 'busy')
  t = 2500
  const c = mk('c')
  assert.is(slot.claim(c), 'takeover')
  assert.equal(dropped, ['a: taken over by a new source connection'])
  assert.not.ok(slot.release(a), 'the old holder no longer frees the mount')
  assert.ok(slot.release(c))
  assert.is(slot.claim(mk('d')), 'ok')
})

test.run()
