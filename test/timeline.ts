// Reads the programme position out of decoded timeline audio (media/timeline-*): second
// k of the programme is a tone of BASE_HZ + STEP_HZ·k. The position of the first sample
// is found from the first tone change: if tone k+1 starts t seconds in, the listener
// started at k + 1 − t.
import { spawn } from 'node:child_process'

export const BASE_HZ = 400
export const STEP_HZ = 60
export const SAMPLE_RATE = 16000

/** Decode any media bytes to mono 16 kHz PCM with ffmpeg. */
export function decodeToPcm (media: Buffer): Promise<Int16Array> {
  return new Promise((resolve, reject) => {
    const ff = spawn('ffmpeg', ['-v', 'error', '-i', 'pipe:0', '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 's16le', 'pipe:1'])
    const out: Buffer[] = []
    let err = ''
    ff.stdout.on('data', (d: Buffer) => out.push(d))
    ff.stderr.on('data', (d: Buffer) => { err += d.toString() })
    ff.stdin.on('error', () => {})
    ff.on('error', reject)
    ff.on('close', () => {
      const b = Buffer.concat(out)
      const pcm = new Int16Array(b.buffer, b.byteOffset, Math.floor(b.length / 2))
      if (pcm.length === 0) reject(new Error(`ffmpeg decoded nothing: ${err}`)); else resolve(pcm)
    })
    ff.stdin.end(media)
  })
}

function goertzel (pcm: Int16Array, from: number, n: number, hz: number): number {
  const w = 2 * Math.PI * hz / SAMPLE_RATE
  const c = 2 * Math.cos(w)
  let s1 = 0; let s2 = 0
  for (let i = from; i < from + n; i++) { const s = pcm[i] + c * s1 - s2; s2 = s1; s1 = s }
  return s1 * s1 + s2 * s2 - c * s1 * s2
}

/** The tone index (k) heard in the window starting at sample `from`, or -1 if silent. */
export function toneAt (pcm: Int16Array, from: number, n = 800, maxK = 60): number {
  let best = -1; let bestP = 0; let total = 0
  for (let k = 0; k < maxK; k++) {
    const p = goertzel(pcm, from, n, BASE_HZ + STEP_HZ * k)
    total += p
    if (p > bestP) { bestP = p; best = k }
  }
  return bestP > 0.5 * total && bestP > 1e6 ? best : -1
}

/**
 * The programme position (seconds) of the first decoded sample, or undefined when no
 * tone change is found in the audio. `skipS` ignores leading decoder ramp-up.
 */
export function heardPosition (pcm: Int16Array, maxK = 60): number | undefined {
  const win = 800 // 50 ms
  const hop = 80 // 5 ms
  let prev = -1
  for (let from = 0; from + win <= pcm.length; from += hop) {
    const k = toneAt(pcm, from, win, maxK)
    if (k < 0) continue
    if (prev >= 0 && k === prev + 1) {
      // the window straddles the change; the change is at its middle
      const t = (from + win / 2) / SAMPLE_RATE
      return k - t
    }
    if (k !== prev) prev = k
  }
  return undefined
}
