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
import { Doorbell, RingError, ShmqResult, type PeerCred, type RingOptions, DEFAULT_CAPACITY } from '../native/index.js';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { AdmissionOptions } from '../protocol/admission.js';
import { stderrLogger, toLogger, type Logger, type LogOption } from '../protocol/logger.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { FaultEvent, InstanceInfo, KickedEvent, OfflineEvent, OnlineEvent, PairDoneRequest, PairOpened } from '../protocol/control-bodies.js';
import { ConflictError, LimitError } from '../protocol/errors.js';
import { instanceId } from '../protocol/names.js';
import { OpsServer, type ReadinessChecks } from '../protocol/ops-http.js';
import { keyOf, OfflineReason, type ConflictStrategy, type InstanceRecord } from '../protocol/registry-messages.js';
import { defaultShmDir } from '../protocol/shm-home.js';
import type { GameVerdict, Registry, RegistryWatch } from '../registry/registry.js';
import type { SessionHost } from './client-session.js';
import { ControlServer } from './control-server.js';
import { DataPath } from './data-path.js';
import { nextEpoch } from './incarnation.js';
import { LinkTable, type LinkOptions } from './links/link-table.js';
import { LoadReporter } from './load-reporter.js';
import { MapHeadroom } from './map-headroom.js';
import { agentMetrics } from './metrics.js';
import { Limits, type LimitOptions } from './limits.js';
import { LocalInstance } from './local-instance.js';
import type { SinkLimits } from './sink-host.js';
import { NodeTable } from './node-table.js';
import { PairTable } from './pair-table.js';
import { Router } from './router.js';
import { prepareShmDir } from './shm-dir.js';
import { UserDirs } from './user-dirs.js';
import { ledger, UnreadBouncer, type UnreadRoutes } from './unread.js';
import { agentStatus, RetiredTotals, type AgentStatus } from './status.js';

export interface AgentOptions {
  registry: Registry;
  /** Default /dev/shm/rxmesh-<user>/ (rxmesh-uid<N> for a uid without a passwd entry: protocol/shm-home.ts) */
  shmDir?: string;
  agentId?: string;
  /** Peer-link address advertised in the registry ('' until links exist). */
  address?: string;
  ring?: RingOptions;
  /** Where the agent's lines go, each with a level (a plain function gets every line). Default stderr, all but debug. */
  log?: LogOption;
  /** Peer links to other agents (listen address, mesh secret, timings). */
  links?: LinkOptions;
  /** How long a destination may take nothing before the messages waiting for it bounce QUEUE_FULL. Default 5000. */
  fullMs?: number;
  /** Bytes of unfinished fragmented messages one instance may be receiving at once. Default 256 MiB. */
  maxPartialBytes?: number;
  /** Write the taken-message ledger (fault-injection runs). */
  testHooks?: boolean;
  /** What one app connection and one game may hold (limits.ts); unset ones keep their defaults. */
  limits?: Partial<LimitOptions>;
  /** The most memory mappings the agent may have, in place of the sysctl vm.max_map_count (map-headroom.ts). */
  maxMaps?: number;
  /** Bounds on control-socket connections before they authenticate (admission.ts; peer links: `links.admission`). */
  admission?: Partial<AdmissionOptions>;
  /** Serve /metrics, /healthz and /readyz on this port (0: an ephemeral one); none when unset. */
  metricsPort?: number | undefined;
  /** Interface of the metrics port. Default 127.0.0.1: it is unauthenticated. */
  metricsHost?: string | undefined;
  /** Label ring metrics per instance for at most this many instances. Default 0: aggregates only. */
  metricsInstanceLabels?: number | undefined;
}

/** Mappings an instance costs the agent: one per ring. */
const MAPS_PER_INSTANCE = 2;
/** Instances that went away, kept for RESOLVE (a message's sender may be gone before its receiver asks). */
const GONE_KEPT = 1024;

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
  private readonly clientBells = new Map<number, Doorbell>();
  /** Users other than ours (an agent running as root): their own agent doorbell each, by uid. */
  private readonly userBells = new Map<number, Doorbell>();
  private readonly users: UserDirs;
  /** Remote instances seen through watches while online, by `node:localId` (local ones are in `instances`). */
  private readonly known = new Map<string, InstanceInfo>();
  /** The last GONE_KEPT instances that went offline, local or remote (for RESOLVE). */
  private readonly gone = new Map<string, InstanceInfo>();
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
    this.log = toLogger(options.log, stderrLogger('[rxmesh agent] '));
    const capacity = options.ring?.capacity ?? DEFAULT_CAPACITY;
    this.limits = { fullMs: options.fullMs ?? 5000, maxWaitBytes: capacity, maxPartialBytes: options.maxPartialBytes ?? 256 * 1024 * 1024 };
    this.ledgerFile = options.testHooks ? join(this.shmDir, 'taken.ledger') : undefined;
    this.quota = new Limits(options.limits, this.log);
    this.maps = new MapHeadroom(options.maxMaps);
    this.metrics = agentMetrics(this, { instanceLabels: options.metricsInstanceLabels });
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const agent = new Agent(options);
    await prepareShmDir(agent.shmDir, agent.socketPath, agent.users.dirMode);
    agent.epoch = nextEpoch(agent.shmDir);
    agent.nodes = new NodeTable({ agentId: agent.agentId, epoch: agent.epoch });
    agent.router = new Router(agent.epoch, agent.instances);
    agent.bell = Doorbell.create(agent.agentBellPath);
    agent.path = new DataPath(agent.epoch, agent.router, agent.bell, (localId, err) => agent.fault(localId, err), agent.log);
    agent.loads = new LoadReporter(agent.instances, (clientId, type, body) => agent.control.session(clientId)?.notify(type, body));
    agent.path.onActivity = () => agent.loads.poke();
    agent.pairs = agent.pairTable();
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
        { kicked: (instance, by) => agent.kickedElsewhere(instance, by) },
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

  verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict> {
    return this.registry.verifyGame(gameId, nonce, proof);
  }

  serves(peer: PeerCred): boolean {
    return this.users.serves(peer);
  }

  isAdmin(peer: PeerCred): boolean {
    return this.users.isAdmin(peer);
  }

  /** The doorbell this user's apps ring to wake the agent (their own, when not ours). */
  agentBellFor(peer: PeerCred): string {
    if (peer.uid === this.users.agentUid) return this.agentBellPath;
    let bell = this.userBells.get(peer.uid);
    if (!bell) {
      bell = Doorbell.create(join(this.users.dirFor(peer), 'agent.bell'));
      this.users.own(bell.path, peer);
      bell.listen(() => this.path.schedule());
      this.userBells.set(peer.uid, bell);
    }
    return bell.path;
  }

  openClientBell(clientId: number, peer: PeerCred): string {
    const path = join(this.users.dirFor(peer), `c${clientId}.bell`);
    this.clientBells.set(clientId, Doorbell.create(path));
    this.users.own(path, peer);
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
    const slot = this.quota.take('instances', clientId, gameId);
    const meter = this.quota.meter(clientId, gameId);
    const localId = this.nextLocalId++;
    const record: InstanceRecord = { gameId, service, userData, agentId: this.agentId, address: this.address, localId, epoch: this.epoch, online: false };
    let inst: LocalInstance;
    try {
      this.maps.check(MAPS_PER_INSTANCE, (why) => this.quota.refuse(why)); // before mapping: past vm.max_map_count the agent would abort
      const peer = this.control.session(clientId)!.peer;
      const dir = this.users.dirFor(peer);
      inst = new LocalInstance(localId, record, this.toInfo(record), join(dir, `i${localId}.tx`), join(dir, `i${localId}.rx`),
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
    if (held) this.kick(held, record);
    this.instances.set(localId, inst);
    this.byKey.set(keyOf(record), inst);
    this.path.add(inst.source);
    return inst;
  }

  async startupInstance(inst: LocalInstance): Promise<InstanceInfo> {
    await this.registry.startup(inst.record);
    if (inst.state === 'registered') inst.state = 'online';
    inst.record.online = true;
    return inst.info;
  }

  /** CLOSE from its app: leave routing now, answer once what it sent is read and settled. */
  async closeInstance(inst: LocalInstance): Promise<void> {
    this.leave(inst, OfflineReason.CLOSED, true);
    await this.whenDrained(inst, 2 * this.limits.fullMs + 1000);
  }

  /** RELEASE from its app: it reads no more; what it left unread goes back to the senders. */
  releaseInstance(inst: LocalInstance): void {
    this.leave(inst, OfflineReason.CLOSED, true);
    this.pairs.released(inst, OfflineReason.CLOSED); // the client closed its pair rings before CLOSE
    this.finish(inst);
  }

  /** Its app went away without closing it (crash, lost connection). */
  async dropInstance(inst: LocalInstance, reason: OfflineReason): Promise<void> {
    if (this.closing) return;
    this.leave(inst, reason, true);
    await this.whenDrained(inst, 2 * this.limits.fullMs + 1000);
    this.finish(inst);
  }

  async watch(clientId: number, gameId: string, pattern: string, onEvent: (type: number, body: unknown) => void, watchId: number): Promise<{ watch: RegistryWatch; instances: InstanceInfo[] }> {
    const slot = this.quota.take('watches', clientId, gameId);
    let watch: RegistryWatch;
    try {
      watch = await this.registry.watch(gameId, pattern, (ev) => {
        const instance = this.toInfo(ev.instance);
        if (ev.kind === 'online') onEvent(ControlMessage.ONLINE, { watchId, instance } satisfies OnlineEvent);
        else {
          this.wentAway(instance);
          onEvent(ControlMessage.OFFLINE, { watchId, instance, reason: ev.reason } satisfies OfflineEvent);
        }
      });
    } catch (err) {
      slot();
      throw err;
    }
    const counted: RegistryWatch = { snapshot: watch.snapshot, close: () => { slot(); return watch.close(); } };
    return { watch: counted, instances: watch.snapshot.map((r) => this.toInfo(r)) };
  }

  get pairRings(): boolean {
    return this.quota.options.maxPairsPerInstance > 0;
  }

  openPair(clientId: number, from: LocalInstance, to: number): PairOpened {
    return this.pairs.open(clientId, from, to);
  }

  pairDone(clientId: number, done: PairDoneRequest): void {
    if ('to' in done) this.pairs.writerDone(clientId, done.localId, done.to);
    else this.pairs.readerDone(clientId, done.from, done.localId);
  }

  clientGone(clientId: number): void {
    this.pairs.clientGone(clientId);
  }

  resolve(node: number, localId: number): InstanceInfo | undefined {
    const key = `${node}:${localId}`;
    return (node === 0 ? this.instances.get(localId)?.info : this.known.get(key)) ?? this.gone.get(key);
  }

  /** Offline: no longer kept as known, but among the last GONE_KEPT gone for RESOLVE. */
  private wentAway(info: InstanceInfo): void {
    const key = `${info.node}:${info.localId}`;
    this.known.delete(key);
    this.gone.delete(key);
    this.gone.set(key, info);
    if (this.gone.size > GONE_KEPT) this.gone.delete(this.gone.keys().next().value!);
  }

  // ---------------------------------------------------------------- instance lifecycle

  /** Not a destination any more (its waiting data bounces); what it sent still goes out. */
  private leave(inst: LocalInstance, reason: OfflineReason, deregister: boolean): void {
    if (inst.state === 'leaving' || inst.state === 'gone') return;
    inst.state = 'leaving';
    this.path.round(() => inst.sink.leave());
    this.pairs.leaving(inst, reason);
    if (!deregister) return;
    this.registry.deregister(inst.record, reason).catch((err: Error) => this.log.warn(`deregister ${inst.info.id}: ${err.message}`, { instance: inst.info.id }));
  }

  private async whenDrained(inst: LocalInstance, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (inst.state === 'leaving' && !inst.drained && performance.now() < end) {
      this.path.schedule();
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Gone: read what it wrote last, bounce what it left unread, unmap and remove its rings. */
  private finish(inst: LocalInstance): void {
    if (inst.state === 'gone' || !this.instances.has(inst.localId)) return;
    this.path.round(() => {
      try {
        // one lap at most: a producer that keeps writing (or scribbling) cannot hold the agent here
        if (inst.tx.unblock(true) !== 'empty' || inst.tx.available()) inst.source.pump(inst.tx.capacity);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
      }
      if (inst.source.unsettled > 0 || inst.tx.available()) this.log.warn(`instance ${inst.info.id}: gone with messages still unsettled`, { instance: inst.info.id });
      inst.source.close(); // ends an unfinished message at its destination (ABORT)
      const ledgerFile = this.ledgerFile;
      try {
        const unread = new UnreadBouncer(this, inst.localId);
        inst.sink.close((type, body) => unread.add(type, body), ledgerFile ? (type, body) => ledger(ledgerFile, type, body) : undefined);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
        this.log.error(`instance ${inst.info.id}: its rx ring is unreadable: ${err.message}`, { instance: inst.info.id });
      }
    });
    this.pairs.gone(inst);
    this.path.remove(inst.source);
    this.path.forget(inst.sink);
    this.instances.delete(inst.localId);
    this.retired.add(inst);
    this.wentAway(inst.info);
    if (this.byKey.get(keyOf(inst.record)) === inst) this.byKey.delete(keyOf(inst.record));
    inst.destroy();
  }

  /** Another registration took its name: tell its app, which then closes it (or we do after a while). */
  private kick(inst: LocalInstance, by: InstanceRecord): void {
    if (inst.state === 'leaving' || inst.state === 'gone') return;
    const session = this.control.session(inst.clientId);
    session?.notify(ControlMessage.KICKED, { localId: inst.localId, by: this.toInfo(by) } satisfies KickedEvent);
    this.leave(inst, OfflineReason.REPLACED, false);
    if (this.byKey.get(keyOf(inst.record)) === inst) this.byKey.delete(keyOf(inst.record));
    setTimeout(() => {
      if (inst.state !== 'leaving') return;
      session?.forget(inst.localId);
      this.finish(inst);
    }, 2 * this.limits.fullMs + 5000).unref();
  }

  private kickedElsewhere(record: InstanceRecord, by: InstanceRecord): void {
    const inst = this.byKey.get(keyOf(record));
    if (inst && inst.localId === record.localId && record.epoch === this.epoch) this.kick(inst, by);
  }

  /** One of its rings cannot be used (corrupt): drop the instance, never the agent. */
  private fault(localId: number, err: Error): void {
    const inst = this.instances.get(localId);
    if (!inst || inst.state === 'gone') return;
    this.log.error(`instance ${inst.info.id}: ${err.message}; dropping it`, { instance: inst.info.id });
    const session = this.control.session(inst.clientId);
    session?.forget(inst.localId);
    session?.notify(ControlMessage.FAULT, { localId: inst.localId, code: 'RING', message: err.message } satisfies FaultEvent);
    this.leave(inst, OfflineReason.CRASHED, true);
    setImmediate(() => this.finish(inst));
  }

  // ---------------------------------------------------------------- routes for bounces

  ownSink(localId: number): LocalInstance['sink'] | undefined {
    return this.instances.get(localId)?.sink;
  }

  epochOf(node: number): number | undefined {
    return this.nodes.agentOf(node)?.epoch;
  }

  sendBack(node: number, type: number, record: Uint8Array, ticket: import('./record-sink.js').Ticket): void {
    if (this.links) this.links.sendBack(node, type, record, ticket);
  }

  private toInfo(r: InstanceRecord): InstanceInfo {
    const info: InstanceInfo = {
      service: r.service,
      userData: r.userData,
      id: instanceId(r.service, r.userData),
      agentId: r.agentId,
      node: this.nodes.nodeOf(r.agentId, r.epoch),
      localId: r.localId,
      epoch: this.epoch,
    };
    this.links?.learn(r, info.node);
    if (info.node !== 0) this.known.set(`${info.node}:${info.localId}`, info);
    return info;
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
    for (const b of this.clientBells.values()) b.close();
    this.clientBells.clear();
    for (const [uid, b] of this.userBells) {
      b.close();
      this.users.remove(uid);
    }
    this.userBells.clear();
    await this.ops?.close();
    try {
      rmdirSync(this.shmDir);
    } catch { /* not empty: the epoch file, or someone else's files */ }
  }
}
