// Shared plumbing for the pc-fetch tests: a random test item with its published tree,
// a peer started as a real process whose port is read from its -v line, frame decoding.
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { TreeBuilder, formatTree, type HashTree } from '../../lib/hashing/hashtree.js'
import { FrameDecoder, type Frame } from '../../lib/frames/frame.js'
import { createServer, connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import type { Server as HttpServer } from 'node:http'
import * as assert from 'uvu/assert'
import { encodeHandshake, encodeMessage, WireDecoder, HANDSHAKE_BYTES, type Message } from '../../lib/swarm/wire.js'
import { start, waitForOutput, withTimeout } from '../helpers.js'

export interface TestItem { name: string, data: Buffer, tree: HashTree, root: string }

/** Write NAME (random bytes) and NAME.hashtree into dir. */
export async function makeItem (dir: string, name: string, size: number, chunkSize = 128 * 1024, publishTree = true): Promise<TestItem> {
  const data = randomBytes(size)
  const b = new TreeBuilder(chunkSize)
  b.update(data)
  const tree = b.finish()
  await writeFile(join(dir, name), data)
  if (publishTree) await writeFile(join(dir, name + '.hashtree'), formatTree(tree))
  return { name, data, tree, root: tree.root.toString('hex') }
}

export function record (url: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ url, title: 't', start: '2026-11-22T18:00:00Z', end: '2026-11-22T18:10:00Z', duration: 600000, offset: 0, ...extra }) + '\n'
}

export interface FetchProc { child: ChildProcess, port: number, stdout: () => Buffer, stderr: () => string, exited: Promise<number | null> }

/** Start pc-fetch with -v on 127.0.0.1 and wait for its peer port. */
export async function startFetch (args: string[], input?: string): Promise<FetchProc> {
  const child = start('pc-fetch', ['-v', '--host', '127.0.0.1', '--port', '0', ...args])
  const out: Buffer[] = []
  let err = ''
  child.stdout!.on('data', (d: Buffer) => out.push(d))
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  child.stdin!.on('error', () => {})
  const exited = new Promise<number | null>(resolve => child.on('close', (code) => resolve(code)))
  if (input !== undefined) child.stdin!.end(input)
  const text = await waitForOutput(child.stderr!, t => /listening on [^:]+:\d+/.test(t), 15_000, 'pc-fetch to listen')
  const port = Number(/listening on [^:]+:(\d+)/.exec(text)![1])
  return { child, port, stdout: () => Buffer.concat(out), stderr: () => err, exited }
}

/**
 * A fake peer on 127.0.0.1 that claims every chunk of `item` (a full bitfield; an empty one
 * with `holdsNothing`) and hands each request to `onRequest`, which answers it, or not;
 * `onOpen` is called with each connection once its bitfield is sent, `onMessage` with every
 * message the listener sends after its handshake. Its peer id is `peerId` (default 20
 * bytes of 7: two fake peers in one swarm need ids of their own, or one is a duplicate).
 */
export async function fakePeer (item: TestItem, onRequest: (s: Socket, index: number) => void, onClose?: () => void, opts: { holdsNothing?: boolean, peerId?: Buffer, onOpen?: (s: Socket) => void, onMessage?: (m: Message) => void } = {}): Promise<{ port: number, close: () => void }> {
  const server = createServer((s) => {
    const d = new WireDecoder()
    s.on('error', () => {})
    if (onClose) s.on('close', onClose)
    s.on('data', (b: Buffer) => {
      for (const m of d.push(b)) {
        if (m.type === 'handshake') {
          s.write(encodeHandshake({ infoHash: m.handshake.infoHash, peerId: opts.peerId ?? Buffer.alloc(20, 7), port: 0 }))
          const n = item.tree.leaves.length
          s.write(encodeMessage({ type: 'bitfield', count: n, bits: Buffer.alloc(Math.ceil(n / 8), opts.holdsNothing === true ? 0 : 0xff) }))
          opts.onOpen?.(s)
          continue
        }
        opts.onMessage?.(m)
        if (m.type === 'request') onRequest(s, m.index)
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as { port: number }).port, close: () => server.close() }
}

/** A peer's connection to pc-fetch's `port` for swarm `ih`: resolves with the socket once pc-fetch answers the handshake, or null when it closes it first. */
export async function dialSwarm (port: number, ih: Buffer): Promise<Socket | null> {
  return await new Promise<Socket | null>(resolve => {
    const s = connect(port, '127.0.0.1')
    let got = 0
    const done = (v: Socket | null): void => { clearTimeout(t); resolve(v) }
    const t = setTimeout(() => { s.destroy(); done(null) }, 10_000)
    s.on('error', () => {})
    s.on('connect', () => s.write(encodeHandshake({ infoHash: ih, peerId: randomBytes(20), port: 0 })))
    s.on('data', (b: Buffer) => { got += b.length; if (got >= HANDSHAKE_BYTES) { s.removeAllListeners('data'); s.resume(); done(s) } })
    s.on('close', () => done(null))
  })
}

/** Give every peer `rec` on stdin and wait for all: each must exit 0 having written `item` whole. */
export async function allFetch (peers: FetchProc[], rec: string, item: TestItem, what: string): Promise<void> {
  for (const p of peers) p.child.stdin!.end(rec)
  const codes = await withTimeout(Promise.all(peers.map(p => p.exited)), 50_000, what)
  peers.forEach((p, k) => {
    assert.is(codes[k], 0, `peer ${k}: ${p.stderr()}`)
    assert.ok(p.stdout().equals(item.data), `peer ${k} output differs`)
  })
}

export function decodeAll (b: Buffer): Frame[] {
  const d = new FrameDecoder('test')
  const f = d.push(b)
  d.end()
  return f
}

/** Reassemble an item's bytes from DATA frames; returns the bytes and the GAP ranges. */
export function assemble (frames: Frame[], item = 0): { data: Buffer, gaps: Array<[number, number]>, size: number } {
  const start = frames.find(f => f.type === 'start' && f.item === item)
  const size = start && start.type === 'start' ? start.header.size ?? 0 : 0
  const data = Buffer.alloc(size)
  const gaps: Array<[number, number]> = []
  for (const f of frames) {
    if (f.item !== item) continue
    if (f.type === 'data') f.data.copy(data, f.offset)
    if (f.type === 'gap') gaps.push([f.start, f.end])
  }
  return { data, gaps, size }
}

/**
 * The servers a test starts on 127.0.0.1 and the sockets they accept (keep() them), all
 * closed by close(), after each test.
 */
export class Listening {
  private readonly servers: Array<NetServer | HttpServer> = []
  private readonly sockets = new Set<Socket>()
  /** start `s` on a free port: its port */
  async listen (s: NetServer | HttpServer): Promise<number> {
    this.servers.push(s)
    await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
    return (s.address() as AddressInfo).port
  }

  /** `s` is closed with the servers, unless it closed before */
  keep (s: Socket): void {
    this.sockets.add(s)
    s.on('close', () => this.sockets.delete(s))
  }

  close (): void {
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    for (const s of this.servers.splice(0)) { if ('closeAllConnections' in s) s.closeAllConnections(); s.close() }
  }
}

/** An origin log reader (scripts/origin.js `log`): when each chunk of `path` was first asked of the origin (Date.now()), from its GET lines and their ranges */
export function originAsked (path: string, chunk: number, count: number, asked: number[]): (line: string) => void {
  return (line) => {
    // (the path whole: the item's hash tree is fetched beside it)
    const m = /^GET (\S+) (?:bytes=(\d+)-(\d*))?$/.exec(line)
    if (!m || m[1] !== path) return
    const from = m[2] === undefined ? 0 : Math.floor(Number(m[2]) / chunk)
    const to = m[3] ? Math.floor(Number(m[3]) / chunk) : count - 1
    for (let i = from; i <= to; i++) asked[i] ??= Date.now()
  }
}
