/**
 * The agent's Prometheus metrics (`rxmesh_agent_*`), read at scrape time
 * from one Agent.status() snapshot (status.ts): what `rxmesh status` shows,
 * plus totals that never go down (gone instances' counters are kept).
 * Nothing is counted on the message path for them.
 *
 * Cardinality is bounded by what an operator controls: label values are
 * fixed sets (ring, reason, state, port), peers (one per peer agent), and
 * per-instance labels only for the first `instanceLabels` instances (by
 * local id, so the labelled set does not churn); the rest are counted in
 * `rxmesh_agent_instance_series_dropped`. Aggregates cover every instance.
 */
import { Registry } from 'prom-client';
import { BadArgumentError } from '../protocol/errors.js';
import { BOUNCE_REASON_NAMES } from '../protocol/envelope.js';
import { connectionMetrics, perScrape, scrapeCounter, scrapeGauge, type Emit } from '../protocol/scrape-metrics.js';
import type { InboundStats } from './links/inbound-session.js';
import type { LinkState, LinkStats } from './links/link-contract.js';
import type { AgentStatus } from './status.js';

/** What the metrics read; nothing more. */
export interface AgentReadings {
  status(): AgentStatus;
}

export interface AgentMetricsOptions {
  /** Label ring metrics per instance for at most this many instances (0: aggregates only). */
  instanceLabels?: number | undefined;
}

const STATES = ['registered', 'online', 'draining', 'leaving'];
const LINK_STATES: LinkState[] = ['idle', 'connecting', 'up', 'down', 'failed', 'retired'];
const RINGS = ['tx', 'rx'] as const;

export function agentMetrics(agent: AgentReadings, o: AgentMetricsOptions = {}): Registry {
  const cap = o.instanceLabels ?? 0;
  if (!Number.isInteger(cap) || cap < 0) throw new BadArgumentError(`metrics instance labels ${cap}: must be a whole number of instances, 0 or more`);
  const registry = new Registry();
  const status = perScrape(() => agent.status());
  const gauge = (name: string, help: string, labels: string[], read: (s: AgentStatus, emit: Emit) => void): void =>
    scrapeGauge(registry, name, help, labels, (emit) => read(status(), emit));
  const counter = (name: string, help: string, labels: string[], read: (s: AgentStatus, emit: Emit) => void): void =>
    scrapeCounter(registry, name, help, labels, (emit) => read(status(), emit));

  gauge('rxmesh_agent_info', 'Always 1; labelled with the agent id and its incarnation (epoch).', ['agent_id', 'epoch'],
    (s, emit) => emit(1, { agent_id: s.agentId, epoch: String(s.epoch) }));
  gauge('rxmesh_agent_instances', 'Instances hosted by this agent, by state.', ['state'], (s, emit) => {
    for (const state of STATES) emit(s.instances.filter((i) => i.state === state).length, { state });
  });
  gauge('rxmesh_agent_app_sessions', 'App connections on the control socket.', [], (s, emit) => emit(s.control.sessions));

  // rings and the record path, summed over instances
  gauge('rxmesh_agent_ring_depth_bytes', 'Bytes written into instances\' rings and not read yet: tx (apps to the agent), rx (the agent to apps).', ['ring'],
    (s, emit) => {
      for (const ring of RINGS) emit(s.instances.reduce((n, i) => n + i[ring].depth, 0), { ring });
    });
  counter('rxmesh_agent_ring_full_total', 'Times a producer found an instance\'s ring full: tx (its app sending), rx (the agent delivering).', ['ring'],
    (s, emit) => {
      emit(s.totals.txFull, { ring: 'tx' });
      emit(s.totals.rxFull, { ring: 'rx' });
    });
  gauge('rxmesh_agent_waiting_bytes', 'Bytes waiting in the agent for destinations that have not taken them yet.', [],
    (s, emit) => emit(s.instances.reduce((n, i) => n + i.received.queued, 0)));
  gauge('rxmesh_agent_unsettled_records', 'Records read from tx rings whose outcome is not known yet (waiting at a destination or unacknowledged on a link).', [],
    (s, emit) => emit(s.instances.reduce((n, i) => n + i.sent.unsettled, 0)));
  counter('rxmesh_agent_records_routed_total', 'Records (whole messages, or pieces of large ones) read from instances\' tx rings and routed.', [],
    (s, emit) => emit(s.totals.routed));
  counter('rxmesh_agent_records_delivered_total', 'Records written into instances\' rx rings: messages from here and from peers, and reports.', [],
    (s, emit) => emit(s.totals.delivered));
  counter('rxmesh_agent_records_bounced_total', 'Records this agent\'s instances sent that came back undeliverable (a report written to the sender), by reason.', ['reason'],
    (s, emit) => {
      for (const reason of Object.values(BOUNCE_REASON_NAMES)) emit(s.totals.bounced[reason], { reason });
    });
  counter('rxmesh_agent_malformed_records_total', 'Records apps wrote that no correct client writes (dropped).', [], (s, emit) => emit(s.malformed));
  counter('rxmesh_agent_destination_stalls_total', 'Times a destination took nothing for --full-ms (what waited for it bounced queue_full).', [],
    (s, emit) => emit(s.totals.stalls));
  counter('rxmesh_agent_reports_orphaned_total', 'Reports that had nobody left to take them (their sender was gone).', [], (s, emit) => emit(s.totals.orphaned));

  // the registry
  gauge('rxmesh_agent_registry_connected', '1 while the registry answers (ns: connected with a live lease; etcd: the last keep-alive answered).', [],
    (s, emit) => emit(s.registry.connected ? 1 : 0));
  gauge('rxmesh_agent_registry_lease_held', '1 while this agent holds its registry lease.', [], (s, emit) => emit(s.registry.leaseHeld ? 1 : 0));
  counter('rxmesh_agent_registry_lease_recoveries_total', 'Times a lost lease was replaced and every instance registered again.', [],
    (s, emit) => emit(s.registry.leaseRecoveries));

  linkMetrics(registry, () => peers(status()));
  counter('rxmesh_agent_link_lost_bounces_total', 'Reports for a peer agent that had no link to go back on.', [], (s, emit) => emit(s.links?.lostBounces ?? 0));
  connectionMetrics(registry, 'rxmesh_agent', () => ({ control: status().control.admission, link: status().links?.admission }));

  if (cap > 0) instanceMetrics(registry, () => status().instances, cap);
  return registry;
}

/** One peer agent: its newest outbound link, the counters of all its incarnations, and what it sent us. */
interface Peer {
  out: LinkStats | undefined;
  sums: Pick<LinkStats, 'msgsOut' | 'bytesOut' | 'resends' | 'bounces' | 'inDoubt' | 'connects'>;
  in: Pick<InboundStats, 'msgsIn' | 'bytesIn' | 'refused' | 'connected'>;
}

function peers(s: AgentStatus): Map<string, Peer> {
  const out = new Map<string, Peer>();
  const of = (agentId: string): Peer => {
    let p = out.get(agentId);
    if (!p) {
      p = { out: undefined, sums: { msgsOut: 0, bytesOut: 0, resends: 0, bounces: 0, inDoubt: 0, connects: 0 }, in: { msgsIn: 0, bytesIn: 0, refused: 0, connected: false } };
      out.set(agentId, p);
    }
    return p;
  };
  for (const l of s.links?.out ?? []) {
    const p = of(l.peer);
    if (!p.out || l.epoch > p.out.epoch) p.out = l;
    for (const k of Object.keys(p.sums) as (keyof Peer['sums'])[]) p.sums[k] += l[k];
  }
  for (const i of s.links?.in ?? []) {
    const p = of(i.peer);
    p.in.msgsIn += i.msgsIn;
    p.in.bytesIn += i.bytesIn;
    p.in.refused += i.refused;
    p.in.connected ||= i.connected;
  }
  return out;
}

/** Per peer agent (label `peer`: its agent id); incarnations of one peer are summed, its state is its newest one's. */
function linkMetrics(registry: Registry, read: () => Map<string, Peer>): void {
  const each = (fn: (p: Peer, emit: (v: number, more?: Record<string, string>) => void) => void) => (emit: Emit): void => {
    for (const [peer, p] of read()) fn(p, (v, more) => emit(v, { peer, ...more }));
  };
  scrapeGauge(registry, 'rxmesh_agent_link_state', 'The outbound link to a peer agent: 1 for its current state.', ['peer', 'state'], each((p, emit) => {
    if (p.out) for (const state of LINK_STATES) emit(p.out.state === state ? 1 : 0, { state });
  }));
  scrapeGauge(registry, 'rxmesh_agent_link_inbound_connected', '1 while the peer agent\'s link to us is connected.', ['peer'],
    each((p, emit) => emit(p.in.connected ? 1 : 0)));
  scrapeGauge(registry, 'rxmesh_agent_link_rtt_seconds', 'Round-trip time of the last ping on the outbound link.', ['peer'], each((p, emit) => {
    if (p.out?.rttUs) emit(p.out.rttUs / 1e6);
  }));
  scrapeGauge(registry, 'rxmesh_agent_link_queued_bytes', 'Bytes on the outbound link not acknowledged yet (unsent or in flight).', ['peer'],
    each((p, emit) => emit(p.out?.queuedBytes ?? 0)));
  scrapeGauge(registry, 'rxmesh_agent_link_queued_records', 'Records on the outbound link not acknowledged yet.', ['peer'], each((p, emit) => emit(p.out?.queued ?? 0)));
  const total = (name: string, help: string, value: (p: Peer) => number): void =>
    scrapeCounter(registry, name, help, ['peer'], each((p, emit) => emit(value(p))));
  total('rxmesh_agent_link_sent_records_total', 'Records written to the peer agent.', (p) => p.sums.msgsOut);
  total('rxmesh_agent_link_sent_bytes_total', 'Record bytes written to the peer agent.', (p) => p.sums.bytesOut);
  total('rxmesh_agent_link_received_records_total', 'Records received from the peer agent.', (p) => p.in.msgsIn);
  total('rxmesh_agent_link_received_bytes_total', 'Record bytes received from the peer agent.', (p) => p.in.bytesIn);
  total('rxmesh_agent_link_resends_total', 'Records written again after the link reconnected.', (p) => p.sums.resends);
  total('rxmesh_agent_link_sent_refused_total', 'Records sent to the peer agent that it refused (bounced back).', (p) => p.sums.bounces);
  total('rxmesh_agent_link_received_refused_total', 'Records received from the peer agent that this agent refused (bounced back to it).', (p) => p.in.refused);
  total('rxmesh_agent_link_in_doubt_total', 'Records unacknowledged when the peer went away: reported in_doubt.', (p) => p.sums.inDoubt);
  total('rxmesh_agent_link_connects_total', 'Times the outbound link connected.', (p) => p.sums.connects);
}

/** Ring depth and full events per instance, for the first `cap` instances by local id. */
function instanceMetrics(registry: Registry, read: () => AgentStatus['instances'], cap: number): void {
  const labelled = (): AgentStatus['instances'] => [...read()].sort((a, b) => a.localId - b.localId).slice(0, cap);
  const labels = (i: AgentStatus['instances'][number], ring: string): Record<string, string> => ({ game: i.gameId, instance_id: i.id, ring });
  scrapeGauge(registry, 'rxmesh_agent_instance_ring_depth_bytes', 'Bytes written into the instance\'s ring and not read yet.', ['game', 'instance_id', 'ring'],
    (emit) => {
      for (const i of labelled()) for (const ring of RINGS) emit(i[ring].depth, labels(i, ring));
    });
  scrapeCounter(registry, 'rxmesh_agent_instance_ring_full_total', 'Times a producer found the instance\'s ring full.', ['game', 'instance_id', 'ring'],
    (emit) => {
      for (const i of labelled()) for (const ring of RINGS) emit(i[ring].fullCount, labels(i, ring));
    });
  scrapeGauge(registry, 'rxmesh_agent_instance_series_dropped', `Instances without per-instance series (past --metrics-instance-labels ${cap}).`, [],
    (emit) => emit(Math.max(0, read().length - cap)));
}
