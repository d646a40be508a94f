// Serving what we hold: each peer's requests, lowest index first, read from the store
// and sent through the shared upload limit (--upload-limit), one chunk at a time per peer.
import type { PeerLink } from './link.js'
import type { Swarm } from './swarm.js'

export class Uploads {
  /** chunks being sent right now (close() lets them finish) */
  active = 0

  constructor (private readonly sw: Swarm) {}

  async serve (p: PeerLink): Promise<void> {
    const sw = this.sw
    if (p.serving) return
    p.serving = true
    try {
      while (p.wanted.length && !p.closed && !sw.closed) {
        // lowest index first: peers playing an item want its earlier chunks sooner
        let k = 0
        for (let j = 1; j < p.wanted.length; j++) if (p.wanted[j] < p.wanted[k]) k = j
        const i = p.wanted[k]
        if (!sw.store?.has(i)) { p.wanted.splice(k, 1); p.send({ type: 'reject', index: i }); continue }
        const len = sw.store.length(i)
        await sw.opts.limiter.take(len)
        k = p.wanted.indexOf(i)
        if (k < 0) continue // cancelled while we waited
        p.wanted.splice(k, 1)
        let data: Buffer
        try { data = await sw.store.get(i) } catch { p.send({ type: 'reject', index: i }); continue }
        this.active++
        try { await p.sendPiece(i, data) } finally { this.active-- }
        sw.stats.bytesUploaded += len
        sw.emit('uploaded', len)
      }
    } finally { p.serving = false }
  }
}
