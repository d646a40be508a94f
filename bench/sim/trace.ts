// Reading a --trace-origin file: each pc listener's origin requests, one NDJSON line
// each, grouped by chunk, so that a chunk sent more than once says who asked for it, when
// and by which rule (README.md "Outputs").

/** One line of a --trace-origin file (run.ts): the swarm's debug line for an origin request. */
export interface TraceRecord { mode: string, n: number, t: number, listener: number, line: string }

/** What lib/swarm/scheduler.ts scheduleOrigin's debug line says of one origin request. */
export interface OriginRequest { first: number, last: number, overdue: boolean, peers: number, place: number, audience: number, holders: number }

const LINE = /origin chunks (\d+)\.\.(\d+)( \(overdue\))?, (\d+) peers, place (\d+) of (\d+), (\d+) holders$/

/** The records of a --trace-origin file's text; a line that is not JSON is an error, named by its number. */
export function readTrace (text: string): TraceRecord[] {
  const out: TraceRecord[] = []
  text.split('\n').forEach((l, k) => {
    if (l.trim() === '') return
    try { out.push(JSON.parse(l) as TraceRecord) } catch { throw new Error(`trace line ${k + 1}: not JSON`) }
  })
  return out
}

/** The request a traced line tells of, or undefined when it is not one. */
export function parseOriginLine (line: string): OriginRequest | undefined {
  const m = LINE.exec(line)
  if (!m) return undefined
  return { first: Number(m[1]), last: Number(m[2]), overdue: m[3] !== undefined, peers: Number(m[4]), place: Number(m[5]), audience: Number(m[6]), holders: Number(m[7]) }
}

/**
 * Each chunk asked of the origin, with how many times and the first `rows` requests for
 * it: the time, the listener, T (its designated turn, or a listener alone) or O (overdue),
 * its peers, its place in the audience by its own count, and its peers holding the
 * request's first chunk. A line that is not an origin request is an error, named by its
 * place in the file.
 */
export function summarizeTrace (records: TraceRecord[], rows = 12): string {
  const byChunk = new Map<number, Array<{ r: TraceRecord, q: OriginRequest }>>()
  records.forEach((r, k) => {
    const q = parseOriginLine(r.line)
    if (q === undefined) throw new Error(`trace line ${k + 1}: not an origin request: ${r.line}`)
    for (let i = q.first; i <= q.last; i++) {
      const l = byChunk.get(i)
      if (l) l.push({ r, q }); else byChunk.set(i, [{ r, q }])
    }
  })
  const out = [`${records.length} origin requests`]
  for (const i of [...byChunk.keys()].sort((a, b) => a - b)) {
    const asks = byChunk.get(i)!
    out.push(`chunk ${i}: ${asks.length} ${asks.length === 1 ? 'ask' : 'asks'}`)
    for (const { r, q } of asks.slice(0, rows)) {
      out.push(`  t=${(r.t / 1000).toFixed(2).padStart(7)} s  listener ${String(r.listener).padEnd(6)} ${q.overdue ? 'O' : 'T'}  peers ${String(q.peers).padEnd(4)} place ${String(q.place).padEnd(6)} of ${String(q.audience).padEnd(6)} holders ${q.holders}  chunks ${q.first}..${q.last}`)
    }
    if (asks.length > rows) out.push(`  … ${asks.length - rows} more`)
  }
  return out.join('\n') + '\n'
}
