/**
 * ClientSession: one app connected to the agent's control socket. It
 * authenticates the app (HMAC challenge on its game key, checked by the
 * registry so the key never reaches the agent), creates, starts and closes
 * its instances, and relays watches. When the socket closes, every instance
 * of the app goes offline (reason `crashed` unless it was closed first).
 */
import { AuthError, CrossGameError, MeshError, NotFoundError, ProtocolError } from '../protocol/errors.js';
import { agreeVersion, commonCaps, CONTROL_PROTOCOL } from '../protocol/versions.js';
import { ControlMessage } from '../protocol/control-messages.js';
import {
  authRequest, createRequest, empty, helloRequest, instanceRequest, openPairRequest, pairDoneRequest, resolveRequest, unwatchRequest, watchRequest,
  type CreateRequest, type Created, type Empty, type HelloAnswer, type InstanceInfo, type OfflineEvent, type PairDoneRequest, type PairOpened, type WatchAnswer, type Welcome,
} from '../protocol/control-bodies.js';
import type { FramedConnection } from '../protocol/connection.js';
import type { Logger } from '../protocol/logger.js';
import { newNonce } from '../protocol/auth.js';
import { gameOf } from '../protocol/names.js';
import { OfflineReason, reasonFor, type ConflictStrategy } from '../protocol/registry-messages.js';
import type { GameVerdict, RegistryWatch } from '../registry/registry.js';
import type { PeerCred } from '../native/index.js';
import type { LocalInstance } from './local-instance.js';

/** The narrow part of the agent a session needs. */
export interface SessionHost {
  readonly agentId: string;
  readonly epoch: number;
  /** The doorbell path this user's apps ring (user-dirs.ts). */
  agentBellFor(peer: PeerCred): string;
  /** May it serve an app of this user; may this user see every game's status? */
  serves(peer: PeerCred): boolean;
  isAdmin(peer: PeerCred): boolean;
  verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict>;
  openClientBell(clientId: number, peer: PeerCred): string;
  closeClientBell(clientId: number): void;
  createInstance(clientId: number, gameId: string, service: string, userData: string, conflict: ConflictStrategy): Promise<LocalInstance>;
  startupInstance(inst: LocalInstance): Promise<InstanceInfo>;
  /** DRAIN: out of the registry (reason `draining`), still a destination until CLOSE; resolves once deregistered. */
  drainInstance(inst: LocalInstance): Promise<void>;
  /** Leave routing; resolves once what it sent is read and settled. */
  closeInstance(inst: LocalInstance): Promise<void>;
  /** After CLOSE: the app reads no more. */
  releaseInstance(inst: LocalInstance): void;
  /** The app went away without closing it. */
  dropInstance(inst: LocalInstance, reason: OfflineReason): Promise<void>;
  /** Counted against the app's and the game's watch limits until the watch is closed. */
  watch(clientId: number, gameId: string, pattern: string, onEvent: (type: number, body: unknown) => void, watchId: number): Promise<{ watch: RegistryWatch; instances: InstanceInfo[] }>;
  resolve(node: number, localId: number): InstanceInfo | undefined;
  /** It makes pair rings at all (not with --max-pairs-per-instance 0): else it does not offer the capability. */
  readonly pairRings: boolean;
  /** OPEN_PAIR for the app's instance `from` (pair-table.ts): the ring, or a MeshError saying why not. */
  openPair(clientId: number, from: LocalInstance, to: number): PairOpened;
  /** PAIR_DONE from the app. */
  pairDone(clientId: number, done: PairDoneRequest): void;
  /** The app's connection is gone: its instances write no more into pair rings. */
  clientGone(clientId: number): void;
  status(): unknown;
  readonly log: Logger;
}

export class ClientSession {
  private gameId: string | undefined;
  private nonce: Uint8Array | undefined;
  private authed = false;
  /** The optional features the app and the agent both have (HELLO). */
  private caps: string[] = [];
  /** The doorbell its instances sleep on ('' before AUTH). */
  bell = '';
  private readonly instances = new Map<number, LocalInstance>();
  private readonly watches = new Map<number, RegistryWatch>();
  private nextWatchId = 1;
  private closed = false;

  constructor(
    readonly clientId: number,
    private readonly conn: FramedConnection,
    private readonly host: SessionHost,
    /** the app's user, from the kernel */
    readonly peer: PeerCred,
  ) {}

  /**
   * A request (or, id 0, an event) from the app. Every body goes through its
   * decoder (control-bodies.ts) before anything else reads it: a malformed one
   * is answered FAILURE PROTOCOL, and before AUTH the connection is closed
   * too (HELLO, AUTH and STATUS are all an app may send then).
   */
  onMessage(type: number, body: unknown): unknown {
    if (type === ControlMessage.HELLO) return this.guard(() => this.hello(body));
    if (type === ControlMessage.AUTH) return this.auth(body);
    if (type === ControlMessage.STATUS) return this.authed ? this.status(body) : this.guard(() => this.status(body));
    if (!this.authed) return this.refuse(new AuthError('authenticate first'));
    switch (type) {
      case ControlMessage.CREATE: return this.create(createRequest(body));
      case ControlMessage.STARTUP: return this.host.startupInstance(this.instance(instanceRequest(body).localId));
      case ControlMessage.WATCH: return this.watch(watchRequest(body).pattern);
      case ControlMessage.UNWATCH: return this.unwatch(unwatchRequest(body).watchId);
      case ControlMessage.CLOSE: return this.host.closeInstance(this.instance(instanceRequest(body).localId)).then((): Empty => ({}));
      case ControlMessage.RELEASE: return this.releaseInstance(instanceRequest(body).localId);
      case ControlMessage.DRAIN: return this.host.drainInstance(this.instance(instanceRequest(body).localId)).then((): Empty => ({}));
      case ControlMessage.OPEN_PAIR: {
        const { localId, to } = openPairRequest(body);
        return this.host.openPair(this.clientId, this.instance(localId), to);
      }
      case ControlMessage.PAIR_DONE:
        this.host.pairDone(this.clientId, pairDoneRequest(body));
        return {};
      case ControlMessage.RESOLVE: {
        const { node, localId } = resolveRequest(body);
        const info = this.host.resolve(node, localId);
        if (!info || gameOf(info.service) !== this.gameId) throw new NotFoundError('no such instance'); // nor of another game
        return info;
      }
      default: throw new ProtocolError(`unknown control message type ${type}`);
    }
  }

  /** The agent's user (or root) sees every game; an app sees its own game's instances, once authenticated. */
  private status(body: unknown): unknown {
    const admin = this.host.isAdmin(this.peer);
    if (!admin && !this.authed) throw new AuthError('authenticate first');
    empty(body);
    if (admin) return this.host.status();
    const all = this.host.status() as { instances: { id: string }[]; links?: unknown };
    // agent-wide counters (links, totals, connections) would tell of other games
    return { ...all, links: undefined, totals: undefined, control: undefined, instances: all.instances.filter((i) => gameOf(i.id) === this.gameId) };
  }

  private hello(body: unknown): HelloAnswer {
    if (this.gameId !== undefined) throw new ProtocolError('hello sent twice');
    const hello = helloRequest(body);
    const v = agreeVersion('control', CONTROL_PROTOCOL, hello);
    if (!this.host.serves(this.peer)) {
      throw new AuthError(`this agent serves only uid ${process.getuid?.()}; run it as root to serve apps of several users (uid ${this.peer.uid})`);
    }
    this.gameId = hello.gameId;
    this.nonce = newNonce();
    this.caps = commonCaps(CONTROL_PROTOCOL, hello.caps).filter((c) => c !== 'pairs' || this.host.pairRings);
    return { nonce: this.nonce, agentId: this.host.agentId, v, caps: this.caps };
  }

  /** A watch event as this app can read it: `draining` only to an app that named that capability (else `closed`). */
  private event(type: number, ev: unknown): unknown {
    if (type !== ControlMessage.OFFLINE) return ev;
    const off = ev as OfflineEvent;
    return off.reason === OfflineReason.DRAINING ? { ...off, reason: reasonFor(off.reason, this.caps) } : off;
  }

  /** The app reads pair rings (and so may be sent pair markers). */
  get pairs(): boolean {
    return this.caps.includes('pairs');
  }

  /** Answer with `err`, then close the connection: nothing more from it is taken. */
  private refuse(err: Error): never {
    setImmediate(() => this.conn.close(err));
    throw err;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      return this.refuse(err as Error);
    }
  }

  private async auth(body: unknown): Promise<Welcome> {
    const nonce = this.nonce;
    this.nonce = undefined; // one try per nonce, whatever happens below
    if (!this.gameId || !nonce || this.authed) return this.refuse(new ProtocolError('auth out of order'));
    let proof: Uint8Array;
    try {
      proof = authRequest(body).proof;
    } catch (err) {
      // A proof of the wrong shape is refused here, like a wrong one: the registry never sees it.
      return err instanceof AuthError ? this.authFailed('wrong_key') : this.refuse(err as Error);
    }
    const verdict = await this.host.verifyGame(this.gameId, nonce, proof);
    if (verdict !== 'ok') return this.authFailed(verdict);
    this.authed = true;
    this.conn.authenticated(); // the control socket's pre-auth bounds no longer apply
    this.bell = this.host.openClientBell(this.clientId, this.peer);
    return { agentId: this.host.agentId, epoch: this.host.epoch, clientBell: this.bell, agentBell: this.host.agentBellFor(this.peer) };
  }

  private authFailed(verdict: Exclude<GameVerdict, 'ok'>): never {
    const game = this.gameId!;
    this.host.log.warn(`client ${this.clientId}: authentication failed for game '${game}' (${verdict})`, { client: this.clientId, gameId: game, verdict });
    const why = {
      wrong_key: `wrong key for game '${game}'`,
      unknown_game: `unknown game '${game}': no game of that id is registered (check gameId; games come from the name server's games file or \`rxmesh games set\` on etcd)`,
      wrong_key_or_unknown_game: `wrong key for game '${game}', or no such game (the name server does not say which)`,
    }[verdict];
    return this.refuse(new AuthError(why));
  }

  private checkGame(name: string): void {
    if (gameOf(name) !== this.gameId) throw new CrossGameError(`'${name}' is not in game '${this.gameId}'`);
  }

  private async create({ service, userData, conflict }: CreateRequest): Promise<Created> {
    this.checkGame(service);
    const inst = await this.host.createInstance(this.clientId, this.gameId!, service, userData, conflict);
    if (this.closed) {
      await this.host.dropInstance(inst, OfflineReason.CRASHED);
      throw new MeshError('CLOSED');
    }
    this.instances.set(inst.localId, inst);
    return { localId: inst.localId, info: inst.info, txPath: inst.txPath, rxPath: inst.rxPath, maxRecord: inst.maxRecord };
  }

  private instance(localId: number): LocalInstance {
    const inst = this.instances.get(localId);
    if (!inst) throw new NotFoundError(`no instance ${localId} on this connection`);
    return inst;
  }

  private async watch(pattern: string): Promise<WatchAnswer> {
    this.checkGame(pattern);
    const watchId = this.nextWatchId++;
    const { watch, instances } = await this.host.watch(this.clientId, this.gameId!, pattern, (type, ev) => this.conn.send(type, this.event(type, ev)), watchId);
    if (this.closed) {
      await watch.close();
      throw new MeshError('CLOSED');
    }
    this.watches.set(watchId, watch);
    return { watchId, instances };
  }

  private async unwatch(watchId: number): Promise<Empty> {
    const w = this.watches.get(watchId);
    this.watches.delete(watchId);
    await w?.close();
    return {};
  }

  private releaseInstance(localId: number): Empty {
    const inst = this.instance(localId);
    this.instances.delete(localId);
    this.host.releaseInstance(inst);
    return {};
  }

  /** The agent dropped one of our instances (kicked, or a corrupt ring). */
  forget(localId: number): void {
    this.instances.delete(localId);
  }

  /** Close the app's control connection (agent shutdown). */
  disconnect(): void {
    this.conn.close();
  }

  notify(type: number, body: unknown): void {
    this.conn.send(type, body);
  }

  private tornDown: Promise<void> | undefined;

  /** The socket closed: everything of this app goes away. Idempotent (callers share one teardown). */
  teardown(): Promise<void> {
    this.tornDown ??= this.doTeardown();
    return this.tornDown;
  }

  private async doTeardown(): Promise<void> {
    this.closed = true;
    const insts = [...this.instances.values()];
    this.instances.clear();
    const watches = [...this.watches.values()];
    this.watches.clear();
    this.host.clientGone(this.clientId);
    await Promise.allSettled([
      ...insts.map((i) => this.host.dropInstance(i, OfflineReason.CRASHED)),
      ...watches.map((w) => w.close()),
    ]);
    this.host.closeClientBell(this.clientId);
  }
}
