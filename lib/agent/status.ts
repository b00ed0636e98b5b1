/** The agent's counters as `rxmesh status` (and metrics) read them: a snapshot, computed on demand. */
import type { RingStats } from '../native/index.js';
import type { LinkTable } from './links/link-table.js';
import type { LocalInstance } from './local-instance.js';
import type { PairStatus } from './pair-table.js';
import type { SinkStats } from './sink-host.js';
import type { SourceStats } from './source.js';

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

export interface AgentStatus {
  agentId: string;
  epoch: number;
  instances: InstanceStatus[];
  links: ReturnType<LinkTable['status']> | undefined;
  /** Records apps wrote that no correct client writes (dropped). */
  malformed: number;
  /** Pair rings (one writer, one reader on this host, no agent in between). */
  pairs: PairStatus[];
}

export function agentStatus(agentId: string, epoch: number, instances: Iterable<LocalInstance>, links: AgentStatus['links'], malformed: number,
  pairs: PairStatus[]): AgentStatus {
  return {
    agentId,
    epoch,
    links,
    malformed,
    pairs,
    instances: [...instances].map((i) => ({
      id: i.info.id,
      localId: i.localId,
      gameId: i.gameId,
      state: i.state,
      tx: i.tx.stats(),
      rx: i.rx.stats(),
      sent: { ...i.source.stats, unsettled: i.source.unsettled, paused: i.source.isPaused },
      received: { ...i.sink.stats, queued: i.sink.queued },
    })),
  };
}
