/**
 * Sender: how an instance sends. It routes stateless sends by strategy (or
 * sticky `via`), sends to one instance, broadcasts, runs requests and their
 * replies, answers messages (it is every Message's ReplyPort), and turns what
 * comes back undelivered into rejected requests and `undeliverable$`.
 *
 * It owns no rings: it asks its instance for them on every send, so a closed
 * or suspended instance refuses sends with the reason.
 */
import { Subject } from 'rxjs';
import { BOUNCE_REASON_NAMES, BounceReason, bounceReasonOf, Flag, WHOLE_MESSAGE_MAX } from '../protocol/envelope.js';
import {
  AgentLostError, BadArgumentError, CrossGameError, InDoubtError, LimitError, NoRouteError, NotWatchedError, RemoteError,
} from '../protocol/errors.js';
import { gameOf, validateService } from '../protocol/names.js';
import { headerBlock, splitHeaders, type Headers } from '../protocol/headers.js';
import type { RequestOptions, SendOptions, SendToOptions, StrategyName } from './instance-options.js';
import type { InstanceRings } from './instance-rings.js';
import { Message, type InstanceRef, type ReplyPort, type Undeliverable } from './message.js';
import { decodePayload, encodePayload } from './payload.js';
import { PendingRequests } from './pending-requests.js';
import { ringFailure } from './ring-failure.js';
import { ConsistentHashStrategy } from './strategies/consistent-hash.js';
import { LeastLoadedStrategy } from './strategies/least-loaded.js';
import { LocalFirstStrategy } from './strategies/local-first.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import type { RouteContext, Strategy } from './strategies/strategy.js';
import { traceReply, traceRequest, traceSend } from './tracing.js';
import type { Membership } from './membership.js';

/** What a Sender needs from its instance and mesh. */
export interface SenderHost {
  /** The sending instance's service (its game is the only one it reaches). */
  readonly service: string;
  /** Its id once online (for error messages), else its service. */
  readonly name: string;
  /** Its view of the watched services. */
  readonly membership: Membership;
  /** Its rings when it may send; throws why it may not (closed, suspended, replaced, starting). */
  ensureOnline(): InstanceRings;
  /** Make sure its rings are read (a reply is on its way). */
  startReading(): void;
  /** The names of an address (an address of another epoch keeps its epoch). */
  resolveRef(node: number, localId: number, epoch?: number): InstanceRef;
  /** The queue depth its agent last reported for an instance (0 when unknown). */
  load(node: number, localId: number): number;
  /** It answered a request (a drain counts what it still owes). */
  answered(): void;
}

export class Sender implements ReplyPort {
  /** What this instance sent that could not be delivered (or may not have been). */
  readonly undeliverable = new Subject<Undeliverable>();
  readonly requests = new PendingRequests();
  private readonly strategies: Record<StrategyName, Strategy> = {
    'round-robin': new RoundRobinStrategy(),
    random: new RandomStrategy(),
    'least-loaded': new LeastLoadedStrategy(),
    'consistent-hash': new ConsistentHashStrategy(),
    'local-first': new LocalFirstStrategy(),
  };
  private readonly loadOf = (ref: InstanceRef): number => this.host.load(ref.node, ref.localId);

  constructor(private readonly host: SenderHost) {}

  send(service: string, value: unknown, opts: SendOptions): InstanceRef | null {
    validateService(service);
    this.host.ensureOnline();
    const to = this.route(service, opts);
    if (!to) {
      this.noRoute(service, value, 0, opts.headers);
      return null;
    }
    this.deliver(to, value, 0, 0, opts.headers, traceSend(service));
    return to;
  }

  sendTo(ref: InstanceRef, value: unknown, opts?: SendToOptions): void {
    this.deliver(ref, value, 0, 0, opts?.headers, traceSend(ref.service));
  }

  broadcast(service: string, value: unknown, opts?: SendToOptions): number {
    validateService(service);
    this.host.ensureOnline();
    this.sameGame(service);
    const m = this.host.membership;
    if (!m.covers(service)) throw new NotWatchedError(`service '${service}' is not watched`);
    const members = m.members(service);
    const trace = members.length > 0 ? traceSend(service) : undefined;
    for (const to of members) this.deliver(to, value, 0, 0, opts?.headers, trace);
    return members.length;
  }

  /**
   * With `reroute: true`, a request addressed to a service that comes back
   * `offline` (never handed out: its instance left, e.g. drained, before
   * reading it) is sent once more, to another instance (not when larger than a
   * whole-delivered message).
   */
  request(target: string | InstanceRef, value: unknown, opts: RequestOptions): Promise<Message> {
    try {
      this.host.ensureOnline();
      this.host.startReading();
      const service = typeof target === 'string' ? validateService(target) : undefined;
      const to = service !== undefined ? this.route(service, opts) : (target as InstanceRef);
      if (!to) return Promise.reject(new NoRouteError(`no instance of '${String(target)}' is online`));
      return traceRequest(to.service, (trace) => {
        const { bytes, flags } = encodePayload(value, headerBlock(opts.headers, trace));
        const retry = service !== undefined && opts.reroute === true && bytes.length <= WHOLE_MESSAGE_MAX
          ? (from: InstanceRef, payload: Uint8Array, corr: number): boolean => this.reroute(service, opts, from, payload, flags, corr)
          : undefined;
        return this.requests.start(to.id, opts.timeoutMs ?? 5000, opts.signal, (corr) => this.push(to.node, to.localId, to.epoch, flags | Flag.REQUEST, corr, bytes), retry);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A request to `service` came back `offline` from `from`, never handed out: send it (whole, as it came back) to another instance. */
  private reroute(service: string, opts: SendOptions, from: InstanceRef, payload: Uint8Array, flags: number, corr: number): boolean {
    try {
      const to = this.route(service, { ...opts, via: undefined }, from);
      if (!to) return false;
      this.push(to.node, to.localId, to.epoch, flags | Flag.REQUEST, corr, payload.slice());
      return true;
    } catch {
      return false; // (not online any more, or no room: reported as it came back)
    }
  }

  // ---------------------------------------------------------------- ReplyPort (what a Message needs)

  replyTo(node: number, localId: number, epoch: number, corr: number, value: unknown, request: boolean, error: boolean, headers: Headers | undefined, traced: boolean): void {
    const { bytes, flags } = encodePayload(value, headerBlock(headers, traced ? traceReply() : undefined));
    const replyFlags = request ? Flag.REPLY | (error ? Flag.ERROR_REPLY : 0) : 0;
    if (request) this.host.answered();
    this.push(node, localId, epoch, flags | replyFlags, request ? corr : 0, bytes);
  }

  resolveRef(node: number, localId: number, epoch?: number): InstanceRef {
    return this.host.resolveRef(node, localId, epoch);
  }

  whenWritable(timeoutMs = 5000, signal?: AbortSignal): Promise<void> {
    try {
      return this.host.ensureOnline().whenWritable(timeoutMs, signal);
    } catch (err) {
      return Promise.reject(ringFailure(err));
    }
  }

  // ---------------------------------------------------------------- what comes back

  /** A reply arrived: settle its request (a reply nobody waits for any more is dropped). */
  onReply(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number, to: InstanceRef): void {
    const p = this.requests.replied(corr);
    if (!p) return;
    const msg = new Message(payload, flags, node, local, epoch, corr, to, this);
    if (flags & Flag.ERROR_REPLY) {
      const e = msg.value<{ code?: string; message?: string }>();
      p.reject(new RemoteError(`${e?.code ?? 'REMOTE'}: ${e?.message ?? 'remote error'}`));
    } else {
      p.resolve(msg);
    }
  }

  onBounce(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void {
    this.report(payload, flags, node, local, corr, bounceReasonOf(flags), epoch);
  }

  /** One message of ours was not delivered (or may not have been): tell its request and undeliverable$. */
  report(payload: Uint8Array, flags: number, node: number, local: number, corr: number, reasonCode: BounceReason, epoch?: number): void {
    if (flags & (Flag.REPLY | Flag.PAIR)) return; // a reply to a requester that went away: nobody to tell; a pair marker: nobody's message
    const reason = BOUNCE_REASON_NAMES[reasonCode] ?? 'offline';
    const to = this.host.resolveRef(node, local, epoch);
    if (flags & Flag.REQUEST) {
      if (reason === 'offline' && this.requests.retry(corr, to, payload)) return; // sent again, to another instance: nothing to report
      const why = `request to ${to.id} undeliverable: ${reason}`;
      const err = reason === 'in_doubt' ? new InDoubtError(why) : reason === 'agent_lost' ? new AgentLostError(why)
        : reason === 'limit' ? new LimitError(why) : new NoRouteError(why);
      this.requests.settle(corr)?.reject(err);
    }
    const { headers, data } = flags & Flag.HEADERS ? splitHeaders(payload) : { headers: undefined, data: payload };
    this.undeliverable.next({ to, reason, data, headers, corr: flags & Flag.REQUEST ? corr : 0, value: <T>() => decodePayload<T>(data, flags) });
  }

  // ---------------------------------------------------------------- routing

  /** Queue `value` for `to`, with the app's `headers` and the `trace` context (tracing.ts) in front when there are any. */
  private deliver(to: InstanceRef, value: unknown, flags = 0, corr = 0, headers?: Headers, trace?: Headers): void {
    const { bytes, flags: f } = encodePayload(value, headerBlock(headers, trace));
    this.push(to.node, to.localId, to.epoch, f | flags, corr, bytes);
  }

  private push(node: number, localId: number, epoch: number, flags: number, corr: number, bytes: Uint8Array): void {
    const rings = this.host.ensureOnline();
    try {
      rings.push(node, localId, epoch, flags, corr, bytes);
    } catch (err) {
      throw ringFailure(err);
    }
  }

  /** Route to the instance a strategy picks (`via` while it is online; never `exclude`); null when none is online. */
  private route(service: string, opts: SendOptions, exclude?: InstanceRef): InstanceRef | null {
    const m = this.host.membership;
    if (opts.via) {
      if (opts.via.service !== service) throw new BadArgumentError(`via ${opts.via.id} is not an instance of '${service}'`);
      if (m.isOnline(opts.via)) return opts.via;
    }
    this.sameGame(service);
    if (!m.covers(service)) {
      throw new NotWatchedError(`service '${service}' is not watched by ${this.host.name}: pass it in \`watch\` or await inst.service$('${service}') first`);
    }
    const strategy = this.strategies[opts.strategy ?? 'round-robin'];
    if (!strategy) throw new BadArgumentError(`unknown strategy '${String(opts.strategy)}'`);
    const ctx: RouteContext = { service, load: this.loadOf };
    if (opts.key !== undefined) ctx.key = opts.key;
    const members = m.members(service);
    return strategy.select(exclude ? members.filter((r) => r.node !== exclude.node || r.localId !== exclude.localId) : members, ctx) ?? null;
  }

  /** Games are isolated: a service of another game is never routable from here (watching it fails too). */
  private sameGame(service: string): void {
    const game = gameOf(this.host.service);
    if (gameOf(service) !== game) throw new CrossGameError(`service '${service}' belongs to game '${gameOf(service)}', not '${game}': an instance only reaches its own game`);
  }

  private noRoute(service: string, value: unknown, corr: number, headers: Headers | undefined): void {
    if (headers !== undefined) headerBlock(headers); // bad headers throw, as for a routed send
    const { bytes, flags } = encodePayload(value);
    const copy = bytes.slice();
    const to = { service, userData: '', id: `${service}/`, agentId: '', node: 0, localId: 0, epoch: 0 };
    const report: Undeliverable = { to, reason: 'no_route', data: copy, headers: headers && Object.freeze({ ...headers }), corr, value: <T>() => decodePayload<T>(copy, flags) };
    queueMicrotask(() => this.undeliverable.next(report));
  }
}
