/**
 * InstanceImpl: what is behind the Instance interface (mesh-api.ts, where its
 * streams and calls are documented). This file is its lifecycle (start,
 * suspend and resume around an agent loss, drain, close, kick, fail) and the
 * reading the Mesh pumps. Sending is its Sender (instance-sender.ts), its view
 * of the mesh its Watches; its rings are InstanceRings.
 */
import { firstValueFrom, Observable, ReplaySubject, Subject } from 'rxjs';
import { ControlMessage } from '../protocol/control-messages.js';
import type { Created, PairClosedEvent } from '../protocol/control-bodies.js';
import { AgentLostError, ClosedError, ConflictError, KickedError, MeshError, RingFailureError } from '../protocol/errors.js';
import { validatePattern, validateService, validateUserData } from '../protocol/names.js';
import type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, SendToOptions } from './instance-options.js';
import { HeldRings, InstanceRings, type RingsHost } from './instance-rings.js';
import { drain, drainOptions, type DrainOptions } from './drain.js';
import { Sender } from './instance-sender.js';
import { ringFailure } from './ring-failure.js';
import type { Instance } from './mesh-api.js';
import { Flag } from '../protocol/envelope.js';
import { Message, type InstanceRef, type Undeliverable } from './message.js';
import { Watches, type WatchHost } from './watches.js';

export type { InstanceOptions, InstanceStats, OfflineInfo, RequestOptions, SendOptions, StrategyName } from './instance-options.js';

/** What an Instance needs from its Mesh (its rings' needs included: the incarnation, the doorbells, control requests). */
export interface InstanceHost extends WatchHost, RingsHost {
  attach(inst: InstanceImpl, localId: number): void;
  detach(localId: number): void;
  /** The instance is closed for good. */
  forget(inst: InstanceImpl): void;
  /** The names of an address (an address of another epoch keeps its epoch). */
  resolveRef(node: number, localId: number, epoch?: number): InstanceRef;
  /** The queue depth the agent last reported for an instance (0 when unknown). */
  load(node: number, localId: number): number;
  /** The agent takes DRAIN requests (drain.ts). */
  readonly drains: boolean;
}

type State = 'starting' | 'online' | 'suspended' | 'closing' | 'closed';

export class InstanceImpl implements Instance {
  readonly userData: string;
  private readonly startupSubject = new ReplaySubject<InstanceRef>(1);
  private readonly onlineSubject = new Subject<InstanceRef>();
  private readonly offlineSubject = new Subject<OfflineInfo>();
  private readonly messageSubject = new Subject<Message>();
  readonly startup$: Observable<InstanceRef> = this.startupSubject.asObservable();
  readonly online$: Observable<InstanceRef> = this.onlineSubject.asObservable();
  readonly offline$: Observable<OfflineInfo> = this.offlineSubject.asObservable();
  /** Hot. Messages wait in the ring until someone subscribes; an instance that closes
   * before they are taken bounces them to their senders. */
  readonly messages$: Observable<Message> = this.reading(this.messageSubject);
  /** Hot. Messages this instance sent that could not be delivered, with a reason. */
  readonly undeliverable$: Observable<Undeliverable>;

  private readonly watches: Watches;
  private readonly sender: Sender;
  /** Its rings with the agent it is connected to. */
  private rings: InstanceRings | undefined;
  /** Rings of earlier agent incarnations that still hold messages for a subscriber to come. */
  private readonly legacy = new HeldRings();
  /** Numbers its large plain messages (Outbox): one count for all its rings. */
  private largeNo = 0;
  private readonly nextLarge = (): number => (this.largeNo = this.largeNo >= 0xfffffff0 ? 1 : this.largeNo + 1);
  private localId = 0;
  private selfRef: InstanceRef | undefined;
  private state: State = 'starting';
  private kickedBy = false;
  private started = false;
  private closing: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  /** Messages handed out, and requests among them not answered yet: what a drain watches. */
  private handedOut = 0;
  private owed = 0;

  constructor(
    readonly service: string,
    private readonly options: InstanceOptions,
    private readonly host: InstanceHost,
  ) {
    validateService(service);
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the Sender reads our id as it changes
    this.userData = validateUserData(options.userData);
    for (const p of options.watch ?? []) validatePattern(p);
    this.watches = new Watches(host, {
      online: (ref) => this.onlineSubject.next(ref),
      offline: (ref, reason) => {
        this.rings?.forget(ref.node, ref.localId);
        this.offlineSubject.next({ instance: ref, reason });
      },
    }, options.replayOnline === true);
    this.sender = new Sender({
      service,
      get name() { return self.selfRef?.id ?? service; },
      membership: this.watches.membership,
      ensureOnline: () => this.ensureOnline(),
      startReading: () => this.startReading(),
      resolveRef: (node, localId, epoch) => host.resolveRef(node, localId, epoch),
      load: (node, localId) => host.load(node, localId),
      answered: () => {
        if (this.owed > 0) this.owed--;
      },
    });
    this.undeliverable$ = this.reading(this.sender.undeliverable);
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
      this.giveBack(localId);
      const e = ringFailure(err);
      this.startupSubject.error(e instanceof MeshError ? e : new MeshError('INTERNAL', (e as Error).message, { cause: e }));
    }
  }

  private create(): Promise<Created> {
    return this.host.control(ControlMessage.CREATE, {
      // the agent takes only these two: anything else is the default, as it always was
      service: this.service, userData: this.userData, conflict: this.options.conflict === 'replace' ? 'replace' : 'reject',
    });
  }

  /** Close and release a registration on the agent without waiting (a failed start, a broken ring). */
  private giveBack(localId: number): void {
    if (localId) void this.host.control(ControlMessage.CLOSE, { localId }).then(() => this.host.control(ControlMessage.RELEASE, { localId })).catch(() => {});
  }

  private attachRings(created: Created): void {
    this.localId = created.localId;
    this.selfRef = created.info;
    try {
      this.openRings(created);
    } catch (err) {
      throw ringFailure(err);
    }
  }

  private openRings(created: Created): void {
    this.rings = new InstanceRings(created, this.host, {
      canDeliver: () => this.messageSubject.observed && this.state !== 'closing' && this.state !== 'closed',
      message: (payload, flags, node, local, corr, epoch) => this.onMessage(payload, flags, node, local, corr, epoch),
      reply: (payload, flags, node, local, corr, epoch) => this.sender.onReply(payload, flags, node, local, corr, epoch, this.selfRef!),
      bounce: (payload, flags, node, local, corr, epoch) => this.sender.onBounce(payload, flags, node, local, corr, epoch),
    }, this.options.zeroCopy === true, this.nextLarge, (payload, flags, node, local, corr, reason) => this.sender.report(payload, flags, node, local, corr, reason));
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
    this.legacy.add(this.rings?.suspend(this.started, !wasClosing) ?? []);
    this.rings = undefined;
    this.sender.requests.rejectAll(err);
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

  /** Graceful drain (drain.ts; documented on the Instance interface). */
  drain(opts: DrainOptions = {}): Promise<void> {
    let checked: Required<DrainOptions>;
    try {
      checked = drainOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.draining) return this.draining;
    if (this.state === 'starting') return firstValueFrom(this.startup$).then(() => this.drain(opts), () => {});
    if (this.state !== 'online' || this.closing) return this.close();
    const localId = this.localId;
    this.draining = drain({
      leaveRouting: () => (this.host.drains ? this.host.control(ControlMessage.DRAIN, { localId }).then(() => true) : Promise.resolve(false)),
      open: () => this.state === 'online' && !this.closing,
      handedOut: () => this.handedOut,
      owed: () => this.owed,
      unread: () => this.rings?.unread ?? false,
      close: () => this.close(),
    }, checked);
    return this.draining;
  }

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

  /**
   * Reading one of its rings failed (a RingError: something scribbled on it).
   * The instance closes, its messages$ errors with a RingFailureError, and the
   * agent is told to let it go; anything else is not ours to handle.
   */
  ringBroke(err: unknown): void {
    const e = ringFailure(err);
    if (!(e instanceof RingFailureError)) throw err;
    const localId = this.localId;
    this.fail(e);
    this.giveBack(localId);
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
    this.sender.requests.rejectAll(err ?? new ClosedError('instance closed'));
    this.watches.complete();
    this.legacy.close();
    for (const s of [this.onlineSubject, this.offlineSubject, this.sender.undeliverable]) s.complete();
    if (err instanceof RingFailureError) this.messageSubject.error(err); // the stream that broke says why
    else this.messageSubject.complete();
  }

  // ---------------------------------------------------------------- reading (called by the Mesh pump)

  /** Read what is waiting. Returns the records looked at. */
  pump(): number {
    if (!this.started || this.state === 'closed') return 0;
    if (this.legacy.empty) return this.rings?.pump() ?? 0;
    const { n, holding } = this.legacy.pump();
    return holding ? n : n + (this.rings?.pump() ?? 0); // messages of the old incarnation go first
  }

  /** A request of this instance awaits its reply, and replies have been coming within `ms`. */
  awaitsReplyWithin(ms: number): boolean {
    const r = this.sender.requests;
    return r.size > 0 && r.typicalReplyMs <= ms;
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

  service$(service: string): Promise<void> {
    return this.watches.service(service);
  }

  /** Hold a watch on `service` until the returned release is called (operators hold what they send to). */
  holdWatch(service: string): Promise<() => void> {
    return this.watches.hold(service, () => this.ensureOnline());
  }

  members$(service: string): Observable<InstanceRef[]> {
    return this.watches.members$(service);
  }

  // ---------------------------------------------------------------- sending (Sender)

  /** Its rings when it may send; throws why it may not. */
  private ensureOnline(): InstanceRings {
    if (this.state === 'online' && this.rings) return this.rings;
    if (this.state === 'suspended') throw new AgentLostError('the agent connection is lost; reconnecting');
    if (this.kickedBy) throw new KickedError('instance was replaced by another registration');
    throw new ClosedError(this.state === 'starting' ? 'instance has not started up yet' : 'instance is closed');
  }

  load(ref: InstanceRef): number {
    return this.host.load(ref.node, ref.localId);
  }

  whenWritable(timeoutMs = 5000, signal?: AbortSignal): Promise<void> {
    return this.sender.whenWritable(timeoutMs, signal);
  }

  stats(): InstanceStats {
    return {
      watches: this.watches.count,
      pendingRequests: this.sender.requests.size,
      writeWaiters: this.rings?.waiting ?? 0,
      partialMessages: this.rings?.partials ?? 0,
    };
  }

  send(service: string, value: unknown, opts: SendOptions = {}): InstanceRef | null {
    return this.sender.send(service, value, opts);
  }

  sendTo(ref: InstanceRef, value: unknown, opts?: SendToOptions): void {
    this.sender.sendTo(ref, value, opts);
  }

  broadcast(service: string, value: unknown, opts?: SendToOptions): number {
    return this.sender.broadcast(service, value, opts);
  }

  request(target: string | InstanceRef, value: unknown, opts: RequestOptions = {}): Promise<Message> {
    return this.sender.request(target, value, opts);
  }

  resolve(ref: InstanceRef): Promise<InstanceRef> {
    return this.host.control(ControlMessage.RESOLVE, { node: ref.node, localId: ref.localId });
  }

  // ---------------------------------------------------------------- what the Inbox hands out

  private onMessage(payload: Uint8Array, flags: number, node: number, local: number, corr: number, epoch: number): void {
    this.handedOut++;
    if (flags & Flag.REQUEST) this.owed++;
    this.messageSubject.next(new Message(payload, flags, node, local, epoch, corr, this.selfRef!, this.sender));
  }
}
