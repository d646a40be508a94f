// The listener page of a WebM station in a real browser (issue 11): headless Chromium
// loads the page at / in a frame, plays its <video> element, and reports how far
// currentTime went and any media error. The probe page and its report travel through
// a small HTTP proxy in front of pc-icecast, so the frame is same-origin and readable.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { killChildren, killGroups, startGroup, tempDir, withTimeout } from '../helpers.js'
import { startIcecast, frameStream, get } from './icecast-helpers.js'
import { CLIPS, makeClip, ffprobeSeconds, type VideoClip } from '../lib/media-video-fixtures.js'

/** how long the probe watches the video play */
const WATCH_MS = 6000

const dir = await tempDir('pc-video-page-')
const clip = CLIPS.find(c => c.name === 'vp8-opus.webm') as VideoClip
const path = makeClip(dir.path, clip)
const WEBM = readFileSync(path)
const WEBM_MS = Math.round(ffprobeSeconds(path) * 1000)

let proxy: Server | undefined
test.after.each(async () => {
  killChildren()
  await killGroups()
  proxy?.close(); proxy = undefined
})


test.after(async () => { await dir.remove() })

const PROBE = `<!doctype html><html><body><iframe id="f" src="/" width="400" height="400"></iframe><script>
const report = o => fetch('/report', { method: 'POST', body: JSON.stringify(o) })
document.getElementById('f').onload = async () => {
  const v = document.getElementById('f').contentDocument.querySelector('video')
  if (!v) { report({ errors: ['no <video> on the page'] }); return }
  const errors = []
  v.addEventListener('error', () => errors.push('media error ' + (v.error ? v.error.code + ' ' + v.error.message : '')))
  v.muted = true
  try { await v.play() } catch (e) { errors.push('play(): ' + e.message) }
  const t0 = v.currentTime
  await new Promise(r => setTimeout(r, ${WATCH_MS}))
  report({ t0, t1: v.currentTime, errors, width: v.videoWidth, readyState: v.readyState })
}
</script></body></html>`

interface Report { t0: number, t1: number, errors: string[], width: number, readyState: number }

/** An HTTP proxy to pc-icecast that also answers /probe.html and takes the probe's report. */
async function probeProxy (port: number): Promise<{ port: number, report: Promise<Report> }> {
  let got!: (r: Report) => void
  const report = new Promise<Report>(resolve => { got = resolve })
  proxy = createServer((req, res) => {
    if (req.url === '/probe.html') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(PROBE); return }
    if (req.url === '/report') {
      let body = ''
      req.on('data', (d: Buffer) => { body += d.toString() })
      req.on('end', () => { res.end(); got(JSON.parse(body) as Report) })
      return
    }
    const up = request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, r => { res.writeHead(r.statusCode ?? 502, r.headers); r.pipe(res) })
    up.on('error', () => res.destroy())
    res.on('close', () => up.destroy())
    req.pipe(up)
  })
  await new Promise<void>(resolve => proxy!.listen(0, '127.0.0.1', resolve))
  return { port: (proxy.address() as AddressInfo).port, report }
}

test('chromium plays the WebM station from the page at /: <video>, currentTime advancing, no media error', async () => {
  const now = Date.now()
  const items = [0, 1].map(i => ({ data: WEBM, title: `item ${i}`, startMs: now - 1500 + i * WEBM_MS, durationMs: WEBM_MS, mime: clip.mime }))
  const ic = await startIcecast([], frameStream(items, now))
  assert.match((await get(ic.port, '/')).body.toString(), /<video controls preload="none" src="\/stream"><\/video>/)
  const px = await probeProxy(ic.port)
  const profile = await tempDir('pc-chromium-')
  try {
    startGroup('chromium', ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile.path}`, '--autoplay-policy=no-user-gesture-required',
      `http://127.0.0.1:${px.port}/probe.html`])
    const r = await withTimeout(px.report, 60_000, 'the probe page to report')
    assert.equal(r.errors, [])
    assert.ok(r.width > 0, `a picture (videoWidth ${r.width})`)
    assert.ok(r.t1 - r.t0 > WATCH_MS / 1000 / 2, `currentTime went from ${r.t0} to ${r.t1} in ${WATCH_MS} ms`)
  } finally {
    await killGroups() // Chromium's helpers write to the profile until the whole group is gone
    await profile.remove()
  }
})

test.run()
