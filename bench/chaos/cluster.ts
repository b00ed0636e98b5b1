import { fetchStatus } from '../../lib/cli/status.js';
/**
 * Cluster: the processes of one chaos run and the levers faults pull.
 *
 *   one `rxmesh ns`; three `rxmesh agent`s (chaos-a/b/c), each behind a
 *   TcpProxy when the agent takes --advertise (peers then dial the proxy);
 *   app slots, each one app process at a time (a restart is a new
 *   incarnation with the slot's current instance list).
 *
 * It also follows every app log and agent ledger into the Accounting
 * (`poll`), and tells it when an app incarnation ended. Everything lives in
 * a temp dir and /dev/shm/rxmesh-chaos-<pid>-<n> dirs, removed by close()
 * (and by processes.ts on any exit).
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accounting } from './accounting.js';
import type { AppConfig, InstanceSpec } from './app.js';
import { LedgerReader } from './ledger.js';
import { AgentProcess, AppProcess, Child, NsProcess, forgetPath, keepPath, removeOnExit } from './processes.js';
import { TcpProxy } from './proxy.js';
import { LineTail } from './tail.js';
import type { Topology } from './topology.js';
import { AGENT_LETTERS, GAME, GAME_KEY } from './wire.js';

export interface ClusterOptions {
  seed: number;
  proxies: boolean;
  requestTimeoutMs: number;
  log: (msg: string) => void;
  /** Keep the temp dir with the app logs (its path goes to log). */
  keepLogs?: boolean;
}

export interface AppSlot {
  slot: number;
  agent: number;
  inc: number;
  proc: AppProcess | undefined;
  instances: InstanceSpec[];
  /** Exits the harness did not cause. */
  crashes: number;
}

let shmCounter = 0;

export class Cluster {
  readonly acc = new Accounting();
  readonly agents: AgentProcess[] = [];
  readonly proxies: Array<TcpProxy | undefined> = [];
  readonly slots: AppSlot[];
  readonly t0 = Date.now();
  traffic = false;
  private ns!: NsProcess;
  private readonly root: string;
  private readonly shmDirs: string[] = [];
  private readonly tails: LineTail[] = [];
  private readonly ledgers: LedgerReader[] = [];
  private readonly expectedExit = new Set<AppProcess>();

  private constructor(readonly o: ClusterOptions, topology: Topology) {
    this.root = mkdtempSync(join(tmpdir(), 'rxmesh-chaos-'));
    removeOnExit(this.root);
    Child.stderrDir = o.keepLogs ? this.root : undefined;
    this.slots = topology.apps.map((a) => ({ slot: a.slot, agent: a.agent, inc: 0, proc: undefined, instances: a.instances.map((s) => ({ ...s })), crashes: 0 }));
  }

  /** Start ns, proxies, agents and every app; resolves once every app is ready. */
  static async start(o: ClusterOptions, topology: Topology): Promise<Cluster> {
    const c = new Cluster(o, topology);
    try {
      await c.boot();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  private async boot(): Promise<void> {
    const games = join(this.root, 'games.json');
    writeFileSync(games, JSON.stringify({ [GAME]: GAME_KEY }));
    const secret = join(this.root, 'mesh-secret');
    writeFileSync(secret, `chaos-${this.o.seed}-${process.pid}\n`, { mode: 0o600 });
    this.ns = await NsProcess.start(games, secret);
    for (let i = 0; i < AGENT_LETTERS.length; i++) {
      const shmDir = `/dev/shm/rxmesh-chaos-${process.pid}-${shmCounter++}`;
      mkdirSync(shmDir, { recursive: true, mode: 0o700 });
      chmodSync(shmDir, 0o700);
      removeOnExit(shmDir);
      this.shmDirs.push(shmDir);
      const proxy = this.o.proxies ? await TcpProxy.listen() : undefined;
      this.proxies.push(proxy);
      this.agents.push(new AgentProcess({ index: i, registry: this.ns.url, shmDir, secretFile: secret, advertise: proxy?.address }));
      this.ledgers.push(new LedgerReader(shmDir));
    }
    await Promise.all(this.agents.map((_, i) => this.startAgent(i)));
    await Promise.all(this.slots.map((s) => this.startApp(s.slot)));
  }

  /** ms since the cluster started (the apps' log time base). */
  now(): number {
    return Date.now() - this.t0;
  }

  async startAgent(i: number): Promise<void> {
    const a = this.agents[i]!;
    await a.start();
    this.proxies[i]?.setTarget(a.link);
    this.o.log(`agent ${a.id} up (pid ${a.child!.pid}, link ${a.link}${this.proxies[i] ? ` behind proxy ${this.proxies[i]!.address}` : ''})`);
  }

  async killAgent(i: number): Promise<void> {
    await this.agents[i]!.kill();
  }

  /** Start the slot's next incarnation with its current instances; resolves when it is ready. */
  async startApp(slot: number): Promise<void> {
    const s = this.slots[slot]!;
    const inc = s.inc + (s.proc ? 1 : 0);
    s.inc = inc;
    const log = join(this.root, `app-${slot}-${inc}.log`);
    this.tails.push(new LineTail(log));
    const config: AppConfig = {
      app: slot, inc, seed: this.o.seed, socket: this.agents[s.agent]!.socket || join(this.shmDirs[s.agent]!, 'agent.sock'), log, t0: this.t0,
      traffic: this.traffic, instances: s.instances, requestTimeoutMs: this.o.requestTimeoutMs,
    };
    const proc = new AppProcess(config);
    s.proc = proc;
    void proc.child.exited.then((e) => {
      this.acc.appEnded(slot, inc, this.now());
      if (!this.expectedExit.delete(proc)) {
        s.crashes++;
        this.o.log(`app ${slot}.${inc} exited by itself (${e.signal ?? e.code}): ${proc.child.stderrTail.slice(-1500)}`);
      }
    });
    await proc.ready();
  }

  async killApp(slot: number): Promise<void> {
    const proc = this.slots[slot]!.proc;
    if (!proc) return;
    this.expectedExit.add(proc);
    await proc.kill();
  }

  /** The slot hosting receiver k now (replacements move receivers). */
  hostOf(role: 'send' | 'recv', index: number): AppSlot | undefined {
    return this.slots.find((s) => s.instances.some((i) => i.role === role && i.index === index));
  }

  setTraffic(on: boolean): void {
    this.traffic = on;
    for (const s of this.slots) s.proc?.send({ op: 'traffic', on });
  }

  /** Read what the logs and ledgers gained since the last poll. */
  poll(): void {
    for (const t of this.tails) for (const line of t.read()) this.acc.ingest(line);
    this.ledgers.forEach((l, agent) => this.acc.ingestLedger(agent, l.read()));
  }

  get ledgerUnreadable(): number {
    return this.ledgers.reduce((n, l) => n + l.unreadable, 0);
  }

  /** Write each agent's `rxmesh status` into the kept logs (to see where unsettled messages sit). */
  async dumpStatus(): Promise<void> {
    await Promise.all(this.shmDirs.map(async (dir, i) => {
      try {
        const s = await fetchStatus(dir);
        writeFileSync(join(this.root, `status-${'abc'[i]}.json`), JSON.stringify(s, null, 1));
      } catch (err) {
        writeFileSync(join(this.root, `status-${'abc'[i]}.json`), String(err));
      }
    }));
  }

  /** Kill everything and remove every dir. */
  async close(): Promise<void> {
    for (const s of this.slots) if (s.proc) this.expectedExit.add(s.proc);
    await Promise.all(this.slots.map((s) => s.proc?.kill()));
    await Promise.all(this.agents.map((a) => a.kill()));
    await this.ns?.child.kill();
    await Promise.all(this.proxies.map((p) => p?.close()));
    for (const d of this.shmDirs) forgetPath(d);
    if (this.o.keepLogs) {
      keepPath(this.root);
      this.o.log(`logs kept in ${this.root}`);
    } else {
      forgetPath(this.root);
    }
  }
}
