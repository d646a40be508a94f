// Bench output: markdown tables for the terminal and BENCHMARKS.md, and replacing one
// `## NAME` section of BENCHMARKS.md while leaving every other section as it was.
import { readFile, writeFile } from 'node:fs/promises'

export function table (head: string[], rows: string[][]): string {
  const out = ['| ' + head.join(' | ') + ' |', '|' + head.map(() => '---').join('|') + '|']
  for (const r of rows) out.push('| ' + r.join(' | ') + ' |')
  return out.join('\n')
}

/** Replace (or append) the section headed `## name`, up to the next `## ` heading. */
export function replaceSection (doc: string, name: string, body: string): string {
  const lines = doc.split('\n')
  const start = lines.findIndex(l => l.trim() === `## ${name}`)
  const section = [`## ${name}`, '', ...body.trimEnd().split('\n'), '']
  if (start < 0) {
    const base = doc.trimEnd()
    return (base ? base + '\n\n' : '# Benchmarks\n\n') + section.join('\n')
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '))
  if (end < 0) end = lines.length
  const rest = lines.slice(end)
  return [...lines.slice(0, start), ...section, ...rest].join('\n').trimEnd() + '\n'
}

export async function writeSection (path: string, name: string, body: string): Promise<void> {
  const doc = await readFile(path, 'utf8').catch(() => '')
  await writeFile(path, replaceSection(doc, name, body))
}

export function ms (x: number): string {
  if (!Number.isFinite(x)) return '–'
  return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`
}

export function ratio (a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–'
  const r = a / b
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`
}

export function mib (bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}
