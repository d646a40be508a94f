import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { writeFile, utimes } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { PlaylistSource, SchedulePoller } from '../../lib/playlist/poll.js'
import { tempDir } from '../helpers.js'

const rss = (names: string[]): string => '<?xml version="1.0"?><rdf:RDF xmlns="http://purl.org/rss/1.0/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:mm="http://musicbrainz.org/mm/mm-2.0#"><channel rdf:about="x"><title>t</title></channel>' +
  names.map(n => `<item><link>http://127.0.0.1/${n}.mp3</link><mm:duration>1000</mm:duration></item>`).join('') + '</rdf:RDF>'

test('a playlist read again with the same bytes is not laid out again, whatever its timestamps say', async () => {
  const dir = await tempDir()
  try {
    const list = join(dir.path, 'list.rss')
    await writeFile(list, rss(['a', 'b']))
    const notes: string[] = []
    const source = new PlaylistSource(list, { stdin: Readable.from([]), signal: new AbortController().signal })
    const poller = new SchedulePoller(source, { layout: {}, warn: m => notes.push(m), note: m => notes.push(m) })
    await poller.first()
    // rewritten whole with the same text, as an origin without ETag sends it at every poll
    await writeFile(list, rss(['a', 'b']))
    await utimes(list, new Date(), new Date(Date.now() + 5000))
    assert.is(await poller.reload(), undefined)
    assert.equal(notes, [])
    await writeFile(list, rss(['a', 'c']))
    await utimes(list, new Date(), new Date(Date.now() + 10_000))
    const s = await poller.reload()
    assert.is(s?.kind, 'loop')
    assert.equal(s?.kind === 'loop' && s.items.map(i => i.url.split('/').pop()), ['a.mp3', 'c.mp3'])
    assert.is(notes.length, 1)
    assert.match(notes[0], /new playlist loaded/)
  } finally { await dir.remove() }
})

test.run()
