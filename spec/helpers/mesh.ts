/**
 * Real rxmesh processes for integration specs: `rxmesh up`, `rxmesh ns` and
 * `rxmesh agent`, each in its own shm dir and on ephemeral ports. Every
 * process is SIGKILLed when the spec process exits and stops by itself when
 * its parent goes away (--exit-with-parent); shm dirs are removed by
 * cleanupShm().
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Mesh } from '../../lib/index.js';
import { startFixture, type Fixture } from './process.js';
import { tempShmDir } from './shm.js';

export const GAME = 'g';
export const KEY = 'g-key';
export const GAMES: Record<string, string> = { [GAME]: KEY, other: 'other-key' };

export interface Ready {
  ns?: { port: number; httpPort: number };
  agent?: { socket: string; agentId: string };
}

export class MeshProcess {
  constructor(readonly fixture: Fixture, readonly ready: Ready, readonly shmDir: string) {}

  get socket(): string {
    return this.ready.agent!.socket;
  }

  get nsUrl(): string {
    return `ns://127.0.0.1:${this.ready.ns!.port}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.ready.ns!.httpPort}`;
  }

  /** Connect an app to this process's agent. */
  connect(gameId = GAME, password = GAMES[gameId] ?? ''): Promise<Mesh> {
    return connect({ gameId, password, agent: this.socket });
  }

  /** SIGTERM and wait for a clean exit. */
  async stop(): Promise<void> {
    this.fixture.child.kill('SIGTERM');
    await this.fixture.exited;
  }

  kill(): Promise<unknown> {
    return this.fixture.kill();
  }
}

async function start(args: string[], shmDir: string): Promise<MeshProcess> {
  const f = startFixture('lib/cli/main.ts', [...args, '--exit-with-parent']);
  await f.waitFor('"ready"');
  const line = f.stdout.split('\n').find((l) => l.includes('"ready"'))!;
  return new MeshProcess(f, (JSON.parse(line) as { ready: Ready }).ready, shmDir);
}

function gamesFile(): string {
  const file = join(tempShmDir(), 'games.json');
  writeFileSync(file, JSON.stringify(GAMES));
  return file;
}

/** `rxmesh up`: a name server and an agent in one process. */
export function startUp(opts: { leaseTtlMs?: number } = {}): Promise<MeshProcess> {
  const shmDir = tempShmDir();
  return start(['up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--games', gamesFile(), '--lease-ttl', String(opts.leaseTtlMs ?? 3000)], shmDir);
}

/** `rxmesh ns` alone. */
export function startNs(opts: { leaseTtlMs?: number } = {}): Promise<MeshProcess> {
  return start(['ns', '--port', '0', '--http-port', '0', '--games', gamesFile(), '--lease-ttl', String(opts.leaseTtlMs ?? 3000)], '');
}

/** `rxmesh agent` on a registry. */
export function startAgent(registry: string, opts: { id?: string } = {}): Promise<MeshProcess> {
  const shmDir = tempShmDir();
  return start(['agent', '--registry', registry, '--shm-dir', shmDir, ...(opts.id ? ['--id', opts.id] : [])], shmDir);
}
