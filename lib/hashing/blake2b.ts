// BLAKE2b for the hash trees, from hash-wasm (a maintained WebAssembly build of the
// reference C code). libsodium picks its AVX2 compression on any CPU with AVX2, and on
// the AMD EPYC measured here that runs at ~0.55 GB/s a core where scalar 64-bit code
// runs at ~0.8–1.1 GB/s; node:crypto's OpenSSL 3.0 only has BLAKE2b-512, and BLAKE2b-256
// is not BLAKE2b-512 cut short (the length is in the parameter block). BENCHMARKS.md `## hash`.
import type { IHasher } from 'hash-wasm'
// The package's BLAKE2b-only build (16 KB, the one its README offers for a page): the
// main entry carries every algorithm it has as WebAssembly in base64 (270 KB), which
// each command and each worker thread parsed at start. A CommonJS module: its exports
// come as the default import. Typed in hash-wasm-blake2b.d.ts.
import hashWasmBlake2b from 'hash-wasm/dist/blake2b.umd.min.js'

const { createBLAKE2b } = hashWasmBlake2b

/** The digest lengths pc uses: 32 (tree nodes, pc-hashtree(5)) and 20 (info-hashes). */
export const DIGEST_BYTES = [20, 32] as const

// created once, before any caller runs: the hashers are then used synchronously
const hashers = new Map<number, IHasher>()
for (const n of DIGEST_BYTES) hashers.set(n, await createBLAKE2b(8 * n))

/** BLAKE2b of the concatenation of `parts`, written into `out`, whose length (20 or 32) is the digest length. */
export function blake2b (out: Uint8Array, parts: Uint8Array[]): void {
  const h = hashers.get(out.length)
  if (h === undefined) throw new RangeError(`BLAKE2b output of ${out.length} bytes (pc uses ${DIGEST_BYTES.join(' or ')})`)
  h.init()
  for (const p of parts) h.update(p)
  out.set(h.digest('binary'))
}
