/**
 * Router: where a record goes. It reads the destination from the envelope and
 * returns the sink to offer it to (a local instance's LocalSink, or the
 * PeerLink toward the agent hosting it), or why there is none. It holds no
 * records and no state of its own: queueing, pausing and time bounds belong
 * to the sinks (record-sink.ts).
 *
 * Every delivery is checked here, for records from apps and from peers alike:
 * the address must be of this agent incarnation (epoch), the destination
 * online, and in the source's game.
 */
import { BounceReason, envEpoch, envLocal, envNode } from '../protocol/envelope.js';
import type { RecordSink } from './record-sink.js';

/** What the router needs to know of a local instance. */
export interface Destination {
  readonly gameId: string;
  /** Started up and not leaving. */
  readonly routable: boolean;
  /** Where records for it are offered (its sink, behind its app's and game's limits). */
  readonly entry: RecordSink;
}

/** The peer links, seen from the router. */
export interface RemoteRoutes {
  /** The sink toward instance `local` of remote node `node`, for a source of game `game`. */
  sinkFor(node: number, local: number, game: string): RecordSink | BounceReason;
}

export class Router {
  remote: RemoteRoutes | undefined;

  constructor(
    private readonly epoch: number,
    private readonly instances: ReadonlyMap<number, Destination>,
  ) {}

  /** A record an app of game `game` wrote (its envelope, at `at` in `data`, holds the destination it addressed). */
  route(game: string, data: Uint8Array, at: number): RecordSink | BounceReason {
    if (envEpoch(data, at) !== this.epoch) return BounceReason.OFFLINE; // an address from an earlier incarnation
    const node = envNode(data, at);
    if (node !== 0) return this.remote ? this.remote.sinkFor(node, envLocal(data, at), game) : BounceReason.NO_ROUTE;
    return this.local(envLocal(data, at), game);
  }

  /** A local destination for a record from a source of game `game`. */
  local(localId: number, game: string): RecordSink | BounceReason {
    const dest = this.instances.get(localId);
    if (!dest || !dest.routable) return BounceReason.OFFLINE;
    if (dest.gameId !== game) return BounceReason.CROSS_GAME;
    return dest.entry;
  }

  /** A record a peer sent, addressed to (`epoch`, `localId`) here. */
  inbound(epoch: number, localId: number, game: string): RecordSink | BounceReason {
    if (epoch !== this.epoch) return BounceReason.OFFLINE;
    return this.local(localId, game);
  }
}
