// Load generator for bench/icecast: N plain HTTP listeners on one mount, opened at a
// steady rate; counts each one's bytes, time to the first body byte, and the rate
// each held over a measurement window. Prints one JSON object on stdout.
//   node dist/bench/icecast-listeners.js HOST PORT PATH N RAMP_PER_S WARM_MS HOLD_MS
import { connect, type Socket } from 'node:net'

const [host, portS, path, nS, rampS, warmS, holdS] = process.argv.slice(2)
const port = Number(portS); const n = Number(nS); const ramp = Number(rampS)
const warmMs = Number(warmS); const holdMs = Number(holdS)

interface L { s: Socket, t0: number, head: boolean, buf: Buffer, bytes: number, ttfb?: number, status?: number, closed: boolean, atStart: number }
const ls: L[] = []
let failed = 0

function open (): void {
  const l: L = { s: connect({ host, port }), t0: performance.now(), head: false, buf: Buffer.alloc(0), bytes: 0, closed: false, atStart: 0 }
  ls.push(l)
  l.s.on('connect', () => l.s.write(`GET ${path} HTTP/1.0\r\nHost: ${host}:${port}\r\nUser-Agent: pc-bench\r\n\r\n`))
  l.s.on('data', (d: Buffer) => {
    if (!l.head) {
      l.buf = Buffer.concat([l.buf, d])
      const i = l.buf.indexOf('\r\n\r\n')
      if (i < 0) return
      l.head = true
      l.status = Number(/^HTTP\/1\.\d (\d+)/.exec(l.buf.toString('latin1'))?.[1] ?? 0)
      d = l.buf.subarray(i + 4)
      l.buf = Buffer.alloc(0)
    }
    if (d.length && l.ttfb === undefined) l.ttfb = performance.now() - l.t0
    l.bytes += d.length
  })
  l.s.on('error', () => { failed++ })
  l.s.on('close', () => { l.closed = true })
}

async function main (): Promise<void> {
  const start = performance.now()
  for (let i = 0; i < n; i++) {
    const due = start + i * 1000 / ramp
    const wait = due - performance.now()
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
    open()
  }
  await new Promise(resolve => setTimeout(resolve, warmMs))
  const w0 = performance.now()
  for (const l of ls) l.atStart = l.bytes
  process.stderr.write('window\n')
  await new Promise(resolve => setTimeout(resolve, holdMs))
  const secs = (performance.now() - w0) / 1000
  const out = {
    n,
    ok: ls.filter(l => l.status === 200).length,
    refused: ls.filter(l => l.status !== undefined && l.status !== 200).length,
    failed,
    closedEarly: ls.filter(l => l.closed).length,
    ttfbMs: ls.map(l => l.ttfb ?? -1),
    rates: ls.map(l => l.closed ? 0 : (l.bytes - l.atStart) / secs),
    windowS: secs,
  }
  for (const l of ls) l.s.destroy()
  process.stdout.write(JSON.stringify(out) + '\n')
}

void main()
