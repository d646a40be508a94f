import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fetchUrl } from '../../lib/core/http.js'
import { NoInputError, UnavailableError } from '../../lib/core/cli.js'

let server: Server | undefined
test.after.each(() => { server?.closeAllConnections(); server?.close(); server = undefined })

async function serve (handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler)
  await new Promise<void>(resolve => server!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

test('the timeout bounds the wait for the head, not a body that keeps flowing', async () => {
  const url = await serve((_req, res) => {
    res.writeHead(200)
    let n = 0
    const t = setInterval(() => { res.write(Buffer.alloc(100)); if (++n === 6) { clearInterval(t); res.end() } }, 100)
  })
  const res = await fetchUrl(url, { timeoutMs: 300 })
  const body = Buffer.from(await res.arrayBuffer())
  assert.is(body.length, 600)
})

test('no head within the timeout is UnavailableError; 404 is NoInputError', async () => {
  const url = await serve((req, res) => { if (req.url === '/missing') { res.writeHead(404); res.end() } })
  const silent = await fetchUrl(url + 'silent', { timeoutMs: 200 }).then(() => undefined, (e: Error) => e)
  assert.ok(silent instanceof UnavailableError && /no answer within 200 ms/.test(silent.message), String(silent))
  const missing = await fetchUrl(url + 'missing').then(() => undefined, (e: Error) => e)
  assert.ok(missing instanceof NoInputError, String(missing))
})

test.run()
