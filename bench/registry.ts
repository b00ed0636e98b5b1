/**
 * Registry throughput and watch latency, both backends (DESIGN §8: 10,000
 * registered instances; startup -> online at a watcher). For each backend:
 *   - N instances (600 B records) registered and started up by one agent,
 *     `--concurrency` in flight: registrations per second;
 *   - a watcher on another client must see all N online, and a fresh watch
 *     must list all N (paged on etcd);
 *   - then `--samples` startups one at a time: time from the startup call
 *     to the watcher's online event, p50 and p99.
 * The name server runs in this process; etcd is a real single node
 * (spec/helpers/etcd.ts, data on /dev/shm).
 *
 *   npx tsx bench/registry.ts [--n 10000] [--concurrency 64] [--samples 300] [--backend ns|etcd|both]
 */
import { parseArgs } from 'node:util';
import { NameServer } from '../lib/ns/server.js';
import { EtcdRegistry } from '../lib/registry/etcd-registry.js';
import { NsRegistry } from '../lib/registry/ns-registry.js';
import type { InstanceRecord, Registry, WatchEvent } from '../lib/registry/registry.js';
import { startEtcd } from '../spec/helpers/etcd.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '64' },
    samples: { type: 'string', default: '300' },
    backend: { type: 'string', default: 'both' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: registry.ts [--n 10000] [--concurrency 64] [--samples 300] [--backend ns|etcd|both]');
  process.exit(0);
}
const N = Number(values.n);
const CONCURRENCY = Number(values.concurrency);
const SAMPLES = Number(values.samples);
const GAME = 'bg';
/** Pads each record to about 600 B as stored. */
const META = { pad: 'x'.repeat(480) };

const record = (agentId: string, service: string, userData: string, localId: number): InstanceRecord =>
  ({ gameId: GAME, service, userData, agentId, address: '127.0.0.1:7000', localId, epoch: 1, online: false, meta: META });

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function run(name: string, make: () => Registry): Promise<void> {
  const agent = make();
  const watcher = make();
  const lister = make();
  await agent.open({ agentId: 'bench-agent', address: '127.0.0.1:7000' }, { kicked: () => {} });
  await watcher.open({ agentId: 'bench-watcher', address: '' }, { kicked: () => {} });
  await lister.open({ agentId: 'bench-lister', address: '' }, { kicked: () => {} });
  try {
    let online = 0;
    const waiting = new Map<string, () => void>();
    await watcher.watch(GAME, `${GAME}.*.*.*`, (e: WatchEvent) => {
      if (e.kind !== 'online') return;
      online++;
      waiting.get(e.instance.userData)?.();
    });

    // throughput: register + startup, CONCURRENCY in flight
    let nextId = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = nextId++; i < N; i = nextId++) {
        const r = record('bench-agent', `${GAME}.load.${i % 16}.0`, `u${i}`, i + 1);
        await agent.register(r, 'reject');
        await agent.startup(r);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const deadline = performance.now() + 30_000;
    while (online < N && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (online !== N) throw new Error(`${name}: the watcher saw ${online} of ${N} online`);
    const listed = await lister.watch(GAME, `${GAME}.load.*.*`, () => {});
    if (listed.snapshot.length !== N) throw new Error(`${name}: a fresh watch listed ${listed.snapshot.length} of ${N}`);
    await listed.close();

    // latency: one startup at a time, to the watcher's online event
    const lat: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const r = record('bench-agent', `${GAME}.probe.1.0`, `p${i}`, N + i + 1);
      await agent.register(r, 'reject');
      const seen = new Promise<void>((resolve) => waiting.set(r.userData, resolve));
      const t = performance.now();
      await agent.startup(r);
      await seen;
      lat.push(performance.now() - t);
      waiting.delete(r.userData);
    }
    lat.sort((a, b) => a - b);
    console.log(`registry ${name}: register ${Math.round(N / seconds)}/s, notify p50 ${quantile(lat, 0.5).toFixed(2)} ms p99 ${quantile(lat, 0.99).toFixed(2)} ms`);
    console.log(`  (${name}: ${N} instances, ${CONCURRENCY} in flight; listed ${N})`);
  } finally {
    await Promise.allSettled([agent.close(), watcher.close(), lister.close()]);
  }
}

if (values.backend === 'ns' || values.backend === 'both') {
  const secret = 'bench-registry-secret';
  const ns = await NameServer.start({ host: '127.0.0.1', port: 0, httpPort: 0, games: { [GAME]: 'k' }, secret, log: () => {} });
  try {
    await run('ns', () => new NsRegistry(`ns://127.0.0.1:${ns.port}`, { secret }));
  } finally {
    await ns.close();
  }
}
if (values.backend === 'etcd' || values.backend === 'both') {
  const etcd = await startEtcd(1);
  try {
    await run('etcd', () => new EtcdRegistry(etcd.url));
  } finally {
    await etcd.close();
  }
}
