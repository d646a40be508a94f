// pc-icecast --relay against a real icecast2 started here: the source is accepted,
// a listener of icecast2 decodes the stream, and the password is never shown.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { MEDIA, killChildren, waitForOutput, sleep, waitUntil } from '../helpers.js'
import { startIcecast, startIcecast2, get, tool, type Icecast2 } from './icecast-helpers.js'

const MP3 = readFileSync(join(MEDIA, 'tone-cbr.mp3'))
const SECRET = 'pw-s3cret-XYZ'
let ice: Icecast2 | undefined

test.after.each(async () => {
  killChildren()
  await ice?.stop()
  ice = undefined
})

test('icecast2 accepts --relay, its listener decodes the stream and sees the title; the password shows nowhere', async () => {
  ice = await startIcecast2({ sourcePassword: SECRET })
  const ic = await startIcecast(['--title', 'Relayed tone', '--name', 'Relay FM', '--relay', `icecast://source:${SECRET}@127.0.0.1:${ice.port}/relayed`], MP3)
  await waitForOutput(ic.c.stderr!, t => /relay: streaming to icecast:\/\/127\.0\.0\.1:\d+\/relayed/.test(t), 15_000, 'the relay to connect')
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-t', '3', '-i', `http://127.0.0.1:${ice.port}/relayed`, '-f', 'null', '-'])
  assert.is(ff.code, 0, ff.stderr)
  assert.is(ff.stderr, '')
  const st = JSON.parse((await get(ice.port, '/status-json.xsl')).body.toString()).icestats.source
  assert.is(st.server_name, 'Relay FM')
  assert.is(st.server_type, 'audio/mpeg')
  // the title goes through icecast2's metadata call, which may land a moment later
  let title = st.title
  for (let i = 0; i < 30 && title !== 'Relayed tone'; i++) {
    await sleep(100)
    title = JSON.parse((await get(ice.port, '/status-json.xsl')).body.toString()).icestats.source.title
  }
  assert.is(title, 'Relayed tone')
  const page = (await get(ic.port, '/')).body.toString() + (await get(ic.port, '/status-json.xsl')).body.toString()
  assert.match(page, /Relay to icecast:\/\/127\.0\.0\.1:\d+\/relayed: streaming/)
  assert.not.ok(page.includes(SECRET), 'no password on the status page')
  assert.not.ok(ic.stderr().includes(SECRET), 'no password on stderr')
})

test('a wrong password is reported without the password, and retried with backoff', async () => {
  ice = await startIcecast2({ sourcePassword: SECRET })
  const ic = await startIcecast(['--relay', `icecast://source:wrong-${SECRET}@127.0.0.1:${ice.port}/relayed`], MP3)
  const text = await waitForOutput(ic.c.stderr!, t => /relay: .*(401|authentication)/.test(t), 15_000, 'the refusal')
  assert.not.ok(text.includes(SECRET))
  const page = (await get(ic.port, '/')).body.toString()
  assert.match(page, /Relay to icecast:\/\/127\.0\.0\.1:\d+\/relayed: waiting/)
  assert.not.ok(page.includes(SECRET))
})

test('when icecast2 goes away and comes back the relay reconnects', async () => {
  ice = await startIcecast2({ sourcePassword: SECRET })
  const port = ice.port
  const ic = await startIcecast(['--relay', `icecast://source:${SECRET}@127.0.0.1:${port}/relayed`], Buffer.concat([MP3, MP3, MP3]))
  await waitForOutput(ic.c.stderr!, t => /relay: streaming/.test(t), 15_000, 'the relay to connect')
  await ice.stop()
  await waitUntil(() => /connection closed; reconnecting/.test(ic.stderr()), 15_000, 'the relay to notice', 50)
  const before = ic.stderr().length
  ice = await startIcecast2({ sourcePassword: SECRET, port })
  await waitUntil(() => /relay: streaming/.test(ic.stderr().slice(before)), 20_000, 'the relay to reconnect', 50)
  const ff = await tool('ffmpeg', ['-nostdin', '-v', 'error', '-t', '2', '-i', `http://127.0.0.1:${port}/relayed`, '-f', 'null', '-'])
  assert.is(ff.code, 0, ff.stderr)
  assert.not.ok(ic.stderr().includes(SECRET))
})

test('a server that refuses PUT (an Icecast before 2.4) gets the older SOURCE method', async () => {
  const heads: string[] = []
  let body = 0
  const server = createServer(s => {
    let head = ''
    let inBody = false
    s.on('data', (d: Buffer) => {
      if (inBody) { body += d.length; return }
      head += d.toString('latin1')
      const i = head.indexOf('\r\n\r\n')
      if (i < 0) return
      heads.push(head.slice(0, i))
      if (head.startsWith('PUT ')) { s.end('HTTP/1.0 405 Method Not Allowed\r\n\r\n'); return }
      inBody = true
      body += head.length - i - 4
      s.write('HTTP/1.0 200 OK\r\n\r\n')
    })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  try {
    const ic = await startIcecast(['--relay', `icecast://source:${SECRET}@127.0.0.1:${port}/old`], MP3)
    await waitUntil(() => body > 20_000, 20_000, 'stream bytes over SOURCE', 50)
    assert.match(heads[0], /^PUT \/old HTTP\/1\.1/)
    const source = heads.find(h => h.startsWith('SOURCE /old HTTP/1.0'))
    assert.ok(source, heads.join('\n---\n'))
    assert.match(source!, new RegExp(`Authorization: Basic ${Buffer.from(`source:${SECRET}`).toString('base64')}`))
    assert.match(source!, /Content-Type: audio\/mpeg/)
    assert.match(ic.stderr(), /streaming to icecast:\/\/127\.0\.0\.1:\d+\/old \(SOURCE\)/)
    assert.not.ok(ic.stderr().includes(SECRET))
  } finally { server.close() }
})

test.run()
