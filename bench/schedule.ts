// Benchmark: pc-schedule reading a long playlist against rapper(1), Debian's RDF/XML
// parser (the reference reader of the format), on the same file in the same run,
// rounds interleaved. A day and a week of three-minute and twenty-second items, as
// pc-playlist --until lays them out. Prints medians, ratios and peak memory.
//
//   node dist/bench/schedule.js [--rounds 5] [--no-write]
import { writeFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadavg } from 'node:os'
import { formatPlaylist, layout, type Medium } from '../lib/playlist/write.js'
import { median, max, timed } from './proc.js'
import { table, ms, ratio, mib, writeSection } from './report.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PC_SCHEDULE = join(HERE, '..', 'bin', 'pc-schedule.js')
const ROOT = join(HERE, '..', '..')
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, 'no-write': { type: 'boolean', default: false } } })
const ROUNDS = Number(args.rounds)

const START = Date.parse('2026-11-23T00:00:00Z')
const DAY_MS = 86_400_000

function makePlaylist (name: string, days: number, itemMs: number): { path: string, items: number, bytes: number } {
  const media: Medium[] = Array.from({ length: 50 }, (_, i) => ({
    url: `https://radio.example/music/track-${String(i).padStart(3, '0')}.mp3`,
    title: `Track ${i} — an artist & a song`,
    mime: 'audio/mpeg',
    duration: itemMs + i * 7,
    root: (i.toString(16).padStart(2, '0')).repeat(32),
  }))
  const items = layout(media, { start: START, until: START + days * DAY_MS })
  const text = formatPlaylist({ title: 'bench', link: 'https://radio.example/', description: name, date: START }, items)
  const path = `/tmp/pc-bench-schedule-${name}.rss`
  writeFileSync(path, text)
  return { path, items: items.length, bytes: statSync(path).size }
}

const lists = [
  { label: 'a day of 3-min items', ...makePlaylist('day-3min', 1, 180_000) },
  { label: 'a week of 3-min items', ...makePlaylist('week-3min', 7, 180_000) },
  { label: 'a week of 20-s items', ...makePlaylist('week-20s', 7, 20_000) },
]

interface Runner { label: string, cmd: (f: string) => [string, string[]] }
const runners: Runner[] = [
  { label: 'rapper -i rdfxml -o ntriples (reference parse)', cmd: f => ['rapper', ['-q', '-i', 'rdfxml', '-o', 'ntriples', f]] },
  { label: 'pc-schedule --count 1 (on air at mid-week)', cmd: f => [process.execPath, [PC_SCHEDULE, '--at', new Date(START + 3.5 * DAY_MS).toISOString(), '--count', '1', f]] },
  { label: 'pc-schedule (every record)', cmd: f => [process.execPath, [PC_SCHEDULE, '--at', new Date(START).toISOString(), f]] },
  { label: 'node startup alone (for scale)', cmd: () => [process.execPath, ['-e', '']] },
]

const rows: string[][] = []
for (const list of lists) {
  const wall = runners.map(() => [] as number[])
  const cpu = runners.map(() => [] as number[])
  const rss = runners.map(() => [] as number[])
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < runners.length; i++) {
      const [cmd, argv] = runners[i].cmd(list.path)
      const res = await timed(cmd, argv)
      wall[i].push(res.wallMs); cpu[i].push(res.cpuMs); rss[i].push(res.rssBytes)
    }
  }
  const refCpu = median(cpu[0])
  for (let i = 0; i < runners.length; i++) {
    rows.push([`${list.label} (${list.items} items, ${mib(list.bytes)})`, runners[i].label, ms(median(wall[i])), ms(median(cpu[i])), ratio(median(cpu[i]), refCpu), mib(max(rss[i]))])
  }
}

const head = ['playlist', 'run', 'wall (median)', 'CPU (median)', 'CPU ÷ rapper', 'peak RSS']
const out = table(head, rows)
process.stdout.write(out + '\n')
if (!args['no-write']) {
  const body = [
    `\`node dist/bench/schedule.js --rounds ${ROUNDS}\` (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds interleaved, medians; load average at the end ${loadavg()[0].toFixed(1)}; playlists written by lib/playlist-write.ts as pc-playlist --until would).`,
    '',
    out,
    '',
    'Both read the whole file; rapper also writes every triple (to /dev/null), pc-schedule parses, applies the timing rule and writes NDJSON. CPU is user+system time from /usr/bin/time, which a loaded machine disturbs far less than wall time; peak RSS is the kernel\'s maximum resident set.',
  ].join('\n')
  await writeSection(join(ROOT, 'BENCHMARKS.md'), 'schedule', body)
}
