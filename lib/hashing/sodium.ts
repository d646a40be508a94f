// sodium-native, loaded for a quick start. Its own loader (require-addon, which finds the
// addon for Node and Bare alike by resolving package conditions) took ~20 ms of a ~35 ms
// load here, opening the prebuilt binary itself ~4 ms (a bare node loading the package:
// 45 ms of CPU over node's own start before, 26 ms after); twenty listeners start at once.
// When the binary for this platform is where the package installs it, it goes into
// require's cache as sodium-native's binding module before the package loads, so
// index.js, with its argument checks and wrappers, runs as published; else the package's
// own loader runs.
import { createRequire, Module } from 'node:module'
import { existsSync } from 'node:fs'
import { arch, platform } from 'node:os'
import { dirname, join } from 'node:path'
import type * as Sodium from 'sodium-native'

const require = createRequire(import.meta.url)

function preloadBinding (): void {
  // musl systems get another build, which the package's loader knows how to pick
  if (platform() !== 'linux' && platform() !== 'darwin') return
  if (platform() === 'linux' && existsSync('/etc/alpine-release')) return
  let dir: string
  try { dir = dirname(require.resolve('sodium-native/package.json')) } catch { return }
  const binary = join(dir, 'prebuilds', `${platform()}-${arch()}`, 'sodium-native.node')
  const bindingFile = join(dir, 'binding.js')
  if (require.cache[bindingFile] || !existsSync(binary)) return
  let exports: unknown
  try { exports = require(binary) } catch { return }
  const m = new Module(bindingFile)
  m.filename = bindingFile
  m.exports = exports
  m.loaded = true
  require.cache[bindingFile] = m
}

// require(), not import: an ESM import of this CommonJS package first runs Node's
// export lexer over its 3,000-line index.js (~30 ms more per start)
preloadBinding()
export const sodium = require('sodium-native') as typeof Sodium
