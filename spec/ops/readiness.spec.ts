/**
 * /healthz and /readyz of a real agent and name server as their registry comes
 * and goes: the agent is ready only while its name server answers, its lease
 * is held and its control socket listens; alive throughout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdSpecsEnabled, freePort, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { MESH_SECRET, startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { get, scrape, value } from '../helpers/scrape.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const GUARD_MS = 20_000;

/** Poll `path` until its status is `status` (fails after GUARD_MS naming the last answer). */
async function untilStatus(port: number, path: string, status: number, what: string): Promise<{ status: number; body: string }> {
  const end = performance.now() + GUARD_MS;
  for (;;) {
    const res = await get(port, path);
    if (res.status === status) return res;
    if (performance.now() > end) throw new Error(`${what}: ${path} still answers ${res.status} ${res.body}, not ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `rxmesh agent` on ns://127.0.0.1:nsPort, serving its metrics port, without waiting for it to be ready. */
function agent(nsPort: number, metricsPort: number): Fixture {
  return startFixture('lib/cli/main.ts', ['agent', '--registry', `ns://127.0.0.1:${nsPort}`, '--shm-dir', tempShmDir(),
    '--metrics-port', String(metricsPort), '--exit-with-parent'], { RXMESH_MESH_SECRET: MESH_SECRET });
}

const started: Array<Fixture | MeshProcess> = [];
let etcd: EtcdCluster | undefined;
const Ready = suite('ops readiness');
Ready.after(async () => {
  for (const p of started) {
    const f = 'fixture' in p ? p.fixture : p;
    f.child.kill('SIGCONT');
    await f.kill();
  }
  await etcd?.close();
  cleanupShm();
});

Ready('readyz - an agent whose name server is down is alive but not ready, and says which checks fail', async () => {
  const nsPort = await freePort();
  const port = await freePort();
  const a = agent(nsPort, port);
  started.push(a);
  await untilStatus(port, '/healthz', 200, 'the agent comes up');
  const res = await get(port, '/readyz');
  assert.is(res.status, 503);
  const body = JSON.parse(res.body) as { ready: boolean; failing: string[]; checks: Record<string, boolean> };
  assert.is(body.ready, false);
  assert.equal(body.failing, ['registry', 'lease', 'control'], 'no registry, so no lease, so no control socket yet');
  const metrics = await scrape(port);
  assert.is(value(metrics, 'rxmesh_agent_registry_connected'), 0);
  assert.is(value(metrics, 'rxmesh_agent_registry_lease_held'), 0);
  // it gives up on a registry that never answers (5 s) and exits with the reason
  const exit = await a.exited;
  assert.is(exit.code, 1);
  assert.match(a.stderr, /cannot reach the name server/);
});

Ready('readyz - not ready before it registers, ready when the name server answers, not ready when it is killed, ready after it restarts', async () => {
  const nsPort = await freePort();
  const port = await freePort();
  const ns = await startNs({ args: ['--port', String(nsPort)] });
  started.push(ns);
  const nsHttp = ns.ready.ns!.httpPort;
  assert.is((await get(nsHttp, '/readyz')).status, 200, 'the name server is ready');
  ns.fixture.child.kill('SIGSTOP'); // it accepts connections (the kernel does) but answers nothing
  const a = agent(nsPort, port);
  started.push(a);
  await untilStatus(port, '/healthz', 200, 'the agent comes up');
  const before = await get(port, '/readyz');
  assert.is(before.status, 503, 'not ready while its HELLO is unanswered');
  assert.ok((JSON.parse(before.body) as { failing: string[] }).failing.includes('registry'));

  ns.fixture.child.kill('SIGCONT');
  await a.waitFor('"ready"');
  const ready = await untilStatus(port, '/readyz', 200, 'registered');
  assert.equal(JSON.parse(ready.body), { ready: true, checks: { registry: true, lease: true, control: true } });

  await ns.kill(); // SIGKILL
  const down = await untilStatus(port, '/readyz', 503, 'the name server was killed');
  assert.equal((JSON.parse(down.body) as { failing: string[] }).failing, ['registry', 'lease']);
  assert.is((await get(port, '/healthz')).status, 200, 'alive without its name server');
  assert.is((await get(nsHttp, '/readyz')).status, 0, 'nothing answers for the killed name server');

  const again = await startNs({ args: ['--port', String(nsPort)] });
  started.push(again);
  assert.is((await get(again.ready.ns!.httpPort, '/readyz')).status, 200, 'the restarted name server is ready');
  await untilStatus(port, '/readyz', 200, 'the name server restarted');
  assert.is((await get(port, '/healthz')).status, 200);
  const metrics = await scrape(port);
  assert.is(value(metrics, 'rxmesh_agent_registry_connected'), 1);
  assert.is(value(metrics, 'rxmesh_agent_registry_lease_recoveries_total'), 1, 'a new lease on the new name server, instances registered again');
});

Ready('readyz - a name server without game keys is alive but not ready (it can authenticate no app)', async () => {
  const ns = startFixture('lib/cli/main.ts', ['ns', '--port', '0', '--http-port', '0', '--exit-with-parent'], { RXMESH_MESH_SECRET: MESH_SECRET });
  started.push(ns);
  await ns.waitFor('"ready"');
  const http = (JSON.parse(ns.stdout.split('\n').find((l) => l.includes('"ready"'))!) as { ready: { ns: { httpPort: number } } }).ready.ns.httpPort;
  const res = await get(http, '/readyz');
  assert.is(res.status, 503);
  assert.equal(JSON.parse(res.body), { ready: false, failing: ['games'], checks: { listening: true, games: false } });
  assert.is((await get(http, '/healthz')).status, 200);
});

if (etcdSpecsEnabled('readiness.spec.ts')) {
  Ready('readyz - on etcd: ready while etcd answers its lease keep-alives, not ready once etcd is killed, ready after it restarts', async () => {
    etcd = await startEtcd(1);
    const port = await freePort();
    const a = await startAgent(etcd.url, { id: 'ready-etcd', args: ['--metrics-port', String(port)] });
    started.push(a);
    assert.equal(JSON.parse((await untilStatus(port, '/readyz', 200, 'on etcd')).body).checks, { registry: true, lease: true, control: true });
    const member = etcd.members[0]!;
    await etcd.kill(member);
    const down = await untilStatus(port, '/readyz', 503, 'etcd was killed');
    assert.ok((JSON.parse(down.body) as { failing: string[] }).failing.includes('registry'), down.body);
    assert.is((await get(port, '/healthz')).status, 200, 'alive without etcd');
    await etcd.restart(member);
    await untilStatus(port, '/readyz', 200, 'etcd restarted');
    assert.is(value(await scrape(port), 'rxmesh_agent_registry_connected'), 1);
  });
}

Ready.run();
