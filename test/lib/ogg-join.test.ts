import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDIA } from '../helpers.js'
import { MediaParser } from '../../lib/media/media.js'
import { readOggPage } from '../../lib/media/ogg.js'
import { trimOggPage, oggPageUs, OggSerials } from '../../lib/media/ogg-join.js'

const units = new MediaParser('ogg').push(readFileSync(join(MEDIA, 'timeline-a.opus'))).filter(u => !u.header && u.durationUs > 0)

test('Opus packet durations from the TOC add up to each page\'s granule delta', () => {
  assert.ok(units.length > 10)
  // not the first (pre-skip) nor the last (end trimming): there the granule says less than the packets
  for (const u of units.slice(1, -1)) {
    const us = oggPageUs(u.bytes, 'opus')
    assert.ok(us !== undefined && Math.abs(us - u.durationUs) < 1000, `page at ${u.offset}: ${us} vs ${u.durationUs}`)
  }
})

test('a trimmed page is a valid page with the same granule and the packets that are not over yet', () => {
  for (const u of units.slice(1, 6)) {
    const skip = u.durationUs * 0.6
    const t = trimOggPage(u.bytes, skip, u.durationUs, 'opus')
    assert.ok(t, `page at ${u.offset} trimmed`)
    const p = readOggPage(t!)
    const orig = readOggPage(u.bytes)
    if (!('body' in orig)) throw new Error(`page at ${u.offset}: the original does not read as a page`)
    if (!('body' in p)) throw new Error(`page at ${u.offset}: the trimmed page fails its CRC or layout check`)
    assert.is(p.granule, orig.granule)
    assert.is(p.serial, orig.serial)
    assert.is(p.seq, orig.seq)
    const left = oggPageUs(t!, 'opus')!
    // what is left starts at or before the skip point, by less than one packet (≤ 60 ms)
    assert.ok(left >= u.durationUs - skip && left < u.durationUs - skip + 60_000, `left ${left} of ${u.durationUs}, skipped ${skip}`)
  }
})

test('nothing to drop: no rewrite', () => {
  assert.is(trimOggPage(units[2].bytes, 0, units[2].durationUs, 'opus'), undefined)
  assert.is(trimOggPage(Buffer.from('not a page'), 5000, 10000, 'opus'), undefined)
})

test('chained links: a link reusing the serial number of the link before gets another, in valid pages', () => {
  const link = new MediaParser('ogg').push(readFileSync(join(MEDIA, 'tone.opus'))).map(u => u.bytes)
  const serials = new OggSerials()
  const first = link.map(p => serials.page(p))
  const second = link.map(p => serials.page(p))
  first.forEach((p, i) => assert.is(p, link[i], 'the first link passes as it is'))
  const s0 = readOggPage(link[0])
  if (!('body' in s0)) throw new Error('not Ogg')
  const out = second.map(p => readOggPage(p))
  for (const p of out) {
    assert.ok('body' in p, 'CRC and layout check out')
    if ('body' in p) assert.is.not(p.serial, s0.serial)
  }
  assert.is(new Set(out.map(p => 'body' in p ? p.serial : -1)).size, 1, 'one serial for the whole link')
  // a third link may take the first link's serial again: only the link before matters
  const third = link.map(p => serials.page(p))
  assert.is(third[0], link[0])
})

test.run()
