/**
 * Crash detection across agents (DESIGN §7): one `rxmesh ns` with a short
 * lease TTL and two `rxmesh agent`s on it. A watcher on agent 1 follows a
 * service whose instances live on agent 2.
 *   - an app on agent 2 is SIGKILLed: offline, reason `crashed` (agent 2 says so at once);
 *   - agent 2 is SIGKILLed: offline, reason `agent_lost`, within the lease TTL.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLostError, type Instance, type Mesh } from '../../lib/index.js';
import { startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { httpGet } from '../helpers/ns.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const TTL = 1000;
/** DESIGN: "its instances go offline everywhere within the lease TTL"; 1 s for the sweep and the hops. */
const LEASE_BOUND_MS = TTL + 1000;
const SVC = 'g.zone.1.0';

let ns: MeshProcess | undefined;
let agent1: MeshProcess | undefined;
let agent2: MeshProcess | undefined;
let watcherMesh: Mesh | undefined;
let remoteMesh: Mesh | undefined;
let app: Fixture | undefined;
let watcher: Instance;

async function shared(): Promise<void> {
  if (ns) return;
  ns = await startNs({ leaseTtlMs: TTL });
  agent1 = await startAgent(ns.nsUrl);
  agent2 = await startAgent(ns.nsUrl);
  watcherMesh = await agent1.connect();
  watcher = watcherMesh.instance('g.watcher.1.0', { userData: 'w', watch: [SVC] });
  await next(watcher.startup$);
}

async function stopShared(): Promise<void> {
  await app?.kill();
  await watcherMesh?.close();
  await remoteMesh?.close();
  await agent2?.kill();
  await agent1?.stop();
  await ns?.stop();
  cleanupShm();
}

const agentIds = async (): Promise<string[]> =>
  ((await httpGet(ns!.ready.ns!.httpPort, '/v1/agents')).body as Array<{ agentId: string }>).map((a) => a.agentId);

// ---------------------------------------------------------------- an app dies, its agent lives

const AppCrash = suite('lease - app crash on another agent');
AppCrash.before(shared);

AppCrash('lease - an app SIGKILLed on agent 2: the watcher on agent 1 sees offline, reason crashed', async () => {
  const online = next(watcher.online$, (r) => r.userData === 'app-on-2');
  app = startFixture('spec/helpers/fixtures/app.ts', [agent2!.socket, SVC, 'app-on-2']);
  await app.waitFor('started');
  const ref = await online;
  assert.is(ref.agentId, agent2!.ready.agent!.agentId);
  assert.is.not(ref.node, 0, 'seen from agent 1, the instance is on another node');
  assert.ok(existsSync(join(agent2!.shmDir, `i${ref.localId}.tx`)), 'its rings exist while it lives');

  const offline = next(watcher.offline$, (o) => o.instance.userData === 'app-on-2', LEASE_BOUND_MS);
  await app.kill();
  const o = await offline;
  assert.is(o.reason, 'crashed', 'agent 2 reports the crash itself; no lease had to expire');
  assert.is(o.instance.localId, ref.localId);
  // the agent forwards what the dead app had written before it removes the rings, so this follows the offline event
  await until(() => !existsSync(join(agent2!.shmDir, `i${ref.localId}.tx`)), 5000, 'tx ring unlinked');
  await until(() => !existsSync(join(agent2!.shmDir, `i${ref.localId}.rx`)), 5000, 'rx ring unlinked');
  assert.ok((await agentIds()).includes(agent2!.ready.agent!.agentId), 'agent 2 keeps its lease');
});

AppCrash.run();

// ---------------------------------------------------------------- an agent dies

const AgentLoss = suite('lease - agent loss');
AgentLoss.before(shared);
AgentLoss.after(stopShared); // the last suite of this file

AgentLoss('lease - agent 2 SIGKILLed: the watcher on agent 1 sees offline, reason agent_lost, within the lease TTL', async () => {
  remoteMesh = await agent2!.connect();
  const online = next(watcher.online$, (r) => r.userData === 'inst-on-2');
  const remote = remoteMesh.instance(SVC, { userData: 'inst-on-2' });
  const remoteRef = await next(remote.startup$);
  assert.is((await online).localId, remoteRef.localId);

  const offline = next(watcher.offline$, (o) => o.instance.userData === 'inst-on-2', LEASE_BOUND_MS + 500);
  const lost = next(remoteMesh.lost$);
  const killedAt = performance.now();
  await agent2!.kill();
  const o = await offline;
  const elapsed = performance.now() - killedAt;
  assert.is(o.reason, 'agent_lost');
  assert.is(o.instance.localId, remoteRef.localId);
  assert.ok(elapsed <= LEASE_BOUND_MS, `offline seen ${elapsed.toFixed(0)} ms after SIGKILL (lease TTL ${TTL} ms)`);

  assert.instance(await lost, AgentLostError, 'the app on agent 2 sees AgentLostError');
  const registry = (await httpGet(ns!.ready.ns!.httpPort, '/v1/instances')).body as Array<{ agentId: string }>;
  assert.not.ok(registry.some((r) => r.agentId === agent2!.ready.agent!.agentId), 'none of agent 2\'s instances is left on the name server');
  assert.not.ok((await agentIds()).includes(agent2!.ready.agent!.agentId), 'agent 2\'s lease is gone');
  assert.ok((await agentIds()).includes(agent1!.ready.agent!.agentId), 'agent 1 keeps its lease');
});

AgentLoss('lease - agent 1 keeps serving after its peer died', async () => {
  const online = next(watcher.online$, (r) => r.userData === 'after');
  const local = watcherMesh!.instance(SVC, { userData: 'after' });
  const ref = await next(local.startup$);
  assert.is((await online).localId, ref.localId);
  assert.is(ref.node, 0);
  const got = next(local.messages$);
  watcher.sendTo(ref, 'still here');
  assert.is((await got).value(), 'still here');
  await local.close();
});

AgentLoss.run();
