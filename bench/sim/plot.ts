// An SVG of origin load and stalled listeners against audience size, one line per mode
// (pc, BitTorrent-like, plain HTTP), log-scaled; written by hand, no dependencies.
import type { Result } from './scenario.js'

const W = 420
const H = 260
const M = { l: 56, r: 16, t: 36, b: 44 }
const COLOURS: Record<string, string> = { pc: '#1b7837', bt: '#d95f02', http: '#7570b3' }
const NAMES: Record<string, string> = { pc: 'pc', bt: 'BitTorrent-like', http: 'plain HTTP' }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

function panel (results: Result[], x0: number, title: string, value: (r: Result) => number, unit: string): string {
  const ns = [...new Set(results.map(r => r.options.listeners))].sort((a, b) => a - b)
  const vs = results.map(value).filter(v => v > 0)
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vs, 1))))
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vs, 1))))
  const nlo = Math.log10(ns[0]) - 0.2
  const nhi = Math.log10(ns[ns.length - 1]) + 0.2
  const x = (n: number): number => x0 + M.l + (Math.log10(n) - nlo) / (nhi - nlo) * (W - M.l - M.r)
  const y = (v: number): number => M.t + (1 - (Math.log10(Math.max(lo, v)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (H - M.t - M.b)
  let s = `<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-size="13">${esc(title)}</text>`
  s += `<line x1="${x0 + M.l}" y1="${H - M.b}" x2="${x0 + W - M.r}" y2="${H - M.b}" stroke="#000"/><line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${H - M.b}" stroke="#000"/>`
  for (let d = Math.log10(lo); d <= Math.log10(hi); d++) {
    const v = Math.pow(10, d)
    s += `<line x1="${x0 + M.l}" y1="${y(v)}" x2="${x0 + W - M.r}" y2="${y(v)}" stroke="#ddd"/><text x="${x0 + M.l - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v >= 1 ? v : v.toPrecision(1)}${unit}</text>`
  }
  for (const n of ns) s += `<text x="${x(n)}" y="${H - M.b + 14}" text-anchor="middle" font-size="10">${n.toLocaleString('en')}</text>`
  s += `<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">listeners</text>`
  for (const mode of Object.keys(COLOURS)) {
    const rs = results.filter(r => r.options.mode === mode).sort((a, b) => a.options.listeners - b.options.listeners)
    if (!rs.length) continue
    s += `<polyline fill="none" stroke="${COLOURS[mode]}" stroke-width="2" points="${rs.map(r => `${x(r.options.listeners).toFixed(1)},${y(value(r)).toFixed(1)}`).join(' ')}"/>`
    for (const r of rs) s += `<circle cx="${x(r.options.listeners).toFixed(1)}" cy="${y(value(r)).toFixed(1)}" r="3" fill="${COLOURS[mode]}"/>`
  }
  return s
}

export function plot (results: Result[], title: string): string {
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 40}" font-family="sans-serif">`
  s += `<rect width="100%" height="100%" fill="#fff"/>`
  s += panel(results, 0, 'origin bytes ÷ item size', r => r.originRatio, '×')
  s += panel(results, W, 'listeners with any stall (%)', r => 100 * r.stalledShare, '')
  let lx = 60
  for (const mode of Object.keys(COLOURS)) {
    if (!results.some(r => r.options.mode === mode)) continue
    s += `<rect x="${lx}" y="${H + 14}" width="14" height="4" fill="${COLOURS[mode]}"/><text x="${lx + 18}" y="${H + 20}" font-size="11">${NAMES[mode]}</text>`
    lx += 130
  }
  s += `<text x="${W}" y="${H + 36}" text-anchor="middle" font-size="10">${esc(title)}</text></svg>\n`
  return s
}
