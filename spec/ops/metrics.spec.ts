/**
 * The agent's and the name server's Prometheus metrics, scraped from real
 * processes: the text passes `promtool check metrics`, and the counters move
 * with the traffic an app makes (routed, delivered, bounced by reason, links).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, InstanceRef, Mesh } from '../../lib/index.js';
import { startAgent, startNs, startUp, type MeshProcess } from '../helpers/mesh.js';
import { find, promtool, scrape, scrapeUntil, value } from '../helpers/scrape.js';
import { repoRoot } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

/** promtool finds nothing to say about `text` (exit 0, no problem lines). */
function assertClean(text: string, what: string): void {
  const check = promtool(text);
  assert.is(check.problems, '', `promtool on ${what}: ${check.problems}`);
  assert.is(check.status, 0, `promtool on ${what} exits 0`);
}

const routed = (text: string): number => value(text, 'rxmesh_agent_records_routed_total');
const delivered = (text: string): number => value(text, 'rxmesh_agent_records_delivered_total');

// ---------------------------------------------------------------- rxmesh up

let up: MeshProcess;
let mesh: Mesh;
let a: Instance;
let b: Instance;
let bRef: InstanceRef;
let port: number;
const Up = suite('ops metrics of rxmesh up');
Up.before(async () => {
  up = await startUp({ args: ['--metrics-port', '0', '--metrics-instance-labels', '2'] });
  port = up.ready.agent!.metricsPort!;
  mesh = await up.connect();
  b = mesh.instance('g.mb.1.0', { userData: 'b' });
  bRef = await next(b.startup$);
  a = mesh.instance('g.ma.1.0', { userData: 'a', watch: ['g.mb.1.0'] });
  await next(a.startup$);
});
Up.after(async () => {
  await up?.stop();
  cleanupShm();
});

Up('metrics - the agent\'s port and the name server\'s HTTP view serve text promtool accepts', async () => {
  assert.ok(port > 0, 'the ready line names the metrics port');
  const agent = await scrape(port);
  assertClean(agent, 'the agent');
  assert.is(value(agent, 'rxmesh_agent_info', { agent_id: up.agentId }), 1);
  assert.is(value(agent, 'rxmesh_agent_instances', { state: 'online' }), 2);
  assert.is(value(agent, 'rxmesh_agent_app_sessions'), 1);
  assert.is(value(agent, 'rxmesh_agent_registry_connected'), 1);
  assert.is(value(agent, 'rxmesh_agent_registry_lease_held'), 1);
  assert.ok(find(agent, 'process_cpu_user_seconds_total').length === 1, 'prom-client\'s process metrics are there');
  const ns = await scrape(up.ready.ns!.httpPort);
  assertClean(ns, 'the name server');
  assert.is(value(ns, 'rxmesh_nameserver_agents', { state: 'connected' }), 1);
  assert.is(value(ns, 'rxmesh_nameserver_instances', { state: 'online' }), 2);
  assert.is(value(ns, 'rxmesh_nameserver_games'), 2);
});

Up('metrics - N messages between two instances move routed and delivered by at least N', async () => {
  const N = 1000;
  const before = await scrape(port);
  let got = 0;
  const sub = b.messages$.subscribe(() => got++);
  for (let i = 0; i < N; i++) a.sendTo(bRef, i);
  await until(() => got === N, undefined, `${N} messages at b`);
  sub.unsubscribe();
  const after = await scrape(port);
  assert.ok(routed(after) - routed(before) >= N, `routed grew by ${routed(after) - routed(before)}`);
  assert.ok(delivered(after) - delivered(before) >= N, `delivered grew by ${delivered(after) - delivered(before)}`);
});

Up('metrics - a bounce is counted under the reason its sender saw, and a gone instance\'s counters stay in the totals', async () => {
  const c = mesh.instance('g.mc.1.0', { userData: 'c' });
  const cRef = await next(c.startup$);
  let got = 0;
  const sub = b.messages$.subscribe(() => got++);
  for (let i = 0; i < 10; i++) c.sendTo(bRef, `from c ${i}`);
  await until(() => got === 10, undefined, 'c\'s messages at b');
  sub.unsubscribe();
  const withC = await scrape(port);
  await c.close();
  const instances = (t: string): number => find(t, 'rxmesh_agent_instances').reduce((n, s) => n + s.value, 0);
  const before = await scrapeUntil(port, (t) => instances(t) === 2, 'c gone from the agent');
  assert.ok(routed(before) >= routed(withC), `routed total ${routed(before)} kept c's records (was ${routed(withC)})`);
  assert.ok(delivered(before) >= delivered(withC), 'delivered total kept');

  const report = next(a.undeliverable$);
  a.sendTo(cRef, 'to a closed instance');
  const { reason } = await report;
  const after = await scrape(port);
  const moved = value(after, 'rxmesh_agent_records_bounced_total', { reason }) - value(before, 'rxmesh_agent_records_bounced_total', { reason });
  assert.is(moved, 1, `bounced{reason="${reason}"} moved by one`);
  for (const s of find(after, 'rxmesh_agent_records_bounced_total')) {
    if (s.labels['reason'] !== reason) assert.is(s.value, value(before, 'rxmesh_agent_records_bounced_total', s.labels), `${s.labels['reason']} did not move`);
  }
});

Up('metrics - per-instance series only for as many instances as --metrics-instance-labels says', async () => {
  const d = mesh.instance('g.md.1.0', { userData: 'd' });
  await next(d.startup$);
  const text = await scrape(port);
  const labelled = new Set(find(text, 'rxmesh_agent_instance_ring_depth_bytes').map((s) => s.labels['instance_id']));
  assert.equal([...labelled].sort(), ['g.ma.1.0/a', 'g.mb.1.0/b'], 'the first two instances by local id');
  assert.is(find(text, 'rxmesh_agent_instance_ring_full_total').length, 4, 'two instances, two rings each');
  assert.is(value(text, 'rxmesh_agent_instance_series_dropped'), 1, 'd is counted in the aggregates only');
  assertClean(text, 'the agent with per-instance series');
  await d.close();
});

// ---------------------------------------------------------------- two agents

let ns: MeshProcess;
let agent1: MeshProcess;
let agent2: MeshProcess;
const Links = suite('ops metrics of links');
Links.before(async () => {
  ns = await startNs({ args: ['--metrics-port', '0'] });
  agent1 = await startAgent(ns.nsUrl, { id: 'metrics-1', links: true, args: ['--metrics-port', '0'] });
  agent2 = await startAgent(ns.nsUrl, { id: 'metrics-2', links: true, args: ['--metrics-port', '0'] });
});
Links.after(async () => {
  await agent1?.stop();
  await agent2?.stop();
  await ns?.stop();
  cleanupShm();
});

Links('metrics - two agents on loopback: link state, records each way and RTT per peer', async () => {
  const mesh1 = await agent1.connect();
  const mesh2 = await agent2.connect();
  const y = mesh2.instance('g.my.1.0', { userData: 'y' });
  await next(y.startup$);
  const x = mesh1.instance('g.mx.1.0', { userData: 'x', watch: ['g.my.1.0'] });
  await next(x.startup$);
  const yRef = (await next(x.members$('g.my.1.0'), (l) => l.length > 0))[0]!;
  const N = 500;
  let got = 0;
  y.messages$.subscribe(() => got++);
  for (let i = 0; i < N; i++) x.sendTo(yRef, i);
  await until(() => got === N, undefined, `${N} messages across the link`);

  const port1 = agent1.ready.agent!.metricsPort!;
  const port2 = agent2.ready.agent!.metricsPort!;
  const one = await scrapeUntil(port1, (t) => find(t, 'rxmesh_agent_link_rtt_seconds', { peer: 'metrics-2' }).length === 1,
    'an RTT for the link (it pings every 500 ms)');
  assert.is(value(one, 'rxmesh_agent_link_state', { peer: 'metrics-2', state: 'up' }), 1);
  assert.is(value(one, 'rxmesh_agent_link_state', { peer: 'metrics-2', state: 'down' }), 0);
  assert.ok(value(one, 'rxmesh_agent_link_sent_records_total', { peer: 'metrics-2' }) >= N);
  assert.ok(value(one, 'rxmesh_agent_link_sent_bytes_total', { peer: 'metrics-2' }) >= N * 8);
  assert.ok(value(one, 'rxmesh_agent_link_queued_bytes', { peer: 'metrics-2' }) >= 0);
  const rtt = value(one, 'rxmesh_agent_link_rtt_seconds', { peer: 'metrics-2' });
  assert.ok(rtt > 0 && rtt < 1, `RTT ${rtt} s on loopback`);
  assertClean(one, 'agent 1');

  const two = await scrape(port2);
  assert.ok(value(two, 'rxmesh_agent_link_received_records_total', { peer: 'metrics-1' }) >= N);
  assert.is(value(two, 'rxmesh_agent_link_inbound_connected', { peer: 'metrics-1' }), 1);
  assert.is(value(two, 'rxmesh_agent_connections', { port: 'link' }), 1, 'agent 1\'s link is the one connection on agent 2\'s link port');
  assert.ok(delivered(two) >= N);
  assertClean(two, 'agent 2');

  const nsText = await scrape(ns.ready.ns!.metricsPort!);
  assert.is(value(nsText, 'rxmesh_nameserver_agents', { state: 'connected' }), 2);
  assert.is(value(nsText, 'rxmesh_nameserver_connections', { port: 'tcp' }), 2);
  assertClean(nsText, 'the name server\'s metrics port');
  await mesh1.close();
  await mesh2.close();
});

Links('metrics - the example Grafana dashboard queries only metrics the servers export, in PromQL promtool accepts', async () => {
  const exported = new Set<string>();
  for (const text of [await scrape(agent1.ready.agent!.metricsPort!), await scrape(ns.ready.ns!.httpPort)]) {
    for (const [, name] of text.matchAll(/^# TYPE (\S+) /gm)) exported.add(name!);
  }
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/rxmesh.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  assert.ok(exprs.length > 20, `${exprs.length} queries`);
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(?:rxmesh|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
  assert.equal([...used].filter((n) => !exported.has(n)), [], 'every metric the dashboard queries is exported');
  // promtool checks PromQL in rule files: each query as a recording rule, Grafana's variables filled in
  const rules = join(tempShmDir(), 'dashboard-rules.yml');
  writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${exprs.map((e, i) =>
    `      - record: dashboard:query${i}\n        expr: ${JSON.stringify(e.replaceAll('$__rate_interval', '5m').replace(/\$\w+/g, '.*'))}\n`).join('')}`);
  const check = spawnSync(process.env['PROMTOOL'] ?? 'promtool', ['check', 'rules', rules], { encoding: 'utf8' });
  assert.is(check.status, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
});

Up.run();
Links.run();
