/**
 * Bounds on the name server's TCP and HTTP ports (issue 10 item 5), against
 * real `rxmesh ns` processes: an idle flood on a server with 256 file
 * descriptors, drips, oversize frames before HELLO, the bytes held in partial
 * frames, silent agents, and the same floods on the HTTP port. The server's
 * own counters (GET /v1/connections) say which bound closed what.
 */
import { execFileSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AdmissionStats } from '../../lib/protocol/admission.js';
import { RESULT } from '../../lib/protocol/connection.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { MESH_SECRET, startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { helloBody } from '../helpers/ns.js';
import { killChildren } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { until } from '../helpers/wait.js';
import { answer, body, closesWithin, destroyAll, dial, drip, frame, idle, lengthPrefix, meshWorks, sleep, stillOpen, type Raw } from '../helpers/raw-control.js';

const MIB = 1024 * 1024;

type Counters = { tcp: AdmissionStats; http: AdmissionStats };

/** The server's connection counters (GET /v1/connections); asserted only where used, after the outcome. */
async function connections(ns: MeshProcess): Promise<Counters> {
  const res = await fetch(`${ns.httpUrl}/v1/connections`);
  return (res.status === 200 ? await res.json() : { missing: `GET /v1/connections: ${res.status}` }) as Counters;
}

/** A raw agent connection that said HELLO (asking for a long lease, so only the idle bound can end it). */
async function hello(ns: MeshProcess, agentId: string): Promise<Raw> {
  const raw = await dial(ns.ready.ns!.port);
  raw.socket.write(frame(NsMessage.CHALLENGE, 1, versionFields(NS_PROTOCOL)));
  const challenge = await answer(raw, 1);
  assert.is(challenge?.type, RESULT, 'CHALLENGE answered');
  const { nonce } = body(challenge!) as { nonce: Uint8Array };
  raw.socket.write(frame(NsMessage.HELLO, 2, helloBody(nonce, agentId, '', { ttlMs: 60_000 }, MESH_SECRET)));
  assert.is((await answer(raw, 2))?.type, RESULT, 'HELLO answered');
  return raw;
}

// ---------------------------------------------------------------- file descriptors

const Fds = suite('name server bounds - file descriptors');
let fdNs: MeshProcess;
let fdAgent: MeshProcess | undefined;
Fds.after(async () => {
  await fdAgent?.stop();
  await fdNs?.stop();
  if (!fdAgent) await killChildren(); // an agent that never got ready (this suite's only other child)
  cleanupShm();
});

/** `p`, or a failure after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

Fds('name server - with 256 file descriptors, 300 idle connections to its TCP port do not lock an agent out', async () => {
  fdNs = await startNs(); // default bounds
  execFileSync('prlimit', ['--pid', String(fdNs.fixture.pid), '--nofile=256:256']);
  const flood = await idle(fdNs.ready.ns!.port, 300);
  await sleep(300);
  fdAgent = await within(startAgent(fdNs.nsUrl), 20_000, 'an agent to register with the name server');
  await meshWorks(fdAgent, 'fds');
  assert.ok(stillOpen(flood) <= 64, `${stillOpen(flood)} idle connections still open (default --max-pending 64)`);
  destroyAll(flood);
});

Fds.run();

// ---------------------------------------------------------------- time and size

const Bounds = suite('name server bounds - deadline, frame size, buffered bytes, HTTP');
let ns: MeshProcess;
Bounds.before(async () => {
  ns = await startNs({ args: ['--auth-ms', '1500', '--max-pending', '16', '--max-buffered-bytes', String(MIB)] });
});
Bounds.after(async () => {
  await ns?.stop();
  cleanupShm();
});

Bounds('name server - a TCP connection that drips a byte every 100 ms is closed after --auth-ms', async () => {
  const raw = await dial(ns.ready.ns!.port);
  drip(raw, lengthPrefix(4000, new Uint8Array(200)));
  const ms = await closesWithin(raw, 6000, 'the dripping connection');
  assert.ok(ms >= 1000, `closed after ${Math.round(ms)} ms: by the deadline, not at once`);
  assert.ok((await connections(ns)).tcp.closed.deadline >= 1, 'counted as a deadline close');
});

Bounds('name server - a 1,000,000-byte frame before HELLO is refused at its length prefix, nothing buffered', async () => {
  const before = (await connections(ns)).tcp?.closed;
  const conns = await Promise.all(Array.from({ length: 12 }, () => dial(ns.ready.ns!.port))); // fewer than --max-pending
  for (const raw of conns) {
    raw.socket.write(lengthPrefix(1_000_000));
    raw.socket.write(new Uint8Array(500_000));
  }
  await Promise.all(conns.map((raw) => closesWithin(raw, 3000, 'a connection that announced 1 MB before HELLO')));
  const after = await connections(ns);
  assert.is(after.tcp.closed.frame - before!.frame, 12, 'each closed by the pre-auth frame limit');
  assert.is(after.tcp.closed.deadline, before!.deadline, 'none waited for the deadline');
  assert.is(after.tcp.bufferedBytes, 0, 'nothing buffered');
});

Bounds('name server - partial frames of agents that said HELLO stay under --max-buffered-bytes', async () => {
  const before = (await connections(ns)).tcp?.closed.buffered;
  const conns = await Promise.all([hello(ns, 'big-1'), hello(ns, 'big-2'), hello(ns, 'big-3')]);
  for (const raw of conns) {
    raw.socket.write(lengthPrefix(700_000));
    raw.socket.write(new Uint8Array(600_000));
  }
  await until(() => stillOpen(conns) <= 1, 5000, `all but one connection closed (${stillOpen(conns)} open)`);
  const stats = await connections(ns);
  assert.is(stillOpen(conns), 1, 'the connection whose frame fitted is still open');
  assert.is(stats.tcp.closed.buffered - before!, 2, 'two closed by the buffered-bytes bound');
  assert.ok(stats.tcp.bufferedBytes <= MIB, `${stats.tcp.bufferedBytes} bytes buffered`);
  destroyAll(conns);
  await until(() => stillOpen(conns) === 0);
});

Bounds('name server - 300 idle connections to the HTTP port: at most --max-pending stay open, and it still answers', async () => {
  const flood = await idle(ns.ready.ns!.httpPort, 300);
  await until(() => stillOpen(flood) <= 16, 5000, `at most 16 of 300 idle HTTP connections open (${stillOpen(flood)} are)`);
  const res = await fetch(`${ns.httpUrl}/healthz`);
  assert.is(res.status, 200);
  assert.equal(await res.json(), { ok: true });
  assert.ok((await connections(ns)).http.closed.evicted >= 284, 'counted as evictions');
  destroyAll(flood);
});

Bounds('name server - an HTTP request dripped a byte every 100 ms is closed after --auth-ms', async () => {
  const raw = await dial(ns.ready.ns!.httpPort);
  drip(raw, Buffer.from(`GET /healthz HTTP/1.1\r\nHost: ns\r\nX-Pad: ${'x'.repeat(100)}\r\n\r\n`));
  const ms = await closesWithin(raw, 6000, 'the dripping HTTP connection');
  assert.ok(ms >= 1000, `closed after ${Math.round(ms)} ms: by the deadline, not at once`);
});

Bounds.run();

// ---------------------------------------------------------------- idle agents

const Idle = suite('name server bounds - idle agent connections');
let idleNs: MeshProcess;
let agent: MeshProcess;
Idle.before(async () => {
  // agents that ask no TTL get 3 s and heartbeat every second
  idleNs = await startNs({ leaseTtlMs: 3000, args: ['--idle-ms', '2500'] });
  agent = await startAgent(idleNs.nsUrl);
});
Idle.after(async () => {
  await agent?.stop();
  await idleNs?.stop();
  cleanupShm();
});

Idle('name server - an agent connection silent for --idle-ms is closed; heartbeating ones are not', async () => {
  const mark = idleNs.fixture.stderr.length;
  const silent = await hello(idleNs, 'silent');
  const beating = await hello(idleNs, 'beating');
  const leaseId = body<{ leaseId: string }>(beating.frames.find((f) => f.id === 2)).leaseId;
  let id = 3;
  const beat = setInterval(() => beating.socket.write(frame(NsMessage.HEARTBEAT, id++, { leaseId })), 300);
  try {
    const ms = await closesWithin(silent, 8000, 'the silent agent connection (its lease lasts 60 s)');
    assert.ok(ms >= 2000, `closed after ${Math.round(ms)} ms`);
    await sleep(1000);
    assert.not.ok(beating.closed(), 'a connection that heartbeats stays open');
  } finally {
    clearInterval(beat);
  }
  assert.ok((await connections(idleNs)).tcp.closed.idle >= 1, 'counted as an idle close');
  await meshWorks(agent, 'idle');
  assert.not.ok(idleNs.fixture.stderr.slice(mark).includes(`(agent '${agent.agentId}'): connection closed`), 'the real agent (heartbeats every second) kept its connection');
  destroyAll([beating]);
});

Idle.run();
