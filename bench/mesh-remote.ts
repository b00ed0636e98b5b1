/**
 * Two-host mesh benchmark: an instance on agent 1 → an instance on agent 2
 * over a loopback TCP peer link, against NATS (nats-server + nats.js, pub/sub
 * and request/reply) in the same run (DESIGN.md §8), twice: plain links
 * (sealed frames, link-seal.ts) and links in TLS 1.3 with mutual
 * authentication (a throwaway CA made with openssl).
 *
 *   npx tsx bench/mesh-remote.ts [--quick] [--reps N] [--verbose] [--only throughput|rtt] [--cpu]
 *
 * Needs `nats-server` on the PATH (Debian: apt-get install nats-server) and
 * the npm dev dependency `nats`. Processes: `rxmesh up` (ns + agent 1),
 * `rxmesh agent` (agent 2), each in its own shm dir with --listen on
 * 127.0.0.1; apps are bench/mesh-app.ts children (sender on agent 1,
 * receiver on agent 2); NATS: a nats-server child and bench/nats-app.ts
 * children. Throughput: 64 B one-way, receiver checks every sequence number;
 * RTT: one message in flight. Mesh and NATS alternate, 3 runs each, medians:
 *
 *   mesh-remote 64B: N msg/s, nats 64B: M msg/s, ratio R
 *   mesh-remote tls 64B: N msg/s, ratio to nats R, to plain P
 *   mesh-remote rtt p50 X us, nats rtt p50 Y us            (raw sendTo / reply; NATS request/reply)
 *   mesh-remote request/reply rtt p50 Q us, ratio to nats request/reply R
 *   mesh-remote tls rtt p50 X us (+D us against plain)
 *
 * --cpu adds the CPU time (user + system, /proc, Linux) each process of the
 * plain mesh and of NATS spent per message and per round trip (medians of
 * the runs): on a machine shared with other work these move far less than
 * the timings do, so they show what a change saved.
 *
 * Every child is killed and the shm directory removed on every way out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { InstanceRef } from '../lib/index.js';
import { makePki } from '../spec/helpers/pki.js';
import type { AppReady, ArmArg, Call, Hello, PingArg, Reply, RttResult, SendArg, SendResult } from './mesh-ipc.js';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    only: { type: 'string' },
    cpu: { type: 'boolean', default: false },
  },
});
if (opts.only !== undefined && opts.only !== 'throughput' && opts.only !== 'rtt') {
  console.error(`--only takes throughput or rtt, not '${opts.only}'`);
  process.exit(2);
}
const runs = (part: 'throughput' | 'rtt'): boolean => opts.only === undefined || opts.only === part;
const QUICK = opts.quick;
const REPS = Number(opts.reps ?? (QUICK ? 1 : 3));
const SIZE = 64;
const COUNT = QUICK ? 20_000 : 500_000;
const RTT_COUNT = QUICK ? 200 : 5_000;
const RTT_WARMUP = QUICK ? 50 : 1_000;
const SECRET = 'bench-mesh-secret';
process.env['RXMESH_MESH_SECRET'] = SECRET; // the agents' secret, inherited (never on a command line)
const TIMEOUT_MS = 120_000;
const verbose = (msg: string): void => {
  if (opts.verbose) process.stderr.write(`${msg}\n`);
};

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const root = mkdtempSync('/dev/shm/rxmesh-bench-remote-');
chmodSync(root, 0o700);
const children = new Set<ChildProcess>();
function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { cleanup(); process.exit(130); });

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS); });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/** A bench child driven over IPC (mesh-ipc.ts). */
class Child<R = unknown> {
  readonly proc: ChildProcess;
  readonly ready: Promise<R>;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  private readonly exited: Promise<never>;

  constructor(readonly name: string, script: string, args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(this.proc);
    this.exited = new Promise<never>((_, reject) => this.proc.once('exit', (code, sig) => reject(new Error(`${name} exited (${sig ?? code})`))));
    this.exited.catch(() => {});
    let hello: (r: R) => void;
    this.ready = withTimeout(Promise.race([new Promise<R>((resolve) => (hello = resolve)), this.exited]), `${name} start`);
    this.proc.on('message', (msg: Reply | Hello) => {
      if ('ready' in msg) return hello(msg.ready as R);
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(`${name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
  }

  call<T>(op: string, arg?: unknown): Promise<T> {
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    this.proc.send({ id, op, arg } satisfies Call);
    return withTimeout(Promise.race([result, this.exited]), `${this.name} ${op}`);
  }

  stop(): void {
    if (this.proc.connected) this.proc.disconnect();
    setTimeout(() => this.proc.kill('SIGKILL'), 5000).unref();
  }
}

/** A server child that prints `{"ready": ...}` (rxmesh), or a plain one (nats-server, ready when its port answers). */
function server(cmd: string, args: string[], readyText: string): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(cmd, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  return withTimeout(new Promise((resolve, reject) => {
    const check = (s: string): void => {
      out += s;
      const line = out.split('\n').find((l) => l.includes(readyText));
      if (line) resolve({ proc, line });
    };
    proc.stdout!.setEncoding('utf8').on('data', check);
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => { verbose(s.trimEnd()); check(s); });
    proc.once('exit', (code) => reject(new Error(`${cmd} exited (${code}): ${out}`)));
  }), cmd);
}

const rxmesh = (args: string[]): Promise<{ proc: ChildProcess; line: string }> =>
  server(process.execPath, ['--import', 'tsx', join(repoRoot, 'lib/cli/main.ts'), ...args, '--exit-with-parent'], '"ready"');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU time (user + system) process `pid` has used, in µs: /proc/<pid>/stat fields 14 and 15, in USER_HZ (100 on Linux). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** CPU µs per operation of named processes, one sample per measured run (--cpu). */
class CpuTally {
  private readonly samples = new Map<string, number[]>();

  /** Run `fn` (`ops` operations) and note what each of `procs` spent on it. */
  async measure<T>(procs: Record<string, ChildProcess>, ops: number, fn: () => Promise<T>): Promise<T> {
    const entries = Object.entries(procs);
    const before = entries.map(([, p]) => cpuUs(p.pid!));
    const result = await fn();
    entries.forEach(([name, p], i) => {
      const list = this.samples.get(name) ?? [];
      list.push((cpuUs(p.pid!) - before[i]!) / ops);
      this.samples.set(name, list);
    });
    return result;
  }

  line(): string {
    return [...this.samples].map(([name, xs]) => `${name} ${median(xs).toFixed(2)}`).join(', ');
  }
}
const cpuPerMsg = new CpuTally();
const cpuPerRtt = new CpuTally();
/** Only timed runs are tallied (the untimed first pass is JIT and dialling). */
let tallying = false;
const tallied = <T>(tally: CpuTally | undefined, procs: Record<string, ChildProcess>, ops: number, fn: () => Promise<T>): Promise<T> =>
  tally && opts.cpu && tallying ? tally.measure(procs, ops, fn) : fn();

/** Two agents (`rxmesh up` + `rxmesh agent`) on loopback links and their four apps; `tls`: every port in TLS. */
async function startMesh(name: string, tls: string[][] | undefined, cpu = false) {
  const dir1 = join(root, `${name}1`);
  const dir2 = join(root, `${name}2`);
  mkdirSync(dir1, { mode: 0o700 });
  mkdirSync(dir2, { mode: 0o700 });
  const link = ['--listen', '127.0.0.1:0'];
  const up = await rxmesh(['up', '--port', '0', '--http-port', '0', '--shm-dir', dir1, '--id', `bench-${name}-1`, ...link, ...(tls?.[0] ?? [])]);
  const upReady = (JSON.parse(up.line) as { ready: { ns: { port: number }; agent: { socket: string } } }).ready;
  const a2 = await rxmesh(['agent', '--registry', `ns://127.0.0.1:${upReady.ns.port}`, '--shm-dir', dir2, '--id', `bench-${name}-2`, ...link, ...(tls?.[1] ?? [])]);
  const socket2 = (JSON.parse(a2.line) as { ready: { agent: { socket: string } } }).ready.agent.socket;
  const recv = new Child<AppReady>(`${name} recv`, 'mesh-app.ts', [socket2, 'recv']);
  const pong = new Child<AppReady>(`${name} pong`, 'mesh-app.ts', [socket2, 'pong']);
  const send = new Child<AppReady>(`${name} send`, 'mesh-app.ts', [upReady.agent.socket, 'send']);
  const ping = new Child<AppReady>(`${name} ping`, 'mesh-app.ts', [upReady.agent.socket, 'ping']);
  const apps = [recv, pong, send, ping];
  await Promise.all(apps.map((c) => c.ready));
  const recvRef = await send.call<InstanceRef>('lookup', { userData: 'recv' });
  const pongRef = await ping.call<InstanceRef>('lookup', { userData: 'pong' });
  await pong.call('pong');
  const agents = { agent1: up.proc, agent2: a2.proc };
  return {
    apps,
    async run(): Promise<number> {
      await recv.call('arm', { count: COUNT, size: SIZE } satisfies ArmArg);
      return tallied(cpu ? cpuPerMsg : undefined, { ...agents, sender: send.proc, receiver: recv.proc }, COUNT, async () => {
        const t0 = performance.now();
        const sent = send.call<SendResult>('send', { to: recvRef, count: COUNT, size: SIZE } satisfies SendArg);
        await recv.call('wait');
        await sent;
        return COUNT / ((performance.now() - t0) / 1000);
      });
    },
    /** raw sendTo / reply (the CPU tally counts warm-up round trips too) */
    async rtt(): Promise<number> {
      return tallied(cpu ? cpuPerRtt : undefined, { ...agents, ping: ping.proc, pong: pong.proc }, RTT_COUNT + RTT_WARMUP, async () =>
        (await ping.call<RttResult>('ping', { to: pongRef, count: RTT_COUNT, warmup: RTT_WARMUP, size: SIZE } satisfies PingArg)).p50);
    },
    /** request/reply (`inst.request`, the default reply poll) to the same pong */
    async requestRtt(): Promise<number> {
      return (await ping.call<RttResult>('request', { to: pongRef, count: RTT_COUNT, warmup: RTT_WARMUP, size: SIZE } satisfies PingArg)).p50;
    },
  };
}

/** --tls-* flags for host 1 and host 2, certificates of one throwaway CA. */
function tlsFlags(): string[][] {
  const ca = makePki().authority('bench');
  return ['bench-host-1', 'bench-host-2'].map((n) => {
    const c = ca.member(n);
    return ['--tls-ca', ca.caFile, '--tls-cert', c.certFile, '--tls-key', c.keyFile];
  });
}

async function main(): Promise<void> {
  const plain = await startMesh('plain', undefined, true);
  const tls = await startMesh('tls', tlsFlags());

  const natsPort = await freePort();
  const natsServer = (await server('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort)], 'Server is ready')).proc;
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const nSub = new Child('nats sub', 'nats-app.ts', [natsUrl]);
  const nPub = new Child('nats pub', 'nats-app.ts', [natsUrl]);
  const nPong = new Child('nats pong', 'nats-app.ts', [natsUrl]);
  const nPing = new Child('nats ping', 'nats-app.ts', [natsUrl]);
  const natsApps = [nSub, nPub, nPong, nPing];
  await Promise.all(natsApps.map((c) => c.ready));
  await nPong.call('pong');

  const natsRun = async (): Promise<number> => {
    await nSub.call('arm', { count: COUNT, size: SIZE } satisfies ArmArg);
    return tallied(cpuPerMsg, { 'nats-server': natsServer, 'nats pub': nPub.proc, 'nats sub': nSub.proc }, COUNT, async () => {
      const t0 = performance.now();
      const sent = nPub.call<SendResult>('send', { count: COUNT, size: SIZE } satisfies Omit<SendArg, 'to'>);
      await nSub.call('wait');
      await sent;
      return COUNT / ((performance.now() - t0) / 1000);
    });
  };
  const natsRtt = async (): Promise<number> => tallied(cpuPerRtt, { 'nats-server': natsServer, 'nats ping': nPing.proc, 'nats pong': nPong.proc }, RTT_COUNT + RTT_WARMUP, async () =>
    (await nPing.call<RttResult>('ping', { count: RTT_COUNT, warmup: RTT_WARMUP, size: SIZE } satisfies Omit<PingArg, 'to'>)).p50);

  // one untimed pass of each: JIT, link dial, NATS subscriptions
  await plain.run();
  await tls.run();
  await natsRun();
  tallying = true;
  const r = { mesh: [] as number[], tls: [] as number[], nats: [] as number[], meshRtt: [] as number[], meshReq: [] as number[], tlsRtt: [] as number[], natsRtt: [] as number[] };
  for (let i = 0; i < REPS; i++) {
    if (runs('throughput')) {
      r.mesh.push(await plain.run());
      r.tls.push(await tls.run());
      r.nats.push(await natsRun());
      verbose(`  run ${i + 1}: mesh ${Math.round(r.mesh[i]!)} msg/s, tls ${Math.round(r.tls[i]!)} msg/s, nats ${Math.round(r.nats[i]!)} msg/s`);
    }
    if (runs('rtt')) {
      r.meshRtt.push(await plain.rtt());
      r.meshReq.push(await plain.requestRtt());
      r.tlsRtt.push(await tls.rtt());
      r.natsRtt.push(await natsRtt());
      verbose(`  run ${i + 1}: rtt mesh ${r.meshRtt[i]!.toFixed(1)} us, tls ${r.tlsRtt[i]!.toFixed(1)} us, nats ${r.natsRtt[i]!.toFixed(1)} us`);
    }
  }
  if (runs('throughput')) {
    const [m, t, n] = [median(r.mesh), median(r.tls), median(r.nats)];
    console.log(`mesh-remote 64B: ${Math.round(m)} msg/s, nats 64B: ${Math.round(n)} msg/s, ratio ${(m / n).toFixed(2)}`);
    console.log(`mesh-remote tls 64B: ${Math.round(t)} msg/s, ratio to nats ${(t / n).toFixed(2)}, to plain ${(t / m).toFixed(2)}`);
  }
  if (runs('rtt')) {
    const [m, t, n] = [median(r.meshRtt), median(r.tlsRtt), median(r.natsRtt)];
    console.log(`mesh-remote rtt p50 ${m.toFixed(1)} us, nats rtt p50 ${n.toFixed(1)} us`);
    const q = median(r.meshReq);
    console.log(`mesh-remote request/reply rtt p50 ${q.toFixed(1)} us, ratio to nats request/reply ${(q / n).toFixed(2)}`);
    console.log(`mesh-remote tls rtt p50 ${t.toFixed(1)} us (${t >= m ? '+' : ''}${(t - m).toFixed(1)} us against plain)`);
  }
  if (opts.cpu && runs('throughput')) console.log(`cpu us per 64B message: ${cpuPerMsg.line()}`);
  if (opts.cpu && runs('rtt')) console.log(`cpu us per round trip (raw sendTo/reply; NATS request/reply): ${cpuPerRtt.line()}`);
  for (const c of [...plain.apps, ...tls.apps, ...natsApps]) c.stop();
}

main().then(() => { cleanup(); process.exit(0); }, (err: Error) => { console.error(`mesh-remote: ${err.stack ?? err.message}`); cleanup(); process.exit(1); });
