/**
 * The rxmesh command.
 *
 *   rxmesh ns     [--host H] [--port 9092] [--http-port 8082] [--games games.json] [--lease-ttl 3000]
 *   rxmesh agent  --registry ns://host:9092 [--shm-dir DIR] [--id ID] [--listen HOST:PORT] [--mesh-secret-file F]
 *   rxmesh status [--shm-dir DIR]   per-instance rings and per-link counters of a running agent
 *   rxmesh up     ns + agent in one process (the embedded single-machine default)
 *   rxmesh ls     [--http http://127.0.0.1:8082]   services and instances as a table
 *   rxmesh games set <gameId> --registry etcd://h1:2379,... [--etcd-user U --etcd-password-file F]   (key on stdin)
 *
 * Servers print one JSON line `{"ready":...}` on stdout when they serve, and
 * stop cleanly on SIGINT/SIGTERM (instances offline, rings and sockets removed).
 */
import { parseArgs } from 'node:util';
import { admissionFlags, limitFlags, runAgent, runGamesSet, runNs, runUp } from './servers.js';
import { runLs } from './ls.js';
import { runStatus } from './status.js';

const USAGE = `usage: rxmesh <command> [options]

commands:
  ns      run the name server        --host 127.0.0.1 --port 9092 --http-port 8082 --games FILE --lease-ttl MS
                                     --http-host 127.0.0.1 (the read-only HTTP view is unauthenticated: keep it local)
                                     --mesh-secret-file FILE (agents must prove it; or RXMESH_MESH_SECRET)
  agent   run the host agent         --registry ns://127.0.0.1:9092 | etcd://h1:2379,h2:2379 | etcds://... --shm-dir DIR --id ID
                                     --etcd-user U --etcd-password-file F (or RXMESH_ETCD_PASSWORD): etcd's own auth
                                     --mesh-secret-file FILE (or RXMESH_MESH_SECRET: for the name server and the links)
                                     --listen HOST:PORT (peer links) [--advertise HOST:PORT]
                                     --full-ms MS (a destination that takes nothing this long: its queued messages bounce)
                                     --max-partial-bytes N (unfinished large messages one instance may be receiving)
                                     --ring-bytes N (each ring's data area, a power of two; default 1 MiB)
                                     limits per app connection and per game (refused with LimitError, code LIMIT):
                                     --max-instances-per-app N (default 10000) --max-instances-per-game N (default 20000)
                                     --max-watches-per-app N (default 20000) --max-watches-per-game N (default 100000)
                                     --max-queued-bytes-per-app N (default 64 MiB) --max-queued-bytes-per-game N (default 256 MiB)
                                     pair rings (one sender to one receiver on this host, no agent in between):
                                     --max-pairs-per-instance N (default 16; 0: none) --max-pairs-per-app N (default 256)
                                     --max-pairs-per-game N (default 1024)
                                     --max-maps N (memory mappings, in place of the sysctl vm.max_map_count)
  status  agent counters             --shm-dir DIR   (rings, and each link: peer, state, msgs/bytes, resends, bounces, RTT)
  up      name server + agent        (same options; a demo game 'demo' with key 'demo-key' unless --games;
                                     without a mesh secret it makes one up: only its own agent can join)
  ns, agent, up: --tls-ca FILE --tls-cert FILE --tls-key FILE   TLS 1.3 with mutual authentication on the
                                     name-server port and the peer links (one CA for the mesh; all three or none)
  ns, agent, up: bounds on every listening port (control socket, peer links, ns TCP and HTTP), each counted per port:
                                     --auth-ms MS (not authenticated by then: closed; default 10000, peer links 5000)
                                     --max-conns N (open connections; default 1024) --max-pending N (unauthenticated; default 64)
                                     --preauth-frame-bytes N (default 4096) --max-buffered-bytes N (partial frames; default 64 MiB)
                                     --idle-ms MS (ns only: an agent connection silent this long is closed; default 60000)
  ls      list services/instances    --http http://127.0.0.1:8082
  games set <gameId>                 store a game key's verifier in etcd: --registry etcd://... (the key on stdin;
                                     --key KEY works but shows it in ps) --etcd-user U --etcd-password-file F
`;

const [command, ...rest] = process.argv.slice(2);
const { values, positionals } = parseArgs({
  args: rest,
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9092' },
    'http-port': { type: 'string', default: '8082' },
    'http-host': { type: 'string', default: '127.0.0.1' },
    games: { type: 'string' },
    'lease-ttl': { type: 'string', default: '3000' },
    registry: { type: 'string', default: 'ns://127.0.0.1:9092' },
    'shm-dir': { type: 'string' },
    id: { type: 'string' },
    listen: { type: 'string' },
    advertise: { type: 'string' },
    'full-ms': { type: 'string' },
    'max-partial-bytes': { type: 'string' },
    'ring-bytes': { type: 'string' },
    'max-instances-per-app': { type: 'string' },
    'max-instances-per-game': { type: 'string' },
    'max-watches-per-app': { type: 'string' },
    'max-watches-per-game': { type: 'string' },
    'max-queued-bytes-per-app': { type: 'string' },
    'max-queued-bytes-per-game': { type: 'string' },
    'max-pairs-per-instance': { type: 'string' },
    'max-pairs-per-app': { type: 'string' },
    'max-pairs-per-game': { type: 'string' },
    'max-maps': { type: 'string' },
    'mesh-secret': { type: 'string' },
    'auth-ms': { type: 'string' },
    'idle-ms': { type: 'string' },
    'max-conns': { type: 'string' },
    'max-pending': { type: 'string' },
    'preauth-frame-bytes': { type: 'string' },
    'max-buffered-bytes': { type: 'string' },
    'mesh-secret-file': { type: 'string' },
    'tls-ca': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'etcd-user': { type: 'string' },
    'etcd-password-file': { type: 'string' },
    json: { type: 'boolean', default: false },
    key: { type: 'string' },
    http: { type: 'string', default: 'http://127.0.0.1:8082' },
    'exit-with-parent': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: command === 'games',
});

const opts = {
  host: values.host!,
  port: Number(values.port),
  httpPort: Number(values['http-port']),
  httpHost: values['http-host']!,
  games: values.games,
  leaseTtlMs: Number(values['lease-ttl']),
  registry: values.registry!,
  shmDir: values['shm-dir'],
  agentId: values.id,
  listen: values.listen,
  advertise: values.advertise,
  fullMs: values['full-ms'] === undefined ? undefined : Number(values['full-ms']),
  maxPartialBytes: values['max-partial-bytes'] === undefined ? undefined : Number(values['max-partial-bytes']),
  ringBytes: values['ring-bytes'] === undefined ? undefined : Number(values['ring-bytes']),
  limits: limitFlags(values),
  maxMaps: values['max-maps'] === undefined ? undefined : Number(values['max-maps']),
  meshSecretFile: values['mesh-secret-file'],
  tls: { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] },
  etcdUser: values['etcd-user'],
  etcdPasswordFile: values['etcd-password-file'],
  admission: admissionFlags(values),
  exitWithParent: values['exit-with-parent']!,
};

try {
  if (values['mesh-secret'] !== undefined) {
    // Every user of the host can read a process's command line (/proc/<pid>/cmdline).
    throw new Error('--mesh-secret would show the secret to every user of this host (ps, /proc/<pid>/cmdline); ' +
      'put it in a file only the agent\'s user can read and pass --mesh-secret-file FILE, or set RXMESH_MESH_SECRET');
  }
  if (values.help || !command) {
    process.stdout.write(USAGE);
  } else if (command === 'ns') {
    await runNs(opts);
  } else if (command === 'agent') {
    await runAgent(opts);
  } else if (command === 'up') {
    await runUp(opts);
  } else if (command === 'status') {
    await runStatus(values['shm-dir'], values.json!);
  } else if (command === 'ls') {
    await runLs(values.http!);
  } else if (command === 'games' && positionals[0] === 'set' && positionals.length <= 2) {
    await runGamesSet(opts, positionals[1], values.key);
  } else {
    process.stderr.write(`rxmesh: unknown command '${command}'\n${USAGE}`);
    process.exitCode = 2;
  }
} catch (err) {
  process.stderr.write(`rxmesh ${command}: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
