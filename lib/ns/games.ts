/**
 * Game keys (`gameId -> key`) and game auth. The keys stay inside the name
 * server: agents send a nonce and the app's proof, and get back yes or no.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { verifyProof } from '../protocol/auth.js';
import { validateGameId } from '../protocol/names.js';

/** Game id → game key: the games a name server knows (loadGames reads them from a file). */
export type GameKeys = Readonly<Record<string, string>>;

/** Check a `{ "<gameId>": "<key>" }` map: valid game ids, non-empty string keys. */
export function validateGames(value: unknown, source = 'games'): GameKeys {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${source}: expected a JSON object { "<gameId>": "<key>" }`);
  }
  const out: Record<string, string> = {};
  for (const [id, key] of Object.entries(value)) {
    try {
      validateGameId(id);
    } catch (err) {
      throw new TypeError(`${source}: ${(err as Error).message}`);
    }
    if (typeof key !== 'string' || key.length === 0) throw new TypeError(`${source}: the key of game '${id}' must be a non-empty string`);
    out[id] = key;
  }
  return out;
}

/** Read a games file: JSON `{ "<gameId>": "<key>" }`. */
export async function loadGames(file: string): Promise<GameKeys> {
  const text = await readFile(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TypeError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return validateGames(value, file);
}

export class GameAuth {
  private readonly keys: Map<string, string>;
  /** Unknown games are checked against this, so a miss costs the same as a wrong key. */
  private readonly decoy = randomBytes(32).toString('hex');

  constructor(games: GameKeys) {
    this.keys = new Map(Object.entries(validateGames(games)));
  }

  /** Check a proof; `known` says whether the game exists (its id is no secret: every service name of it shows it). */
  verify(game: string, nonce: Uint8Array, proof: Uint8Array): { ok: boolean; known: boolean } {
    const key = this.keys.get(game);
    const ok = verifyProof(key ?? this.decoy, nonce, proof);
    return { ok: ok && key !== undefined, known: key !== undefined };
  }

  get ids(): string[] {
    return [...this.keys.keys()].sort();
  }
}
