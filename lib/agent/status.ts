/** The agent's counters as `rxmesh status` (and metrics) read them: a snapshot, computed on demand. */
import type { RingStats } from '../native/index.js';
import type { AdmissionStats } from '../protocol/admission.js';
import { BOUNCE_REASON_NAMES, type BounceReason, type UndeliverableReason } from '../protocol/envelope.js';
import type { RegistryHealth } from '../registry/registry.js';
import type { LinkTable } from './links/link-table.js';
import type { LocalInstance } from './local-instance.js';
import type { SinkStats } from './sink-host.js';
import type { SourceStats } from './source.js';
import type { PairStatus } from './pair-table.js';

/** One instance as `rxmesh status` shows it: names, state, ring depths and counters. */
export interface InstanceStatus {
  id: string;
  localId: number;
  gameId: string;
  state: string;
  tx: RingStats;
  rx: RingStats;
  sent: SourceStats & { unsettled: number; paused: boolean };
  received: SinkStats & { queued: number };
}

/** Counters summed over every instance the agent has had, gone ones included: they only grow. */
export interface InstanceTotals {
  /** Records read from tx rings and routed. */
  routed: number;
  /** Records written into rx rings (messages and reports). */
  delivered: number;
  /** Reports written for messages that could not be delivered, by reason. */
  bounced: Record<UndeliverableReason, number>;
  /** Records an app wrote that no correct client writes (dropped). */
  dropped: number;
  /** Times a destination took nothing for --full-ms (what waited for it bounced queue_full). */
  stalls: number;
  /** Reports with nobody left to take them. */
  orphaned: number;
  /** Times a producer found a ring full: tx (the app's) and rx (the agent's). */
  txFull: number;
  rxFull: number;
}

/** What `rxmesh status --json` prints: the agent, its instances, pairs, links and totals. */
export interface AgentStatus {
  agentId: string;
  epoch: number;
  instances: InstanceStatus[];
  links: ReturnType<LinkTable['status']> | undefined;
  /** Records apps wrote that no correct client writes (dropped). */
  malformed: number;
  totals: InstanceTotals;
  registry: RegistryHealth;
  /** The control socket: app connections and its connection bounds. */
  control: { sessions: number; admission: AdmissionStats | undefined };
  /** Pair rings (one writer, one reader on this host, no agent in between). */
  pairs: PairStatus[];
}

/** What the agent knows besides its instances. */
export interface AgentFacts {
  agentId: string;
  epoch: number;
  links: AgentStatus['links'];
  malformed: number;
  retired: RetiredTotals;
  registry: RegistryHealth;
  control: AgentStatus['control'];
  pairs: PairStatus[];
}

export function agentStatus(facts: AgentFacts, instances: Iterable<LocalInstance>): AgentStatus {
  const totals = facts.retired.copy();
  const list: InstanceStatus[] = [];
  for (const i of instances) {
    const s: InstanceStatus = {
      id: i.info.id,
      localId: i.localId,
      gameId: i.gameId,
      state: i.state,
      tx: i.tx.stats(),
      rx: i.rx.stats(),
      sent: { ...i.source.stats, unsettled: i.source.unsettled, paused: i.source.isPaused },
      received: { ...i.sink.stats, queued: i.sink.queued },
    };
    addTo(totals, s, i.source.bouncedBy);
    list.push(s);
  }
  return { agentId: facts.agentId, epoch: facts.epoch, links: facts.links, malformed: facts.malformed, registry: facts.registry, control: facts.control, pairs: facts.pairs, totals, instances: list };
}

/** The counters of the instances that are gone, kept so totals never go down. */
export class RetiredTotals {
  private readonly totals = emptyTotals();

  /** Its last counters (its rings keep theirs once closed): call once, when it is gone. */
  add(inst: LocalInstance): void {
    addTo(this.totals, { tx: inst.tx.stats(), rx: inst.rx.stats(), sent: inst.source.stats, received: inst.sink.stats }, inst.source.bouncedBy);
  }

  copy(): InstanceTotals {
    return { ...this.totals, bounced: { ...this.totals.bounced } };
  }
}

function emptyTotals(): InstanceTotals {
  const bounced = Object.fromEntries(Object.values(BOUNCE_REASON_NAMES).map((r) => [r, 0])) as Record<UndeliverableReason, number>;
  return { routed: 0, delivered: 0, bounced, dropped: 0, stalls: 0, orphaned: 0, txFull: 0, rxFull: 0 };
}

function addTo(t: InstanceTotals, s: Pick<InstanceStatus, 'tx' | 'rx'> & { sent: SourceStats; received: SinkStats }, bouncedBy: readonly number[]): void {
  t.routed += s.sent.read;
  t.delivered += s.received.delivered;
  t.dropped += s.sent.dropped;
  t.stalls += s.received.stalls;
  t.orphaned += s.received.orphaned;
  t.txFull += s.tx.fullCount;
  t.rxFull += s.rx.fullCount;
  bouncedBy.forEach((n, reason) => {
    if (n > 0) t.bounced[BOUNCE_REASON_NAMES[reason as BounceReason]] += n;
  });
}
