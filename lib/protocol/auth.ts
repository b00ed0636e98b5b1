/**
 * Game authentication: HMAC-SHA256 challenge-response on the game key. The
 * verifier sends a random nonce; the prover answers HMAC(verifier key, nonce);
 * the key itself never travels.
 *
 * The HMAC key is not the game key itself but a verifier derived from it,
 * `HMAC-SHA256(game key, 'rxmesh-game-verifier/v1')`. A registry can then
 * store only the verifier (etcd does): the game key cannot be read back from
 * it. The verifier is still enough to check (and so to forge) proofs, so it
 * must be kept as private as the registry itself. The derivation does not
 * depend on the game id because apps prove with `gameProof(key, nonce)`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NONCE_BYTES = 32;
/** An HMAC-SHA256. */
export const PROOF_BYTES = 32;

const VERIFIER_CONTEXT = 'rxmesh-game-verifier/v1';

export const newNonce = (): Uint8Array => randomBytes(NONCE_BYTES);

/** The verifier a registry stores for a game key (32 bytes). */
export function gameVerifier(key: string): Uint8Array {
  return createHmac('sha256', key).update(VERIFIER_CONTEXT).digest();
}

/** The prover's answer to `nonce`: HMAC-SHA256(gameVerifier(key), nonce). */
export function gameProof(key: string, nonce: Uint8Array): Uint8Array {
  return proofFromVerifier(gameVerifier(key), nonce);
}

/** Check a proof against the game key. */
export function verifyProof(key: string, nonce: Uint8Array, proof: unknown): boolean {
  return verifyProofWithVerifier(gameVerifier(key), nonce, proof);
}

/** Check a proof against a stored verifier (registries that never see the key). */
export function verifyProofWithVerifier(verifier: Uint8Array, nonce: Uint8Array, proof: unknown): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_BYTES) return false;
  return timingSafeEqual(proofFromVerifier(verifier, nonce), proof);
}

function proofFromVerifier(verifier: Uint8Array, nonce: Uint8Array): Uint8Array {
  return createHmac('sha256', verifier).update(nonce).digest();
}
