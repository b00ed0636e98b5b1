/**
 * The five fuzz targets, each as what it needs running (a real `rxmesh up`
 * with the options that target wants, its canary, a victim app or scribbling
 * apps) plus its driver. The specs and bench/fuzz.ts both open targets here,
 * so a seed replays the same way in either.
 */
import { MESH_SECRET } from '../helpers/mesh.js';
import { makeControlCase } from './control-cases.js';
import { ControlDriver } from './control-driver.js';
import { makeHttpCase } from './http-cases.js';
import { makeLinkCase } from './link-cases.js';
import { makeNsCase } from './ns-cases.js';
import { makeRingCase } from './ring-cases.js';
import type { Driver, FuzzCase } from './harness.js';
import { HttpDriver } from './http-driver.js';
import { LinkDriver } from './link-driver.js';
import { NsDriver } from './ns-driver.js';
import { RingDriver } from './ring-driver.js';
import { startFuzzEnv, stopFuzzEnv, type FuzzEnv } from './survival.js';
import { Victim } from './victim.js';

export const TARGETS = ['control', 'ns-tcp', 'ns-http', 'link', 'rings'] as const;
export type TargetName = (typeof TARGETS)[number];

/** Concurrent lanes per target (each lane is one connection or one scribbling app at a time). */
export const LANES: Record<TargetName, number> = { 'control': 4, 'ns-tcp': 4, 'ns-http': 4, 'link': 4, 'rings': 4 };

/** Each target's case generator alone (no processes): for printing cases. */
export const MAKE_CASE: Record<TargetName, (seed: number, index: number) => FuzzCase> = {
  'control': makeControlCase,
  'ns-tcp': makeNsCase,
  'ns-http': makeHttpCase,
  'link': makeLinkCase,
  'rings': makeRingCase,
};

export interface OpenTarget {
  env: FuzzEnv;
  driver: Driver<FuzzCase>;
  /** Extra lines for the report (the victim app's health). */
  extra(): string[];
  stop(): Promise<void>;
}

export async function openTarget(name: TargetName): Promise<OpenTarget> {
  switch (name) {
    case 'control': {
      const env = await startFuzzEnv();
      return plain(env, new ControlDriver(env.proc.socket, () => env.canary.localIds));
    }
    case 'ns-tcp': {
      const env = await startFuzzEnv();
      return plain(env, new NsDriver(env.proc.ready.ns!.port, env.proc.agentId, MESH_SECRET));
    }
    case 'ns-http': {
      const env = await startFuzzEnv();
      return plain(env, new HttpDriver(env.proc.ready.ns!.httpPort));
    }
    case 'link': {
      const env = await startFuzzEnv({ links: true });
      const victim = await Victim.start(env.proc.socket).catch(async (err: Error) => {
        await stopFuzzEnv(env);
        throw err;
      });
      const port = Number(env.proc.linkAddress.slice(env.proc.linkAddress.lastIndexOf(':') + 1));
      const driver = new LinkDriver({ port, secret: MESH_SECRET, victim: () => victim.localId, canary: () => env.canary.localIds });
      return {
        env,
        driver,
        extra: () => [victim.summary()],
        stop: async () => {
          await victim.stop();
          await stopFuzzEnv(env);
        },
      };
    }
    default: {
      // 64 KiB rings: wraps and full rings come often; --full-ms 1000 bounds how long a close may wait
      const env = await startFuzzEnv({ fullMs: 1000, args: ['--ring-bytes', '65536'] });
      const driver = new RingDriver(env.proc.socket, LANES.rings);
      return {
        env,
        driver,
        extra: () => [],
        stop: async () => {
          await driver.stop();
          await stopFuzzEnv(env);
        },
      };
    }
  }
}

function plain(env: FuzzEnv, driver: Driver<FuzzCase>): OpenTarget {
  return { env, driver, extra: () => [], stop: () => stopFuzzEnv(env) };
}
