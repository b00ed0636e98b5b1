/**
 * The Registry interface: what an agent needs from a registry, and nothing
 * more. Two real backends implement it: NsRegistry (TCP to `rxmesh ns`) and
 * EtcdRegistry. One contract spec suite runs against both.
 */
import type { ConflictStrategy, InstanceKey, InstanceRecord, OfflineReason } from '../protocol/registry-messages.js';

/** A game proof's check: right, wrong key, or a game nobody registered (unknown when the registry cannot say). */
export type GameVerdict = 'ok' | 'wrong_key' | 'unknown_game' | 'wrong_key_or_unknown_game';

export type { ConflictStrategy, InstanceKey, InstanceRecord, OfflineReason };

/** What a registry watch reports: an instance online, or offline with a reason. */
export type WatchEvent =
  | { kind: 'online'; instance: InstanceRecord }
  | { kind: 'offline'; instance: InstanceRecord; reason: OfflineReason };

/** A watch on a pattern: its snapshot, and a way to stop it. */
export interface RegistryWatch {
  /** The online instances matching the pattern when the watch started. */
  readonly snapshot: InstanceRecord[];
  /** Stop the watch. Idempotent. */
  close(): Promise<void>;
}

/** Who takes a lease: the agent's id, incarnation (epoch) and link address. */
export interface AgentIdentity {
  agentId: string;
  /** Peer-link address (host:port) or '' */
  address: string;
}

/** What a registry tells its agent: a lease lost or regained, an instance kicked by another holder. */
export interface RegistryEvents {
  /** One of our instances was replaced by a `replace` registration elsewhere. */
  kicked(instance: InstanceRecord, by: InstanceRecord): void;
}

/** How the agent stands with its registry (read by metrics and `/readyz`; cheap, no I/O). */
export interface RegistryHealth {
  /** The registry answered lately: a connection with a live lease is up (ns), or the lease's last keep-alive was answered (etcd). */
  connected: boolean;
  /** This agent holds a lease, so its instances are in the registry. */
  leaseHeld: boolean;
  /** Times a lost lease was replaced by a new one and every instance registered again. */
  leaseRecoveries: number;
}

/** What an agent needs from its registry (the name server or etcd): a lease, registrations, watches, game keys. */
export interface Registry {
  /** Connect and take a lease for this agent. */
  open(agent: AgentIdentity, events: RegistryEvents): Promise<void>;
  /** Register (not yet online). `reject` fails with ConflictError naming the holder; `replace` kicks it. */
  register(instance: InstanceRecord, conflict: ConflictStrategy): Promise<void>;
  /** Mark a registered instance online; watchers see it. */
  startup(key: InstanceKey): Promise<void>;
  /** Remove an instance; watchers see it offline with `reason`. */
  deregister(key: InstanceKey, reason: OfflineReason): Promise<void>;
  /** Watch a game's services matching a pattern: a snapshot, then changes, with no event missed. */
  watch(gameId: string, pattern: string, listener: (event: WatchEvent) => void): Promise<RegistryWatch>;
  /** Check a game auth proof: HMAC-SHA256(game key, nonce). */
  verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict>;
  /** Where the agent stands with the registry now. */
  health(): RegistryHealth;
  /** Release the lease (our instances go offline) and disconnect. */
  close(): Promise<void>;
}
