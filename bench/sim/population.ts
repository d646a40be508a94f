// Who listens: each host's line (upload, download, RTT, loss, NAT), when it tunes in and
// how long it stays, drawn from a seeded generator so every mode of a scenario (pc,
// BitTorrent-like, plain HTTP) meets the same audience. The figures and their sources
// are in README.md; what no source gave is marked there as an assumption.

/** mulberry32: small, fast, seeded */
export class Rng {
  private s: number
  constructor (seed: number) { this.s = seed >>> 0 }
  next (): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  normal (): number {
    const u = Math.max(1e-12, this.next())
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }

  exp (mean: number): number { return -mean * Math.log(Math.max(1e-12, this.next())) }

  poisson (mean: number): number {
    if (mean <= 0) return 0
    if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()))
    const l = Math.exp(-mean)
    let k = 0
    let p = 1
    do { k++; p *= this.next() } while (p > l)
    return k - 1
  }

  bytes (n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256)
    return b
  }
}

const MBIT_PER_S = 1e6 / 8 / 1000 // bytes per ms in one Mbit/s

/** Home lines (README.md "Population"). */
export const HOME = {
  /** upload: log-normal, median 10 Mbit/s, sigma 1.5 (a long tail of lines under 1 Mbit/s), clamped to 0.25..500 Mbit/s */
  upMedianMbps: 10,
  upSigma: 1.5,
  upMinMbps: 0.25,
  upMaxMbps: 500,
  /** download: five times the upload, at least 5 Mbit/s (asymmetric DSL/cable tiers) */
  downFactor: 5,
  downMinMbps: 5,
  /** RTT: log-normal, median 50 ms, clamped to 10..300 ms */
  rttMedianMs: 50,
  rttSigma: 0.7,
  /** packet loss: 0.1 % on most lines, 1 % on one in ten */
  loss: 0.001,
  lossyShare: 0.1,
  lossyLoss: 0.01,
  /** share that accepts no incoming connection (behind a NAT or firewall) */
  natShare: 0.64,
  /** mean session, ms (exponential) */
  sessionMeanMs: 39 * 60_000,
  /** of those who leave, the share that says goodbye (the rest vanish) */
  goodbyeShare: 0.5,
}

/** one listener's line, as the simulated network (net.ts) models it */
export interface HostSpec {
  /** bytes per ms (Infinity: unlimited) */
  upBytesPerMs: number
  downBytesPerMs: number
  /** round trip to a typical other host; a path's RTT is the mean of its two ends' */
  rttMs: number
  /** share of packets lost; each lost segment costs one more RTT */
  loss: number
  /** behind a NAT: accepts no incoming connection */
  nat: boolean
}

export function homeHost (rng: Rng): HostSpec {
  const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x))
  const up = clamp(HOME.upMedianMbps * Math.exp(HOME.upSigma * rng.normal()), HOME.upMinMbps, HOME.upMaxMbps)
  const down = Math.max(HOME.downMinMbps, up * HOME.downFactor)
  const rtt = clamp(HOME.rttMedianMs * Math.exp(HOME.rttSigma * rng.normal()), 10, 300)
  const loss = rng.next() < HOME.lossyShare ? HOME.lossyLoss : HOME.loss
  return { upBytesPerMs: up * MBIT_PER_S, downBytesPerMs: down * MBIT_PER_S, rttMs: rtt, loss, nat: rng.next() < HOME.natShare }
}

/**
 * The loopback bench's machine (BENCHMARKS.md "swarm"): every listener a process on one
 * host, no NAT, no loss. Latency and rate stand for two cores shared by N processes:
 * a few ms between peers, ~10 MB/s a connection (what test/lib/swarm-schedule assumes).
 */
export function loopbackHost (): HostSpec {
  return { upBytesPerMs: 10_000, downBytesPerMs: 100_000, rttMs: 2, loss: 0, nat: false }
}

