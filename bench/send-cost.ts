/**
 * What a message costs the client, through the public API: two apps in this
 * process (two connections to a real `rxmesh up` child), one instance each;
 * the sender `sendTo`s 64 B messages in bursts, the receiver counts them on
 * `messages$`. Two numbers per run, both CPU of this process only (the agent
 * is another process):
 *
 *   sendTo ns/msg   wall time inside the synchronous sendTo calls (encode,
 *                   headers, tracing hooks, the copy into the batch)
 *   client us/msg   process.cpuUsage() of the whole run (both ends: sendTo,
 *                   flushes, reads, Message objects, the subscriber)
 *
 *   npx tsx bench/send-cost.ts [--mode plain|headers|otel] [--count N] [--reps N]
 *
 * plain: no headers (the only mode a build before headers has); headers: a
 * 2-entry map on every message; otel: no app headers, an OpenTelemetry SDK
 * registered (BasicTracerProvider without processors, W3C propagator, the
 * async-hooks context manager), so every send makes a span and carries a
 * traceparent. Medians of `--reps` runs (default 5) are printed last.
 * Written for issue 14 ("messages without headers cost no more than today").
 */
import { parseArgs } from 'node:util';
import { connect, QueueFullError, type Mesh } from '../lib/index.js';
import { Procs } from './compare-procs.js';
import { BENCH_GAME, BENCH_KEY } from './mesh-ipc.js';

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', default: 'plain' },
    count: { type: 'string', default: '1000000' },
    reps: { type: 'string', default: '5' },
  },
});
const MODE = opts.mode;
if (!['plain', 'headers', 'otel'].includes(MODE)) throw new Error(`unknown mode '${MODE}'`);
const COUNT = Number(opts.count);
const REPS = Number(opts.reps);
const BURST = 256;

if (MODE === 'otel') {
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
  trace.setGlobalTracerProvider(new BasicTracerProvider());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

const procs = new Procs('none');
const { server, socket } = await procs.rxmesh();
const meshes: Mesh[] = [];
const app = async (): Promise<Mesh> => {
  const m = await connect({ gameId: BENCH_GAME, password: BENCH_KEY, agent: socket });
  meshes.push(m);
  return m;
};
const receiver = (await app()).instance(`${BENCH_GAME}.cost.1.0`, { userData: 'rx' });
const sender = (await app()).instance(`${BENCH_GAME}.cost.1.0`, { userData: 'tx' });
const [to] = await Promise.all([new Promise<NonNullable<typeof receiver.ref>>((r) => receiver.startup$.subscribe(r)), new Promise((r) => sender.startup$.subscribe(r))]);

let received = 0;
receiver.messages$.subscribe(() => received++);
const payload = new Uint8Array(64);
const sendOpts = MODE === 'headers' ? { headers: { player: 'p-1234', session: 's-5678' } } : undefined;

async function run(count: number): Promise<{ sendNs: number; clientUs: number }> {
  received = 0;
  let inSend = 0;
  const cpu0 = process.cpuUsage();
  let sent = 0;
  while (sent < count) {
    const t = performance.now();
    let n = 0;
    try {
      for (; n < BURST && sent < count; n++, sent++) {
        payload[0] = sent & 0xff;
        sender.sendTo(to, payload, sendOpts);
      }
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
    }
    inSend += performance.now() - t;
    if (n < BURST && sent < count) await sender.whenWritable(10_000);
    else await new Promise<void>((r) => setImmediate(r));
  }
  while (received < count) await new Promise<void>((r) => setTimeout(r, 1));
  const cpu = process.cpuUsage(cpu0);
  return { sendNs: (inSend * 1e6) / count, clientUs: (cpu.user + cpu.system) / count };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await run(Math.min(COUNT, 200_000)); // warm-up (JIT, the pair ring)
const results: { sendNs: number; clientUs: number }[] = [];
for (let i = 0; i < REPS; i++) {
  const r = await run(COUNT);
  results.push(r);
  console.error(`  run ${i + 1}: sendTo ${r.sendNs.toFixed(0)} ns/msg, client ${r.clientUs.toFixed(3)} us/msg`);
}
const s = results.map((r) => r.sendNs);
const c = results.map((r) => r.clientUs);
console.log(`send-cost ${MODE}: sendTo ${median(s).toFixed(0)} ns/msg (${Math.min(...s).toFixed(0)}-${Math.max(...s).toFixed(0)}), ` +
  `client ${median(c).toFixed(3)} us/msg (${Math.min(...c).toFixed(3)}-${Math.max(...c).toFixed(3)}), ${REPS} runs of ${COUNT}`);
for (const m of meshes) await m.close();
await server.stop();
procs.killAll();
process.exit(0);
