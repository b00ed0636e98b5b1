/**
 * Instance: a service name plus user data, registered, started up and then
 * routable. Its streams:
 *   startup$       emits its own ref once online, then completes (errors with a MeshError)
 *   online$        watched instances coming online (hot)
 *   offline$       watched instances going offline, with a reason (hot)
 *   messages$      messages to this instance (hot; held in the ring while nobody subscribes)
 *   undeliverable$ messages it sent that could not be delivered, with a reason (hot)
 *
 * Sending goes through its Outbox into the tx ring, or into the pair ring of a
 * local destination that has one (PairWriters); reading through its Inbox from
 * the rx ring, then from the pair rings it reads (PairReaders); its view of the
 * mesh lives in Watches.
 */
import { dirname } from 'node:path';
import { firstValueFrom, Observable, ReplaySubject, Subject } from 'rxjs';
import { Ring, type Doorbell } from '../native/index.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { AppRequest, ControlRequests, Created, PairClosedEvent } from '../protocol/control-bodies.js';
import { BOUNCE_REASON_NAMES, BounceReason, bounceReasonOf, envCorr, envFlags, envLocal, envNode, Flag } from '../protocol/envelope.js';
import {
  AgentLostError, BadArgumentError, ClosedError, ConflictError, InDoubtError, KickedError, LimitError, MeshError, NoRouteError, NotWatchedError, RemoteError,
} from '../protocol/errors.js';
import { validatePattern, validateService, validateUserData } from '../protocol/names.js';
import { Inbox, type InboxSink } from './inbox.js';
import type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, StrategyName } from './instance-options.js';
import { lostMessages } from './lost-messages.js';
import { Message, type InstanceRef, type ReplyPort, type Undeliverable } from './message.js';
import { Outbox, type Unsent } from './outbox.js';
import { PairReaders } from './pair-reader.js';
import { PairWriters } from './pair-writer.js';
import { decodePayload, encodePayload } from './payload.js';
import { PendingRequests } from './pending-requests.js';
import { ConsistentHashStrategy } from './strategies/consistent-hash.js';
import { LeastLoadedStrategy } from './strategies/least-loaded.js';
import { LocalFirstStrategy } from './strategies/local-first.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobinStrategy } from './strategies/round-robin.js';
import type { RouteContext, Strategy } from './strategies/strategy.js';
import { Watches, type WatchHost } from './watches.js';

export type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, StrategyName } from './instance-options.js';

/** What an Instance needs from its Mesh. */
export interface InstanceHost extends WatchHost {
  readonly agentBell: Doorbell;
  /** The incarnation of the agent we are connected to. */
  readonly epoch: number;
  /** A request to the agent, its answer decoded (control-bodies.ts). */
  control<K extends AppRequest>(type: K, body: ControlRequests[K]['body']): Promise<ControlRequests[K]['answer']>;
  attach(inst: Instance, localId: number): void;
  detach(localId: number): void;
  /** The instance is closed for good. */
  forget(inst: Instance): void;
  /** Run the pump soon (an instance started reading). */
  wake(): void;
  /** The names of an address (an address of another epoch keeps its epoch). */
  resolveRef(node: number, localId: number, epoch?: number): InstanceRef;
  /** The queue depth the agent last reported for an instance (0 when unknown). */
  load(node: number, localId: number): number;
  /** Pair rings are spoken (pair-marker.ts). */
  readonly pairs: boolean;
  /** This app connection's doorbell. */
  readonly bellPath: string;
  /** Another app connection's doorbell (shared; released once per open). */
  openBell(path: string): Doorbell;
  releaseBell(path: string): void;
}

type State = 'starting' | 'online' | 'suspended' | 'closing' | 'closed';

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
  private tx: Ring | undefined;
  private outbox: Outbox | undefined;
  private inbox: Inbox | undefined;
  /** rx rings of earlier agent incarnations that still hold messages for a subscriber to come. */
  private legacy: { inbox: Inbox; ring: Ring }[] = [];
  private rx: Ring | undefined;
  /** The pair rings it writes and reads (this agent incarnation's). */
  private writers: PairWriters | undefined;
  private readers: PairReaders | undefined;
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
        this.inbox?.forget(ref.node, ref.localId);
        this.offlineSubject.next({ instance: ref, reason });
      },
    });
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
    this.tx = Ring.open(created.txPath, 'producer');
    this.tx.setBell(this.host.agentBell); // wake a parked agent
    this.rx = Ring.open(created.rxPath, 'consumer');
    this.rx.setSpaceBell(this.host.agentBell); // wake an agent waiting for room in our rx ring
    this.outbox = new Outbox(this.tx, this.nextLarge, undefined, () => this.writers?.written());
    const sink: InboxSink = {
      canDeliver: () => this.messageSubject.observed && this.state !== 'closing' && this.state !== 'closed',
      message: (payload, flags, node, local, corr, epoch) => this.onMessage(payload, flags, node, local, corr, epoch),
      reply: (payload, flags, node, local, corr, epoch) => this.onReply(payload, flags, node, local, corr, epoch),
      bounce: (payload, flags, node, local, corr, epoch) => this.onBounce(payload, flags, node, local, corr, epoch),
      marker: (payload, node, local, epoch) => this.readers?.marker(payload, node, local, epoch),
    };
    this.inbox = new Inbox(this.rx, sink, this.options.zeroCopy === true);
    if (this.host.pairs) this.attachPairs(created, sink);
    this.host.attach(this, this.localId);
  }

  private attachPairs(created: Created, sink: InboxSink): void {
    const localId = this.localId;
    const done = (body: { localId: number; to: number } | { localId: number; from: number }): void =>
      void this.host.control(ControlMessage.PAIR_DONE, body).catch(() => {}); // (the agent gone: nothing to tell)
    const bells = { openBell: (path: string) => this.host.openBell(path), releaseBell: (path: string) => this.host.releaseBell(path) };
    this.writers = new PairWriters(localId, this.host.epoch, {
      tx: this.outbox!,
      bell: this.host.bellPath,
      open: (to) => this.host.control(ControlMessage.OPEN_PAIR, { localId, to }),
      done: (to) => done({ localId, to }),
      nextLarge: this.nextLarge,
      report: (m, to, reason) => this.report(m.payload, envFlags(m.envelope), 0, to, envCorr(m.envelope), reason),
      ...bells,
    });
    this.readers = new PairReaders(localId, this.host.epoch, {
      dir: dirname(created.rxPath),
      zeroCopy: this.options.zeroCopy === true,
      // a pair ring's messages wait behind what the rx ring holds for want of a subscriber (their sender's came first)
      sink: { ...sink, canDeliver: () => sink.canDeliver() && !this.inbox?.holding },
      done: (from) => done({ localId, from }),
      wake: () => this.host.wake(),
      ...bells,
    });
  }

  /** PAIR_CLOSED: the reader of a pair ring we write went away, or the writer of one we read. */
  pairClosed(ev: PairClosedEvent): void {
    if ('to' in ev) this.writers?.readerGone(ev.to);
    else this.readers?.writerGone(ev.from);
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
    this.writers?.suspend(); // takes back what no reader took: reported agent_lost
    this.writers = undefined;
    this.reportLost(this.outbox?.close() ?? []);
    this.outbox = undefined;
    this.tx?.close();
    this.tx = undefined;
    if (this.inbox && this.rx) {
      this.rx.setSpaceBell(null); // the agent's doorbell is closed: its fd number may be reused by anything
      if (this.started) this.inbox.pump(Number.MAX_SAFE_INTEGER);
      if (this.inbox.holding && !wasClosing) this.legacy.push({ inbox: this.inbox, ring: this.rx });
      else this.rx.close();
    }
    this.legacy.push(...(this.readers?.suspend(this.started && !wasClosing) ?? []));
    this.readers = undefined;
    this.inbox = undefined;
    this.rx = undefined;
    this.requests.rejectAll(err);
    this.watches.lost();
    if (wasClosing) this.release(err);
  }

  /** Report what the dead agent had not settled, from our tx ring and the Outbox. */
  private reportLost(unsent: Unsent[]): void {
    if (!this.tx) return;
    for (const m of lostMessages(this.tx, unsent)) {
      this.report(m.payload, envFlags(m.envelope), envNode(m.envelope), envLocal(m.envelope), envCorr(m.envelope), m.reason);
    }
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

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    const localId = this.localId;
    if (this.outbox?.pending || this.writers?.pending) {
      await Promise.all([this.outbox?.whenWritable(5000), this.writers?.whenWritable(5000)]).catch(() => {});
    }
    // no pair ring is written after this: their readers read them to the end once the agent says so
    this.writers?.close(BounceReason.QUEUE_FULL);
    await this.watches.closeAll();
    // answered once everything we sent is read and settled; meanwhile the pump reads its reports
    await this.host.control(ControlMessage.CLOSE, { localId }).catch(() => {});
    if (this.state !== 'closing') return;
    this.inbox?.pump(Number.MAX_SAFE_INTEGER);
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
    const unsent = this.outbox?.close() ?? [];
    this.state = 'closed';
    this.writers?.close(BounceReason.QUEUE_FULL);
    this.readers?.close();
    this.host.forget(this);
    for (const u of unsent) {
      this.report(u.payload, envFlags(u.envelope), envNode(u.envelope), envLocal(u.envelope), envCorr(u.envelope), BounceReason.QUEUE_FULL);
    }
    if (this.localId) this.host.detach(this.localId);
    this.requests.rejectAll(err ?? new ClosedError('instance closed'));
    this.watches.complete();
    this.tx?.close();
    this.rx?.close();
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
    return n + (this.inbox?.pump() ?? 0) + (this.readers?.pump() ?? 0); // the rx ring first: a pair's earlier messages are there
  }

  /** Set the parked word of every ring it reads: false if data arrived meanwhile. */
  park(): boolean {
    if (!this.rx || !this.started || this.state === 'closed') return true;
    return this.rx.park() && (this.readers?.park() ?? true);
  }

  /** The doorbell rang: an Outbox waiting for room tries again. */
  wakeOutbox(): void {
    this.outbox?.wake();
    this.writers?.wake();
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

  private ensureOnline(): Outbox {
    if (this.state === 'online' && this.outbox) return this.outbox;
    if (this.state === 'suspended') throw new AgentLostError('the agent connection is lost; reconnecting');
    if (this.kickedBy) throw new KickedError('instance was replaced by another registration');
    throw new ClosedError(this.state === 'starting' ? 'instance has not started up yet' : 'instance is closed');
  }

  private deliver(to: InstanceRef, value: unknown, flags = 0, corr = 0): void {
    const { bytes, flags: f } = encodePayload(value);
    this.push(to.node, to.localId, to.epoch, f | flags, corr, bytes);
  }

  /** Into the pair ring of a local destination that has one (its envelope names us, the ring's writer), else the tx ring. */
  private push(node: number, local: number, epoch: number, flags: number, corr: number, bytes: Uint8Array): void {
    const tx = this.ensureOnline();
    const pair = node === 0 && this.writers !== undefined && epoch === this.writers.epoch ? this.writers.outboxFor(local) : null;
    if (pair) pair.push(0, this.localId, epoch, flags, corr, bytes);
    else tx.push(node, local, epoch, flags, corr, bytes);
  }

  /** Route to the instance a strategy picks (`via` while it is online); null when none is online. */
  private route(service: string, opts: SendOptions): InstanceRef | null {
    const m = this.watches.membership;
    if (opts.via) {
      if (opts.via.service !== service) throw new BadArgumentError(`via ${opts.via.id} is not an instance of '${service}'`);
      if (m.isOnline(opts.via)) return opts.via;
    }
    if (!m.covers(service)) {
      throw new NotWatchedError(`service '${service}' is not watched by ${this.selfRef?.id ?? this.service}: pass it in \`watch\` or await inst.service$('${service}') first`);
    }
    const strategy = this.strategies[opts.strategy ?? 'round-robin'];
    if (!strategy) throw new BadArgumentError(`unknown strategy '${String(opts.strategy)}'`);
    const ctx: RouteContext = { service, load: this.loadOf };
    if (opts.key !== undefined) ctx.key = opts.key;
    return strategy.select(m.members(service), ctx) ?? null;
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
      const tx = this.ensureOnline().whenWritable(timeoutMs, signal);
      return this.writers?.pending ? Promise.all([tx, this.writers.whenWritable(timeoutMs, signal)]).then(() => undefined) : tx;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  stats(): InstanceStats {
    return {
      watches: this.watches.count,
      pendingRequests: this.requests.size,
      writeWaiters: (this.outbox?.waiting ?? 0) + (this.writers?.waiting ?? 0),
      partialMessages: (this.inbox?.partials ?? 0) + (this.readers?.partials ?? 0),
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
      this.noRoute(service, value, 0);
      return null;
    }
    this.deliver(to, value);
    return to;
  }

  private noRoute(service: string, value: unknown, corr: number): void {
    const { bytes, flags } = encodePayload(value);
    const copy = bytes.slice();
    const to = { service, userData: '', id: `${service}/`, agentId: '', node: 0, localId: 0, epoch: 0 };
    queueMicrotask(() => this.undeliverableSubject.next({ to, reason: 'no_route', data: copy, corr, value: <T>() => decodePayload<T>(copy, flags) }));
  }

  /** Stateful send: exactly this instance. */
  sendTo(ref: InstanceRef, value: unknown): void {
    this.deliver(ref, value);
  }

  /** Send to every online instance of a service; returns how many. */
  broadcast(service: string, value: unknown): number {
    validateService(service);
    this.ensureOnline();
    if (!this.watches.membership.covers(service)) throw new NotWatchedError(`service '${service}' is not watched`);
    const members = this.watches.membership.members(service);
    for (const m of members) this.deliver(m, value);
    return members.length;
  }

  /** Send a request and wait for its reply (cold: nothing is sent until called). */
  request(target: string | InstanceRef, value: unknown, opts: RequestOptions = {}): Promise<Message> {
    try {
      this.ensureOnline();
      this.startReading();
      const to = typeof target === 'string' ? this.route(validateService(target), opts) : target;
      if (!to) return Promise.reject(new NoRouteError(`no instance of '${String(target)}' is online`));
      return this.requests.start(to.id, opts.timeoutMs ?? 5000, opts.signal, (corr) => this.deliver(to, value, Flag.REQUEST, corr));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  replyTo(node: number, localId: number, epoch: number, corr: number, value: unknown, request: boolean, error: boolean): void {
    const { bytes, flags } = encodePayload(value);
    const replyFlags = request ? Flag.REPLY | (error ? Flag.ERROR_REPLY : 0) : 0;
    this.push(node, localId, epoch, flags | replyFlags, request ? corr : 0, bytes);
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
    this.undeliverableSubject.next({ to, reason, data: payload, corr: flags & Flag.REQUEST ? corr : 0, value: <T>() => decodePayload<T>(payload, flags) });
  }
}
