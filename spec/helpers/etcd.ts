/**
 * Real etcd servers for specs (Debian's `etcd-server`): a single node or a
 * 3-member cluster on free loopback ports, data dirs under one temp dir.
 * Every member is SIGKILLed by pid and the temp dir removed on close(), and
 * again when the spec process exits, even when a spec failed. Fast raft
 * timings (heartbeat 50 ms, election 500 ms) keep fail-over quick; data
 * dirs live on /dev/shm when it exists (fsyncs cost nothing there).
 * With `tls`, members serve their client URLs over https and demand a client
 * certificate (`--client-cert-auth`); the cluster's URL is then `etcds://`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeGames } from '../../lib/registry/etcd-games.js';
import type { EtcdAuth, EtcdTls } from '../../lib/registry/etcd-security.js';

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process: ChildProcess | undefined;
  /** Output of the current process (for failure messages). */
  output: string;
}

export interface EtcdServerTls {
  /** The members' server certificate and key (PEM files; --cert-file, --key-file). */
  certFile: string;
  keyFile: string;
  /** Clients must present a certificate signed by this CA (--trusted-ca-file, --client-cert-auth). */
  trustedCaFile: string;
  /** What the helper itself dials with (health checks, setGames): the CA of certFile, a client cert from trustedCaFile. */
  client: EtcdTls;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** etcd://127.0.0.1:p1,127.0.0.1:p2,... (etcds:// with tls) */
  url: string;
  /** The gRPC endpoints of `url` (http://127.0.0.1:p1, ...; https:// with tls). */
  hosts: string[];
  /** SIGKILL one member and wait for it to be reaped. */
  kill(m: EtcdMember): Promise<void>;
  /** Start a stopped member again on its data dir and ports; resolves once it is healthy. */
  restart(m: EtcdMember): Promise<void>;
  /** The current leader (by asking each live member's /v3 maintenance status). */
  leader(): Promise<EtcdMember>;
  /** Store game verifiers (as `rxmesh games set` does), as `auth` once etcd auth is on. */
  setGames(games: Record<string, string>, auth?: EtcdAuth): Promise<void>;
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();

process.on('exit', () => {
  for (const p of live) if (p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Is an `etcd` binary on PATH? */
export function etcdAvailable(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Should the etcd specs run? Without an `etcd` binary they are skipped with a
 * loud message so `npm test` passes on a machine that only ran `npm install`;
 * under CI (CI=true, where .ci/run installs etcd-server) a missing etcd fails.
 */
export function etcdSpecsEnabled(file: string): boolean {
  if (etcdAvailable()) return true;
  if (process.env['CI']) throw new Error('etcd is not on PATH under CI: .ci/run must install Debian\'s etcd-server');
  process.stderr.write(`\n*** SKIPPED ${file}: no \`etcd\` on PATH (apt-get install etcd-server to run the etcd specs) ***\n\n`);
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start `size` members (1 or 3) and wait until every one is healthy. */
export async function startEtcd(size = 1, options: { tls?: EtcdServerTls } = {}): Promise<EtcdCluster> {
  const tls = options.tls;
  // tmpfs when there is one: etcd fsyncs every write, and the specs need no durability beyond a process restart
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rxmesh-etcd-'));
  dirs.add(root);
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir: join(root, `m${i}`), process: undefined, output: '' });
  }
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = `rxmesh-${members[0]!.peerPort}`;
  const scheme = tls ? 'https' : 'http';
  const url = `${tls ? 'etcds' : 'etcd'}://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`;
  const hosts = members.map((m) => `${scheme}://127.0.0.1:${m.clientPort}`);
  const serverTls = tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile, '--trusted-ca-file', tls.trustedCaFile, '--client-cert-auth'] : [];

  const launch = (m: EtcdMember): void => {
    const p = spawn('etcd', [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`, '--advertise-client-urls', `${scheme}://127.0.0.1:${m.clientPort}`,
      ...serverTls,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'error',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(p);
    m.process = p;
    m.output = '';
    const keep = (b: Buffer): void => {
      m.output = (m.output + b.toString()).slice(-4000);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    p.once('exit', () => live.delete(p));
  };

  const kill = async (m: EtcdMember): Promise<void> => {
    const p = m.process;
    m.process = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    if (p.pid) process.kill(p.pid, 'SIGKILL');
    await exited;
  };

  const close = async (): Promise<void> => {
    await Promise.all(members.map(kill));
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  };

  try {
    members.forEach(launch);
    await Promise.all(members.map((m) => healthy(m, tls?.client)));
  } catch (err) {
    await close();
    throw err;
  }

  return {
    members,
    url,
    hosts,
    kill,
    restart: async (m) => {
      launch(m);
      await healthy(m, tls?.client);
    },
    leader: async () => {
      for (const m of members) {
        if (!m.process) continue;
        const status = await httpJson(m.clientPort, tls?.client, '/v3/maintenance/status', '{}').catch(() => undefined) as { header?: { member_id?: string }; leader?: string } | undefined;
        if (status?.leader && status.header?.member_id === status.leader) return m;
      }
      throw new Error('no leader found');
    },
    setGames: async (games, auth) => {
      const o = { callTimeoutMs: 2000, requestTimeoutMs: 5000, maxBackoffMs: 500, pageSize: 1000 };
      await storeGames(hosts, o, { tls: tls?.client, auth }, games);
    },
    close,
  };
}

/** Wait until a member answers /health with true (fails after 15 s or when it exits). */
async function healthy(m: EtcdMember, tls: EtcdTls | undefined): Promise<void> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    if (!m.process || m.process.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${m.output}`);
    const h = await httpJson(m.clientPort, tls, '/health').catch(() => undefined) as { health?: string } | undefined;
    if (h?.health === 'true') return;
    if (performance.now() > deadline) throw new Error(`etcd ${m.name} not healthy after 15 s: ${m.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A JSON request to a member's client port: https with `tls` (its CA and a client certificate). */
function httpJson(port: number, tls: EtcdTls | undefined, path: string, body?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const o: RequestOptions = { host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', agent: false, timeout: 1000 };
    const req = tls ? httpsRequest({ ...o, ca: tls.ca, cert: tls.cert, key: tls.key }, onResponse) : httpRequest(o, onResponse);
    function onResponse(res: IncomingMessage): void {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (err) {
          reject(err);
        }
      });
    }
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
