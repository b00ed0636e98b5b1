/**
 * Prometheus metrics read at scrape time (prom-client): a server keeps its
 * counters where it already counts them, and each scrape reads them through
 * `collect()`. Nothing here runs on a message path; a scrape costs one read
 * of the server's counters (perScrape), whatever the number of metrics.
 *
 * Each server object has a registry of its own (not prom-client's global one),
 * so two agents or name servers in one process do not collide. prom-client's
 * process metrics are one registry per process (they watch the event loop and
 * GC, which is done once), served beside each server's own (withProcess).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { AdmissionStats, Trip } from './admission.js';

export type Labels = Record<string, string>;
/** Report one value (a sample of the metric, with its labels). */
export type Emit = (value: number, labels?: Labels) => void;

/**
 * prom-client's gauges named like counters (`promtool check metrics` rejects them; upstream issue
 * prometheus/client_js#283): their per-type gauges stay (`sum(nodejs_active_handles)` is the total).
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

let processRegistry: Registry | undefined;

/** `registry` and prom-client's process metrics (CPU, memory, event-loop lag, GC, handles), started on first use. */
export function withProcess(registry: Registry): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 100 });
    for (const name of MISNAMED_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return Registry.merge([processRegistry, registry]);
}

/** A gauge whose samples are read at each scrape; a label set not emitted then is not exported. */
export function scrapeGauge(registry: Registry, name: string, help: string, labelNames: string[], read: (emit: Emit) => void): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      read((value, labels) => (labels ? this.set(labels, value) : this.set(value)));
    },
  });
}

/**
 * A counter whose totals are read at each scrape. `read` must report totals
 * that only grow (the server keeps them), so rate() and increase() hold.
 */
export function scrapeCounter(registry: Registry, name: string, help: string, labelNames: string[], read: (emit: Emit) => void): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      read((value, labels) => (labels ? this.inc(labels, value) : this.inc(value)));
    },
  });
}

/** `read()` once per scrape: every collect() of one scrape runs in the same tick, so its value is kept until the next one. */
export function perScrape<T>(read: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => {
    if (!cached) {
      cached = { value: read() };
      setImmediate(() => (cached = undefined));
    }
    return cached.value;
  };
}

const TRIPS: Trip[] = ['deadline', 'idle', 'evicted', 'refused', 'frame', 'buffered'];

/** The connection bounds of each listening port (admission.ts), labelled `port`: open, pending, buffered bytes, closes by bound. */
export function connectionMetrics(registry: Registry, prefix: string, read: () => Record<string, AdmissionStats | null | undefined>): void {
  const each = (emit: Emit, value: (s: AdmissionStats) => number): void => {
    for (const [port, s] of Object.entries(read())) if (s) emit(value(s), { port });
  };
  scrapeGauge(registry, `${prefix}_connections`, 'Open connections on a listening port.', ['port'], (emit) => each(emit, (s) => s.open));
  scrapeGauge(registry, `${prefix}_connections_pending`, 'Connections on a listening port that have not authenticated yet.', ['port'],
    (emit) => each(emit, (s) => s.pending));
  scrapeGauge(registry, `${prefix}_connections_buffered_bytes`, 'Bytes of partial frames held for a listening port\'s connections.', ['port'],
    (emit) => each(emit, (s) => s.bufferedBytes));
  scrapeCounter(registry, `${prefix}_connections_closed_total`, 'Connections a bound closed or refused, by bound (deadline, idle, evicted, refused, frame, buffered).',
    ['port', 'reason'], (emit) => {
      for (const [port, s] of Object.entries(read())) if (s) for (const reason of TRIPS) emit(s.closed[reason], { port, reason });
    });
}
