// What every command and man page owes the user: --help on stdout, --version, a
// usage error for an unknown option, and a man page whose OPTIONS match --help.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT, run, killChildren } from '../helpers.js'

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string, bin: Record<string, string>, man: string[] }

function helpOptions (help: string): Set<string> {
  const s = new Set<string>()
  for (const m of help.matchAll(/^\s+(?:-\w, )?\s*--([a-z0-9-]+)/gm)) s.add(m[1])
  return s
}

function manOptions (page: string): Set<string> {
  const sec = /^\.Sh OPTIONS$([\s\S]*?)^\.Sh /m.exec(page)
  const s = new Set<string>()
  if (!sec) return s
  for (const line of sec[1].split('\n')) {
    if (!line.startsWith('.It ')) continue
    for (const m of line.matchAll(/Fl \\?-([a-z0-9-]+)/g)) s.add(m[1])
  }
  return s
}

test.after.each(() => killChildren())

for (const name of Object.keys(pkg.bin)) {
  test(`${name} --help prints usage on stdout and exits 0`, async () => {
    const r = await run(name, ['--help'])
    assert.is(r.code, 0, r.stderr)
    assert.match(r.stdout.toString(), /^Usage: /)
    assert.is(r.stderr, '')
  })

  test(`${name} --version prints the package version`, async () => {
    const r = await run(name, ['--version'])
    assert.is(r.code, 0)
    assert.is(r.stdout.toString(), `${name} ${pkg.version}\n`)
  })

  test(`${name} rejects an unknown option with exit 64 and the usage line`, async () => {
    const r = await run(name, ['--no-such-option'])
    assert.is(r.code, 64)
    assert.is(r.stdout.length, 0)
    assert.match(r.stderr, /unknown option '--no-such-option'/)
    assert.match(r.stderr, new RegExp(`Usage: ${name} `))
  })

  test(`man page of ${name} lists exactly the options of --help`, async () => {
    const page = join(ROOT, 'man', `${name}.1`)
    assert.ok(existsSync(page), `missing ${page}`)
    const r = await run(name, ['--help'])
    const fromHelp = helpOptions(r.stdout.toString())
    const fromMan = manOptions(readFileSync(page, 'utf8'))
    // both parsed, or two empty sets would be equal
    assert.ok(fromHelp.has('help') && fromHelp.has('version'), `no options parsed from --help: ${r.stdout.toString()}`)
    assert.ok(fromMan.size > 0, `no options parsed from the OPTIONS section of ${page}`)
    assert.equal([...fromMan].sort(), [...fromHelp].sort())
  })
}

test('every man page exists and mandoc finds no warning or error in it', () => {
  for (const p of pkg.man) {
    const path = join(ROOT, p)
    assert.ok(existsSync(path), `missing ${p}`)
    const r = spawnSync('mandoc', ['-Tlint', '-W', 'warning', path], { encoding: 'utf8' })
    if (r.error) throw new Error(`cannot run mandoc (scripts/provision.sh installs it): ${r.error.message}`)
    const out = r.stdout + r.stderr
    assert.is(out.trim(), '', `${p}: ${out}`)
    assert.is(r.status, 0, `${p}: mandoc exited ${String(r.status)}`)
  }
})

test.run()
