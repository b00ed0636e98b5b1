/**
 * Real rxmesh processes for integration specs: `rxmesh up`, `rxmesh ns` and
 * `rxmesh agent`, each in its own shm dir and on ephemeral ports. Every
 * process is SIGKILLed when the spec process exits and stops by itself when
 * its parent goes away (--exit-with-parent); shm dirs are removed by
 * cleanupShm().
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Mesh } from '../../lib/index.js';
import { fetchStatus } from '../../lib/cli/status.js';
import { startInNetns } from './netns.js';
import { startFixture, type Fixture } from './process.js';
import { tempShmDir } from './shm.js';

export const GAME = 'g';
export const KEY = 'g-key';
export const GAMES: Record<string, string> = { [GAME]: KEY, other: 'other-key' };

export const MESH_SECRET = 'spec-mesh-secret';

export interface Ready {
  ns?: { port: number; httpPort: number; metricsPort?: number };
  agent?: { socket: string; agentId: string; epoch: number; link?: string; listening?: string; metricsPort?: number };
}

/** Peer-link options for startAgent/startUp: listen on an ephemeral loopback port with a mesh secret. */
export interface LinkSpecOptions {
  /** Listen for peer agents (on 127.0.0.1:0 unless `listen` says otherwise). */
  links?: boolean;
  listen?: string;
  /** Default MESH_SECRET. */
  secret?: string;
  /** SIGUSR2 cuts the agent's links for 1 s, and the agent writes its taken-message ledger (RXMESH_TEST_HOOKS=1). */
  testHooks?: boolean;
}

/** Agent options for startAgent/startUp. */
export interface AgentSpecOptions extends LinkSpecOptions {
  /** Reuse a shm dir (an agent restarted in place); default a new one. */
  shmDir?: string;
  /** --full-ms: how long a destination may take nothing before its queued messages bounce. */
  fullMs?: number;
  /** More command-line arguments. */
  args?: string[];
}

function agentArgs(o: AgentSpecOptions): string[] {
  return [...linkArgs(o), ...(o.fullMs !== undefined ? ['--full-ms', String(o.fullMs)] : []), ...(o.args ?? [])];
}

function linkArgs(o: LinkSpecOptions): string[] {
  if (!o.links && !o.listen) return [];
  return ['--listen', o.listen ?? '127.0.0.1:0'];
}

/** The environment of an agent or `up`: the mesh secret (never on the command line), test hooks. */
function agentEnv(o: LinkSpecOptions): NodeJS.ProcessEnv {
  return { RXMESH_MESH_SECRET: o.secret ?? MESH_SECRET, ...(o.testHooks ? { RXMESH_TEST_HOOKS: '1' } : {}) };
}

export class MeshProcess {
  constructor(readonly fixture: Fixture, readonly ready: Ready, readonly shmDir: string) {}

  get socket(): string {
    return this.ready.agent!.socket;
  }

  get nsUrl(): string {
    return `ns://127.0.0.1:${this.ready.ns!.port}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.ready.ns!.httpPort}`;
  }

  /** Apps connected through connect(): closed when this process is stopped or
   * killed, so no client is left redialling a dead agent (that keeps a spec alive). */
  private readonly apps = new Set<Mesh>();

  /** Connect an app to this process's agent. */
  async connect(gameId = GAME, password = GAMES[gameId] ?? ''): Promise<Mesh> {
    const mesh = await connect({ gameId, password, agent: this.socket });
    this.apps.add(mesh);
    return mesh;
  }

  private async closeApps(): Promise<void> {
    await Promise.allSettled([...this.apps].map((m) => m.close()));
    this.apps.clear();
  }

  /** Close its apps, SIGTERM and wait for a clean exit. */
  async stop(): Promise<void> {
    await this.closeApps();
    this.fixture.child.kill('SIGTERM');
    await this.fixture.exited;
  }

  async kill(): Promise<unknown> {
    const exit = await this.fixture.kill();
    await this.closeApps();
    return exit;
  }

  /** The peer-link address the agent listens on ('' without links). */
  get linkAddress(): string {
    return this.ready.agent?.link ?? '';
  }

  get agentId(): string {
    return this.ready.agent!.agentId;
  }

  /** The agent's counters (`rxmesh status --json`), read over its control socket. */
  status(): ReturnType<typeof fetchStatus> {
    return fetchStatus(this.shmDir);
  }
}

async function start(args: string[], shmDir: string, env: NodeJS.ProcessEnv = {}, netns?: string): Promise<MeshProcess> {
  const full = [...args, '--exit-with-parent'];
  const f = netns
    ? startInNetns(netns, 'lib/cli/main.ts', full, { ...process.env, ...env })
    : startFixture('lib/cli/main.ts', full, env);
  await f.waitFor('"ready"');
  const line = f.stdout.split('\n').find((l) => l.includes('"ready"'))!;
  return new MeshProcess(f, (JSON.parse(line) as { ready: Ready }).ready, shmDir);
}

function gamesFile(): string {
  const file = join(tempShmDir(), 'games.json');
  writeFileSync(file, JSON.stringify(GAMES));
  return file;
}

/** `rxmesh up`: a name server and an agent in one process. */
export function startUp(opts: { leaseTtlMs?: number } & AgentSpecOptions = {}): Promise<MeshProcess> {
  const shmDir = opts.shmDir ?? tempShmDir();
  return start(['up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--games', gamesFile(), '--lease-ttl', String(opts.leaseTtlMs ?? 3000), ...agentArgs(opts)], shmDir,
    agentEnv(opts));
}

/** `rxmesh ns` alone. */
export function startNs(opts: { leaseTtlMs?: number; args?: string[]; secret?: string } = {}): Promise<MeshProcess> {
  return start(['ns', '--port', '0', '--http-port', '0', '--games', gamesFile(), '--lease-ttl', String(opts.leaseTtlMs ?? 3000), ...(opts.args ?? [])], '',
    { RXMESH_MESH_SECRET: opts.secret ?? MESH_SECRET });
}

/** `rxmesh agent` on a registry (inside network namespace `netns`, if given: another host). */
export function startAgent(registry: string, opts: { id?: string; netns?: string } & AgentSpecOptions = {}): Promise<MeshProcess> {
  const shmDir = opts.shmDir ?? tempShmDir();
  return start(['agent', '--registry', registry, '--shm-dir', shmDir, ...(opts.id ? ['--id', opts.id] : []), ...agentArgs(opts)], shmDir,
    agentEnv(opts), opts.netns);
}

/** A name server and two linked agents (`host-1`, `host-2`: two hosts), with an app connected to each. */
export interface TwoHosts {
  ns: MeshProcess;
  agents: [MeshProcess, MeshProcess];
  meshes: [Mesh, Mesh];
  /** Close the apps, stop the agents and the name server. */
  stop(): Promise<void>;
}

export async function startTwoHosts(): Promise<TwoHosts> {
  const ns = await startNs();
  const agents: MeshProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const a of agents) await a.stop(); // (closes its apps first)
    await ns.stop();
  };
  try {
    agents.push(await startAgent(ns.nsUrl, { id: 'host-1', links: true }));
    agents.push(await startAgent(ns.nsUrl, { id: 'host-2', links: true }));
    const meshes: [Mesh, Mesh] = [await agents[0]!.connect(), await agents[1]!.connect()];
    return { ns, agents: agents as [MeshProcess, MeshProcess], meshes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
