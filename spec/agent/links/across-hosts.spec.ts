/**
 * The README's "Across hosts" recipe, on two hosts made here: the spec's own
 * network namespace is host 1 (`rxmesh up`) and a namespace it creates, joined
 * by a veth pair, is host 2 (`rxmesh agent`). An app on each host; a request
 * from host 1 is answered on host 2. Without `--host`, `rxmesh up` binds the
 * name server to 127.0.0.1 and host 2 cannot register (issue 11, item 3).
 * Needs root (network namespaces); the namespace is removed afterwards.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startAgent, startUp, type MeshProcess } from '../../helpers/mesh.js';
import { NetHosts, netnsSpecsEnabled, startInNetns, type NetHost } from '../../helpers/netns.js';
import { cleanupShm, tempShmDir } from '../../helpers/shm.js';
import { next, sleep } from '../../helpers/wait.js';

const enabled = netnsSpecsEnabled('across-hosts.spec.ts');
const hosts = new NetHosts('rxm-hosts');
let host2: NetHost;
let H1 = '';
let H2 = '';

const Hosts = suite('across hosts');
const started: MeshProcess[] = [];
let secretFile = '';

Hosts.before(() => {
  host2 = hosts.add();
  H1 = host2.here;
  H2 = host2.there;
  secretFile = join(tempShmDir(), 'mesh-secret');
  writeFileSync(secretFile, 'across-hosts-secret\n', { mode: 0o600 });
});

Hosts.after(async () => {
  await Promise.all(started.map((p) => p.stop()));
  hosts.remove();
  cleanupShm();
});

Hosts('across hosts - without --host the name server listens on loopback only: host 2 cannot register', async () => {
  const h1 = await startUp({ args: ['--listen', `${H1}:0`, '--mesh-secret-file', secretFile] });
  started.push(h1);
  const h2 = startInNetns(host2.netns, 'lib/cli/main.ts', ['agent', '--registry', `ns://${H1}:${h1.ready.ns!.port}`, '--shm-dir', tempShmDir(),
    '--listen', `${H2}:0`, '--mesh-secret-file', secretFile, '--exit-with-parent']);
  await sleep(4000);
  const ready = h2.stdout.includes('"ready"');
  await h2.kill();
  assert.not.ok(ready, 'host 2 reached a name server bound to 127.0.0.1 of host 1');
  await h1.stop();
  started.splice(0);
});

Hosts('across hosts - the README recipe: an app on host 1 asks, an app on host 2 answers', async () => {
  // host 1:  rxmesh up --host H1 --listen H1:PORT --mesh-secret-file F
  // host 2:  rxmesh agent --registry ns://H1:9092 --listen H2:PORT --mesh-secret-file F
  const h1 = await startUp({ args: ['--host', H1, '--listen', `${H1}:0`, '--mesh-secret-file', secretFile] });
  started.push(h1);
  const h2 = await startAgent(`ns://${H1}:${h1.ready.ns!.port}`, { netns: host2.netns, args: ['--listen', `${H2}:0`, '--mesh-secret-file', secretFile] });
  started.push(h2);
  assert.ok(h2.linkAddress.startsWith(`${H2}:`), h2.linkAddress);

  const far = (await h2.connect()).instance('g.far.1.0', { userData: 'f' });
  await next(far.startup$);
  far.messages$.subscribe((m) => m.reply(new TextEncoder().encode(`far got ${new TextDecoder().decode(m.data)}`)));
  const near = (await h1.connect()).instance('g.near.1.0', { userData: 'n', watch: ['g.far.1.0'] });
  await next(near.startup$);
  await next(near.members$('g.far.1.0'), (l) => l.length > 0);
  const answer = await near.request('g.far.1.0', new TextEncoder().encode('hello'), { timeoutMs: 5000 });
  assert.is(new TextDecoder().decode(answer.data), 'far got hello');
  assert.is(answer.from.agentId, h2.agentId, 'answered on host 2');
});

if (enabled) Hosts.run();
