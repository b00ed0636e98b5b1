/**
 * Agent authentication to the name server (name-server protocol 2). Both
 * sides hold the mesh secret; the proofs use a key derived per agent id,
 * `HMAC-SHA256(secret, 'rxmesh-agent-key/v1' | 0 | agentId)`, so a proof for
 * one agent id is worth nothing for another and the agent id a lease is bound
 * to is the one that was proved.
 *
 *   agent -> ns  CHALLENGE {v, vmin}                     -> {v, nonce: sN}
 *   agent -> ns  HELLO {agentId, address, leaseId?, ttlMs?, nonce: sA,
 *                       proof: HMAC(k, 'hello' | sN | sA | agentId | address | leaseId)}
 *                -> {leaseId, ttlMs, resumed, uptimeMs, v,
 *                    proof: HMAC(k, 'welcome' | sA | sN | agentId | leaseId)}
 *
 * The agent checks the answer's proof, so it knows it talks to a name server
 * that holds the secret (a name server that does not could hand out records
 * that send its traffic anywhere). Nonces are fresh per connection on both
 * sides, so no proof can be replayed.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NS_NONCE_BYTES = 32;

export const nsNonce = (): Uint8Array => randomBytes(NS_NONCE_BYTES);

/** The key an agent proves with (derived from the mesh secret and its id). */
export function agentKey(secret: string, agentId: string): Buffer {
  return createHmac('sha256', secret).update(`rxmesh-agent-key/v1\0${agentId}`).digest();
}

export interface HelloFacts {
  agentId: string;
  address: string;
  leaseId: string | undefined;
}

/** The agent's proof in HELLO. */
export function helloProof(key: Uint8Array, serverNonce: Uint8Array, agentNonce: Uint8Array, f: HelloFacts): Buffer {
  return createHmac('sha256', key).update('hello').update(serverNonce).update(agentNonce)
    .update(`\0${f.agentId}\0${f.address}\0${f.leaseId ?? ''}`).digest();
}

/** The name server's proof in its HELLO answer. */
export function welcomeProof(key: Uint8Array, agentNonce: Uint8Array, serverNonce: Uint8Array, agentId: string, leaseId: string): Buffer {
  return createHmac('sha256', key).update('welcome').update(agentNonce).update(serverNonce).update(`\0${agentId}\0${leaseId}`).digest();
}

/** Constant-time comparison of a received proof with the expected one. */
export function sameProof(expected: Uint8Array, got: unknown): boolean {
  return got instanceof Uint8Array && got.length === expected.length && timingSafeEqual(expected, got);
}
