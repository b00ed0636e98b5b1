/** The options of Agent.start. */
import type { Registry } from '../registry/registry.js';
import type { RingOptions } from '../native/index.js';
import type { LogOption } from '../protocol/logger.js';
import type { LinkOptions } from './links/link-table.js';
import type { LimitOptions } from './limits.js';
import type { AdmissionOptions } from '../protocol/admission.js';

/** How an Agent is made (Agent.start): its registry, where its rings live, and its bounds. */
export interface AgentOptions {
  registry: Registry;
  /** Default /dev/shm/rxmesh-<user>/ (rxmesh-uid<N> for a uid without a passwd entry: protocol/shm-home.ts) */
  shmDir?: string;
  agentId?: string;
  /** Peer-link address advertised in the registry ('' until links exist). */
  address?: string;
  ring?: RingOptions;
  /** Where the agent's lines go, each with a level (a plain function gets every line). Default stderr, all but debug. */
  log?: LogOption;
  /** Peer links to other agents (listen address, mesh secret, timings). */
  links?: LinkOptions;
  /** How long a destination may take nothing before the messages waiting for it bounce QUEUE_FULL. Default 5000. */
  fullMs?: number;
  /** Bytes of unfinished fragmented messages one instance may be receiving at once. Default 256 MiB. */
  maxPartialBytes?: number;
  /** Write the taken-message ledger (fault-injection runs). */
  testHooks?: boolean;
  /** What one app connection and one game may hold (limits.ts); unset ones keep their defaults. */
  limits?: Partial<LimitOptions>;
  /** The most memory mappings the agent may have, in place of the sysctl vm.max_map_count (map-headroom.ts). */
  maxMaps?: number;
  /** Bounds on control-socket connections before they authenticate (admission.ts; peer links: `links.admission`). */
  admission?: Partial<AdmissionOptions>;
  /** Serve /metrics, /healthz and /readyz on this port (0: an ephemeral one); none when unset. */
  metricsPort?: number | undefined;
  /** Interface of the metrics port. Default 127.0.0.1: it is unauthenticated. */
  metricsHost?: string | undefined;
  /** Label ring metrics per instance for at most this many instances. Default 0: aggregates only. */
  metricsInstanceLabels?: number | undefined;
}
