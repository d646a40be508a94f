#!/usr/bin/env node
// The WebTorrent side of bench/swarm.ts, run as one process per listener, like pc-fetch:
//   node run.js create FILE TRACKER_URL WEBSEED_URL PIECE_BYTES OUT.torrent
//                                           writes the torrent, prints its info-hash
//   node run.js listen FILE.torrent DIR     file bytes in order on stdout; then seeds
//                                           until SIGTERM, when it prints its counters
// Loopback only: no DHT, no local service discovery, no UPnP/NAT-PMP, no uTP, no
// WebRTC; the torrent names only our tracker (create-torrent adds public ones otherwise)
// and the origin as its web seed (BEP 19).
// package.json overrides, both needed for WebTorrent 2.8.5 on Node 20 here:
//   webrtc-polyfill → ./no-webrtc  its native node-datachannel is fetched by an install
//                                   script, which --ignore-scripts skips; we want TCP only
//   uint8-util ~2.2                 2.3's arr2hex throws on the hex string torrent.js
//                                   passes it, so no torrent would ever load
import createTorrent from 'create-torrent'
import parseTorrent from 'parse-torrent'
import WebTorrent from 'webtorrent'
import { readFile, writeFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'

function usage () {
  process.stderr.write('usage: run.js create FILE TRACKER_URL WEBSEED_URL PIECE_BYTES OUT.torrent | run.js listen FILE.torrent DIR\n')
  process.exit(64)
}

async function create ([file, tracker, webseed, piece, out]) {
  if (!file || !tracker || !webseed || !piece || !out) usage()
  const buf = await new Promise((resolve, reject) => createTorrent(file, {
    announceList: [[tracker]],
    urlList: [webseed],
    pieceLength: Number(piece),
    createdBy: 'pc bench',
    creationDate: new Date(0),
  }, (err, t) => err ? reject(err) : resolve(t)))
  await writeFile(out, buf)
  process.stdout.write((await parseTorrent(buf)).infoHash + '\n')
}

async function listen ([torrentFile, dir]) {
  if (!torrentFile || !dir) usage()
  const client = new WebTorrent({ dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false, webSeeds: true })
  client.on('error', (e) => { process.stderr.write(`webtorrent: ${e.message}\n`); process.exitCode = 69 })
  const torrent = client.add(await readFile(torrentFile), { path: dir })
  torrent.on('warning', (e) => { if (process.env.PC_BENCH_DEBUG) process.stderr.write(`webtorrent: warning: ${e.message ?? e}\n`) })
  torrent.on('error', (e) => { process.stderr.write(`webtorrent: torrent: ${e.message ?? e}\n`); process.exitCode = 69 })
  await new Promise(resolve => torrent.once('ready', resolve))
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    let fromWebSeed = 0
    let fromPeers = 0
    for (const w of torrent.wires) {
      if (w.type === 'webSeed') fromWebSeed += w.downloaded
      else fromPeers += w.downloaded
    }
    process.stderr.write(JSON.stringify({ type: 'exit', downloaded: torrent.downloaded, uploaded: torrent.uploaded, fromWebSeed, fromPeers, peers: torrent.numPeers }) + '\n')
    client.destroy(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  try {
    await pipeline(torrent.files[0].createReadStream(), process.stdout)
  } catch (e) {
    if (e.code !== 'EPIPE') { process.stderr.write(`webtorrent: ${e.message}\n`); process.exitCode = 74 }
  }
  // keep seeding for the others until the bench says stop
}

const [cmd, ...args] = process.argv.slice(2)
if (cmd === 'create') await create(args)
else if (cmd === 'listen') await listen(args)
else usage()
