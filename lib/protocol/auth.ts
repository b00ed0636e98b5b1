/**
 * Game authentication: HMAC-SHA256 challenge-response on the game key. The
 * verifier sends a random nonce; the prover answers HMAC(key, nonce); the key
 * itself never travels.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NONCE_BYTES = 32;

export const newNonce = (): Uint8Array => randomBytes(NONCE_BYTES);

export function gameProof(key: string, nonce: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(nonce).digest();
}

export function verifyProof(key: string, nonce: Uint8Array, proof: unknown): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== 32) return false;
  return timingSafeEqual(gameProof(key, nonce), proof);
}
