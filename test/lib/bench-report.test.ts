import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { replaceSection, table, ratio } from '../../bench/report.js'
import { median, cpuSeconds, peakRssBytes } from '../../bench/proc.js'

const doc = '# Benchmarks\n\nIntro.\n\n## hash\n\nold hash\n\n## swarm\n\nold swarm\n| a |\n\n## icecast\n\nkept\n'

test('replaces only its own section and keeps the others byte for byte', () => {
  const out = replaceSection(doc, 'swarm', 'new swarm')
  assert.is(out, '# Benchmarks\n\nIntro.\n\n## hash\n\nold hash\n\n## swarm\n\nnew swarm\n\n## icecast\n\nkept\n')
})

test('replaces a last section up to the end of the file', () => {
  assert.is(replaceSection(doc, 'icecast', 'x'), doc.replace('kept\n', 'x\n'))
})

test('appends a missing section, and starts a missing file with a title', () => {
  assert.is(replaceSection(doc, 'reorder', 'r'), doc + '\n## reorder\n\nr\n')
  assert.is(replaceSection('', 'swarm', 's'), '# Benchmarks\n\n## swarm\n\ns\n')
})

test('does not take a ### subsection for the end of its section', () => {
  const withSub = replaceSection(doc, 'swarm', 'a\n\n### part\n\nb')
  assert.is(replaceSection(withSub, 'swarm', 'c'), replaceSection(doc, 'swarm', 'c'))
})

test('tables, ratios and medians', () => {
  assert.is(table(['a', 'b'], [['1', '2']]), '| a | b |\n|---|---|\n| 1 | 2 |')
  assert.is(ratio(1, 2), '0.50×')
  assert.is(ratio(1, 0), '–')
  assert.is(median([3, 1, 2]), 2)
  assert.is(median([4, 1, 2, 3]), 2.5)
  assert.ok(Number.isNaN(median([])))
})

test('reads CPU time and peak memory of a live process from /proc', () => {
  let x = 0
  for (let i = 0; i < 5e7; i++) x += i
  assert.ok(x > 0)
  const cpu = cpuSeconds(process.pid)
  assert.ok(cpu !== undefined && cpu > 0, String(cpu))
  const rss = peakRssBytes(process.pid)
  assert.ok(rss !== undefined && rss > 1024 * 1024, String(rss))
  assert.is(cpuSeconds(2 ** 22 + 12345), undefined)
})

test.run()
