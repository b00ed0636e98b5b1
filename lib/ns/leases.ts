/**
 * Agent leases. An agent takes a lease with HELLO and keeps it alive with
 * HEARTBEATs; a lease not refreshed within its TTL expires and its owner is
 * told (the name server then takes the agent's instances offline with reason
 * `agent_lost`). A lease outlives its TCP connection: an agent that reconnects
 * within the TTL resumes it by id.
 *
 * Deadlines use monotonic time (`performance.now()`). One timer is armed for
 * the earliest deadline; a refresh only moves a deadline later, so the timer
 * may fire early, find nothing due and re-arm.
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../protocol/errors.js';

export const DEFAULT_LEASE_TTL_MS = 3000;
/** The TTL an agent may ask for is clamped to this range. */
export const MIN_LEASE_TTL_MS = 100;
export const MAX_LEASE_TTL_MS = 60_000;
/** KICKED events kept for an agent that is between connections. */
const MAX_PENDING_KICKS = 1024;

/** The connection a lease's agent is on, as the lease table needs it. */
export interface LeaseLink {
  /** False when the event could not be queued. */
  send(type: number, body: unknown): boolean;
  close(reason: Error): void;
}

export interface Lease {
  /** Random and unguessable: whoever knows it can resume the lease, so it is never shown over HTTP. */
  readonly id: string;
  readonly agentId: string;
  readonly address: string;
  readonly ttlMs: number;
  /** performance.now() after which the lease is gone. */
  deadline: number;
  /** The agent's current connection, if it has one. */
  link: LeaseLink | undefined;
  /** Events for the agent while it has no connection (delivered when it resumes). */
  readonly pending: Array<{ type: number; body: unknown }>;
}

export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private closed = false;

  constructor(
    private readonly defaultTtlMs: number,
    private readonly onExpire: (lease: Lease) => void,
  ) {}

  /**
   * HELLO: resume `leaseId` when it is alive and belongs to `agentId`, else
   * grant a new lease (TTL `ttlMs` when asked for, clamped; else the default).
   */
  hello(agentId: string, address: string, leaseId?: string, ttlMs?: number): { lease: Lease; resumed: boolean } {
    const old = leaseId === undefined ? undefined : this.leases.get(leaseId);
    if (old && old.agentId === agentId && old.address === address) {
      this.refresh(old);
      return { lease: old, resumed: true };
    }
    const ttl = ttlMs === undefined ? this.defaultTtlMs : Math.min(MAX_LEASE_TTL_MS, Math.max(MIN_LEASE_TTL_MS, ttlMs));
    const lease: Lease = {
      id: randomBytes(16).toString('hex'),
      agentId,
      address,
      ttlMs: ttl,
      deadline: performance.now() + ttl,
      link: undefined,
      pending: [],
    };
    this.leases.set(lease.id, lease);
    this.arm(lease.deadline);
    return { lease, resumed: false };
  }

  /** HEARTBEAT: push the deadline out; NotFoundError when the lease is gone. */
  heartbeat(leaseId: string): Lease {
    const lease = this.leases.get(leaseId);
    if (!lease) throw new NotFoundError(`lease ${leaseId.slice(0, 8)}… has expired or never existed`);
    this.refresh(lease);
    return lease;
  }

  /** The live lease with this id. */
  get(leaseId: string): Lease | undefined {
    return this.leases.get(leaseId);
  }

  /** Queue an event for a disconnected agent (the oldest is dropped past the bound). */
  hold(lease: Lease, type: number, body: unknown): void {
    if (lease.pending.length >= MAX_PENDING_KICKS) lease.pending.shift();
    lease.pending.push({ type, body });
  }

  list(): Lease[] {
    return [...this.leases.values()];
  }

  /** Stop the timer; no lease expires after this. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refresh(lease: Lease): void {
    lease.deadline = performance.now() + lease.ttlMs;
  }

  private arm(due: number): void {
    if (this.closed || (this.timer && due >= this.timerDue)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => this.sweep(), Math.max(1, Math.ceil(due - performance.now())));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const lease of [...this.leases.values()]) {
      if (lease.deadline <= now) {
        this.leases.delete(lease.id);
        this.onExpire(lease);
      } else if (lease.deadline < next) {
        next = lease.deadline;
      }
    }
    if (next < Infinity) this.arm(next);
  }
}
