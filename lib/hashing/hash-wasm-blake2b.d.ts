// Types for hash-wasm's BLAKE2b-only build (lib/hashing/blake2b.ts): the same
// createBLAKE2b as the package's main entry.
declare module 'hash-wasm/dist/blake2b.umd.min.js' {
  const blake2b: Pick<typeof import('hash-wasm'), 'blake2b' | 'createBLAKE2b'>
  export default blake2b
}
