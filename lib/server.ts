/**
 * rxmesh/server: what a host program embeds to run the mesh without the CLI,
 * listed by name. The agent, the name server, and the registries an agent
 * uses: the embedded name server's client (NsRegistry) or etcd (EtcdRegistry,
 * made by createEtcdRegistry so etcd3 is loaded only when asked for).
 * Apps use the main entry (`rxmesh`); they need none of this.
 */
export { Agent, type AgentOptions } from './agent/agent.js';
export type { LinkOptions } from './agent/links/link-table.js';
export type { LimitOptions } from './agent/limits.js';
export { NameServer, type NameServerOptions } from './ns/server.js';
export { loadGames, type GameKeys } from './ns/games.js';
export { NsRegistry, type NsRegistryOptions } from './registry/ns-registry.js';
export type { EtcdRegistry, EtcdRegistryOptions } from './registry/etcd-registry.js';
export { createEtcdRegistry } from './registry/etcd-load.js';
export type { Registry, RegistryHealth, RegistryWatch, WatchEvent } from './registry/registry.js';
export type { ReadinessChecks } from './protocol/ops-http.js';
export type { RingOptions, RingStats } from './native/index.js';
export type { AgentStatus, InstanceStatus, InstanceTotals } from './agent/status.js';
export type { PairStatus } from './agent/pair-table.js';
export type { InboundStats } from './agent/links/inbound-session.js';
export type { LinkStats, LinkState } from './agent/links/link-contract.js';
export type { SinkStats } from './agent/sink-host.js';
export type { SourceStats } from './agent/source.js';
export type { AdmissionOptions, AdmissionStats, Trip } from './protocol/admission.js';
export type { TlsMaterial } from './protocol/tls.js';
export type { EtcdAuth, EtcdTls } from './registry/etcd-security.js';
export type { NsAddress } from './registry/ns-connect.js';
export type { NsConnectionStats } from './ns/server.js';
export type { AgentIdentity, RegistryEvents, GameVerdict } from './registry/registry.js';
export type { InstanceKey, InstanceRecord } from './protocol/registry-messages.js';
