/**
 * Limits: what one app connection, and one game, may hold in this agent, so a
 * careless or hostile app cannot take down the agent, or the other apps and
 * games it serves: instances, watches, and bytes waiting in the agent for its
 * instances (what their sinks keep until the ring has room). Each is counted per app
 * connection and per game; going past one is refused with a LimitError (code
 * LIMIT) naming the limit and the flag that sets it, and nothing else changes.
 *
 * The agent sees it through three calls: `take()` a counted slot (an instance,
 * a watch, a pair ring) and call the release it returns when that ends; `meter()` the bytes
 * held for one instance; and `LimitedSink`, the way into an instance's sink,
 * which charges what the sink keeps to that meter and refuses new messages
 * (undeliverable reason `limit`) while the app or game is at its byte limit.
 * Counts of an app or game that holds nothing are dropped, so a closed app
 * leaves nothing behind.
 */
import { Frag, fragOf, kindOf } from '../native/index.js';
import { BounceReason, envFlags, Flag, RecordKind } from '../protocol/envelope.js';
import { LimitError } from '../protocol/errors.js';
import { silentLogger, type Logger } from '../protocol/logger.js';
import type { LocalSink } from './local-sink.js';
import { NO_ORIGIN, Offer, type Origin, type OfferResult, type RecordSink, type Ticket, type Waiter } from './record-sink.js';

/** What one app connection and one game may hold in an agent (instances, watches, bytes queued). */
export interface LimitOptions {
  /** Instances one app connection may hold at once. */
  maxInstancesPerApp: number;
  /** Instances the apps of one game may hold at once on this agent. */
  maxInstancesPerGame: number;
  /** Watches one app connection may hold at once. */
  maxWatchesPerApp: number;
  /** Watches the apps of one game may hold at once on this agent. */
  maxWatchesPerGame: number;
  /** Bytes the agent may hold waiting for the instances of one app connection. */
  maxQueuedBytesPerApp: number;
  /** Bytes the agent may hold waiting for the instances of one game. */
  maxQueuedBytesPerGame: number;
  /** Pair rings one instance may write at once (pair-table.ts); 0: no pair rings. */
  maxPairsPerInstance: number;
  /** Pair rings the instances of one app connection may write at once. */
  maxPairsPerApp: number;
  /** Pair rings the instances of one game may write at once on this agent. */
  maxPairsPerGame: number;
}

export const DEFAULT_LIMITS: Readonly<LimitOptions> = {
  maxInstancesPerApp: 10_000,
  maxInstancesPerGame: 20_000,
  maxWatchesPerApp: 20_000,
  maxWatchesPerGame: 100_000,
  maxQueuedBytesPerApp: 64 * 1024 * 1024,
  maxQueuedBytesPerGame: 256 * 1024 * 1024,
  maxPairsPerInstance: 16,
  maxPairsPerApp: 256,
  maxPairsPerGame: 1024,
};

/** The command-line flag of each limit (named in refusals). */
export const LIMIT_FLAGS: Readonly<Record<keyof LimitOptions, string>> = {
  maxInstancesPerApp: '--max-instances-per-app',
  maxInstancesPerGame: '--max-instances-per-game',
  maxWatchesPerApp: '--max-watches-per-app',
  maxWatchesPerGame: '--max-watches-per-game',
  maxQueuedBytesPerApp: '--max-queued-bytes-per-app',
  maxQueuedBytesPerGame: '--max-queued-bytes-per-game',
  maxPairsPerInstance: '--max-pairs-per-instance',
  maxPairsPerApp: '--max-pairs-per-app',
  maxPairsPerGame: '--max-pairs-per-game',
};

export type Counted = 'instances' | 'watches' | 'pairs';

const KEYS: Record<Counted, [keyof LimitOptions, keyof LimitOptions]> = {
  instances: ['maxInstancesPerApp', 'maxInstancesPerGame'],
  watches: ['maxWatchesPerApp', 'maxWatchesPerGame'],
  pairs: ['maxPairsPerApp', 'maxPairsPerGame'],
};

class Usage {
  instances = 0;
  watches = 0;
  pairs = 0;
  /** Bytes of records held for its instances. */
  queued = 0;
  /** Instances metered. */
  meters = 0;

  get empty(): boolean {
    return this.instances === 0 && this.watches === 0 && this.pairs === 0 && this.meters === 0;
  }
}

export class Limits {
  readonly options: LimitOptions;
  private readonly apps = new Map<number, Usage>();
  private readonly games = new Map<string, Usage>();
  private lastLog = -Infinity;
  private unlogged = 0;

  constructor(options: Partial<LimitOptions> = {}, private readonly log: Logger = silentLogger) {
    const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<LimitOptions>;
    this.options = { ...DEFAULT_LIMITS, ...set };
    for (const [key, v] of Object.entries(this.options)) {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${LIMIT_FLAGS[key as keyof LimitOptions]} ${v}: must be a whole number, 0 or more`);
    }
  }

  /** A refusal, logged at most once a second (a looping app must not flood the log). */
  refuse(message: string): LimitError {
    const now = performance.now();
    if (now - this.lastLog >= 1000) {
      this.log.warn(`limit: ${message}${this.unlogged ? ` (and ${this.unlogged} more refusals)` : ''}`);
      this.lastLog = now;
      this.unlogged = 0;
    } else {
      this.unlogged++;
    }
    return new LimitError(message);
  }

  /** Count one more instance or watch for app `clientId` of `gameId`, or throw LimitError.
   * Returns its release (idempotent). */
  take(what: Counted, clientId: number, gameId: string): () => void {
    const [appKey, gameKey] = KEYS[what];
    const app = this.apps.get(clientId);
    const game = this.games.get(gameId);
    if ((app?.[what] ?? 0) >= this.options[appKey]) {
      throw this.refuse(`app connection ${clientId} holds ${app![what]} ${what}, the most one app may hold (${LIMIT_FLAGS[appKey]} ${this.options[appKey]})`);
    }
    if ((game?.[what] ?? 0) >= this.options[gameKey]) {
      throw this.refuse(`game '${gameId}' holds ${game![what]} ${what} on this agent, the most one game may hold (${LIMIT_FLAGS[gameKey]} ${this.options[gameKey]})`);
    }
    const a = this.usage(this.apps, clientId);
    const g = this.usage(this.games, gameId);
    a[what]++;
    g[what]++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      a[what]--;
      g[what]--;
      this.tidy(this.apps, clientId, a);
      this.tidy(this.games, gameId, g);
    };
  }

  /** The byte meter of one instance of app `clientId` of `gameId` (close it when the instance is gone). */
  meter(clientId: number, gameId: string): BufferMeter {
    const app = this.usage(this.apps, clientId);
    const game = this.usage(this.games, gameId);
    app.meters++;
    game.meters++;
    return new BufferMeter(app, game, this.options, () => {
      app.meters--;
      game.meters--;
      this.tidy(this.apps, clientId, app);
      this.tidy(this.games, gameId, game);
    });
  }

  private usage<K>(map: Map<K, Usage>, key: K): Usage {
    let u = map.get(key);
    if (!u) map.set(key, (u = new Usage()));
    return u;
  }

  private tidy<K>(map: Map<K, Usage>, key: K, u: Usage): void {
    if (u.empty && map.get(key) === u) map.delete(key);
  }
}

/** Bytes the agent holds for one instance (records its sink kept), charged to its app and its game. */
export class BufferMeter {
  private held = 0;
  private closed = false;

  constructor(
    private readonly app: Usage,
    private readonly game: Usage,
    private readonly options: LimitOptions,
    private readonly onClose: () => void,
  ) {}

  /** Is the instance's app or game at its byte limit? */
  get over(): boolean {
    return this.app.queued >= this.options.maxQueuedBytesPerApp || this.game.queued >= this.options.maxQueuedBytesPerGame;
  }

  /** `bytes` more (> 0) or fewer (< 0) held. */
  add(bytes: number): void {
    if (this.closed) return;
    this.held += bytes;
    this.app.queued += bytes;
    this.game.queued += bytes;
  }

  close(): void {
    if (this.closed) return;
    this.add(-this.held);
    this.closed = true;
    this.onClose();
  }
}

/**
 * The way into one instance's sink for everything routed to it (local sources
 * and peer links). A record the sink keeps (it asks the origin for a ticket:
 * waiting for room, or gathered into a whole message) is charged to the
 * instance's app and game until its ticket settles (written, refused or
 * orphaned); what the sink stages for this round's write is not, it is in the
 * ring when the round ends. While the app or game is at its byte limit, a new
 * message (a whole one, or the first fragment of one) is refused with reason
 * LIMIT; the rest of a message already started, ABORT ends and reports pass,
 * so no message is cut and no report is lost.
 */
export class LimitedSink implements RecordSink {
  /** The offer in progress (the sink asks for its ticket during the call): one origin object, no allocation per record. */
  private origin: Origin = NO_ORIGIN;
  private bytes = 0;
  private readonly charging = {
    pausable: false,
    ticket: (): Ticket => new MeteredTicket(this.origin.ticket(), this.meter, this.bytes),
  };

  constructor(
    private readonly sink: LocalSink,
    private readonly meter: BufferMeter,
  ) {}

  offer(type: number, body: Uint8Array, srcNode: number, srcLocal: number, origin: Origin): OfferResult {
    // (a pair marker is not a message: refusing it would leave its sender writing a ring nobody reads)
    if (kindOf(type) === RecordKind.DATA && startsMessage(type) && !(envFlags(body) & (Flag.ABORT | Flag.PAIR)) && this.meter.over) return BounceReason.LIMIT;
    if (this.sink.quick(type, body, srcNode, srcLocal)) return Offer.TAKEN; // staged: nothing kept, nothing to charge
    const outer = this.origin;
    const outerBytes = this.bytes;
    this.origin = origin;
    this.bytes = body.length;
    this.charging.pausable = origin.pausable === true;
    try {
      return this.sink.offer(type, body, srcNode, srcLocal, this.charging);
    } finally {
      this.origin = outer;
      this.bytes = outerBytes;
      this.charging.pausable = outer.pausable === true;
    }
  }

  quickAt(type: number, data: Uint8Array, start: number, len: number, srcNode: number, srcLocal: number): boolean {
    return !this.meter.over && this.sink.quickAt(type, data, start, len, srcNode, srcLocal);
  }

  block(waiter: Waiter): void {
    this.sink.block(waiter);
  }
}

/** `ticket`, with `bytes` charged to `meter` until it settles (a class: no closures per deferred record). */
class MeteredTicket implements Ticket {
  private held = true;

  constructor(
    private readonly ticket: Ticket,
    private readonly meter: BufferMeter,
    private readonly bytes: number,
  ) {
    meter.add(bytes);
  }

  private settle(): void {
    if (this.held) this.meter.add(-this.bytes);
    this.held = false;
  }

  done(): void {
    this.settle();
    this.ticket.done();
  }

  refuse(reason: BounceReason, type: number, body: Uint8Array, destNode: number, destLocal: number): void {
    this.settle();
    this.ticket.refuse(reason, type, body, destNode, destLocal);
  }
}

const startsMessage = (type: number): boolean => {
  const f = fragOf(type);
  return f === Frag.COMPLETE || f === Frag.BEGIN;
};
