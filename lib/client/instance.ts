/**
 * Instance: a service name plus user data, registered, started up and then
 * routable. Its streams:
 *   startup$       emits its own ref once online, then completes (errors with a MeshError)
 *   online$        watched instances coming online (hot)
 *   offline$       watched instances going offline, with a reason (hot)
 *   messages$      messages to this instance (hot)
 *   undeliverable$ messages it sent that could not be delivered, with a reason (hot)
 */
import { firstValueFrom, Observable, ReplaySubject, Subject } from 'rxjs';
import { Ring, type Doorbell } from '../native/index.js';
import { ControlMessage, type Created, type InstanceInfo } from '../protocol/control-messages.js';
import { BOUNCE_REASON_NAMES, bounceReasonOf, Flag } from '../protocol/envelope.js';
import { AgentLostError, BadArgumentError, ClosedError, ConflictError, MeshError, NoRouteError, NotWatchedError, RemoteError } from '../protocol/errors.js';
import { matches, validatePattern, validateService, validateUserData } from '../protocol/names.js';
import type { OfflineReason } from '../protocol/registry-messages.js';
import { Inbox } from './inbox.js';
import { Membership } from './membership.js';
import { Message, type InstanceRef, type ReplyPort, type Undeliverable } from './message.js';
import type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, StrategyName } from './instance-options.js';
import { Outbox } from './outbox.js';
import { PendingRequests } from './pending-requests.js';
import { decodePayload, encodePayload } from './payload.js';
import { ConsistentHashStrategy } from './strategies/consistent-hash.js';
import { LeastLoadedStrategy } from './strategies/least-loaded.js';
import { LocalFirstStrategy } from './strategies/local-first.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import type { RouteContext, Strategy } from './strategies/strategy.js';

export type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, StrategyName } from './instance-options.js';

/** What an Instance needs from its Mesh. */
export interface InstanceHost {
  readonly agentBell: Doorbell;
  control<T>(type: number, body: unknown): Promise<T>;
  watch(pattern: string, onEvent: (type: number, body: { instance: InstanceInfo; reason?: OfflineReason }) => void): Promise<{ watchId: number; instances: InstanceInfo[] }>;
  unwatch(watchId: number): Promise<void>;
  attach(inst: Instance, localId: number): void;
  detach(localId: number): void;
  /** The instance is closed for good. */
  forget(inst: Instance): void;
  /** Run the pump soon (an instance started reading). */
  wake(): void;
  resolveRef(node: number, localId: number): InstanceRef;
  /** The queue depth the agent last reported for an instance (0 when unknown). */
  load(node: number, localId: number): number;
}

interface WatchLease {
  count: number;
  watchId: Promise<number>;
}

export class Instance implements ReplyPort {
  readonly userData: string;
  private readonly startupSubject = new ReplaySubject<InstanceRef>(1);
  private readonly onlineSubject = new Subject<InstanceRef>();
  private readonly offlineSubject = new Subject<OfflineInfo>();
  private readonly messageSubject = new Subject<Message>();
  private readonly undeliverableSubject = new Subject<Undeliverable>();
  readonly startup$: Observable<InstanceRef> = this.startupSubject.asObservable();
  readonly online$: Observable<InstanceRef> = this.onlineSubject.asObservable();
  readonly offline$: Observable<OfflineInfo> = this.offlineSubject.asObservable();
  /** Hot. The instance starts reading its ring at the first subscription (to this,
   * undeliverable$, or a request): until then messages wait in the ring, so an
   * instance that closes before reading them bounces them to their senders. */
  readonly messages$: Observable<Message> = this.reading(this.messageSubject);
  /** Hot. Messages this instance sent that could not be delivered, with a reason. */
  readonly undeliverable$: Observable<Undeliverable> = this.reading(this.undeliverableSubject);
  private started = false;

  private readonly membership = new Membership();
  private readonly strategies: Record<StrategyName, Strategy> = {
    'round-robin': new RoundRobinStrategy(),
    random: new RandomStrategy(),
    'least-loaded': new LeastLoadedStrategy(),
    'consistent-hash': new ConsistentHashStrategy(),
    'local-first': new LocalFirstStrategy(),
  };
  private readonly loadOf = (ref: InstanceRef): number => this.host.load(ref.node, ref.localId);
  private readonly leases = new Map<string, WatchLease>();
  private readonly requests = new PendingRequests();
  private readonly watchIds: number[] = [];
  /** Patterns of the instance's own watches (not operator leases, which end). */
  private readonly ownPatterns: string[] = [];
  private tx: Ring | undefined;
  private rx: Ring | undefined;
  private outbox: Outbox | undefined;
  private localId = 0;
  private selfRef: InstanceRef | undefined;
  private state: 'starting' | 'online' | 'suspended' | 'closed' = 'starting';
  private readonly inbox: Inbox;

  constructor(
    readonly service: string,
    private readonly options: InstanceOptions,
    private readonly host: InstanceHost,
  ) {
    validateService(service);
    this.inbox = new Inbox({
      message: (...a) => this.onMessage(...a),
      reply: (...a) => this.onReply(...a),
      bounce: (...a) => this.onBounce(...a),
    }, options.zeroCopy === true);
    this.userData = validateUserData(options.userData);
    for (const p of options.watch ?? []) validatePattern(p);
    void this.start();
  }

  private reading<T>(subject: Subject<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      this.startReading();
      return subject.subscribe(subscriber);
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

  private async start(): Promise<void> {
    try {
      this.attachRings(await this.create());
      for (const p of this.options.watch ?? []) await this.watchPattern(p);
      if (this.state === 'closed') throw new ClosedError('closed during startup');
      this.selfRef = await this.host.control<InstanceInfo>(ControlMessage.STARTUP, { localId: this.localId });
      this.state = 'online';
      this.startupSubject.next(this.selfRef);
      this.startupSubject.complete();
    } catch (err) {
      const localId = this.localId;
      this.release();
      // CREATE went through but a later step failed: give the name back.
      if (localId) void this.host.control(ControlMessage.CLOSE, { localId }).catch(() => {});
      this.startupSubject.error(err instanceof MeshError ? err : new MeshError('INTERNAL', (err as Error).message, { cause: err }));
    }
  }

  private create(): Promise<Created> {
    return this.host.control<Created>(ControlMessage.CREATE, {
      service: this.service, userData: this.userData, conflict: this.options.conflict ?? 'reject',
    });
  }

  private attachRings(created: Created): void {
    this.localId = created.localId;
    this.selfRef = created.info;
    this.tx = Ring.open(created.txPath, 'producer');
    this.tx.setBell(this.host.agentBell);
    this.rx = Ring.open(created.rxPath, 'consumer');
    this.outbox = new Outbox(this.tx);
    this.host.attach(this, this.localId);
  }

  /**
   * The agent connection was lost: drop the rings (the agent that made them
   * is gone), fail requests in flight with AgentLostError, keep the streams
   * open for resume(). Sends fail with AgentLostError (retryable) meanwhile.
   */
  suspend(err: AgentLostError): void {
    if (this.state === 'starting') return this.fail(err);
    if (this.state !== 'online') return;
    this.state = 'suspended';
    this.outbox?.close();
    this.outbox = undefined;
    this.tx?.close();
    this.rx?.close();
    this.tx = this.rx = undefined;
    this.requests.rejectAll(err);
    this.watchIds.length = 0;
  }

  /**
   * The agent is back: register again under the same name and conflict
   * strategy (retrying while the old registration waits out its lease),
   * watch again, start up. Watchers of this instance see it online again;
   * its own online$/offline$ report only what really changed meanwhile.
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
    const before = new Map(this.membership.all().map((r) => [`${r.id}@${r.agentId}:${r.localId}`, r]));
    this.membership.reset();
    const patterns = this.ownPatterns.splice(0);
    for (const p of patterns) await this.watchPattern(p);
    for (const [service, lease] of this.leases) lease.watchId = this.watchPattern(service, false);
    await Promise.all([...this.leases.values()].map((l) => l.watchId));
    const after = new Map(this.membership.all().map((r) => [`${r.id}@${r.agentId}:${r.localId}`, r]));
    for (const [k, r] of before) if (!after.has(k)) this.offlineSubject.next({ instance: r, reason: 'agent_lost' });
    for (const [k, r] of after) if (!before.has(k)) this.onlineSubject.next(r);
    this.selfRef = await this.host.control<InstanceInfo>(ControlMessage.STARTUP, { localId: this.localId });
    this.state = 'online';
    if (this.started) this.host.wake();
  }

  private async watchPattern(pattern: string, own = true): Promise<number> {
    const { watchId, instances } = await this.host.watch(pattern, (type, ev) => {
      if (type === ControlMessage.ONLINE) {
        this.membership.online(ev.instance);
        this.onlineSubject.next(ev.instance);
      } else {
        this.membership.offline(ev.instance);
        this.inbox.forget(ev.instance.node, ev.instance.localId);
        this.offlineSubject.next({ instance: ev.instance, reason: ev.reason ?? 'closed' });
      }
    });
    if (own) {
      this.watchIds.push(watchId);
      this.ownPatterns.push(pattern);
    }
    this.membership.addPattern(pattern, instances);
    return watchId;
  }

  /** Watch a service so `send` can route to it (tbuspp's CreateService). */
  async service$(service: string): Promise<void> {
    validateService(service);
    if (!this.ownPatterns.some((p) => matches(p, service))) await this.watchPattern(service);
  }

  /**
   * Hold a watch on `service` until the returned release is called (operators
   * watch what they send to while they are subscribed). Costs nothing when a
   * watch of the instance already covers it; holders of the same service
   * share one watch, which is dropped with the last release. Release is
   * idempotent.
   */
  async holdWatch(service: string): Promise<() => void> {
    validateService(service);
    let lease = this.leases.get(service);
    if (!lease) {
      if (this.membership.covers(service)) return () => {};
      this.ensureOnline();
      lease = { count: 0, watchId: this.watchPattern(service, false) };
      this.leases.set(service, lease);
    }
    const l = lease;
    l.count++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (--l.count > 0) return;
      if (this.leases.get(service) === l) this.leases.delete(service);
      void l.watchId.then((id) => {
        this.membership.removePattern(service);
        return this.host.unwatch(id);
      }).catch(() => {});
    };
    try {
      await l.watchId;
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  /** Replays the current set of a service's online instances, then every change. */
  members$(service: string): Observable<InstanceRef[]> {
    if (!this.ownPatterns.some((p) => matches(p, service))) void this.service$(service).catch(() => {});
    return this.membership.members$(service);
  }

  private ensureOnline(): Outbox {
    if (this.state === 'online' && this.outbox) return this.outbox;
    if (this.state === 'suspended') throw new AgentLostError('the agent connection is lost; reconnecting');
    throw new ClosedError(this.state === 'closed' ? 'instance is closed' : 'instance has not started up yet');
  }

  private deliver(to: InstanceRef, value: unknown, flags = 0, corr = 0): void {
    const { bytes, flags: f } = encodePayload(value);
    this.ensureOnline().push(to.node, to.localId, f | flags, corr, bytes);
  }

  /** Route to the instance a strategy picks (`via` while it is online); null when none is online. */
  private route(service: string, opts: SendOptions): InstanceRef | null {
    if (opts.via) {
      if (opts.via.service !== service) throw new BadArgumentError(`via ${opts.via.id} is not an instance of '${service}'`);
      if (this.membership.isOnline(opts.via)) return opts.via;
    }
    if (!this.membership.covers(service)) {
      throw new NotWatchedError(`service '${service}' is not watched by ${this.selfRef?.id ?? this.service}: pass it in \`watch\` or await inst.service$('${service}') first`);
    }
    const strategy = this.strategies[opts.strategy ?? 'round-robin'];
    if (!strategy) throw new BadArgumentError(`unknown strategy '${String(opts.strategy)}'`);
    const ctx: RouteContext = { service, load: this.loadOf };
    if (opts.key !== undefined) ctx.key = opts.key;
    return strategy.select(this.membership.members(service), ctx) ?? null;
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
    return { watches: this.watchIds.length + this.leases.size, pendingRequests: this.requests.size, writeWaiters: this.outbox?.waiting ?? 0 };
  }

  /** Stateless send: one instance of `service`, load-balanced. Returns the
   * routed instance (pass it back as `via` for sticky routing), or null when
   * none is online (the message is reported on undeliverable$, reason no_route). */
  send(service: string, value: unknown, opts: SendOptions = {}): InstanceRef | null {
    validateService(service);
    this.ensureOnline();
    const to = this.route(service, opts);
    if (!to) {
      this.noRoute(service, value, 0);
      return null;
    }
    this.deliver(to, value);
    return to;
  }

  private noRoute(service: string, value: unknown, corr: number): void {
    const { bytes, flags } = encodePayload(value);
    const to = { service, userData: '', id: `${service}/`, agentId: '', node: 0, localId: 0 };
    queueMicrotask(() => this.undeliverableSubject.next({ to, reason: 'no_route', data: bytes, corr, value: <T>() => decodePayload<T>(bytes, flags) }));
  }

  /** Stateful send: exactly this instance. */
  sendTo(ref: InstanceRef, value: unknown): void {
    this.deliver(ref, value);
  }

  /** Send to every online instance of a service; returns how many. */
  broadcast(service: string, value: unknown): number {
    validateService(service);
    this.ensureOnline();
    if (!this.membership.covers(service)) throw new NotWatchedError(`service '${service}' is not watched`);
    const members = this.membership.members(service);
    for (const m of members) this.deliver(m, value);
    return members.length;
  }

  /** Send a request and wait for its reply (cold: nothing is sent until called). */
  request(target: string | InstanceRef, value: unknown, opts: RequestOptions = {}): Promise<Message> {
    try {
      return this.startRequest(target, value, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private startRequest(target: string | InstanceRef, value: unknown, opts: RequestOptions): Promise<Message> {
    this.ensureOnline();
    this.startReading();
    const to = typeof target === 'string' ? this.route(validateService(target), opts) : target;
    if (!to) return Promise.reject(new NoRouteError(`no instance of '${String(target)}' is online`));
    return this.requests.start(to.id, opts.timeoutMs ?? 5000, opts.signal, (corr) => this.deliver(to, value, Flag.REQUEST, corr));
  }

  replyTo(node: number, localId: number, corr: number, value: unknown, request: boolean, error: boolean): void {
    const { bytes, flags } = encodePayload(value);
    const replyFlags = request ? Flag.REPLY | (error ? Flag.ERROR_REPLY : 0) : 0;
    this.ensureOnline().push(node, localId, flags | replyFlags, request ? corr : 0, bytes);
  }

  resolveRef(node: number, localId: number): InstanceRef {
    return this.host.resolveRef(node, localId);
  }

  /** Read what is waiting in the rx ring (called by the Mesh pump). */
  drain(): number {
    return this.rx && this.started && this.state !== 'closed' ? this.rx.drain(this.inbox.visit) : 0;
  }

  park(): boolean {
    return !this.rx || !this.started || this.state === 'closed' || this.rx.park();
  }

  /** The names of an instance known only by its address (e.g. a sender this instance never watched). */
  resolve(ref: InstanceRef): Promise<InstanceRef> {
    return this.host.control<InstanceInfo>(ControlMessage.RESOLVE, { node: ref.node, localId: ref.localId });
  }

  private onMessage(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void {
    this.messageSubject.next(new Message(payload, flags, node, local, corr, this.selfRef!, this));
  }

  private onReply(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void {
    const p = this.requests.settle(corr);
    if (!p) return;
    const msg = new Message(payload, flags, node, local, corr, this.selfRef!, this);
    if (flags & Flag.ERROR_REPLY) {
      const e = msg.value<{ code?: string; message?: string }>();
      p.reject(new RemoteError(`${e?.code ?? 'REMOTE'}: ${e?.message ?? 'remote error'}`));
    } else {
      p.resolve(msg);
    }
  }

  private onBounce(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void {
    const reason = BOUNCE_REASON_NAMES[bounceReasonOf(flags)] ?? 'offline';
    if (flags & Flag.REPLY) return; // a reply to a requester that went away: nobody to tell
    const to = this.host.resolveRef(node, local);
    if (flags & Flag.REQUEST) this.requests.settle(corr)?.reject(new NoRouteError(`request to ${to.id} undeliverable: ${reason}`));
    this.undeliverableSubject.next({ to, reason, data: payload, corr, value: <T>() => decodePayload<T>(payload, flags) });
  }

  /** The agent says another registration replaced this one. */
  kicked(): void {
    if (this.selfRef) this.offlineSubject.next({ instance: this.selfRef, reason: 'replaced' });
    this.release();
  }

  /** The agent dropped the instance, or the agent connection was lost. */
  fail(err: MeshError): void {
    if (this.state === 'starting') this.startupSubject.error(err);
    this.release(err);
  }

  private release(err?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.host.forget(this);
    this.outbox?.close();
    if (this.localId) this.host.detach(this.localId);
    this.requests.rejectAll(err ?? new ClosedError('instance closed'));
    this.leases.clear();
    this.tx?.close();
    this.rx?.close();
    this.membership.complete();
    for (const s of [this.onlineSubject, this.offlineSubject, this.messageSubject, this.undeliverableSubject]) s.complete();
  }

  /** Close: offline for its watchers (reason `closed`); queued messages to it are bounced to their senders. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'starting') await firstValueFrom(this.startup$).catch(() => {});
    if ((this.state as string) === 'closed') return;
    if (this.state === 'suspended') return this.release();
    this.outbox?.flush();
    const watchIds = this.watchIds.splice(0);
    const leased = [...this.leases.values()].map((l) => l.watchId.then((id) => this.host.unwatch(id)));
    const localId = this.localId;
    this.release();
    await Promise.allSettled([...watchIds.map((id) => this.host.unwatch(id)), ...leased]);
    await this.host.control(ControlMessage.CLOSE, { localId }).catch(() => {});
  }
}
