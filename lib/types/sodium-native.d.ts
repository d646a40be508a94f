// The part of sodium-native's API this project uses (it ships no types).
declare module 'sodium-native' {
  export const crypto_generichash_BYTES: number
  export const crypto_generichash_BYTES_MIN: number
  export const crypto_generichash_BYTES_MAX: number
  export const crypto_generichash_KEYBYTES: number
  export const crypto_generichash_STATEBYTES: number
  export const crypto_sign_BYTES: number
  export const crypto_sign_PUBLICKEYBYTES: number
  export const crypto_sign_SECRETKEYBYTES: number
  export const crypto_sign_SEEDBYTES: number
  export function crypto_generichash (output: Buffer, input: Buffer, key?: Buffer): void
  export function crypto_generichash_batch (output: Buffer, inputs: Buffer[], key?: Buffer): void
  export function crypto_generichash_init (state: Buffer, key: Buffer | null, outlen: number): void
  export function crypto_generichash_update (state: Buffer, input: Buffer): void
  export function crypto_generichash_final (state: Buffer, output: Buffer): void
  export function crypto_sign_keypair (pk: Buffer, sk: Buffer): void
  export function crypto_sign_seed_keypair (pk: Buffer, sk: Buffer, seed: Buffer): void
  export function crypto_sign_detached (sig: Buffer, msg: Buffer, sk: Buffer): void
  export function crypto_sign_verify_detached (sig: Buffer, msg: Buffer, pk: Buffer): boolean
  export function crypto_sign_ed25519_sk_to_pk (pk: Buffer, sk: Buffer): void
  export function sodium_malloc (size: number): Buffer
  export function sodium_memzero (buf: Buffer): void
  export function randombytes_buf (buf: Buffer): void
}
