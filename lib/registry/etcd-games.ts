/**
 * Game auth on etcd. etcd holds, per game, only the verifier derived from the
 * game key (lib/protocol/auth.ts), never the key: `rxmesh games set` writes
 * it, EtcdRegistry.verifyGame checks proofs against it.
 */
import { randomBytes } from 'node:crypto';
import { gameVerifier, verifyProofWithVerifier } from '../protocol/auth.js';
import { InvalidNameError } from '../protocol/errors.js';
import { connect, type EtcdCallOptions, type EtcdCalls } from './etcd-calls.js';
import { decodeJson, gamePath, type GameValue } from './etcd-keys.js';
import type { EtcdSecurity } from './etcd-security.js';
import type { GameVerdict } from './registry.js';

const GAME_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkGameId(gameId: unknown): string {
  if (typeof gameId !== 'string' || !GAME_ID.test(gameId)) {
    throw new InvalidNameError(`game id '${String(gameId)}' must match [A-Za-z0-9_-]{1,64}`);
  }
  return gameId;
}

/** Store the verifier of `key` for a game (replacing any earlier one). */
export async function putGame(calls: EtcdCalls, gameId: string, key: string): Promise<void> {
  checkGameId(gameId);
  if (!key) throw new TypeError('the game key must not be empty');
  const value: GameValue = { verifier: Buffer.from(gameVerifier(key)).toString('hex') };
  await calls.retrying(() => calls.client.kv.put({ key: Buffer.from(gamePath(gameId)), value: Buffer.from(JSON.stringify(value)) }));
}

/** Connect without a lease, store each game's verifier (game id -> key), disconnect: `rxmesh games set`. */
export async function storeGames(hosts: string[], o: EtcdCallOptions, security: EtcdSecurity, games: Record<string, string>): Promise<void> {
  const calls = connect(hosts, o, security);
  try {
    for (const [gameId, key] of Object.entries(games)) await putGame(calls, gameId, key);
  } finally {
    calls.client.close();
  }
}

/** Unknown games are checked against this, so a miss costs the same as a wrong key. */
const decoy = randomBytes(32);

export async function verifyGame(calls: EtcdCalls, gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict> {
  if (typeof gameId !== 'string' || !GAME_ID.test(gameId)) return 'unknown_game';
  const res = await calls.retrying(() => calls.client.kv.range({ key: Buffer.from(gamePath(gameId)) }));
  const stored = res.kvs[0] ? decodeJson<GameValue>(res.kvs[0].value) : undefined;
  const verifier = typeof stored?.verifier === 'string' && /^[0-9a-f]{64}$/.test(stored.verifier) ? Buffer.from(stored.verifier, 'hex') : undefined;
  const ok = verifyProofWithVerifier(verifier ?? decoy, nonce, proof);
  return verifier === undefined ? 'unknown_game' : ok ? 'ok' : 'wrong_key';
}
