/**
 * Agent: the per-host sidecar. It serves the control socket and the rings in
 * its shm directory, registers instances with the registry, and pumps
 * messages between rings (RingPump + Router).
 *
 *   <shmDir>/agent.sock   control socket (Unix)
 *   <shmDir>/agent.bell   doorbell apps ring when the agent is parked
 *   <shmDir>/c<N>.bell    doorbell of app connection N
 *   <shmDir>/i<N>.tx|.rx  rings of instance N
 */
import { mkdirSync, readdirSync, rmdirSync, rmSync, chmodSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { Doorbell, Ring, type RingOptions } from '../native/index.js';
import { FramedConnection, isProtocolViolation } from '../protocol/connection.js';
import { ControlMessage, type InstanceInfo } from '../protocol/control-messages.js';
import { ConflictError } from '../protocol/errors.js';
import { instanceId } from '../protocol/names.js';
import { keyOf, OfflineReason, type ConflictStrategy, type InstanceRecord } from '../protocol/registry-messages.js';
import type { Registry, RegistryWatch } from '../registry/registry.js';
import { ClientSession, type SessionHost } from './client-session.js';
import { LoadReporter } from './load-reporter.js';
import { LocalInstance } from './local-instance.js';
import { NodeTable } from './node-table.js';
import { RingPump } from './ring-pump.js';
import { Router } from './router.js';
import { LinkTable, type LinkOptions } from './links/link-table.js';

export interface AgentOptions {
  registry: Registry;
  /** Default /dev/shm/rxmesh-<user>/ */
  shmDir?: string;
  agentId?: string;
  /** Peer-link address advertised in the registry ('' until links exist). */
  address?: string;
  ring?: RingOptions;
  log?: (msg: string) => void;
  /** Peer links to other agents (listen address, mesh secret, timings). */
  links?: LinkOptions;
}

export const defaultShmDir = (): string => `/dev/shm/rxmesh-${userInfo().username}`;

/** Control frames are small; this bounds what a client can make us allocate. */
const CONTROL_MAX_FRAME = 1024 * 1024;

export class Agent implements SessionHost {
  readonly agentId: string;
  readonly shmDir: string;
  readonly socketPath: string;
  readonly agentBellPath: string;
  private readonly registry: Registry;
  private readonly instances = new Map<number, LocalInstance>();
  private readonly byKey = new Map<string, LocalInstance>();
  private readonly sessions = new Map<number, ClientSession>();
  private readonly clientBells = new Map<number, Doorbell>();
  private readonly known = new Map<string, InstanceInfo>();
  private readonly nodes: NodeTable;
  private readonly router: Router;
  private pump!: RingPump;
  private loads!: LoadReporter;
  private bell!: Doorbell;
  private server!: Server;
  private links: LinkTable | undefined;
  private address = '';
  private nextLocalId = 1;
  private nextClientId = 1;
  private closing = false;
  readonly log: (msg: string) => void;

  private constructor(private readonly options: AgentOptions) {
    this.registry = options.registry;
    this.agentId = options.agentId ?? `${hostname()}-${process.pid}`;
    this.shmDir = options.shmDir ?? defaultShmDir();
    this.socketPath = join(this.shmDir, 'agent.sock');
    this.agentBellPath = join(this.shmDir, 'agent.bell');
    this.nodes = new NodeTable(this.agentId);
    this.log = options.log ?? ((msg) => process.stderr.write(`[rxmesh agent] ${msg}\n`));
    this.router = new Router(this.instances, this.log);
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    await agent.prepareDir();
    agent.bell = Doorbell.create(agent.agentBellPath);
    agent.pump = new RingPump(agent.instances, agent.router, agent.bell);
    agent.pump.onFault = (src, err) => agent.fault(src, err);
    agent.loads = new LoadReporter(agent.instances, (clientId, type, body) => agent.sessions.get(clientId)?.notify(type, body));
    agent.pump.onActivity = () => agent.loads.poke();
    agent.address = options.address ?? '';
    if (options.links) {
      const links = new LinkTable({
        agentId: agent.agentId,
        instances: agent.instances,
        nodes: agent.nodes,
        router: agent.router,
        log: agent.log,
        wake: () => agent.pump.schedule(),
      }, options.links);
      agent.links = links;
      agent.router.remote = links;
      const listening = await links.listen();
      agent.address ||= listening;
      links.setAdvertised(agent.address);
    }
    await agent.registry.open(
      { agentId: agent.agentId, address: agent.address },
      { kicked: (instance, by) => agent.kicked(instance, by) },
    );
    agent.server = createServer((socket) => agent.accept(socket));
    await new Promise<void>((resolve, reject) => {
      agent.server.once('error', reject);
      agent.server.listen(agent.socketPath, () => resolve());
    });
    chmodSync(agent.socketPath, 0o600);
    return agent;
  }

  /** Create the shm dir (0700), refusing if a live agent owns it, clearing what a dead one left. */
  private async prepareDir(): Promise<void> {
    mkdirSync(this.shmDir, { recursive: true, mode: 0o700 });
    chmodSync(this.shmDir, 0o700);
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(this.socketPath);
      probe.once('connect', () => { probe.destroy(); resolve(true); });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`an agent is already running on ${this.socketPath}`);
    for (const name of readdirSync(this.shmDir)) {
      if (/^(agent\.(sock|bell)|c\d+\.bell|i\d+\.(tx|rx))$/.test(name)) rmSync(join(this.shmDir, name), { force: true });
    }
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const clientId = this.nextClientId++;
    let session: ClientSession | undefined = undefined;
    const conn = new FramedConnection(socket, {
      onMessage: (type, body) => session!.onMessage(type, body),
      onClose: (reason) => {
        if (reason && isProtocolViolation(reason)) this.log(`client ${clientId}: closed: ${reason.message}`);
        this.sessions.delete(clientId);
        void session!.teardown();
      },
    }, CONTROL_MAX_FRAME);
    session = new ClientSession(clientId, conn, this);
    this.sessions.set(clientId, session);
  }

  // ---------------------------------------------------------------- SessionHost

  verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<boolean> {
    return this.registry.verifyGame(gameId, nonce, proof);
  }

  openClientBell(clientId: number): string {
    const path = join(this.shmDir, `c${clientId}.bell`);
    this.clientBells.set(clientId, Doorbell.create(path));
    return path;
  }

  closeClientBell(clientId: number): void {
    this.clientBells.get(clientId)?.close();
    this.clientBells.delete(clientId);
  }

  async createInstance(clientId: number, gameId: string, service: string, userData: string, conflict: ConflictStrategy): Promise<LocalInstance> {
    const bell = this.clientBells.get(clientId);
    if (!bell) throw new Error('client has no doorbell');
    const held = this.byKey.get(keyOf({ gameId, service, userData }));
    if (held && conflict === 'reject') {
      throw new ConflictError(`${instanceId(service, userData)} is held by local instance ${held.localId} on agent ${this.agentId}`);
    }
    const localId = this.nextLocalId++;
    const record: InstanceRecord = { gameId, service, userData, agentId: this.agentId, address: this.address, localId, online: false };
    const info = this.toInfo(record);
    const inst = new LocalInstance(localId, record, info, join(this.shmDir, `i${localId}.tx`), join(this.shmDir, `i${localId}.rx`), this.options.ring ?? {}, bell);
    inst.clientId = clientId;
    try {
      await this.registry.register(record, conflict);
    } catch (err) {
      inst.destroy();
      throw err;
    }
    if (held) await this.removeInstance(held, OfflineReason.REPLACED, true);
    this.instances.set(localId, inst);
    this.byKey.set(keyOf(record), inst);
    return inst;
  }

  async startupInstance(inst: LocalInstance): Promise<InstanceInfo> {
    await this.registry.startup(inst.record);
    if (inst.state === 'registered') inst.state = 'online';
    inst.record.online = true;
    this.pump.schedule();
    return inst.info;
  }

  async removeInstance(inst: LocalInstance, reason: OfflineReason, kicked = false): Promise<void> {
    if (inst.state === 'gone' || !this.instances.has(inst.localId)) {
      inst.destroy();
      return;
    }
    // What the app sent before it went still goes out; what was queued for it goes back.
    inst.state = 'registered';
    try {
      inst.tx.drain((type, body) => this.router.forward(inst, type, body));
    } catch { /* a corrupt ring: nothing more to take from it */ }
    this.router.bounceQueued(inst, (visit) => {
      try {
        using reader = Ring.open(inst.rxPath, 'consumer');
        reader.drain((type, body) => { visit(type, body); });
      } catch { /* already unreadable */ }
    });
    this.instances.delete(inst.localId);
    if (this.byKey.get(keyOf(inst.record)) === inst) this.byKey.delete(keyOf(inst.record));
    inst.destroy();
    this.pump.schedule();
    if (kicked || reason === OfflineReason.REPLACED) return;
    try {
      await this.registry.deregister(inst.record, reason);
    } catch (err) {
      this.log(`deregister ${inst.info.id}: ${(err as Error).message}`);
    }
  }

  async watch(gameId: string, pattern: string, onEvent: (type: number, body: unknown) => void, watchId: number): Promise<{ watch: RegistryWatch; instances: InstanceInfo[] }> {
    const watch = await this.registry.watch(gameId, pattern, (ev) => {
      const instance = this.toInfo(ev.instance);
      if (ev.kind === 'online') onEvent(ControlMessage.ONLINE, { watchId, instance });
      else onEvent(ControlMessage.OFFLINE, { watchId, instance, reason: ev.reason });
    });
    return { watch, instances: watch.snapshot.map((r) => this.toInfo(r)) };
  }

  resolve(node: number, localId: number): InstanceInfo | undefined {
    if (node === 0) return this.instances.get(localId)?.info ?? this.known.get(`0:${localId}`);
    return this.known.get(`${node}:${localId}`);
  }

  // ---------------------------------------------------------------- events

  private toInfo(r: InstanceRecord): InstanceInfo {
    const info: InstanceInfo = {
      service: r.service,
      userData: r.userData,
      id: instanceId(r.service, r.userData),
      agentId: r.agentId,
      node: this.nodes.nodeOf(r.agentId),
      localId: r.localId,
    };
    this.links?.learn(r, info.node);
    this.known.set(`${info.node}:${info.localId}`, info);
    return info;
  }

  private sessionOf(inst: LocalInstance): ClientSession | undefined {
    return this.sessions.get(inst.clientId);
  }

  private kicked(record: InstanceRecord, by: InstanceRecord): void {
    const inst = this.byKey.get(keyOf(record));
    if (!inst || inst.localId !== record.localId) return;
    const session = this.sessionOf(inst);
    session?.forget(inst.localId);
    session?.notify(ControlMessage.KICKED, { localId: inst.localId, by: this.toInfo(by) });
    void this.removeInstance(inst, OfflineReason.REPLACED, true);
  }

  private fault(inst: LocalInstance, err: Error): void {
    this.log(`instance ${inst.info.id}: ${err.message}; dropping it`);
    const session = this.sessionOf(inst);
    session?.forget(inst.localId);
    session?.notify(ControlMessage.FAULT, { localId: inst.localId, code: 'RING', message: err.message });
    void this.removeInstance(inst, OfflineReason.CRASHED);
  }

  /** The address peers dial ('' without links). */
  get linkAddress(): string {
    return this.address;
  }

  /** Test hook: cut every peer link; ours stay away for `ms`. */
  cutLinks(ms: number): void {
    this.links?.cut(ms);
  }

  /** Per-ring and per-link counters for `rxmesh status`. */
  status(): { agentId: string; instances: { id: string; localId: number; state: string; tx: ReturnType<Ring['stats']>; rx: ReturnType<Ring['stats']> }[]; router: Router['stats']; links: ReturnType<LinkTable['status']> | undefined } {
    return {
      agentId: this.agentId,
      links: this.links?.status(),
      instances: [...this.instances.values()].map((i) => ({ id: i.info.id, localId: i.localId, state: i.state, tx: i.tx.stats(), rx: i.rx.stats() })),
      router: this.router.stats,
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // stop accepting; the server's close callback waits for the sessions we end next
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const sessions = [...this.sessions.values()]; // disconnect() removes them from the map
    for (const s of sessions) s.disconnect();
    await Promise.allSettled(sessions.map((s) => s.teardown()));
    await serverClosed;
    this.sessions.clear();
    await this.links?.close();
    for (const inst of [...this.instances.values()]) await this.removeInstance(inst, OfflineReason.CLOSED);
    this.pump.stop();
    this.loads.stop();
    await this.registry.close().catch((err: Error) => this.log(`registry close: ${err.message}`));
    this.bell.close();
    for (const b of this.clientBells.values()) b.close();
    this.clientBells.clear();
    rmSync(this.socketPath, { force: true });
    try {
      rmdirSync(this.shmDir);
    } catch { /* not empty: someone else's files */ }
  }
}
