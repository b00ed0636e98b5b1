/**
 * The agent's shm directory: created 0700, refused while a live agent answers
 * on its socket, and cleared of what a dead agent left (rings, doorbells,
 * socket, pair rings, users' directories); the epoch file stays (incarnation.ts).
 */
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

const LEFTOVER = /^(agent\.(sock|bell)|c\d+\.bell|i\d+\.(tx|rx)|p\d+-\d+\.\d+\.ring|u\d+)$/;

/** @param mode 0700, or 0711 for an agent serving several users (user-dirs.ts) */
export async function prepareShmDir(dir: string, socketPath: string, mode = 0o700): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, mode);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`an agent is already running on ${socketPath}`);
  for (const name of readdirSync(dir)) {
    if (LEFTOVER.test(name)) rmSync(join(dir, name), { force: true, recursive: true });
  }
}
