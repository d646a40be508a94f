// Build step after tsc: each command, and the two worker threads, as one file in dist/bin
// (what package.json's bin runs). Loaded as ~25 ES modules, pc-fetch's code cost 56 ms
// of CPU over a bare node start; as one file, 33 ms (bench/startup.ts). Twenty
// listeners of a flash crowd start at once on two cores. The workers are bundled beside the
// commands, so lib/hashing's `new URL('./verify-worker.js', import.meta.url)` finds its worker
// both as dist/lib/hashing/verify-pool.js and inside dist/bin/pc-fetch.js.
// What a command imports only with `await import()` (node-fetch for a URL, sodium-native for
// signatures) is its own file beside it, loaded when needed: bundled into the command, its
// imports of Node's built-ins (http, https, tls, zlib) were loaded at every start, ~20 ms of
// a `pc-hash --root` (BENCHMARKS.md `## hash`). Each entry is built alone, so that the only
// files shared are those lazy parts, not pieces of code common to two commands.
//   node dist/scripts/bundle.js
import { build } from 'esbuild'
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..')
const commands = readdirSync(join(DIST, 'cmd')).filter(f => /^pc-[a-z]+\.js$/.test(f)).map(f => join(DIST, 'cmd', f))
const workers = ['verify-worker.js', 'hash-worker.js'].map(f => join(DIST, 'lib', 'hashing', f))

rmSync(join(DIST, 'bin'), { recursive: true, force: true })
await Promise.all([...commands, ...workers].map(async entry => await build({
  entryPoints: [entry],
  outdir: join(DIST, 'bin'),
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // a native addon: loaded at run time from node_modules (lib/sodium.ts)
  external: ['sodium-native'],
  // the CommonJS dependencies bundled in (minimist, split2) call require() for built-ins
  banner: { js: "import { createRequire as pcCreateRequire } from 'node:module'; const require = pcCreateRequire(import.meta.url);" },
  logLevel: 'warning',
})))
