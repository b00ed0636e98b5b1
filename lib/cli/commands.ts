/**
 * The commands of `rxmesh` and the options each takes: one table per group of
 * options, each option described once (options.ts), and one entry per
 * command naming its groups. `rxmesh --help` and `rxmesh <command> --help`
 * are made from these tables.
 */
import { DEFAULT_LIMITS, LIMIT_FLAGS, type LimitOptions } from '../agent/limits.js';
import { DEFAULT_ADMISSION } from '../protocol/admission.js';
import { runRequest, runSend, runWatch } from './adhoc.js';
import { LOG_FORMATS, LOG_LEVELS, type CliLog } from './cli-logger.js';
import { runLs } from './ls.js';
import { count, flag, ms, port, ringBytes, text, type OptionTable, type Parsed } from './options.js';
import { runAgent, runGamesSet, runNs, runUp, serverOptions } from './servers.js';
import { runStatus } from './status.js';

const LOGGING: OptionTable = {
  'log-level': text('LEVEL', `the least severe record written: ${LOG_LEVELS.join(' | ')}`, { default: 'info', choices: LOG_LEVELS }),
  'log-format': text('FORMAT', 'pretty: one readable line per record; json: one JSON object per line (pino)', { default: 'pretty', choices: LOG_FORMATS }),
};

const SERVING: OptionTable = {
  'exit-with-parent': flag('stop when stdin closes (supervisors, specs: nothing outlives its parent)'),
};

const SECRET: OptionTable = {
  'mesh-secret-file': text('FILE', 'the mesh secret agents prove to the name server and to each other (or RXMESH_MESH_SECRET)'),
  'mesh-secret': text('SECRET', 'refused: it would show in ps', { hidden: true }),
};

const TLS: OptionTable = {
  'tls-ca': text('FILE', 'CA of the mesh: TLS 1.3 with mutual authentication on the name-server port, the links and etcds:// (all three or none)'),
  'tls-cert': text('FILE', 'this side\'s certificate (PEM)'),
  'tls-key': text('FILE', 'its private key (PEM)'),
};

const ETCD_AUTH: OptionTable = {
  'etcd-user': text('USER', 'etcd\'s own auth: the user'),
  'etcd-password-file': text('FILE', 'its password (or RXMESH_ETCD_PASSWORD)'),
};

const LEASE: OptionTable = {
  'lease-ttl': ms('lease TTL of an agent: its instances go offline this long after it dies', { default: '3000' }),
};

const NAME_SERVER: OptionTable = {
  host: text('HOST', 'interface of the name server\'s agent port', { default: '127.0.0.1' }),
  port: port('the name server\'s agent port (0: any free port)', '9092'),
  'http-port': port('its read-only HTTP view (0: any free port)', '8082'),
  'http-host': text('HOST', 'interface of the HTTP view (unauthenticated: keep it local)', { default: '127.0.0.1' }),
  games: text('FILE', 'game keys: {"<gameId>": "<key>"}'),
  ...LEASE,
};

const limitRows = Object.fromEntries((Object.entries(LIMIT_FLAGS) as [keyof LimitOptions, string][]).map(([key, f]) => {
  const what = f.includes('instances') ? 'instances' : f.includes('watches') ? 'watches'
    : f.includes('pairs') ? 'pair rings (a sender to a receiver on this host, no agent between; 0: none)' : 'bytes waiting in the agent for the instances';
  const of = f.endsWith('app') ? 'app connection' : f.endsWith('instance') ? 'instance' : 'game';
  const beyond = f.includes('pairs') ? 'beyond: the agent path' : 'LimitError beyond';
  return [f.slice(2), count(`${what} of one ${of} at most (${beyond})`, { min: 0, shownDefault: String(DEFAULT_LIMITS[key]) })];
}));

const AGENT: OptionTable = {
  'shm-dir': text('DIR', 'the agent\'s directory: control socket, rings, doorbells', { shownDefault: '/dev/shm/rxmesh-<user>' }),
  id: text('ID', 'the agent id in the registry', { shownDefault: '<hostname>-<pid>' }),
  listen: text('HOST:PORT', 'accept peer links from other agents here (needs the mesh secret)'),
  advertise: text('HOST:PORT', 'the address peers dial, when not the listen address (a proxy, NAT)'),
  'full-ms': ms('a destination that takes nothing this long: its queued messages bounce', { shownDefault: '5000' }),
  'max-partial-bytes': count('unfinished large messages one instance may be receiving, in bytes', { shownDefault: String(256 * 1024 * 1024) }),
  'ring-bytes': ringBytes('each ring\'s data area (a power of two, at least 1024)'),
  ...limitRows,
  'max-maps': count('memory mappings the agent may have, in place of the sysctl vm.max_map_count', { min: 1 }),
};

const BOUNDS: OptionTable = {
  'auth-ms': ms('a connection not authenticated by then is closed', { shownDefault: `${DEFAULT_ADMISSION.authTimeoutMs}; peer links 5000` }),
  'max-conns': count('open connections per port at most', { min: 1, shownDefault: String(DEFAULT_ADMISSION.maxConnections) }),
  'max-pending': count('unauthenticated connections per port at most (a new one closes the oldest)', { min: 1, shownDefault: String(DEFAULT_ADMISSION.maxPending) }),
  'preauth-frame-bytes': count('largest frame before authentication', { min: 1, shownDefault: String(DEFAULT_ADMISSION.preAuthMaxFrame) }),
  'max-buffered-bytes': count('bytes of partial frames per port at most', { min: 1, shownDefault: String(DEFAULT_ADMISSION.maxBufferedBytes) }),
};

const METRICS: OptionTable = {
  'metrics-port': port('serve /metrics (Prometheus), /healthz and /readyz here (0: any free port; up: the agent\'s, the name server serves them on its HTTP port anyway)'),
  'metrics-host': text('HOST', 'interface of the metrics port (unauthenticated: keep it local unless scraped from elsewhere)', { default: '127.0.0.1' }),
  'metrics-instance-labels': count('agent: ring metrics per instance for this many instances at most (the rest summed)', { min: 0, shownDefault: '0' }),
};

const NS_IDLE: OptionTable = {
  'idle-ms': ms('an agent connection silent this long is closed (0: never)', { min: 0, shownDefault: '60000, or the lease TTL if longer' }),
};

const APP: OptionTable = {
  game: text('ID', 'the game to connect as (or RXMESH_GAME)', { shownDefault: 'demo' }),
  'key-file': text('FILE', 'the game key (or RXMESH_KEY; the demo game\'s key when the game is demo)'),
  agent: text('SOCKET', 'the agent\'s control socket (or RXMESH_AGENT)', { shownDefault: '/dev/shm/rxmesh-<user>/agent.sock' }),
  json: flag('one JSON object per line'),
};

export interface Command {
  /** `rxmesh <usage>` */
  usage: string;
  summary: string;
  /** More lines for its --help. */
  about?: string;
  options: OptionTable;
  positionals: { min: number; max: number };
  run(p: Parsed, log: CliLog): Promise<void>;
}

const NONE = { min: 0, max: 0 };

export const COMMANDS: Readonly<Record<string, Command>> = {
  ns: {
    usage: 'ns [options]',
    summary: 'run the name server',
    about: 'Serves agents on --port and a read-only JSON view on --http-port (/healthz, /v1/services, /v1/instances, /v1/agents, /v1/connections).\nPrints {"ready": ...} on stdout once it serves; stops cleanly on SIGINT/SIGTERM.',
    options: { ...NAME_SERVER, ...SECRET, ...TLS, ...BOUNDS, ...NS_IDLE, ...METRICS, ...LOGGING, ...SERVING },
    positionals: NONE,
    run: (p, log) => runNs(serverOptions(p, log)),
  },
  agent: {
    usage: 'agent --registry URL [options]',
    summary: 'run the host agent (the sidecar apps connect to)',
    about: 'Prints {"ready": ...} on stdout once it serves; stops cleanly on SIGINT/SIGTERM (instances offline, rings and socket removed).',
    options: {
      registry: text('URL', 'ns://host:port, etcd://h1:2379,h2:2379,... or etcds://... (TLS)', { default: 'ns://127.0.0.1:9092' }),
      ...AGENT, ...LEASE, ...SECRET, ...TLS, ...ETCD_AUTH, ...BOUNDS, ...METRICS, ...LOGGING, ...SERVING,
    },
    positionals: NONE,
    run: (p, log) => runAgent(serverOptions(p, log)),
  },
  up: {
    usage: 'up [options]',
    summary: 'a name server and an agent in one process (one machine)',
    about: 'Without --games it serves the demo game \'demo\' (key \'demo-key\'); without a mesh secret it makes one up (only its own agent can join).',
    options: { ...NAME_SERVER, ...AGENT, ...SECRET, ...TLS, ...BOUNDS, ...NS_IDLE, ...METRICS, ...LOGGING, ...SERVING },
    positionals: NONE,
    run: (p, log) => runUp(serverOptions(p, log)),
  },
  status: {
    usage: 'status [options]',
    summary: 'a running agent\'s rings and peer links, with their counters',
    options: { 'shm-dir': AGENT['shm-dir']!, json: flag('the whole status as JSON') },
    positionals: NONE,
    run: (p) => runStatus(p.str('shm-dir'), p.bool('json')),
  },
  ls: {
    usage: 'ls [--http URL | --registry etcd://...] [options]',
    summary: 'services and instances, from the name server or from etcd',
    options: {
      http: text('URL', 'the name server\'s HTTP view', { default: 'http://127.0.0.1:8082' }),
      registry: text('URL', 'read etcd instead: etcd://h1:2379,... or etcds://...'),
      game: text('ID', 'only this game\'s instances (etcd)'),
      json: flag('one JSON object per instance and line'),
      ...ETCD_AUTH, ...TLS,
    },
    positionals: NONE,
    run: (p) => runLs(p),
  },
  games: {
    usage: 'games set <gameId> --registry etcd://... [options]   (the key on stdin)',
    summary: 'store a game key\'s verifier in etcd (the key itself is not stored)',
    options: {
      registry: text('URL', 'etcd://h1:2379,... or etcds://...'),
      key: text('KEY', 'the game key (shows in ps: pipe it on stdin instead)'),
      ...ETCD_AUTH, ...TLS, ...LOGGING,
    },
    positionals: { min: 2, max: 2 },
    run: (p, log) => {
      if (p.positionals[0] !== 'set') throw new Error(`unknown subcommand 'games ${p.positionals[0]}' (rxmesh games set <gameId>)`);
      return runGamesSet(serverOptions(p, log), p.positionals[1], p.str('key'));
    },
  },
  request: {
    usage: 'request <service | service/userData> <value> [options]',
    summary: 'send a request and print the reply (as `nats req`)',
    about: 'The value is JSON when it parses as JSON (42, "text", {"a":1}), else the string itself.\nA service is load-balanced; service/userData names one instance.',
    options: { ...APP, timeout: ms('how long to wait for the reply', { default: '5000' }) },
    positionals: { min: 2, max: 2 },
    run: (p, log) => runRequest(p, log),
  },
  send: {
    usage: 'send <service | service/userData> <value> [options]',
    summary: 'send one message and print where it was routed',
    about: 'The value is JSON when it parses as JSON, else the string itself. Sent once; no reply is awaited.',
    options: { ...APP, strategy: text('NAME', 'round-robin | random | least-loaded | local-first', { default: 'round-robin', choices: ['round-robin', 'random', 'least-loaded', 'local-first'] }) },
    positionals: { min: 2, max: 2 },
    run: (p, log) => runSend(p, log),
  },
  watch: {
    usage: 'watch <pattern> [options]',
    summary: 'print instances coming online and going offline until Ctrl-C (as `nats sub`)',
    about: 'A pattern is a service name with * for a whole segment (demo.*.*.*). It prints a `watching` line once the watch holds,\nthen one line per event; the instances already online: rxmesh ls.',
    options: APP,
    positionals: { min: 1, max: 1 },
    run: (p, log) => runWatch(p, log),
  },
};
