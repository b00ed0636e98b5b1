/**
 * The name-server protocol (agent <-> `rxmesh ns`), framed by FramedConnection.
 * Requests carry an id and get RESULT/FAILURE; events have id 0.
 */

export const NsMessage = {
  /** agent -> ns request {v, vmin} -> {v, nonce}: the first request on a connection (ns-auth.ts) */
  CHALLENGE: 18,
  /** agent -> ns request {agentId, address, leaseId?, ttlMs?, nonce, proof} -> {leaseId, ttlMs, resumed, uptimeMs, v, proof} ;
   * FAILURE AUTH (wrong secret: the connection is closed), LIMIT (too many failures from that address) */
  HELLO: 10,
  /** agent -> ns request {leaseId} -> {} ; FAILURE NOT_FOUND when the lease expired */
  HEARTBEAT: 11,
  /** agent -> ns request {instance: InstanceRecord, conflict} -> {} ; FAILURE CONFLICT */
  REGISTER: 12,
  /** agent -> ns request {key: InstanceKey} -> {} */
  STARTUP: 13,
  /** agent -> ns request {key: InstanceKey, reason: OfflineReason} -> {} */
  DEREGISTER: 14,
  /** agent -> ns request {gameId, pattern} -> {watchId, instances: InstanceRecord[]} */
  WATCH: 15,
  /** agent -> ns request {watchId} -> {} */
  UNWATCH: 16,
  /** agent -> ns request {gameId, nonce, proof} -> {ok: boolean} ; FAILURE LIMIT after too many wrong proofs for one game */
  VERIFY_GAME: 17,
  /** ns -> agent event {watchId, instance: InstanceRecord} */
  ONLINE: 20,
  /** ns -> agent event {watchId, instance: InstanceRecord, reason: OfflineReason} */
  OFFLINE: 21,
  /** ns -> agent event {instance: InstanceRecord, by: InstanceRecord}: a `replace` registration took it */
  KICKED: 22,
} as const;
export type NsMessage = (typeof NsMessage)[keyof typeof NsMessage];

/** What registering a name that is taken does: `reject` (ConflictError) or `replace` (the holder is kicked). */
export type ConflictStrategy = 'reject' | 'replace';

/** Why an instance went offline. */
export const OfflineReason = {
  CLOSED: 'closed',
  CRASHED: 'crashed',
  REPLACED: 'replaced',
  AGENT_LOST: 'agent_lost',
  /** It left routing to drain (client/drain.ts): it still answers what was sent to it, then closes. */
  DRAINING: 'draining',
} as const;
export type OfflineReason = (typeof OfflineReason)[keyof typeof OfflineReason];

/**
 * The reason to tell a peer whose HELLO did not name the `draining` capability
 * (a build before drain, whose decoder refuses the word): `closed`, which is
 * what a drain ends in. Everything else as it is.
 */
export const reasonFor = (reason: OfflineReason, caps: readonly string[]): OfflineReason =>
  reason === OfflineReason.DRAINING && !caps.includes('draining') ? OfflineReason.CLOSED : reason;

/** An instance's identity in a registry: game, service and user data. */
export interface InstanceKey {
  gameId: string;
  service: string;
  userData: string;
}

/** An instance as the registry knows it. */
export interface InstanceRecord extends InstanceKey {
  /** The agent that hosts it. */
  agentId: string;
  /** That agent's peer-link address (host:port), '' when it has none. */
  address: string;
  /** The instance's number on its agent. */
  localId: number;
  /** The incarnation of that agent (its epoch): local ids are unique only within one. */
  epoch: number;
  /** Online (started up) or only registered. */
  online: boolean;
  /** Free-form metadata. */
  meta?: Record<string, string>;
}

export const keyOf = (r: InstanceKey): string => `${r.gameId}\u0000${r.service}\u0000${r.userData}`;

/** The same registration: one agent incarnation's instance of that number, not just the same name. */
export const sameHolder = (a: Pick<InstanceRecord, 'agentId' | 'localId' | 'epoch'>, b: Pick<InstanceRecord, 'agentId' | 'localId' | 'epoch'>): boolean =>
  a.agentId === b.agentId && a.localId === b.localId && a.epoch === b.epoch;
