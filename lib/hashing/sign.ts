// ed25519 keys and detached signatures (sodium-native). Key files hold lowercase hex:
// NAME is the 64-byte secret key (mode 0600), NAME.pub the 32-byte public key.
// Secret keys live in sodium_malloc memory and are never taken on argv.
import { sodium } from './sodium.js'
import { readFile, writeFile, rm } from 'node:fs/promises'
import { DataError, NoInputError } from '../core/errors.js'

export interface KeyPair { publicKey: Buffer, secretKey: Buffer }

export function generateKeyPair (): KeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}

export async function writeKeyPair (name: string, kp: KeyPair): Promise<void> {
  await writeFile(name, kp.secretKey.toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  try {
    await writeFile(name + '.pub', kp.publicKey.toString('hex') + '\n', { flag: 'wx' })
  } catch (e) {
    await rm(name, { force: true }) // no half pair: a secret key without its .pub
    throw e
  }
}

async function readHexFile (path: string, bytes: number, what: string): Promise<Buffer> {
  let text: string
  try { text = await readFile(path, 'utf8') } catch (e) { throw new NoInputError(`cannot read ${what}: ${(e as NodeJS.ErrnoException).code}`, path) }
  const hex = text.trim()
  if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i').test(hex)) throw new DataError(`not a ${what} (${bytes * 2} hex digits)`, path)
  return Buffer.from(hex, 'hex')
}

export async function readSecretKey (path: string): Promise<Buffer> {
  const plain = await readHexFile(path, sodium.crypto_sign_SECRETKEYBYTES, 'secret key')
  const sk = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES)
  plain.copy(sk)
  sodium.sodium_memzero(plain)
  return sk
}

/** A public key given as a file path or as 64 hex digits. */
export async function readPublicKey (spec: string): Promise<Buffer> {
  if (/^[0-9a-f]{64}$/i.test(spec)) return Buffer.from(spec, 'hex')
  return await readHexFile(spec, sodium.crypto_sign_PUBLICKEYBYTES, 'public key')
}

export function publicKeyOf (sk: Buffer): Buffer {
  const pk = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  sodium.crypto_sign_ed25519_sk_to_pk(pk, sk)
  return pk
}

export function sign (message: Uint8Array, sk: Buffer): Buffer {
  const sig = Buffer.alloc(sodium.crypto_sign_BYTES)
  sodium.crypto_sign_detached(sig, Buffer.from(message), sk)
  return sig
}

export function verify (signature: Uint8Array, message: Uint8Array, pk: Buffer): boolean {
  if (signature.length !== sodium.crypto_sign_BYTES || pk.length !== sodium.crypto_sign_PUBLICKEYBYTES) return false
  return sodium.crypto_sign_verify_detached(Buffer.from(signature), Buffer.from(message), pk)
}

/** Parse a detached signature file: 128 hex digits. */
export function parseSignature (text: string, where: string): Buffer {
  const hex = text.trim()
  if (!/^[0-9a-f]{128}$/i.test(hex)) throw new DataError('not an ed25519 signature (128 hex digits)', where)
  return Buffer.from(hex, 'hex')
}
