/**
 * What a Prometheus scrape costs an agent (issue 13). `rxmesh up` in its own
 * process with `--metrics-port 0` (rings of 16 KiB), this process as the app
 * with N idle online instances; it scrapes /metrics 11 times over plain HTTP
 * (node:http, a new connection each) and prints the median and the slowest
 * answer time, and the text's size. The agent answers on its event loop, so
 * the time is roughly how long a scrape holds the data path up.
 *
 *   npx tsx bench/metrics-scrape.ts [--instances 10,1000,5000]
 */
import { get } from 'node:http';
import { parseArgs } from 'node:util';
import { firstValueFrom } from 'rxjs';
import { startUp } from '../spec/helpers/mesh.js';
import { cleanupShm } from '../spec/helpers/shm.js';

const { values } = parseArgs({ options: { instances: { type: 'string', default: '10,1000,5000' } } });
const counts = values.instances!.split(',').map(Number);

function scrape(port: number): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - t, bytes }));
    }).on('error', reject);
  });
}

for (const n of counts) {
  const up = await startUp({ args: ['--metrics-port', '0', '--ring-bytes', '16384', '--metrics-instance-labels', '0'] });
  try {
    const mesh = await up.connect();
    const instances = Array.from({ length: n }, (_, i) => mesh.instance('g.scrape.1.0', { userData: `u${i}` }));
    await Promise.all(instances.map((i) => firstValueFrom(i.startup$)));
    const port = up.ready.agent!.metricsPort!;
    await scrape(port); // the first one starts the process metrics
    const runs: { ms: number; bytes: number }[] = [];
    for (let k = 0; k < 11; k++) runs.push(await scrape(port));
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
    process.stdout.write(`${n} instances: scrape median ${ms[5]!.toFixed(1)} ms, slowest ${ms[10]!.toFixed(1)} ms, ${runs[0]!.bytes} bytes\n`);
  } finally {
    await up.stop();
  }
}
cleanupShm();
process.exit(0);
