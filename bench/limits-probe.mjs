// Loaded into the agent by bench/limits.ts only (NODE_OPTIONS="--expose-gc --import <this>"):
// on SIGWINCH, a full GC, then the V8 heap in use, appended as one JSON line to $RXMESH_BENCH_PROBE.
import { appendFileSync } from 'node:fs';

const out = process.env.RXMESH_BENCH_PROBE;
if (out) {
  process.on('SIGWINCH', () => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    appendFileSync(out, `${JSON.stringify({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss })}\n`);
  });
}
