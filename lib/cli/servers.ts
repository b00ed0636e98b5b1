/**
 * The long-running commands: `rxmesh ns`, `rxmesh agent`, `rxmesh up`. Each
 * prints one JSON line `{"ready": {...}}` on stdout once it serves, and stops
 * cleanly on SIGINT/SIGTERM. Their options: serverOptions() from the parsed
 * command line (commands.ts lists them); their log: cli-logger.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from '../agent/agent.js';
import { LIMIT_FLAGS, type LimitOptions } from '../agent/limits.js';
import { DEFAULT_MAX_RECORD, type RingOptions } from '../native/index.js';
import { NameServer, loadGames, type GameKeys } from '../ns/index.js';
import type { AdmissionOptions } from '../protocol/admission.js';
import type { Logger } from '../protocol/logger.js';
import { loadTls, type TlsFiles, type TlsMaterial } from '../protocol/tls.js';
import { isEtcdUrl } from '../registry/etcd-keys.js';
import { createEtcdRegistry, loadEtcdBackend } from '../registry/etcd-load.js';
import { etcdSecurityFromFiles, type EtcdSecurity } from '../registry/etcd-security.js';
import { NsRegistry } from '../registry/ns-registry.js';
import type { Registry } from '../registry/registry.js';
import type { CliLog } from './cli-logger.js';
import type { Parsed } from './options.js';

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
  /** Stop when stdin closes (used by specs and supervisors so no server outlives its parent). */
  exitWithParent: boolean;
  /** --log-level and --log-format. */
  log: CliLog;
  /** --metrics-port, --metrics-host, --metrics-instance-labels. */
  metrics?: MetricsFlags;
}

/** Where /metrics, /healthz and /readyz are served (`rxmesh up`: the agent's; the name server's are on its HTTP port). */
export interface MetricsFlags {
  port?: number | undefined;
  host?: string | undefined;
  instanceLabels?: number | undefined;
}

/** The metrics port for the ready line, when there is one. */
const metricsOf = (server: { metricsPort: number }): { metricsPort?: number } => (server.metricsPort ? { metricsPort: server.metricsPort } : {});

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
export function etcdSecurity(o: Pick<ServerOptions, 'tls' | 'etcdUser' | 'etcdPasswordFile'>, url: string): EtcdSecurity {
  if (!isEtcdUrl(url)) return {};
  const tls = url.startsWith('etcds://') ? { caFile: o.tls?.ca, certFile: o.tls?.cert, keyFile: o.tls?.key } : {};
  return etcdSecurityFromFiles({ ...tls, user: o.etcdUser, passwordFile: o.etcdPasswordFile });
}

/**
 * The registry backend a URL names; `leaseTtlMs` is the agent's lease TTL on etcd (the name server sets its own).
 * The etcd backend is loaded only here, when asked for (NotInstalledError without etcd3: etcd-load.ts).
 */
export async function registryFor(url: string, c: Credentials, leaseTtlMs?: number, log?: Logger): Promise<Registry> {
  if (url.startsWith('ns://')) {
    if (!c.secret) throw new Error(`${url}: the name server needs this agent to prove the mesh secret ${SECRET_FROM}`);
    return new NsRegistry(url, { secret: c.secret, tls: c.tls, ...(log ? { log } : {}) });
  }
  if (isEtcdUrl(url)) {
    return createEtcdRegistry(url, { ...c.etcd, ...(leaseTtlMs ? { leaseTtlMs } : {}), ...(log ? { log } : {}) });
  }
  throw new Error(`unsupported registry '${url}' (expected ns://host:port, etcd://host:port,host:port,... or etcds://...)`);
}

/** `rxmesh games set <gameId>`: store a game's verifier in etcd (the key from --key or stdin). */
export async function runGamesSet(o: ServerOptions, gameId: string | undefined, key: string | undefined): Promise<void> {
  const registry = o.registry;
  if (!gameId) throw new Error('usage: rxmesh games set <gameId> --registry etcd://... [--key KEY] (or the key on stdin)');
  if (!isEtcdUrl(registry)) throw new Error(`games set needs an etcd registry (--registry etcd://... or etcds://...); the name server reads --games`);
  const { EtcdRegistry } = await loadEtcdBackend(); // before the key is read: without etcd3 there is nothing to store it in
  if (key !== undefined) o.log.of('rxmesh').warn('rxmesh games set: --key shows the game key to every user of this host (ps); pipe it on stdin instead');
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

/** A server's options from its parsed command line (unset ones keep the library's defaults). */
export function serverOptions(p: Parsed, log: CliLog): ServerOptions {
  const admission: Partial<AdmissionOptions> = {};
  for (const [flag, key] of Object.entries(ADMISSION_FLAGS)) if (p.has(flag)) admission[key] = p.int(flag)!;
  const limits: Partial<LimitOptions> = {};
  for (const [key, flag] of Object.entries(LIMIT_FLAGS) as [keyof LimitOptions, string][]) if (p.has(flag.slice(2))) limits[key] = p.int(flag.slice(2))!;
  return {
    host: p.str('host') ?? '127.0.0.1',
    port: p.int('port') ?? 0,
    httpPort: p.int('http-port') ?? 0,
    httpHost: p.str('http-host') ?? '127.0.0.1',
    games: p.str('games'),
    leaseTtlMs: p.int('lease-ttl') ?? 3000,
    registry: p.str('registry') ?? '',
    shmDir: p.str('shm-dir'),
    agentId: p.str('id'),
    listen: p.str('listen'),
    advertise: p.str('advertise'),
    fullMs: p.int('full-ms'),
    maxPartialBytes: p.int('max-partial-bytes'),
    ringBytes: p.int('ring-bytes'),
    limits,
    maxMaps: p.int('max-maps'),
    meshSecretFile: p.str('mesh-secret-file'),
    tls: { ca: p.str('tls-ca'), cert: p.str('tls-cert'), key: p.str('tls-key') },
    etcdUser: p.str('etcd-user'),
    etcdPasswordFile: p.str('etcd-password-file'),
    admission,
    exitWithParent: p.bool('exit-with-parent'),
    log,
    metrics: { port: p.int('metrics-port'), host: p.str('metrics-host'), instanceLabels: p.int('metrics-instance-labels') },
  };
}

/**
 * Serve until SIGINT/SIGTERM (or stdin's end) and `stop`; `announce` (the ready line) runs only once the handlers
 * are in place: whoever stops a server as soon as it says ready (a supervisor, a spec) would otherwise, now and
 * then, kill it by the signal's default action, with nothing cleaned up.
 */
function untilSignal(stop: () => Promise<void>, o: ServerOptions, announce: () => void): Promise<void> {
  const { exitWithParent } = o;
  const log = o.log.of('rxmesh');
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`stopping (${why})`);
      const done = (): void => {
        log.info('stopped');
        if (exitWithParent) process.stdin.destroy();
        resolve();
      };
      stop().then(done, (err: Error) => {
        log.error(`shutdown: ${err.message}`);
        done();
      });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    if (exitWithParent) {
      process.stdin.once('end', () => onSignal('stdin closed'));
      process.stdin.once('error', () => onSignal('stdin closed'));
      process.stdin.resume();
    }
    announce();
  });
}

/** The `{"ready": ...}` line on stdout, and an info record of what serves. */
function ready(o: ServerOptions, ns: NameServer | undefined, agent: Agent | undefined): void {
  const info = {
    ...(ns ? { ns: { port: ns.port, httpPort: ns.httpPort, ...metricsOf(ns) } } : {}),
    ...(agent ? { agent: { socket: agent.socketPath, agentId: agent.agentId, epoch: agent.epoch, link: agent.linkAddress, listening: agent.listeningAddress, ...metricsOf(agent) } } : {}),
  };
  process.stdout.write(`${JSON.stringify({ ready: info })}\n`);
  const log = o.log.of('rxmesh');
  if (ns) log.info(`name server on ${o.host}:${ns.port} (HTTP view on ${o.httpHost}:${ns.httpPort})`, info.ns);
  if (agent) log.info(`agent '${agent.agentId}' (incarnation ${agent.epoch}) serving ${agent.socketPath}${agent.listeningAddress ? `, peer links on ${agent.listeningAddress}` : ''}`, info.agent);
}

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
    log: o.log.of('ns'),
    host: o.host, port: o.port, httpPort: o.httpPort, httpHost: o.httpHost, leaseTtlMs: o.leaseTtlMs, ...(games ? { games } : {}), admission: o.admission ?? {},
    secret: c.secret, tls: c.tls, metricsPort: metrics?.port, metricsHost: metrics?.host,
  });
}

async function startAgent(o: ServerOptions, c: Credentials, registry: string): Promise<Agent> {
  const secret = c.secret;
  if (o.listen && !secret) throw new Error(`--listen needs the mesh secret ${SECRET_FROM}`);
  const agent = await Agent.start({
    registry: await registryFor(registry, c, o.leaseTtlMs, o.log.of('registry')),
    log: o.log.of('agent'),
    metricsPort: o.metrics?.port, metricsHost: o.metrics?.host, metricsInstanceLabels: o.metrics?.instanceLabels,
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
  });
  // Test hook for the link specs: SIGUSR2 cuts every peer link for 1 s.
  if (process.env['RXMESH_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => agent.cutLinks(1000));
  return agent;
}

/** --ring-bytes (a power of two, at least 1024: checked when parsed): the data area; the largest record is a quarter of it, at most the default. */
function ringOptions(bytes: number): RingOptions {
  return { capacity: bytes, maxRecord: Math.min(DEFAULT_MAX_RECORD, bytes / 4) };
}

export async function runNs(o: ServerOptions): Promise<void> {
  const ns = await startNs(o, await credentials(o), undefined, o.metrics);
  await untilSignal(() => ns.close(), o, () => ready(o, ns, undefined));
}

export async function runAgent(o: ServerOptions): Promise<void> {
  const agent = await startAgent(o, await credentials(o), o.registry);
  await untilSignal(() => agent.close(), o, () => ready(o, undefined, agent));
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
  await untilSignal(async () => {
    await agent.close();
    await ns.close();
  }, o, () => {
    ready(o, ns, agent);
    if (!o.games) {
      o.log.of('rxmesh').info(`rxmesh up: demo game 'demo' (key 'demo-key'); connect with ` +
        `connect({ gameId: 'demo', password: 'demo-key', agent: '${agent.socketPath}' })`, { gameId: 'demo', socket: agent.socketPath });
    }
  });
}
