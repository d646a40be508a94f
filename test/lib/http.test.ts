import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { getEventListeners } from 'node:events'
import { fetchUrl, getBody, linkedSignal } from '../../lib/core/http.js'
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

function retainedBytes (): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc(); gc()
  return process.memoryUsage().heapUsed
}

test('a linked signal follows its parent, and not once released', () => {
  const parent = new AbortController()
  const a = linkedSignal(parent.signal)
  const b = linkedSignal(parent.signal)
  b.release()
  parent.abort(new Error('stop'))
  assert.ok(a.signal.aborted)
  assert.is((a.signal.reason as Error).message, 'stop')
  assert.not.ok(b.signal.aborted)
  assert.ok(linkedSignal(parent.signal).signal.aborted, 'a parent aborted already')
  const own = linkedSignal()
  own.abort()
  assert.ok(own.signal.aborted)
})

test('linking to a command-long signal keeps nothing once released: 200,000 links', () => {
  const life = new AbortController()
  const link = (): void => { linkedSignal(life.signal).release() }
  for (let i = 0; i < 1000; i++) link()
  const before = retainedBytes()
  for (let i = 0; i < 200_000; i++) link()
  const after = retainedBytes()
  // AbortSignal.any() here kept ~60 bytes a link in the parent: 12 MB
  assert.ok(after - before < 512 * 1024, `retained ${after - before} bytes more after 200,000 links`)
})

test('fetches with one command-long signal leave no listener on it once their bodies are read or refused', async () => {
  const url = await serve((req, res) => { if (req.url === '/missing') res.writeHead(404); res.end('ok') })
  const life = new AbortController()
  for (let i = 0; i < 50; i++) {
    const res = await fetchUrl(url, { signal: life.signal })
    assert.is(await res.text(), 'ok')
    await fetchUrl(url + 'missing', { signal: life.signal }).then(() => assert.unreachable(), () => {})
    const body = await getBody(url, { signal: life.signal })
    for await (const d of body.chunks) assert.is(d.toString(), 'ok')
  }
  assert.is(getEventListeners(life.signal, 'abort').length, 0)
})

test("the caller's signal still aborts a body after its head arrived, and getBody's", async () => {
  const url = await serve((_req, res) => { res.writeHead(200); res.write('first') })
  const ac = new AbortController()
  const res = await fetchUrl(url, { signal: ac.signal })
  const reading = res.text().then(() => 'ended', (e: Error) => e.name)
  ac.abort()
  assert.is(await reading, 'AbortError')
  const ac2 = new AbortController()
  const body = await getBody(url, { signal: ac2.signal })
  const it = body.chunks[Symbol.asyncIterator]()
  assert.is((await it.next()).value?.toString(), 'first')
  ac2.abort()
  const err = await it.next().then(() => undefined, (e: Error) => e)
  assert.ok(err, 'aborted while waiting for more')
})

test.run()
