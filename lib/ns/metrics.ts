/**
 * The name server's Prometheus metrics (`rxmesh_nameserver_*`), read at scrape time
 * from what it already keeps: leases, the registry store, the connection
 * bounds of its ports. Served on its HTTP view (`/metrics`) and on
 * `--metrics-port` (ops-http.ts).
 */
import { Registry } from 'prom-client';
import type { AdmissionStats } from '../protocol/admission.js';
import { connectionMetrics, perScrape, scrapeCounter, scrapeGauge } from '../protocol/scrape-metrics.js';
import type { AgentSummary } from './http.js';
import type { ServiceSummary } from './registry-store.js';

/** What the metrics read; nothing more. */
export interface NsReadings {
  services(): ServiceSummary[];
  agents(): AgentSummary[];
  connections(): Record<string, AdmissionStats | null>;
  games(): number;
  watches(): number;
  /** Leases that expired (their agent went silent) since the start. */
  leaseExpiries(): number;
}

export function nsMetrics(ns: NsReadings): Registry {
  const registry = new Registry();
  const services = perScrape(() => ns.services());
  const agents = perScrape(() => ns.agents());
  scrapeGauge(registry, 'rxmesh_nameserver_agents', 'Agents holding a lease, by whether their connection is up.', ['state'], (emit) => {
    const connected = agents().filter((a) => a.connected).length;
    emit(connected, { state: 'connected' });
    emit(agents().length - connected, { state: 'disconnected' });
  });
  scrapeGauge(registry, 'rxmesh_nameserver_instances', 'Registered instances, by whether they are online.', ['state'], (emit) => {
    let all = 0;
    let online = 0;
    for (const s of services()) {
      all += s.instances;
      online += s.online;
    }
    emit(online, { state: 'online' });
    emit(all - online, { state: 'registered' });
  });
  scrapeGauge(registry, 'rxmesh_nameserver_services', 'Services with at least one registered instance.', [], (emit) => emit(services().length));
  scrapeGauge(registry, 'rxmesh_nameserver_games', 'Games whose keys the name server holds.', [], (emit) => emit(ns.games()));
  scrapeGauge(registry, 'rxmesh_nameserver_watches', 'Watches agents hold.', [], (emit) => emit(ns.watches()));
  scrapeCounter(registry, 'rxmesh_nameserver_lease_expiries_total', 'Leases that expired: their agent went silent for a TTL and its instances went offline.', [],
    (emit) => emit(ns.leaseExpiries()));
  connectionMetrics(registry, 'rxmesh_nameserver', () => ns.connections());
  return registry;
}
