// pc-live's directory (lib/live/window.ts) and a restart's view of it (lib/live/resume.ts):
// the manifest names only the newest chunks, every chunk of the window keeps its file and
// its claim, and a restarted run still prunes what the earlier run left.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { LiveWindow, LISTED_CHUNKS, claimFileName, readClaims } from '../../lib/live/window.js'
import { findResumable } from '../../lib/live/resume.js'
import { blake2b, liveInfoHash, streamIdOf } from '../../lib/live/chunk-sign.js'
import { MAX_CLAIM_BYTES, parseManifest } from '../../lib/live/manifest.js'
import type { LiveChunk } from '../../lib/live/chunker.js'
import { tempDir } from '../helpers.js'

const T0 = Date.parse('2026-12-05T03:00:00.000Z')
const CHUNK_MS = 1000
const WINDOW_MS = 8000

function chunk (seq: number): LiveChunk {
  return { seq, startMs: T0 + seq * CHUNK_MS, durationMs: CHUNK_MS, bytes: randomBytes(500), kind: 'mp3', mime: 'audio/mpeg', info: { kind: 'mp3', codec: 'mp3' }, opensHeader: false, key: true, change: seq === 0 }
}

function windowIn (dir: string, nonce: Buffer, clock: { t: number }, previous?: ConstructorParameters<typeof LiveWindow>[0]['previous']): LiveWindow {
  const id = streamIdOf(nonce)
  return new LiveWindow({ dir, mount: '/live', windowMs: WINDOW_MS, chunkMs: CHUNK_MS, stream: { id, nonce, infoHash: liveInfoHash(id) }, now: () => clock.t, previous })
}

async function add (w: LiveWindow, seq: number, clock: { t: number }): Promise<void> {
  const c = chunk(seq)
  clock.t = c.startMs + CHUNK_MS
  await w.add(c, blake2b(c.bytes))
}

async function claimsOnDisk (dir: string): Promise<number[]> {
  return (await readdir(join(dir, 'live'))).flatMap(f => /^\d+\.json$/.test(f) ? [Number(f.split('.')[0])] : []).sort((a, b) => a - b)
}

test('the manifest names the newest chunks; the window keeps every chunk with its claim', async () => {
  const tmp = await tempDir('pc-live-window-')
  try {
    const clock = { t: T0 }
    const w = windowIn(tmp.path, randomBytes(16), clock)
    await w.init()
    for (let seq = 0; seq < 20; seq++) await add(w, seq, clock)
    const m = parseManifest(await readFile(w.manifestPath, 'utf8'), 'live.json')
    assert.equal(m.chunks.map(e => e.seq), [17, 18, 19], `the newest ${LISTED_CHUNKS}`)
    assert.equal(await claimsOnDisk(tmp.path), [12, 13, 14, 15, 16, 17, 18, 19], 'the 8 s window, each chunk with its claim')
    const files = (await readdir(join(tmp.path, 'live'))).sort()
    assert.equal(files, [12, 13, 14, 15, 16, 17, 18, 19].flatMap(q => [`${q}.mp3`, claimFileName(q)]).sort(), 'nothing that left the window')
  } finally { await tmp.remove() }
})

test('restarted: the earlier run\'s whole window is taken up from its claims, and pruned as the show moves on', async () => {
  const tmp = await tempDir('pc-live-window-')
  try {
    const clock = { t: T0 }
    const nonce = randomBytes(16)
    const w = windowIn(tmp.path, nonce, clock)
    await w.init()
    for (let seq = 0; seq < 12; seq++) await add(w, seq, clock)
    const found = await findResumable(w.manifestPath, undefined, clock.t + 500, 60_000)
    assert.ok('chunks' in found, JSON.stringify(found))
    if (!('chunks' in found)) return
    assert.is(found.nextSeq, 12)
    assert.equal(found.chunks.map(e => e.seq), [4, 5, 6, 7, 8, 9, 10, 11], 'every chunk of the window, not only those the manifest names')
    // the new run goes on; once the show has moved a window on, nothing of the first run is left
    const w2 = windowIn(tmp.path, nonce, clock, { chunks: found.chunks, headers: found.headers, changes: found.changes })
    await w2.init()
    for (let seq = 12; seq < 16; seq++) await add(w2, seq, clock)
    assert.equal(await claimsOnDisk(tmp.path), [8, 9, 10, 11, 12, 13, 14, 15], 'the first run\'s oldest chunks pruned by the second')
    assert.equal((await readdir(join(tmp.path, 'live'))).length, 16)
  } finally { await tmp.remove() }
})

test('the claims of a directory, oldest first: one unreadable, oversized, not an entry, or of another chunk is left out', async () => {
  const tmp = await tempDir('pc-live-window-')
  try {
    const clock = { t: T0 }
    const w = windowIn(tmp.path, randomBytes(16), clock)
    await w.init()
    for (let seq = 0; seq < 12; seq++) await add(w, seq, clock)
    const dir = join(tmp.path, 'live')
    const seqs = async (signed: boolean, upTo?: number): Promise<number[]> => (await readClaims(dir, signed, upTo)).map(e => e.seq)
    assert.equal(await seqs(false), [4, 5, 6, 7, 8, 9, 10, 11])
    assert.equal(await seqs(false, 9), [4, 5, 6, 7, 8, 9], 'up to chunk 9')
    assert.equal(await seqs(true), [], 'unsigned claims of a signed stream')
    const claim = JSON.parse(await readFile(join(dir, claimFileName(5)), 'utf8')) as Record<string, unknown>
    await writeFile(join(dir, claimFileName(4)), '{"seq": 4, "name": ')
    await writeFile(join(dir, claimFileName(5)), JSON.stringify({ ...claim, title: 'x'.repeat(MAX_CLAIM_BYTES) }))
    await writeFile(join(dir, claimFileName(6)), JSON.stringify({ ...claim, hash: 'not hex' }))
    await writeFile(join(dir, claimFileName(7)), JSON.stringify(claim))
    await writeFile(join(dir, 'notes.json'), JSON.stringify(claim))
    assert.equal(await seqs(false), [8, 9, 10, 11], 'truncated, oversized, a bad hash, chunk 5\'s claim as 7.json, not a SEQ.json')
    assert.equal(await readClaims(join(tmp.path, 'none'), false), [], 'no directory')
  } finally { await tmp.remove() }
})

test.run()
