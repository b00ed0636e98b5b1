/**
 * Peer apps in their own processes (spec/helpers/fixtures/peer.ts), for specs
 * that kill a sender or a receiver: start one, wait until it is online, read
 * what it logged, and read the agent's ledger of messages an app had taken
 * when it died (RXMESH_TEST_HOOKS).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFixture, type Fixture } from './process.js';

export interface PeerOptions {
  socket: string;
  service: string;
  userData: string;
  mode: 'log' | 'idle' | 'large';
  spinUs?: number;
  target?: string;
  sizeMiB?: number;
  gameId?: string;
  key?: string;
}

export interface Peer {
  fixture: Fixture;
  localId: number;
  /** Sequence numbers it logged as delivered. */
  delivered(): number[];
}

const started = new Set<Fixture>();

export async function startPeer(o: PeerOptions): Promise<Peer> {
  const fixture = startFixture('spec/helpers/fixtures/peer.ts', [JSON.stringify(o)]);
  started.add(fixture);
  await fixture.waitFor('started ');
  const localId = Number(/started (\d+)/.exec(fixture.stdout)![1]);
  return {
    fixture,
    localId,
    delivered: () => [...fixture.stdout.matchAll(/^D (\d+)$/gm)].map((m) => Number(m[1])),
  };
}

/** SIGKILL every peer this spec file started that still runs (a suite's `after`). */
export async function stopPeers(): Promise<void> {
  await Promise.all([...started].map((f) => f.kill()));
  started.clear();
}

/** Sequence numbers in the agent's ledger (the first 4 payload bytes, u32 LE, of each line's hex). */
export function ledgerSeqs(shmDir: string): number[] {
  const file = join(shmDir, 'taken.ledger');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length >= 8).map((l) => Buffer.from(l.slice(0, 8), 'hex').readUInt32LE(0));
}
