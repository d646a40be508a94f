import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { allowedBy, Gateway, GatewayError } from '../../lib/tracker/gateway.js'

test('a prefix admits only its own scheme, host, port and path below it', () => {
  const allow = ['https://radio.example/media/', 'http://127.0.0.1:8080']
  const yes = ['https://radio.example/media/a.mp3', 'https://radio.example/media/sub/b.ogg', 'https://RADIO.example:443/media/c.mp3', 'http://127.0.0.1:8080/anything', 'https://radio.example/media/a%20b.mp3']
  const no = [
    'https://radio.example/other/a.mp3', 'http://radio.example/media/a.mp3', 'https://radio.example.evil.net/media/a.mp3',
    'https://radio.example:8443/media/a.mp3', 'https://user:pw@radio.example/media/a.mp3', 'http://127.0.0.1:8081/x',
    'http://127.0.0.1/x', 'file:///etc/passwd', 'not a url', 'https://radio.example/mediafile.mp3',
  ]
  for (const u of yes) assert.ok(allowedBy(allow, u), u)
  for (const u of no) assert.not.ok(allowedBy(allow, u), u)
})

test('a gateway needs a prefix and refuses bad ones', () => {
  assert.throws(() => new Gateway({ allow: [], maxEntries: 1 }), /at least one/)
  assert.throws(() => new Gateway({ allow: ['ftp://x/'], maxEntries: 1 }), /not an http/)
  assert.throws(() => new Gateway({ allow: ['nope'], maxEntries: 1 }), /not a URL prefix/)
})

test('refuses a URL outside the prefixes with 403 before any fetch, and a non-URL with 400', async () => {
  const g = new Gateway({ allow: ['http://127.0.0.1:1/media/'], maxEntries: 4 })
  const status = async (u: string): Promise<number> => { try { await g.tree(u); return 200 } catch (e) { assert.ok(e instanceof GatewayError, String(e)); return (e as GatewayError).status } }
  assert.is(await status('http://169.254.169.254/latest/meta-data/'), 403)
  assert.is(await status('::::'), 400)
  assert.is(await status('http://127.0.0.1:1/media/' + 'a'.repeat(3000)), 414)
  assert.is(await status('http://127.0.0.1:1/media/a.mp3'), 502, 'an unreachable origin is a bad gateway')
  assert.is(g.stats().fetches, 1)
})

test.run()
