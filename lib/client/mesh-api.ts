/**
 * What an app sees of a connection and its instances: the `Mesh` and
 * `Instance` interfaces, and nothing of how they work. The classes behind
 * them (mesh.ts, instance.ts) have more methods, for each other, the
 * operators and the Mesh's pump; an app cannot reach those through these
 * types (nats.js does the same with NatsConnection and its Impl).
 */
import type { Observable } from 'rxjs';
import type { AgentLostError } from '../protocol/errors.js';
import type { DrainOptions } from './drain.js';
import type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, SendToOptions } from './instance-options.js';
import type { InstanceRef, Message, Undeliverable } from './message.js';

/** An app's connection to its local agent (tbuspp's agent client). Made by `connect()`. */
export interface Mesh extends AsyncDisposable {
  /** The agent this connection talks to. */
  readonly agentId: string;
  /** Emits an AgentLostError each time the agent connection is lost. */
  readonly lost$: Observable<AgentLostError>;
  /** Emits each time the connection is back and every instance is registered and started again. */
  readonly reconnected$: Observable<void>;
  /**
   * Create, register and start an instance (CreateInstance + RegisterInstance
   * + StartupInstance). It is routable once `startup$` emits.
   * @throws ClosedError when the mesh is closed; InvalidNameError on a bad service name or user data
   */
  instance(service: string, options: InstanceOptions): Instance;
  /** Close every instance, then the connection (DeleteInstanceObj for all). */
  close(): Promise<void>;
  /**
   * Drain every instance (see Instance.drain) at once, then close the
   * connection (NATS `drain()`). Idempotent: later calls return the same promise.
   */
  drain(opts?: DrainOptions): Promise<void>;
}

/**
 * A service name plus user data, registered, started up and then routable.
 * Hot streams: what happens before a subscription is not replayed, except
 * `startup$` (which replays its one value) and messages, which wait in the
 * ring until `messages$` has a subscriber.
 */
export interface Instance extends AsyncDisposable {
  /** Its service name, `gameid.service.zone.ext`. */
  readonly service: string;
  /** Its user data (with the service, its identity in the registry). */
  readonly userData: string;
  /** Its own ref, once online. */
  readonly ref: InstanceRef | undefined;
  /** Emits its own ref once online, then completes; errors with a MeshError when it cannot start. */
  readonly startup$: Observable<InstanceRef>;
  /** Watched instances coming online after the watch started (with `replayOnline`, also those already online then). */
  readonly online$: Observable<InstanceRef>;
  /** Watched instances going offline, with a reason. */
  readonly offline$: Observable<OfflineInfo>;
  /** Messages to this instance. They wait in the ring while nobody subscribes; those still unread at close are bounced to their senders. */
  readonly messages$: Observable<Message>;
  /** Messages this instance sent that could not be delivered (or, `in_doubt`, may not have been), with a reason. */
  readonly undeliverable$: Observable<Undeliverable>;

  /**
   * Stateless send: one instance of `service`, picked by the strategy (round-robin by default) or `via`.
   * @returns the instance it went to (pass it back as `via` for sticky routing), or null when none is
   *   online (the message is reported on undeliverable$, reason `no_route`)
   * @throws NotWatchedError when the service is not watched; CrossGameError for another game's service;
   *   QueueFullError when the outgoing ring is full (see whenWritable); ClosedError, AgentLostError, KickedError
   */
  send(service: string, value: unknown, opts?: SendOptions): InstanceRef | null;
  /** Stateful send: exactly this instance (`headers` as for send). Throws as `send` does. */
  sendTo(ref: InstanceRef, value: unknown, opts?: SendToOptions): void;
  /** Send to every online instance of a watched service (`headers` as for send); returns how many. */
  broadcast(service: string, value: unknown, opts?: SendToOptions): number;
  /**
   * Send a request (to a service, routed as `send` routes, or to an instance) and wait for its reply.
   * Rejects with TimeoutError, NoRouteError (none online, or bounced undelivered), InDoubtError,
   * RemoteError (the replier answered with an error), ClosedError (aborted or closed).
   */
  request(target: string | InstanceRef, value: unknown, opts?: RequestOptions): Promise<Message>;
  /**
   * Resolves once this instance's outgoing queue has room again (at once when
   * it has). Bounded: rejects with QueueFullError after `timeoutMs`, ClosedError
   * on close or when `signal` aborts.
   */
  whenWritable(timeoutMs?: number, signal?: AbortSignal): Promise<void>;
  /** Watch a service so `send` can route to it (tbuspp's CreateService); resolves once its members are known. */
  service$(service: string): Promise<void>;
  /** Replays the current set of a service's online instances, then every change. */
  members$(service: string): Observable<InstanceRef[]>;
  /** The queue depth (bytes waiting) its agent last reported for `ref`; 0 when unknown. */
  load(ref: InstanceRef): number;
  /** The names of an instance known only by its address (e.g. a sender this instance never watched). */
  resolve(ref: InstanceRef): Promise<InstanceRef>;
  /** What it holds: watches, pending requests, waiting writers, partly received messages. */
  stats(): InstanceStats;
  /**
   * Close: offline for its watchers (reason `closed`); resolves once what it sent is
   * delivered or reported; messages waiting for it are bounced to their senders.
   */
  close(): Promise<void>;
  /**
   * Graceful drain for rolling deploys: leave routing at once (watchers on every
   * agent see it offline, reason `draining`; stateless sends pick others, a
   * sticky `via` falls back), keep reading and answering what was already sent
   * to it, and close once it has been quiet for `quietMs`; at `timeoutMs` close
   * anyway (what is unread is bounced to its senders). It may still send and
   * request meanwhile. Idempotent: a second call returns the same promise.
   * @throws BadArgumentError (as a rejection) on bad options
   */
  drain(opts?: DrainOptions): Promise<void>;
}
