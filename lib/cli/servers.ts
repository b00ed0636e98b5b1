/**
 * The long-running commands: `rxmesh ns`, `rxmesh agent`, `rxmesh up`. Each
 * prints one JSON line `{"ready": {...}}` on stdout once it serves, and stops
 * cleanly on SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from '../agent/agent.js';
import { LIMIT_FLAGS, type LimitOptions } from '../agent/limits.js';
import { DEFAULT_MAX_RECORD, type RingOptions } from '../native/index.js';
import { NameServer, loadGames, type GameKeys } from '../ns/index.js';
import type { AdmissionOptions } from '../protocol/admission.js';
import { loadTls, type TlsFiles, type TlsMaterial } from '../protocol/tls.js';
import { EtcdRegistry, etcdSecurityFromFiles, isEtcdUrl, type EtcdSecurity } from '../registry/etcd-registry.js';
import { NsRegistry } from '../registry/ns-registry.js';
import type { Registry } from '../registry/registry.js';

export interface ServerOptions {
  host: string;
  /** Interface of the name server's HTTP view (default 127.0.0.1: it is unauthenticated). */
  httpHost: string;
  port: number;
  httpPort: number;
  games: string | undefined;
  leaseTtlMs: number;
  registry: string;
  shmDir: string | undefined;
  agentId: string | undefined;
  /** Peer-link listen address ('host:port'). */
  listen?: string | undefined;
  /** The address peers should dial, when not the listen address (a proxy, NAT). */
  advertise?: string | undefined;
  fullMs?: number | undefined;
  maxPartialBytes?: number | undefined;
  /** Data area of each ring (power of two); records up to a quarter of it. */
  ringBytes?: number | undefined;
  /** Limits per app connection and per game (--max-instances-per-app, ...); unset ones keep their defaults. */
  limits?: Partial<LimitOptions>;
  /** --max-maps: memory mappings the agent may have, in place of vm.max_map_count. */
  maxMaps?: number | undefined;
  /** Where the mesh secret is (else RXMESH_MESH_SECRET); never on the command line. */
  meshSecretFile?: string | undefined;
  /** --tls-ca/--tls-cert/--tls-key: TLS with mutual authentication on the name-server port and the links (and etcds://). */
  tls?: TlsFiles;
  /** --etcd-user and --etcd-password-file (else RXMESH_ETCD_PASSWORD): etcd's own auth. */
  etcdUser?: string | undefined;
  etcdPasswordFile?: string | undefined;
  /** Bounds on every listening port (--auth-ms, --max-conns, ...); unset ones keep their defaults. */
  admission?: Partial<AdmissionOptions>;
  /** --metrics-port, --metrics-host, --metrics-instance-labels (metricsFlags). */
  metrics?: MetricsFlags;
  /** Stop when stdin closes (used by specs and supervisors so no server outlives its parent). */
  exitWithParent: boolean;
}

/** The game `rxmesh up` serves when no --games file is given. */
export const DEMO_GAMES: GameKeys = { demo: 'demo-key' };

/** Where the mesh secret comes from (never the command line: ps shows it). */
const SECRET_FROM = '(--mesh-secret-file FILE or RXMESH_MESH_SECRET)';

/** How an agent proves itself to the registry and its peers. */
export interface Credentials {
  secret: string | undefined;
  tls: TlsMaterial | undefined;
  /** The etcd user, and the TLS files when the registry is etcds:// (one PKI for the mesh). */
  etcd: EtcdSecurity;
}

/** What `o` gives for etcd at `url` (nothing unless it is an etcd URL). */
export function etcdSecurity(o: ServerOptions, url: string): EtcdSecurity {
  if (!isEtcdUrl(url)) return {};
  const tls = url.startsWith('etcds://') ? { caFile: o.tls?.ca, certFile: o.tls?.cert, keyFile: o.tls?.key } : {};
  return etcdSecurityFromFiles({ ...tls, user: o.etcdUser, passwordFile: o.etcdPasswordFile });
}

/** The registry backend a URL names; `leaseTtlMs` is the agent's lease TTL on etcd (the name server sets its own). */
export function registryFor(url: string, c: Credentials, leaseTtlMs?: number, log?: (msg: string) => void): Registry {
  if (url.startsWith('ns://')) {
    if (!c.secret) throw new Error(`${url}: the name server needs this agent to prove the mesh secret ${SECRET_FROM}`);
    return new NsRegistry(url, { secret: c.secret, tls: c.tls, ...(log ? { log } : {}) });
  }
  if (isEtcdUrl(url)) return new EtcdRegistry(url, { ...c.etcd, ...(leaseTtlMs ? { leaseTtlMs } : {}), ...(log ? { log } : {}) });
  throw new Error(`unsupported registry '${url}' (expected ns://host:port, etcd://host:port,host:port,... or etcds://...)`);
}

/** `rxmesh games set <gameId>`: store a game's verifier in etcd (the key from --key or stdin). */
export async function runGamesSet(o: ServerOptions, gameId: string | undefined, key: string | undefined): Promise<void> {
  const registry = o.registry;
  if (!gameId) throw new Error('usage: rxmesh games set <gameId> --registry etcd://... [--key KEY] (or the key on stdin)');
  if (!isEtcdUrl(registry)) throw new Error(`games set needs an etcd registry (--registry etcd://... or etcds://...); the name server reads --games`);
  if (key !== undefined) process.stderr.write('rxmesh games set: --key shows the game key to every user of this host (ps); pipe it on stdin instead\n');
  const secret = key ?? (await readStdin()).replace(/\r?\n$/, '');
  if (!secret) throw new Error('no game key given (--key, or on stdin)');
  await new EtcdRegistry(registry, etcdSecurity(o, registry)).setGame(gameId, secret);
  process.stdout.write(`game '${gameId}': verifier stored in ${registry}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ADMISSION_FLAGS: Record<string, keyof AdmissionOptions> = {
  'auth-ms': 'authTimeoutMs',
  'idle-ms': 'idleTimeoutMs',
  'max-conns': 'maxConnections',
  'max-pending': 'maxPending',
  'preauth-frame-bytes': 'preAuthMaxFrame',
  'max-buffered-bytes': 'maxBufferedBytes',
};

/** The connection-bound flags given on the command line (checked when a server starts: Admission names a bad one). */
export function admissionFlags(values: Record<string, unknown>): Partial<AdmissionOptions> {
  const out: Partial<AdmissionOptions> = {};
  for (const [flag, key] of Object.entries(ADMISSION_FLAGS)) {
    if (values[flag] !== undefined) out[key] = Number(values[flag]);
  }
  return out;
}

/** Where /metrics, /healthz and /readyz are served (`rxmesh up`: the agent's; the name server's are on its HTTP port). */
export interface MetricsFlags {
  port?: number;
  host?: string;
  instanceLabels?: number;
}

/** --metrics-port N, --metrics-host H, --metrics-instance-labels N (whole numbers, checked here to name the flag). */
export function metricsFlags(values: Record<string, unknown>): MetricsFlags {
  const whole = (flag: string, max: number): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || !/^\d+$/.test(v) || n > max) throw new Error(`--${flag} ${String(v)}: must be a whole number from 0 to ${max}`);
    return n;
  };
  const port = whole('metrics-port', 65535);
  const instanceLabels = whole('metrics-instance-labels', 1_000_000);
  const host = values['metrics-host'];
  return { ...(port !== undefined ? { port } : {}), ...(typeof host === 'string' ? { host } : {}), ...(instanceLabels !== undefined ? { instanceLabels } : {}) };
}

/** The per-app and per-game limit flags given on the command line (the agent checks them when it starts). */
export function limitFlags(values: Record<string, unknown>): Partial<LimitOptions> {
  const out: Partial<LimitOptions> = {};
  for (const [key, flag] of Object.entries(LIMIT_FLAGS) as [keyof LimitOptions, string][]) {
    const v = values[flag.slice(2)];
    if (v !== undefined) out[key] = Number(v);
  }
  return out;
}

function untilSignal(stop: () => Promise<void>, exitWithParent: boolean): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      const done = (): void => {
        if (exitWithParent) process.stdin.destroy();
        resolve();
      };
      stop().then(done, (err: Error) => {
        process.stderr.write(`rxmesh: shutdown: ${err.message}\n`);
        done();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (exitWithParent) {
      process.stdin.once('end', onSignal);
      process.stdin.once('error', onSignal);
      process.stdin.resume();
    }
  });
}

/** The metrics port for the ready line, when there is one. */
const metricsOf = (server: { metricsPort: number }): { metricsPort?: number } => (server.metricsPort ? { metricsPort: server.metricsPort } : {});

const ready = (info: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ready: info })}\n`);
};

/** The mesh secret (from --mesh-secret-file or RXMESH_MESH_SECRET) and the TLS files, read. */
export async function credentials(o: ServerOptions): Promise<Credentials> {
  const secret = o.meshSecretFile ? (await readFile(o.meshSecretFile, 'utf8')).replace(/\r?\n$/, '') : process.env['RXMESH_MESH_SECRET'];
  if (o.meshSecretFile && !secret) throw new Error(`${o.meshSecretFile}: the mesh secret file is empty`);
  return { secret: secret || undefined, tls: await loadTls(o.tls ?? {}), etcd: etcdSecurity(o, o.registry) };
}

async function startNs(o: ServerOptions, c: Credentials, fallback: GameKeys | undefined, metrics?: MetricsFlags): Promise<NameServer> {
  if (!c.secret) throw new Error(`the name server needs the mesh secret agents prove ${SECRET_FROM}`);
  const games = o.games ? await loadGames(o.games) : fallback;
  return NameServer.start({
    host: o.host, port: o.port, httpPort: o.httpPort, httpHost: o.httpHost, leaseTtlMs: o.leaseTtlMs, ...(games ? { games } : {}), admission: o.admission ?? {},
    secret: c.secret, tls: c.tls, metricsPort: metrics?.port, metricsHost: metrics?.host,
  });
}

async function startAgent(o: ServerOptions, c: Credentials, registry: string): Promise<Agent> {
  const secret = c.secret;
  if (o.listen && !secret) throw new Error(`--listen needs the mesh secret ${SECRET_FROM}`);
  const log = (msg: string): void => void process.stderr.write(`[rxmesh agent] ${msg}\n`);
  const agent = await Agent.start({
    registry: registryFor(registry, c, o.leaseTtlMs, log), // its lines say `registry: ` themselves
    log,
    ...(o.shmDir ? { shmDir: o.shmDir } : {}),
    ...(o.agentId ? { agentId: o.agentId } : {}),
    ...(secret ? { links: { secret, tls: c.tls, ...(o.listen ? { listen: o.listen } : {}), ...(o.advertise ? { advertise: o.advertise } : {}), admission: o.admission ?? {} } } : {}),
    admission: o.admission ?? {},
    testHooks: process.env['RXMESH_TEST_HOOKS'] === '1',
    ...(o.fullMs !== undefined ? { fullMs: o.fullMs } : {}),
    ...(o.maxPartialBytes !== undefined ? { maxPartialBytes: o.maxPartialBytes } : {}),
    ...(o.ringBytes !== undefined ? { ring: ringOptions(o.ringBytes) } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.maxMaps !== undefined ? { maxMaps: o.maxMaps } : {}),
    metricsPort: o.metrics?.port, metricsHost: o.metrics?.host, metricsInstanceLabels: o.metrics?.instanceLabels,
  });
  // Test hook for the link specs: SIGUSR2 cuts every peer link for 1 s.
  if (process.env['RXMESH_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => agent.cutLinks(1000));
  return agent;
}

/** --ring-bytes: the data area; the largest record is a quarter of it, at most the default. */
function ringOptions(bytes: number): RingOptions {
  if (!Number.isInteger(bytes) || bytes < 1024 || (bytes & (bytes - 1)) !== 0) throw new Error(`--ring-bytes ${bytes}: must be a power of two, at least 1024`);
  return { capacity: bytes, maxRecord: Math.min(DEFAULT_MAX_RECORD, bytes / 4) };
}

export async function runNs(o: ServerOptions): Promise<void> {
  const ns = await startNs(o, await credentials(o), undefined, o.metrics);
  ready({ ns: { port: ns.port, httpPort: ns.httpPort, ...metricsOf(ns) } });
  await untilSignal(() => ns.close(), o.exitWithParent);
}

export async function runAgent(o: ServerOptions): Promise<void> {
  const agent = await startAgent(o, await credentials(o), o.registry);
  ready({ agent: { socket: agent.socketPath, agentId: agent.agentId, epoch: agent.epoch, link: agent.linkAddress, listening: agent.listeningAddress, ...metricsOf(agent) } });
  await untilSignal(() => agent.close(), o.exitWithParent);
}

export async function runUp(o: ServerOptions): Promise<void> {
  const given = await credentials(o);
  if (o.listen && !given.secret) throw new Error(`--listen needs the mesh secret ${SECRET_FROM}`);
  // One machine and no secret given: the embedded agent proves one made up for this run (nothing else can join).
  const c = { ...given, secret: given.secret ?? randomBytes(32).toString('base64url') };
  const ns = await startNs(o, c, DEMO_GAMES);
  let agent: Agent;
  try {
    agent = await startAgent(o, c, `ns://${o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host}:${ns.port}`);
  } catch (err) {
    await ns.close();
    throw err;
  }
  ready({ ns: { port: ns.port, httpPort: ns.httpPort }, agent: { socket: agent.socketPath, agentId: agent.agentId, epoch: agent.epoch, link: agent.linkAddress, listening: agent.listeningAddress, ...metricsOf(agent) } });
  if (!o.games) {
    process.stderr.write(`rxmesh up: demo game 'demo' (key 'demo-key'); connect with\n` +
      `  connect({ gameId: 'demo', password: 'demo-key', agent: '${agent.socketPath}' })\n`);
  }
  await untilSignal(async () => {
    await agent.close();
    await ns.close();
  }, o.exitWithParent);
}
