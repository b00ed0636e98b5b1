/**
 * Instance: a service name plus user data, registered, started up and then
 * routable. Its streams:
 *   startup$       emits its own ref once online, then completes (errors with a MeshError)
 *   online$        watched instances coming online after the watch started (hot; with
 *                  `replayOnline` also those already online when it started)
 *   offline$       watched instances going offline, with a reason (hot)
 *   messages$      messages to this instance (hot; held in the ring while nobody subscribes)
 *   undeliverable$ messages it sent that could not be delivered, with a reason (hot)
 *
 * Sending and reading go through its InstanceRings: the tx and rx rings the
 * agent made for it, and the pair rings to and from other instances on this
 * host; its view of the mesh lives in Watches.
 */
import { firstValueFrom, Observable, ReplaySubject, Subject } from 'rxjs';
import { ControlMessage } from '../protocol/control-messages.js';
import type { Created, PairClosedEvent } from '../protocol/control-bodies.js';
import { BOUNCE_REASON_NAMES, BounceReason, bounceReasonOf, Flag } from '../protocol/envelope.js';
import {
  AgentLostError, BadArgumentError, ClosedError, ConflictError, CrossGameError, InDoubtError, KickedError, LimitError, MeshError, NoRouteError, NotWatchedError, RemoteError,
} from '../protocol/errors.js';
import { headerBlock, splitHeaders, type Headers } from '../protocol/headers.js';
import { gameOf, validatePattern, validateService, validateUserData } from '../protocol/names.js';
import type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, SendToOptions, StrategyName } from './instance-options.js';
import { InstanceRings, type HeldRing, type RingsHost } from './instance-rings.js';
import { Message, type InstanceRef, type ReplyPort, type Undeliverable } from './message.js';
import { decodePayload, encodePayload } from './payload.js';
import { PendingRequests } from './pending-requests.js';
import { ConsistentHashStrategy } from './strategies/consistent-hash.js';
import { LeastLoadedStrategy } from './strategies/least-loaded.js';
import { LocalFirstStrategy } from './strategies/local-first.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import type { RouteContext, Strategy } from './strategies/strategy.js';
import { traceReply, traceRequest, traceSend } from './tracing.js';
import { Watches, type WatchHost } from './watches.js';

export type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, SendToOptions, StrategyName } from './instance-options.js';

/** What an Instance needs from its Mesh (its rings' needs included: the incarnation, the doorbells, control requests). */
export interface InstanceHost extends WatchHost, RingsHost {
  attach(inst: Instance, localId: number): void;
  detach(localId: number): void;
  /** The instance is closed for good. */
  forget(inst: Instance): void;
  /** The names of an address (an address of another epoch keeps its epoch). */
  resolveRef(node: number, localId: number, epoch?: number): InstanceRef;
  /** The queue depth the agent last reported for an instance (0 when unknown). */
  load(node: number, localId: number): number;
}

type State = 'starting' | 'online' | 'suspended' | 'closing' | 'closed';

export class Instance implements ReplyPort, AsyncDisposable {
  readonly userData: string;
  private readonly startupSubject = new ReplaySubject<InstanceRef>(1);
  private readonly onlineSubject = new Subject<InstanceRef>();
  private readonly offlineSubject = new Subject<OfflineInfo>();
  private readonly messageSubject = new Subject<Message>();
  private readonly undeliverableSubject = new Subject<Undeliverable>();
  readonly startup$: Observable<InstanceRef> = this.startupSubject.asObservable();
  readonly online$: Observable<InstanceRef> = this.onlineSubject.asObservable();
  readonly offline$: Observable<OfflineInfo> = this.offlineSubject.asObservable();
  /** Hot. Messages wait in the ring until someone subscribes; an instance that closes
   * before they are taken bounces them to their senders. */
  readonly messages$: Observable<Message> = this.reading(this.messageSubject);
  /** Hot. Messages this instance sent that could not be delivered, with a reason. */
  readonly undeliverable$: Observable<Undeliverable> = this.reading(this.undeliverableSubject);

  private readonly watches: Watches;
  private readonly strategies: Record<StrategyName, Strategy> = {
    'round-robin': new RoundRobinStrategy(),
    random: new RandomStrategy(),
    'least-loaded': new LeastLoadedStrategy(),
    'consistent-hash': new ConsistentHashStrategy(),
    'local-first': new LocalFirstStrategy(),
  };
  private readonly loadOf = (ref: InstanceRef): number => this.host.load(ref.node, ref.localId);
  private readonly requests = new PendingRequests();
  /** Its rings with the agent it is connected to. */
  private rings: InstanceRings | undefined;
  /** Rings of earlier agent incarnations that still hold messages for a subscriber to come. */
  private legacy: HeldRing[] = [];
  /** Numbers its large plain messages (Outbox): one count for all its rings. */
  private largeNo = 0;
  private readonly nextLarge = (): number => (this.largeNo = this.largeNo >= 0xfffffff0 ? 1 : this.largeNo + 1);
  private localId = 0;
  private selfRef: InstanceRef | undefined;
  private state: State = 'starting';
  private kickedBy = false;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(
    readonly service: string,
    private readonly options: InstanceOptions,
    private readonly host: InstanceHost,
  ) {
    validateService(service);
    this.userData = validateUserData(options.userData);
    for (const p of options.watch ?? []) validatePattern(p);
    this.watches = new Watches(host, {
      online: (ref) => this.onlineSubject.next(ref),
      offline: (ref, reason) => {
        this.rings?.forget(ref.node, ref.localId);
        this.offlineSubject.next({ instance: ref, reason });
      },
    }, options.replayOnline === true);
    void this.start();
  }

  private reading<T>(subject: Subject<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      const sub = subject.subscribe(subscriber);
      this.startReading();
      this.host.wake(); // held messages may go now
      return sub;
    });
  }

  private startReading(): void {
    if (this.started) return;
    this.started = true;
    this.host.wake();
  }

  /** Its own ref, once online. */
  get ref(): InstanceRef | undefined {
    return this.selfRef;
  }

  // ---------------------------------------------------------------- lifecycle

  private async start(): Promise<void> {
    try {
      this.attachRings(await this.create());
      for (const p of this.options.watch ?? []) await this.watches.watch(p);
      if (this.state !== 'starting') throw new ClosedError('closed during startup');
      this.selfRef = await this.host.control(ControlMessage.STARTUP, { localId: this.localId });
      this.state = 'online';
      this.startupSubject.next(this.selfRef);
      this.startupSubject.complete();
    } catch (err) {
      const localId = this.localId;
      this.release();
      // CREATE went through but a later step failed: give the name back.
      if (localId) void this.host.control(ControlMessage.CLOSE, { localId }).then(() => this.host.control(ControlMessage.RELEASE, { localId })).catch(() => {});
      this.startupSubject.error(err instanceof MeshError ? err : new MeshError('INTERNAL', (err as Error).message, { cause: err }));
    }
  }

  private create(): Promise<Created> {
    return this.host.control(ControlMessage.CREATE, {
      // the agent takes only these two: anything else is the default, as it always was
      service: this.service, userData: this.userData, conflict: this.options.conflict === 'replace' ? 'replace' : 'reject',
    });
  }

  private attachRings(created: Created): void {
    this.localId = created.localId;
    this.selfRef = created.info;
    this.rings = new InstanceRings(created, this.host, {
      canDeliver: () => this.messageSubject.observed && this.state !== 'closing' && this.state !== 'closed',
      message: (payload, flags, node, local, corr, epoch) => this.onMessage(payload, flags, node, local, corr, epoch),
      reply: (payload, flags, node, local, corr, epoch) => this.onReply(payload, flags, node, local, corr, epoch),
      bounce: (payload, flags, node, local, corr, epoch) => this.onBounce(payload, flags, node, local, corr, epoch),
    }, this.options.zeroCopy === true, this.nextLarge, (payload, flags, node, local, corr, reason) => this.report(payload, flags, node, local, corr, reason));
    this.host.attach(this, this.localId);
  }

  /** PAIR_CLOSED: the reader of a pair ring we write went away, or the writer of one we read. */
  pairClosed(ev: PairClosedEvent): void {
    this.rings?.pairClosed(ev);
  }

  /**
   * The agent connection was lost. Read what it had written for us, report
   * every message it had not settled (`in_doubt` if it had read it,
   * `agent_lost` if not), and keep the streams open for resume(). An rx ring
   * still holding messages for a subscriber to come stays readable.
   */
  suspend(err: AgentLostError): void {
    if (this.state === 'starting') return this.fail(err);
    if (this.state !== 'online' && this.state !== 'closing') return;
    const wasClosing = this.state === 'closing';
    this.state = 'suspended';
    this.legacy.push(...(this.rings?.suspend(this.started, !wasClosing) ?? []));
    this.rings = undefined;
    this.requests.rejectAll(err);
    this.watches.lost();
    if (wasClosing) this.release(err);
  }

  /**
   * The agent is back: register again under the same name and conflict
   * strategy (retrying while the old registration waits out its lease),
   * watch again, start up.
   */
  async resume(retryForMs = 15_000): Promise<void> {
    if (this.state !== 'suspended') return;
    const deadline = performance.now() + retryForMs;
    let created: Created;
    for (;;) {
      try {
        created = await this.create();
        break;
      } catch (err) {
        if (!(err instanceof ConflictError) || performance.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.attachRings(created);
    await this.watches.rewatch();
    this.selfRef = await this.host.control(ControlMessage.STARTUP, { localId: this.localId });
    this.state = 'online';
    if (this.started) this.host.wake();
  }

  /** Close: offline for its watchers (reason `closed`); resolves once what it sent is
   * delivered or reported; messages waiting for it are bounced to their senders. */
  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    if (this.state === 'starting') return firstValueFrom(this.startup$).then(() => this.close(), () => {});
    if (this.state === 'suspended') {
      this.release();
      return Promise.resolve();
    }
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** `await using inst = mesh.instance(...)`: closed at the end of the scope, as close() does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    const localId = this.localId;
    if (this.rings?.pending) await this.rings.whenWritable(5000).catch(() => {});
    this.rings?.stopWriting(); // no pair ring is written after this: their readers read them to the end
    await this.watches.closeAll();
    // answered once everything we sent is read and settled; meanwhile the pump reads its reports
    await this.host.control(ControlMessage.CLOSE, { localId }).catch(() => {});
    if (this.state !== 'closing') return;
    this.rings?.pump(Number.MAX_SAFE_INTEGER);
    await this.host.control(ControlMessage.RELEASE, { localId }).catch(() => {});
    if (this.state === 'closing') this.release();
  }

  /** The agent says another registration replaced this one: it closes, and says so once. */
  kicked(): void {
    if (this.state !== 'online') return;
    this.kickedBy = true;
    this.closing = this.shutdown(); // sends throw from here on, also inside offline$ handlers
    if (this.selfRef) this.offlineSubject.next({ instance: this.selfRef, reason: 'replaced' });
  }

  /** The agent dropped the instance, or the agent connection was lost for good. */
  fail(err: MeshError): void {
    if (this.state === 'starting') this.startupSubject.error(err);
    this.release(err);
  }

  private release(err?: Error): void {
    if (this.state === 'closed') return;
    const rings = this.rings;
    this.rings = undefined;
    this.state = 'closed';
    this.host.forget(this);
    rings?.close(); // what is still queued in JS is reported queue_full
    if (this.localId) this.host.detach(this.localId);
    this.requests.rejectAll(err ?? new ClosedError('instance closed'));
    this.watches.complete();
    for (const l of this.legacy) l.ring.close();
    this.legacy = [];
    for (const s of [this.onlineSubject, this.offlineSubject, this.messageSubject, this.undeliverableSubject]) s.complete();
  }

  // ---------------------------------------------------------------- reading (called by the Mesh pump)

  /** Read what is waiting. Returns the records looked at. */
  pump(): number {
    if (!this.started || this.state === 'closed') return 0;
    let n = 0;
    if (this.legacy.length > 0) {
      for (const l of this.legacy) n += l.inbox.pump();
      this.legacy = this.legacy.filter((l) => l.inbox.holding || (l.ring.close(), false));
      if (this.legacy.length > 0) return n; // messages of the old incarnation go first
    }
    return n + (this.rings?.pump() ?? 0);
  }

  /** A request of this instance awaits its reply. */
  get awaitingReply(): boolean {
    return this.requests.size > 0;
  }

  /** Set the parked word of every ring it reads: false if data arrived meanwhile. */
  park(): boolean {
    return !this.rings || !this.started || this.state === 'closed' || this.rings.park();
  }

  /** The doorbell rang: an Outbox waiting for room tries again. */
  wakeOutbox(): void {
    this.rings?.wake();
  }

  // ---------------------------------------------------------------- watching

  /** Watch a service so `send` can route to it (tbuspp's CreateService). */
  service$(service: string): Promise<void> {
    return this.watches.service(service);
  }

  /** Hold a watch on `service` until the returned release is called (operators hold what they send to). */
  holdWatch(service: string): Promise<() => void> {
    return this.watches.hold(service, () => this.ensureOnline());
  }

  /** Replays the current set of a service's online instances, then every change. */
  members$(service: string): Observable<InstanceRef[]> {
    return this.watches.members$(service);
  }

  // ---------------------------------------------------------------- sending

  private ensureOnline(): InstanceRings {
    if (this.state === 'online' && this.rings) return this.rings;
    if (this.state === 'suspended') throw new AgentLostError('the agent connection is lost; reconnecting');
    if (this.kickedBy) throw new KickedError('instance was replaced by another registration');
    throw new ClosedError(this.state === 'starting' ? 'instance has not started up yet' : 'instance is closed');
  }

  /** Queue `value` for `to`, with the app's `headers` and the `trace` context (tracing.ts) in front when there are any. */
  private deliver(to: InstanceRef, value: unknown, flags = 0, corr = 0, headers?: Headers, trace?: Headers): void {
    const { bytes, flags: f } = encodePayload(value, headerBlock(headers, trace));
    this.ensureOnline().push(to.node, to.localId, to.epoch, f | flags, corr, bytes);
  }

  /** Route to the instance a strategy picks (`via` while it is online); null when none is online. */
  private route(service: string, opts: SendOptions): InstanceRef | null {
    const m = this.watches.membership;
    if (opts.via) {
      if (opts.via.service !== service) throw new BadArgumentError(`via ${opts.via.id} is not an instance of '${service}'`);
      if (m.isOnline(opts.via)) return opts.via;
    }
    this.sameGame(service);
    if (!m.covers(service)) {
      throw new NotWatchedError(`service '${service}' is not watched by ${this.selfRef?.id ?? this.service}: pass it in \`watch\` or await inst.service$('${service}') first`);
    }
    const strategy = this.strategies[opts.strategy ?? 'round-robin'];
    if (!strategy) throw new BadArgumentError(`unknown strategy '${String(opts.strategy)}'`);
    const ctx: RouteContext = { service, load: this.loadOf };
    if (opts.key !== undefined) ctx.key = opts.key;
    return strategy.select(m.members(service), ctx) ?? null;
  }

  /** Games are isolated: a service of another game is never routable from here (watching it fails too). */
  private sameGame(service: string): void {
    const game = gameOf(this.service);
    if (gameOf(service) !== game) throw new CrossGameError(`service '${service}' belongs to game '${gameOf(service)}', not '${game}': an instance only reaches its own game`);
  }

  /** The queue depth (bytes waiting) its agent last reported for `ref`; 0 when unknown. */
  load(ref: InstanceRef): number {
    return this.host.load(ref.node, ref.localId);
  }

  /**
   * Resolves once this instance's outgoing queue has room again (at once when
   * it has): the sender-side wait for a full tx ring. Bounded: rejects with
   * QueueFullError after `timeoutMs`, ClosedError on close or when `signal` aborts.
   */
  whenWritable(timeoutMs = 5000, signal?: AbortSignal): Promise<void> {
    try {
      return this.ensureOnline().whenWritable(timeoutMs, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  stats(): InstanceStats {
    return {
      watches: this.watches.count,
      pendingRequests: this.requests.size,
      writeWaiters: this.rings?.waiting ?? 0,
      partialMessages: this.rings?.partials ?? 0,
    };
  }

  /** Stateless send: one instance of `service`, load-balanced. Returns the
   * routed instance (pass it back as `via` for sticky routing), or null when
   * none is online (the message is reported on undeliverable$, reason no_route). */
  send(service: string, value: unknown, opts: SendOptions = {}): InstanceRef | null {
    validateService(service);
    this.ensureOnline();
    const to = this.route(service, opts);
    if (!to) {
      this.noRoute(service, value, 0, opts.headers);
      return null;
    }
    this.deliver(to, value, 0, 0, opts.headers, traceSend(service));
    return to;
  }

  private noRoute(service: string, value: unknown, corr: number, headers: Headers | undefined): void {
    if (headers !== undefined) headerBlock(headers); // bad headers throw, as for a routed send
    const { bytes, flags } = encodePayload(value);
    const copy = bytes.slice();
    const to = { service, userData: '', id: `${service}/`, agentId: '', node: 0, localId: 0, epoch: 0 };
    const report: Undeliverable = { to, reason: 'no_route', data: copy, headers: headers && Object.freeze({ ...headers }), corr, value: <T>() => decodePayload<T>(copy, flags) };
    queueMicrotask(() => this.undeliverableSubject.next(report));
  }

  /** Stateful send: exactly this instance (`headers` as for send). */
  sendTo(ref: InstanceRef, value: unknown, opts?: SendToOptions): void {
    this.deliver(ref, value, 0, 0, opts?.headers, traceSend(ref.service));
  }

  /** Send to every online instance of a service; returns how many. */
  broadcast(service: string, value: unknown, opts?: SendToOptions): number {
    validateService(service);
    this.ensureOnline();
    this.sameGame(service);
    if (!this.watches.membership.covers(service)) throw new NotWatchedError(`service '${service}' is not watched`);
    const members = this.watches.membership.members(service);
    const trace = members.length > 0 ? traceSend(service) : undefined;
    for (const m of members) this.deliver(m, value, 0, 0, opts?.headers, trace);
    return members.length;
  }

  /** Send a request and wait for its reply (cold: nothing is sent until called). */
  request(target: string | InstanceRef, value: unknown, opts: RequestOptions = {}): Promise<Message> {
    try {
      this.ensureOnline();
      this.startReading();
      const to = typeof target === 'string' ? this.route(validateService(target), opts) : target;
      if (!to) return Promise.reject(new NoRouteError(`no instance of '${String(target)}' is online`));
      return traceRequest(to.service, (trace) => this.requests.start(to.id, opts.timeoutMs ?? 5000, opts.signal, (corr) => this.deliver(to, value, Flag.REQUEST, corr, opts.headers, trace)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  replyTo(node: number, localId: number, epoch: number, corr: number, value: unknown, request: boolean, error: boolean, headers: Headers | undefined, traced: boolean): void {
    const { bytes, flags } = encodePayload(value, headerBlock(headers, traced ? traceReply() : undefined));
    const replyFlags = request ? Flag.REPLY | (error ? Flag.ERROR_REPLY : 0) : 0;
    this.ensureOnline().push(node, localId, epoch, flags | replyFlags, request ? corr : 0, bytes);
  }

  resolveRef(node: number, localId: number, epoch?: number): InstanceRef {
    return this.host.resolveRef(node, localId, epoch);
  }

  /** The names of an instance known only by its address (e.g. a sender this instance never watched). */
  resolve(ref: InstanceRef): Promise<InstanceRef> {
    return this.host.control(ControlMessage.RESOLVE, { node: ref.node, localId: ref.localId });
  }

  // ---------------------------------------------------------------- what the Inbox hands out

  private onMessage(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void {
    this.messageSubject.next(new Message(payload, flags, node, local, epoch, corr, this.selfRef!, this));
  }

  private onReply(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void {
    const p = this.requests.settle(corr);
    if (!p) return;
    const msg = new Message(payload, flags, node, local, epoch, corr, this.selfRef!, this);
    if (flags & Flag.ERROR_REPLY) {
      const e = msg.value<{ code?: string; message?: string }>();
      p.reject(new RemoteError(`${e?.code ?? 'REMOTE'}: ${e?.message ?? 'remote error'}`));
    } else {
      p.resolve(msg);
    }
  }

  private onBounce(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void {
    this.report(payload, flags, node, local, corr, bounceReasonOf(flags), epoch);
  }

  /** One message of ours was not delivered (or may not have been): tell its request and undeliverable$. */
  private report(payload: Uint8Array, flags: number, node: number, local: number, corr: number, reasonCode: BounceReason, epoch?: number): void {
    if (flags & (Flag.REPLY | Flag.PAIR)) return; // a reply to a requester that went away: nobody to tell; a pair marker: nobody's message
    const reason = BOUNCE_REASON_NAMES[reasonCode] ?? 'offline';
    const to = this.host.resolveRef(node, local, epoch);
    if (flags & Flag.REQUEST) {
      const why = `request to ${to.id} undeliverable: ${reason}`;
      const err = reason === 'in_doubt' ? new InDoubtError(why) : reason === 'agent_lost' ? new AgentLostError(why)
        : reason === 'limit' ? new LimitError(why) : new NoRouteError(why);
      this.requests.settle(corr)?.reject(err);
    }
    const { headers, data } = flags & Flag.HEADERS ? splitHeaders(payload) : { headers: undefined, data: payload };
    this.undeliverableSubject.next({ to, reason, data, headers, corr: flags & Flag.REQUEST ? corr : 0, value: <T>() => decodePayload<T>(data, flags) });
  }
}
