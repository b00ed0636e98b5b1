/** The options and small types of Instance: how it is created, how `send` routes, what `stats()` counts. */
import type { Headers } from '../protocol/headers.js';
import type { OfflineReason } from '../protocol/registry-messages.js';
import type { InstanceRef } from './message.js';

/** How `mesh.instance(service, options)` creates an instance. */
export interface InstanceOptions {
  userData: string;
  /** What happens when the same service/userData is already registered. Default 'reject'. */
  conflict?: 'reject' | 'replace';
  /** Patterns to watch (online$/offline$, and routing for `send`). */
  watch?: string[];
  /**
   * `online$` reports instances as they come online after a watch started; with
   * `replayOnline: true` it also reports, when each watch of this instance
   * starts, the instances already online then (its snapshot), each once.
   * Default false: the snapshot is what `members$` replays.
   */
  replayOnline?: boolean;
  /** Hand out ring views in messages$ (valid only during `next`). */
  zeroCopy?: boolean;
}

/** The routing strategies of stateless sends, by name (README "Routing"). */
export type StrategyName = 'round-robin' | 'random' | 'least-loaded' | 'consistent-hash' | 'local-first';

/** Options of sendTo and broadcast. */
export interface SendToOptions {
  /** As for send (SendOptions.headers). */
  headers?: Headers;
}

/** How a stateless send routes: the strategy, its key, or a sticky `via`. */
export interface SendOptions {
  /** Default 'round-robin'. */
  strategy?: StrategyName;
  /** The routing key for 'consistent-hash' (required there: without it, BadArgumentError). */
  key?: string | number;
  /**
   * Sticky routing: an instance of the same service (typically what an earlier
   * `send` returned). While this instance's membership view has it online, the
   * message goes to it and the strategy is not consulted. Once it is offline
   * (its offline event arrived, or it was never online in the view), the
   * strategy picks as if no `via` was given (with `key` for consistent-hash),
   * and `send` returns that new instance: pass the return value as the next
   * `via`. Until the offline event reaches this instance, sends still go to
   * the old instance; those, and any it never read, come back on
   * `undeliverable$` (reason `offline`): nothing is re-sent for you. The
   * fallback needs the service watched (else NotWatchedError) and returns
   * null (no_route) when no instance is online. A `via` of another service is
   * a BadArgumentError.
   */
  via?: InstanceRef;
  /**
   * Strings the message carries beside its value (`msg.headers` at the
   * receiver): a plain object of string values, at most HEADERS_MAX_BYTES
   * (4 KiB) encoded, else BadArgumentError and nothing is sent.
   */
  headers?: Headers;
}

/** A request's routing (as a send's), its timeout, an abort signal and whether it may be re-routed. */
export interface RequestOptions extends SendOptions {
  /** Default 5000. */
  timeoutMs?: number;
  /** Aborting it drops the pending request (its timer too) and rejects it with ClosedError. */
  signal?: AbortSignal;
  /**
   * True: a request addressed to a service that comes back `offline` (its
   * instance left, e.g. drained, before reading it: never handed out) is sent
   * once more to another instance, within the same timeout. It then reaches
   * that instance after whatever this sender sent it meanwhile: per-pair order
   * is traded for availability, so it is opt-in. Default false: it rejects at
   * once (NoRouteError). Requests to an InstanceRef are never re-sent.
   */
  reroute?: boolean;
}

/** Counters of what an instance holds (specs check that operators release everything). */
export interface InstanceStats {
  /** Watches held on the agent (the instance's own plus those operators hold). */
  watches: number;
  /** Requests waiting for a reply. */
  pendingRequests: number;
  /** Senders waiting in whenWritable(). */
  writeWaiters: number;
  /** Large messages partly received (their senders' remaining fragments still due). */
  partialMessages: number;
}

/** What offline$ emits: the instance that went offline and why. */
export interface OfflineInfo {
  instance: InstanceRef;
  reason: OfflineReason;
}
