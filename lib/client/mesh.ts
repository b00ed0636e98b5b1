/**
 * MeshImpl: what is behind the Mesh interface (mesh-api.ts), an app's
 * connection to its local agent (tbuspp's TBaseAgentClientInit). It
 * authenticates over the control socket, creates instances, hands the agent's
 * events to them (WatchEvents for the watches), and pumps the rings all its
 * instances read (rx rings, pair rings) when its doorbell rings: the agent
 * rings it, and so do the apps writing pair rings to its instances (their
 * doorbells: PeerBells).
 */
import { createConnection } from 'node:net';
import { availableParallelism } from 'node:os';
import { Subject, type Observable } from 'rxjs';
import { Doorbell } from '../native/index.js';
import { gameProof } from '../protocol/auth.js';
import { FramedConnection } from '../protocol/connection.js';
import { ControlMessage } from '../protocol/control-messages.js';
import {
  ANSWERS, faultEvent, kickedEvent, loadReport, offlineEvent, onlineEvent, pairClosedEvent,
  type AppRequest, type ControlRequests, type WatchAnswer,
} from '../protocol/control-bodies.js';
import { AgentLostError, BadArgumentError, ClosedError, MeshError } from '../protocol/errors.js';
import { toLogger, type Logger, type LogOption } from '../protocol/logger.js';
import { agreeVersion, CONTROL_PROTOCOL, versionFields } from '../protocol/versions.js';
import { drainOptions, type DrainOptions } from './drain.js';
import { InstanceImpl, type InstanceHost, type InstanceOptions } from './instance.js';
import { PeerBells } from './peer-bells.js';
import { WatchEvents, type WatchHandler } from './watch-events.js';
import type { Instance, Mesh } from './mesh-api.js';
import type { InstanceRef } from './message.js';
import { Backoff } from '../protocol/backoff.js';

/** How `connect()` reaches and authenticates with the local agent, and how the connection behaves. */
export interface ConnectOptions {
  gameId: string;
  /** The game key. */
  password: string;
  /** The agent's control socket. Default RXMESH_AGENT, else /dev/shm/rxmesh-<user>/agent.sock (rxmesh-uid<N> for a uid without a passwd entry) */
  agent?: string;
  /** Control request timeout (ms). */
  timeoutMs?: number;
  /** Reconnect and re-register every instance when the agent comes back (default true). */
  reconnect?: boolean;
  /** Where the connection's lifecycle is reported (agent lost, reconnected), each line with a level: `console`, a pino
   * logger (`objectFirst(pino)` keeps the fields) or your own. Default silent. Nothing is logged per message. */
  log?: LogOption;
  /**
   * Pair rings (default true): messages between two instances on this host go
   * through a ring the agent makes for that pair, without the agent in between,
   * once the agent agrees (same game and Unix user, within its limits). False:
   * everything goes through the agent, as before pair rings.
   */
  pairs?: boolean;
  /**
   * While a request of this connection awaits its reply, how long (µs) the
   * app keeps polling its rings after they ran dry before it parks on its
   * doorbell: Aeron's back-off idle strategy, done as a poll on the event
   * loop (other work still runs), never a blocking spin. A reply that comes
   * within the window is caught without a wake-up. Default
   * DEFAULT_REPLY_SPIN_US: 100 µs, 0 on one core (where the poll would take
   * the core its replier needs); measured in DESIGN-NOTES "Idle strategies".
   */
  replySpinUs?: number;
}

/** The default replySpinUs: poll for a reply up to 100 µs, unless this process has one core only. */
export const DEFAULT_REPLY_SPIN_US = availableParallelism() >= 2 ? 100 : 0;

/** Poll for a reply only while replies have been taking at most this many poll windows. */
const POLL_WORTH = 2;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/** Why the agent socket cannot be dialled, and what to do about it. */
function noAgent(path: string, err: NodeJS.ErrnoException): string {
  const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no agent is listening there' : err.message;
  return `cannot reach the agent at ${path}: ${why}. Start one on this machine with \`npx rxmesh up\` (name server + agent) ` +
    `or \`rxmesh agent --registry ...\`, or point the app at a running one with the \`agent\` option or RXMESH_AGENT`;
}

export class MeshImpl implements Mesh, InstanceHost {
  private readonly instances = new Map<number, InstanceImpl>();
  /** Every instance not closed, whatever its connection state (localIds change on reconnect). */
  private readonly live = new Set<InstanceImpl>();
  private readonly watchEvents = new WatchEvents();
  /** Queue depths the agent reported (LOAD), by `node:localId`: what `least-loaded` reads. */
  private readonly loads = new Map<string, number>();
  private readonly lostSubject = new Subject<AgentLostError>();
  private readonly reconnectedSubject = new Subject<void>();
  /** Emits an AgentLostError each time the agent connection is lost. */
  readonly lost$: Observable<AgentLostError> = this.lostSubject.asObservable();
  /** Emits each time the connection is back and every instance is registered and started again. */
  readonly reconnected$: Observable<void> = this.reconnectedSubject.asObservable();
  private connected = false;
  /** The optional features this agent and we both have (HELLO). */
  private caps: string[] = [];
  /** Doorbells of other app connections (pair rings). */
  private readonly peerBells = new PeerBells();
  private clientBell!: Doorbell;
  /** Our doorbell's path (the readers of our pair rings ring it). */
  bellPath = '';
  agentBell!: Doorbell;
  agentId = '';
  /** The incarnation of the agent we are connected to: every ref we hand out is of it. */
  epoch = 0;
  private conn!: FramedConnection;
  private scheduled = false;
  /** When the rings last ran dry while a reply was awaited (-1: not polling). */
  private dryAt = -1;
  private readonly spinMs: number;
  private closed = false;
  private draining: Promise<void> | undefined;
  private readonly log: Logger;

  private constructor(
    readonly options: ConnectOptions,
    private readonly socketPath: string,
  ) {
    this.log = toLogger(options.log);
    const spinUs = options.replySpinUs ?? DEFAULT_REPLY_SPIN_US;
    if (!(Number.isFinite(spinUs) && spinUs >= 0)) throw new BadArgumentError(`replySpinUs ${spinUs}: a number of microseconds, 0 or more`);
    this.spinMs = spinUs / 1000;
  }

  /** Connect and authenticate; rejects with AuthError on a wrong key. */
  static async connect(options: ConnectOptions, socketPath: string): Promise<MeshImpl> {
    const mesh = new MeshImpl(options, socketPath);
    try {
      await mesh.open();
    } catch (err) {
      mesh.closed = true;
      throw err;
    }
    return mesh;
  }

  /** Dial the agent, authenticate, and open the doorbells. */
  private async open(): Promise<void> {
    const socket = createConnection(this.socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err) => reject(new AgentLostError(noAgent(this.socketPath, err), { cause: err })));
    });
    const conn = new FramedConnection(socket, {
      onMessage: (type, body) => this.onEvent(type, body),
      onClose: (reason) => { if (this.conn === conn) this.onLost(reason); },
    });
    this.conn = conn;
    try {
      const fields = versionFields(CONTROL_PROTOCOL);
      if (this.options.pairs === false) fields.caps = fields.caps.filter((c) => c !== 'pairs'); // nobody sends us pair markers
      const hello = await this.control(ControlMessage.HELLO, { gameId: this.options.gameId, pid: process.pid, ...fields });
      agreeVersion('control', CONTROL_PROTOCOL, hello);
      this.caps = hello.caps ?? [];
      const welcome = await this.control(ControlMessage.AUTH, { proof: gameProof(this.options.password, hello.nonce) });
      this.agentId = welcome.agentId;
      this.watchEvents.connected(welcome.epoch); // node numbers are the new agent's own
      this.epoch = welcome.epoch;
      this.clientBell = Doorbell.open(welcome.clientBell);
      this.bellPath = welcome.clientBell;
      this.agentBell = Doorbell.open(welcome.agentBell);
      this.clientBell.listen(() => this.schedule());
      this.connected = true;
      this.log.debug(`rxmesh: connected to agent '${this.agentId}' at ${this.socketPath} as game '${this.options.gameId}'`, { agentId: this.agentId, socket: this.socketPath });
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Create, register and start an instance (CreateInstance + RegisterInstance + StartupInstance). */
  instance(service: string, options: InstanceOptions): Instance {
    if (this.closed) throw new ClosedError('mesh is closed');
    const inst = new InstanceImpl(service, options, this);
    this.live.add(inst);
    return inst;
  }

  // ---------------------------------------------------------------- InstanceHost

  /** A request to the agent; its answer is decoded (control-bodies.ts): a malformed one rejects with ProtocolError. */
  control<K extends AppRequest>(type: K, body: ControlRequests[K]['body']): Promise<ControlRequests[K]['answer']> {
    if (!this.connected && type !== ControlMessage.HELLO && type !== ControlMessage.AUTH) {
      return Promise.reject(new AgentLostError('not connected to the agent (reconnecting)'));
    }
    return this.conn.request(type, body, this.options.timeoutMs ?? 10_000).then(ANSWERS[type]);
  }

  async watch(pattern: string, onEvent: WatchHandler): Promise<WatchAnswer> {
    const res = await this.control(ControlMessage.WATCH, { pattern });
    this.watchEvents.answered(res, onEvent);
    return res;
  }

  async unwatch(watchId: number): Promise<void> {
    this.watchEvents.unwatched(watchId);
    if (!this.closed) await this.control(ControlMessage.UNWATCH, { watchId });
  }

  attach(inst: InstanceImpl, localId: number): void {
    this.instances.set(localId, inst);
    this.schedule();
  }

  detach(localId: number): void {
    this.instances.delete(localId);
  }

  /** The instance is closed for good. */
  forget(inst: InstanceImpl): void {
    this.live.delete(inst);
  }

  wake(): void {
    this.schedule();
  }

  /** The agent takes DRAIN requests (a build before drain does not: Instance.drain is then a close). */
  get drains(): boolean {
    return this.caps.includes('drain');
  }

  /** Pair rings with this agent: it and we speak them, and the app did not turn them off. */
  get pairs(): boolean {
    return this.caps.includes('pairs');
  }

  openBell(path: string): Doorbell {
    return this.peerBells.open(path);
  }

  releaseBell(path: string): void {
    this.peerBells.release(path);
  }

  resolveRef(node: number, localId: number, epoch?: number): InstanceRef {
    return this.watchEvents.resolveRef(node, localId, epoch);
  }

  load(node: number, localId: number): number {
    return this.loads.get(`${node}:${localId}`) ?? 0;
  }


  // ---------------------------------------------------------------- events and pumping

  /**
   * An event from the agent, decoded (control-bodies.ts). A malformed one
   * throws ProtocolError, which closes the connection as a malformed frame
   * from the agent does: onLost, with that error as the reason.
   */
  private onEvent(type: number, body: unknown): void {
    switch (type) {
      case ControlMessage.ONLINE:
        return this.watchEvents.event(onlineEvent(body));
      case ControlMessage.OFFLINE: {
        const ev = offlineEvent(body);
        this.loads.delete(`${ev.instance.node}:${ev.instance.localId}`);
        return this.watchEvents.event(ev);
      }
      case ControlMessage.LOAD:
        for (const i of loadReport(body).items) this.loads.set(`${i.node}:${i.localId}`, i.depth);
        return;
      case ControlMessage.KICKED:
        this.instances.get(kickedEvent(body).localId)?.kicked();
        return;
      case ControlMessage.FAULT: {
        const fault = faultEvent(body);
        this.instances.get(fault.localId)?.fail(MeshError.parse(fault));
        return;
      }
      case ControlMessage.PAIR_CLOSED: {
        const ev = pairClosedEvent(body);
        this.instances.get(ev.localId)?.pairClosed(ev);
        return;
      }
    }
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.scheduled = false;
    let work = 0;
    for (const inst of this.live) {
      try {
        inst.wakeOutbox();
        work += inst.pump();
      } catch (err) {
        inst.ringBroke(err); // a RingError: that instance closes, its messages$ says why; the others go on
      }
    }
    if (work > 0) {
      this.dryAt = -1;
      return this.schedule();
    }
    if (this.spinMs > 0 && this.awaitingReply()) {
      const now = performance.now();
      if (this.dryAt < 0) this.dryAt = now;
      if (now - this.dryAt < this.spinMs) return this.schedule(); // poll again next turn: the reply may be a few µs away
    }
    this.dryAt = -1;
    for (const inst of this.instances.values()) if (!inst.park()) return this.schedule();
  }

  private awaitingReply(): boolean {
    // worth a poll only where replies come within about the window (on this host); a reply from across
    // hosts takes several windows, and polling for it takes a core its agents need
    for (const inst of this.live) if (inst.awaitsReplyWithin(POLL_WORTH * this.spinMs)) return true;
    return false;
  }

  private onLost(reason: Error | undefined): void {
    if (this.closed || !this.connected) return;
    this.connected = false;
    const err = new AgentLostError(`lost the agent connection${reason ? `: ${reason.message}` : ''}`);
    this.log.warn(`rxmesh: ${err.message}${this.options.reconnect === false ? '' : '; reconnecting'}`, { socket: this.socketPath });
    this.clientBell?.close();
    this.agentBell?.close();
    this.watchEvents.lost();
    this.loads.clear();
    this.instances.clear();
    if (this.options.reconnect === false) {
      this.closed = true;
      for (const inst of this.live) {
        inst.suspend(err); // what the agent had delivered is still handed out, what it had not settled reported
        inst.fail(err);
      }
      this.peerBells.closeAll();
      this.live.clear();
      this.lostSubject.next(err);
      this.lostSubject.complete();
      return;
    }
    for (const inst of this.live) inst.suspend(err);
    this.peerBells.closeAll(); // (every ring using one was unmapped or unhooked by suspend)
    this.lostSubject.next(err);
    void this.reconnect();
  }

  /** Dial again with capped, jittered exponential back-off; then bring every instance back. */
  private async reconnect(): Promise<void> {
    for (const backoff = new Backoff(RECONNECT_MIN_MS, RECONNECT_MAX_MS); !this.closed;) {
      await sleep(backoff.next());
      if (this.closed) return;
      try {
        await this.open();
      } catch (err) {
        this.log.debug(`rxmesh: reconnect to ${this.socketPath} failed: ${(err as Error).message}`, { socket: this.socketPath });
        continue;
      }
      for (const inst of [...this.live]) {
        try {
          await inst.resume();
        } catch (err) {
          this.log.warn(`rxmesh: ${inst.service}/${inst.userData} could not be registered again: ${(err as Error).message}`, { instance: `${inst.service}/${inst.userData}` });
          inst.fail(err instanceof MeshError ? err : new AgentLostError((err as Error).message));
          this.live.delete(inst);
        }
      }
      if (this.connected) {
        this.log.info(`rxmesh: reconnected; ${this.live.size} instance(s) registered again`);
        this.reconnectedSubject.next();
      }
      return;
    }
  }

  /** Close every instance, then the connection (DeleteInstanceObj for all). */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled([...this.live].map((i) => i.close()));
    this.closed = true;
    this.connected = false;
    this.live.clear();
    this.conn.close();
    this.clientBell?.close();
    this.agentBell?.close();
    this.peerBells.closeAll();
    this.lostSubject.complete();
    this.reconnectedSubject.complete();
  }

  /**
   * Drain every instance (Instance.drain, drain.ts) at once, then close the
   * connection (NATS `drain()`). Idempotent: later calls return the same promise.
   */
  drain(opts: DrainOptions = {}): Promise<void> {
    try {
      drainOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    this.draining ??= Promise.allSettled([...this.live].map((i) => i.drain(opts))).then(() => this.close());
    return this.draining;
  }

  /** `await using mesh = await connect(...)`: closed (every instance, then the connection) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
