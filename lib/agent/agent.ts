/**
 * Agent: the per-host sidecar. It serves the control socket and the rings in
 * its shm directory, registers instances with the registry, and runs the
 * record path (data-path.ts is where to start reading it) and the peer links.
 *
 *   <shmDir>/agent.sock   control socket (Unix)
 *   <shmDir>/agent.bell   doorbell apps ring when the agent is parked or waits for room
 *   <shmDir>/c<N>.bell    doorbell of app connection N
 *   <shmDir>/i<N>.tx|.rx  rings of instance N
 *   <shmDir>/p<A>-<B>.<epoch>.ring   pair ring from instance A to instance B (pair-table.ts)
 *   <shmDir>/epoch        the last incarnation's number (incarnation.ts)
 *
 * With `metricsPort` it serves /metrics (metrics.ts), /healthz and /readyz
 * (readiness()) from before it reaches its registry, so a probe sees why it
 * is not ready yet.
 */
import { rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Doorbell, RingError, ShmqResult, type PeerCred, DEFAULT_CAPACITY } from '../native/index.js';
import type { Registry as MetricsRegistry } from 'prom-client';
import { stderrLogger, toLogger, type Logger } from '../protocol/logger.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { InstanceInfo, OfflineEvent, OnlineEvent, PairDoneRequest, PairOpened } from '../protocol/control-bodies.js';
import { ConflictError, LimitError } from '../protocol/errors.js';
import { instanceId } from '../protocol/names.js';
import { OpsServer, type ReadinessChecks } from '../protocol/ops-http.js';
import { keyOf, OfflineReason, type ConflictStrategy, type InstanceRecord } from '../protocol/registry-messages.js';
import { defaultShmDir } from '../protocol/shm-home.js';
import type { GameVerdict, Registry, RegistryWatch } from '../registry/registry.js';
import type { AgentOptions } from './agent-options.js';
import type { SessionHost } from './client-session.js';
import { ControlServer } from './control-server.js';
import { DataPath } from './data-path.js';
import { nextEpoch } from './incarnation.js';
import { LinkTable } from './links/link-table.js';
import { LoadReporter } from './load-reporter.js';
import { MapHeadroom } from './map-headroom.js';
import { agentMetrics } from './metrics.js';
import { Limits } from './limits.js';
import { LocalInstance } from './local-instance.js';
import type { SinkLimits } from './sink-host.js';
import { NodeTable } from './node-table.js';
import { PairTable } from './pair-table.js';
import { Router } from './router.js';
import { prepareShmDir } from './shm-dir.js';
import { UserDirs } from './user-dirs.js';
import type { UnreadRoutes } from './unread.js';
import { agentStatus, RetiredTotals, type AgentStatus } from './status.js';
import { AppBells } from './app-bells.js';
import { Directory } from './directory.js';
import { Departures } from './departures.js';

export type { AgentOptions } from './agent-options.js';

/** Mappings an instance costs the agent: one per ring. */
const MAPS_PER_INSTANCE = 2;

export class Agent implements SessionHost, UnreadRoutes {
  readonly agentId: string;
  readonly shmDir: string;
  readonly socketPath: string;
  readonly agentBellPath: string;
  epoch = 0;
  readonly log: Logger;
  private readonly registry: Registry;
  private readonly instances = new Map<number, LocalInstance>();
  private readonly byKey = new Map<string, LocalInstance>();
  private readonly users: UserDirs;
  private readonly bells: AppBells;
  private directory!: Directory;
  private departures!: Departures;
  private readonly quota: Limits;
  private readonly maps: MapHeadroom;
  private readonly limits: SinkLimits;
  private nodes!: NodeTable;
  private pairs!: PairTable;
  private router!: Router;
  private path!: DataPath;
  private loads!: LoadReporter;
  private bell!: Doorbell;
  private control!: ControlServer;
  private links: LinkTable | undefined;
  private address = '';
  private nextLocalId = 1;
  private closing = false;
  private readonly ledgerFile: string | undefined;
  /** This agent's Prometheus metrics (its own registry), read at scrape time. */
  readonly metrics: MetricsRegistry;
  private ops: OpsServer | undefined;
  /** Counters of the instances that are gone (totals never go down). */
  private readonly retired = new RetiredTotals();

  private constructor(private readonly options: AgentOptions) {
    this.registry = options.registry;
    this.agentId = options.agentId ?? `${hostname()}-${process.pid}`;
    this.shmDir = options.shmDir ?? defaultShmDir();
    this.socketPath = join(this.shmDir, 'agent.sock');
    this.agentBellPath = join(this.shmDir, 'agent.bell');
    this.users = new UserDirs(this.shmDir);
    this.bells = new AppBells(this.users, this.agentBellPath, () => this.path.schedule());
    this.log = toLogger(options.log, stderrLogger('[rxmesh agent] '));
    const capacity = options.ring?.capacity ?? DEFAULT_CAPACITY;
    this.limits = { fullMs: options.fullMs ?? 5000, maxWaitBytes: capacity, maxPartialBytes: options.maxPartialBytes ?? 256 * 1024 * 1024 };
    this.ledgerFile = options.testHooks ? join(this.shmDir, 'taken.ledger') : undefined;
    this.quota = new Limits(options.limits, this.log);
    this.maps = new MapHeadroom(options.maxMaps);
    this.metrics = agentMetrics(this, { instanceLabels: options.metricsInstanceLabels });
  }

  /** Make its shm dir and control socket, take its registry lease, and serve; rejects (and cleans up) when any step fails. */
  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    await prepareShmDir(agent.shmDir, agent.socketPath, agent.users.dirMode);
    agent.epoch = nextEpoch(agent.shmDir);
    agent.nodes = new NodeTable({ agentId: agent.agentId, epoch: agent.epoch });
    agent.directory = new Directory(agent.epoch, agent.nodes, (localId) => agent.instances.get(localId)?.info, () => agent.links);
    agent.router = new Router(agent.epoch, agent.instances);
    agent.bell = Doorbell.create(agent.agentBellPath);
    agent.path = new DataPath(agent.epoch, agent.router, agent.bell, (localId, err) => agent.departures.fault(localId, err), agent.log);
    agent.loads = new LoadReporter(agent.instances, (clientId, type, body) => agent.control.session(clientId)?.notify(type, body));
    agent.path.onActivity = () => agent.loads.poke();
    agent.pairs = agent.pairTable();
    agent.departures = agent.departuresOf();
    agent.path.admitsMarker = (from, data, at, len) => agent.pairs.admits(from, data, at, len);
    agent.address = options.address ?? '';
    if (options.links) {
      const links = new LinkTable({
        agentId: agent.agentId,
        epoch: agent.epoch,
        nodes: agent.nodes,
        log: agent.log,
        round: (fn) => agent.path.round(fn),
        gameOf: (local) => agent.instances.get(local)?.gameId ?? null,
        ownSink: (local) => agent.ownSink(local),
        destination: (epoch, local, game) => agent.router.inbound(epoch, local, game),
      }, options.links);
      agent.links = links;
      agent.router.remote = links;
      agent.address ||= await links.listen();
    }
    try {
      if (options.metricsPort !== undefined) {
        agent.ops = await OpsServer.start('agent metrics', agent, { port: options.metricsPort, host: options.metricsHost, admission: options.admission, log: agent.log });
      }
      await agent.registry.open(
        { agentId: agent.agentId, address: agent.address },
        { kicked: (instance, by) => agent.departures.kickedElsewhere(instance, by) },
      );
      agent.control = new ControlServer(agent.socketPath, agent, options.admission);
      await agent.control.listen(agent.users.socketMode);
    } catch (err) {
      await agent.abandon();
      throw err;
    }
    return agent;
  }

  /** start() failed after the data path and the links were made (e.g. the registry refused us): undo them, so the process can exit. */
  private async abandon(): Promise<void> {
    this.closing = true;
    await this.ops?.close();
    await this.links?.close();
    this.path.stop();
    this.loads.stop();
    await this.registry.close().catch(() => {});
    this.bell.close();
  }

  /** How instances leave (departures.ts), seeing the agent through what they need. */
  private departuresOf(): Departures {
    return new Departures({
      epoch: this.epoch, instances: this.instances, byKey: this.byKey, registry: this.registry, path: this.path, pairs: this.pairs,
      retired: this.retired, routes: this, log: this.log, fullMs: this.limits.fullMs, ledgerFile: this.ledgerFile,
      session: (clientId) => this.control?.session(clientId),
      toInfo: (r) => this.directory.toInfo(r),
      wentAway: (info) => this.directory.wentAway(info),
      closing: () => this.closing,
    });
  }

  /** The pair rings (pair-table.ts), seeing the agent through what they need. */
  private pairTable(): PairTable {
    const users = this.users;
    return new PairTable({
      epoch: this.epoch,
      ring: this.options.ring ?? {},
      quota: this.quota,
      instance: (localId) => this.instances.get(localId),
      client: (clientId) => this.control?.session(clientId),
      dirFor: (peer) => users.dirFor(peer),
      own: (path, peer) => users.own(path, peer),
      checkMaps: (n) => this.maps.check(n, (why) => this.quota.refuse(why)),
      mapped: (n) => this.maps.added(n),
      round: (fn) => this.path.round(fn),
      routes: this,
      ledgerFile: this.ledgerFile,
      log: this.log,
    });
  }

  // ---------------------------------------------------------------- SessionHost

  /** @internal */
  verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict> {
    return this.registry.verifyGame(gameId, nonce, proof);
  }

  /** @internal */
  serves(peer: PeerCred): boolean {
    return this.users.serves(peer);
  }

  /** @internal */
  isAdmin(peer: PeerCred): boolean {
    return this.users.isAdmin(peer);
  }

  /** The doorbell this user's apps ring to wake the agent (their own, when not ours). @internal */
  agentBellFor(peer: PeerCred): string {
    return this.bells.agentBellFor(peer);
  }

  /** @internal */
  openClientBell(clientId: number, peer: PeerCred): string {
    return this.bells.open(clientId, peer);
  }

  /** @internal */
  closeClientBell(clientId: number): void {
    this.bells.close(clientId);
  }

  /** @internal */
  async createInstance(clientId: number, gameId: string, service: string, userData: string, conflict: ConflictStrategy): Promise<LocalInstance> {
    const bell = this.bells.of(clientId);
    if (!bell) throw new Error('client has no doorbell');
    const held = this.byKey.get(keyOf({ gameId, service, userData }));
    if (held && conflict === 'reject') {
      throw new ConflictError(`${instanceId(service, userData)} is held by local instance ${held.localId} on agent ${this.agentId}`);
    }
    const slot = this.quota.take('instances', clientId, gameId);
    const meter = this.quota.meter(clientId, gameId);
    const localId = this.nextLocalId++;
    const record: InstanceRecord = { gameId, service, userData, agentId: this.agentId, address: this.address, localId, epoch: this.epoch, online: false };
    let inst: LocalInstance;
    try {
      this.maps.check(MAPS_PER_INSTANCE, (why) => this.quota.refuse(why)); // before mapping: past vm.max_map_count the agent would abort
      const peer = this.control.session(clientId)!.peer;
      const dir = this.users.dirFor(peer);
      inst = new LocalInstance(localId, record, this.directory.toInfo(record), join(dir, `i${localId}.tx`), join(dir, `i${localId}.rx`),
        this.options.ring ?? {}, bell, this.path, this.limits, meter);
      this.users.own(inst.txPath, peer);
      this.users.own(inst.rxPath, peer);
    } catch (err) {
      meter.close();
      slot();
      // a full tmpfs is a limit of this host, not a fault: the app gets LimitError saying how much is needed
      if (err instanceof RingError && err.result === ShmqResult.NO_SPACE) throw new LimitError(`no room for this instance's rings: ${err.message}`, { cause: err });
      throw err;
    }
    this.maps.added(MAPS_PER_INSTANCE);
    inst.onGone(() => {
      slot();
      this.maps.added(-MAPS_PER_INSTANCE);
    });
    inst.clientId = clientId;
    try {
      await this.registry.register(record, conflict);
    } catch (err) {
      inst.destroy();
      throw err;
    }
    if (held) this.departures.kick(held, record);
    this.instances.set(localId, inst);
    this.byKey.set(keyOf(record), inst);
    this.path.add(inst.source);
    return inst;
  }

  /** @internal */
  async startupInstance(inst: LocalInstance): Promise<InstanceInfo> {
    await this.registry.startup(inst.record);
    if (inst.state === 'registered') inst.state = 'online';
    inst.record.online = true;
    return inst.info;
  }

  /** CLOSE from its app (departures.ts). @internal */
  closeInstance(inst: LocalInstance): Promise<void> {
    return this.departures.close(inst);
  }

  /** DRAIN from its app: out of the registry, a destination until its CLOSE (departures.ts). @internal */
  drainInstance(inst: LocalInstance): Promise<void> {
    return this.departures.drain(inst);
  }

  /** RELEASE from its app (departures.ts). @internal */
  releaseInstance(inst: LocalInstance): void {
    this.departures.release(inst);
  }

  /** Its app went away without closing it (crash, lost connection). @internal */
  dropInstance(inst: LocalInstance, reason: OfflineReason): Promise<void> {
    return this.departures.drop(inst, reason);
  }

  /** @internal */
  async watch(clientId: number, gameId: string, pattern: string, onEvent: (type: number, body: unknown) => void, watchId: number): Promise<{ watch: RegistryWatch; instances: InstanceInfo[] }> {
    const slot = this.quota.take('watches', clientId, gameId);
    let watch: RegistryWatch;
    try {
      watch = await this.registry.watch(gameId, pattern, (ev) => {
        const instance = this.directory.toInfo(ev.instance);
        if (ev.kind === 'online') onEvent(ControlMessage.ONLINE, { watchId, instance } satisfies OnlineEvent);
        else {
          this.directory.wentAway(instance);
          onEvent(ControlMessage.OFFLINE, { watchId, instance, reason: ev.reason } satisfies OfflineEvent);
        }
      });
    } catch (err) {
      slot();
      throw err;
    }
    const counted: RegistryWatch = { snapshot: watch.snapshot, close: () => { slot(); return watch.close(); } };
    return { watch: counted, instances: watch.snapshot.map((r) => this.directory.toInfo(r)) };
  }

  /** @internal */
  get pairRings(): boolean {
    return this.quota.options.maxPairsPerInstance > 0;
  }

  /** @internal */
  openPair(clientId: number, from: LocalInstance, to: number): PairOpened {
    return this.pairs.open(clientId, from, to);
  }

  /** @internal */
  pairDone(clientId: number, done: PairDoneRequest): void {
    if ('to' in done) this.pairs.writerDone(clientId, done.localId, done.to);
    else this.pairs.readerDone(clientId, done.from, done.localId);
  }

  /** @internal */
  clientGone(clientId: number): void {
    this.pairs.clientGone(clientId);
  }

  /** @internal */
  resolve(node: number, localId: number): InstanceInfo | undefined {
    return this.directory.resolve(node, localId);
  }

  // ---------------------------------------------------------------- routes for bounces

  /** @internal */
  ownSink(localId: number): LocalInstance['sink'] | undefined {
    return this.instances.get(localId)?.sink;
  }

  /** @internal */
  epochOf(node: number): number | undefined {
    return this.nodes.agentOf(node)?.epoch;
  }

  /** @internal */
  sendBack(node: number, type: number, record: Uint8Array, ticket: import('./record-sink.js').Ticket): void {
    if (this.links) this.links.sendBack(node, type, record, ticket);
  }

  /** The address peers dial ('' without links). */
  get linkAddress(): string {
    return this.address;
  }

  /** Where the link server really listens (differs from linkAddress behind a proxy). */
  get listeningAddress(): string {
    return this.links?.listening ?? '';
  }

  /** Test hook: cut every peer link; ours stay away for `ms`. */
  cutLinks(ms: number): void {
    this.links?.cut(ms);
  }

  /** Counters for `rxmesh status` and the metrics. */
  status(): AgentStatus {
    return agentStatus({
      agentId: this.agentId, epoch: this.epoch, links: this.links?.status(), malformed: this.path.malformedCount, retired: this.retired,
      registry: this.registry.health(), pairs: this.pairs.status(), control: { sessions: this.control?.sessionCount ?? 0, admission: this.control?.admissionStats() },
    }, this.instances.values());
  }

  /** What /readyz checks: the registry answers, our lease is held, the control socket listens. */
  readiness(): ReadinessChecks {
    const r = this.registry.health();
    return { registry: r.connected, lease: r.leaseHeld, control: !this.closing && (this.control?.listening ?? false) };
  }

  /** The metrics port (0 without one). */
  get metricsPort(): number {
    return this.ops?.port ?? 0;
  }

  /** Stop: settle what the links hold (briefly), then let every app go; apps keep reading their rings. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const serverClosed = this.control.stopAccepting();
    await this.links?.drain(2000);
    await this.links?.close();
    this.path.round(() => {});
    await this.control.disconnectAll();
    await serverClosed;
    this.path.stop();
    this.loads.stop();
    this.pairs.closeAll();
    for (const inst of this.instances.values()) {
      inst.state = 'gone';
      inst.destroy();
    }
    this.instances.clear();
    await this.registry.close().catch((err: Error) => this.log.warn(`registry close: ${err.message}`));
    this.bell.close();
    this.bells.closeAll();
    await this.ops?.close();
    try {
      rmdirSync(this.shmDir);
    } catch { /* not empty: the epoch file, or someone else's files */ }
  }
}
