/** Two agents on one name server, standing for two hosts: the same API and promises across a peer link. */
import { execFileSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type Mesh } from '../../../lib/index.js';
import { startAgent, startNs, type MeshProcess } from '../../helpers/mesh.js';
import { checkSequence, sendAll, seqPayload } from '../../helpers/sequence.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';

let ns: MeshProcess;
let agent1: MeshProcess;
let agent2: MeshProcess;
let mesh1: Mesh;
let mesh2: Mesh;
let a: Instance;
let b: Instance;
/** b as agent 1 numbers it (node = agent 2, as agent 1 sees it). */
let bRef: NonNullable<Instance['ref']>;

const Remote = suite('links two agents');
Remote.before(async () => {
  ns = await startNs();
  agent1 = await startAgent(ns.nsUrl, { id: 'host-1', links: true });
  agent2 = await startAgent(ns.nsUrl, { id: 'host-2', links: true });
  mesh1 = await agent1.connect();
  mesh2 = await agent2.connect();
  b = mesh2.instance('g.b.1.0', { userData: 'b', watch: ['g.a.1.0'] });
  await next(b.startup$);
  a = mesh1.instance('g.a.1.0', { userData: 'a', watch: ['g.b.1.0'] });
  await next(a.startup$);
  bRef = (await next(a.members$('g.b.1.0'), (l) => l.length > 0))[0]!;
});
Remote.after(async () => {
  await mesh1?.close();
  await mesh2?.close();
  await agent1?.stop();
  await agent2?.stop();
  await ns?.stop();
  cleanupShm();
});

Remote('remote - a stateless message reaches the other host and its reply comes back', async () => {
  const sub = b.messages$.subscribe((m) => m.reply({ echo: m.value() }));
  const back = next(a.messages$);
  const routed = a.send('g.b.1.0', { hi: 1 });
  assert.is(routed?.agentId, 'host-2');
  const m = await back;
  assert.equal(m.value(), { echo: { hi: 1 } });
  assert.is(m.from.agentId ?? (await a.resolve(m.from)).agentId, 'host-2');
  sub.unsubscribe();
});

Remote('remote - request/reply and a stateful sendTo across hosts', async () => {
  const sub = b.messages$.subscribe((m) => m.reply(`pong ${String(m.value())}`));
  assert.is((await a.request(bRef, 'ping')).value(), 'pong ping');
  assert.ok(bRef.node !== 0, 'b is on another node');
  const got = next(b.messages$, (m) => m.value() === "to-b");
  a.sendTo(bRef, 'to-b');
  const m = await got;
  assert.is(m.from.localId, a.ref!.localId);
  assert.is((await b.resolve(m.from)).id, a.ref!.id, 'the receiver resolves the remote sender');
  sub.unsubscribe();
});

Remote('remote - an instance that watches nothing answers a remote sender (route learnt from the message)', async () => {
  const c = mesh2.instance('g.c.1.0', { userData: 'c' });
  c.messages$.subscribe((m) => m.reply('from c'));
  await next(c.startup$);
  const z = mesh1.instance('g.z.1.0', { userData: 'z', watch: ['g.c.1.0'] }); // nobody on agent 2 watches g.z
  await next(z.startup$);
  const cRef = (await next(z.members$('g.c.1.0'), (l) => l.length > 0))[0]!;
  assert.is((await z.request(cRef, 'hi c')).value(), 'from c');
  await c.close();
  await z.close();
});

Remote('remote - 100 000 messages A->B arrive in order, none lost or duplicated', async () => {
  const COUNT = 100_000;
  const seq = checkSequence(b);
  await sendAll(a, bRef, COUNT);
  await until(() => seq.expected === COUNT || seq.bad > 0, 60_000, `${COUNT} messages`);
  seq.stop();
  assert.is(seq.bad, 0, 'no gap, duplicate or reordering');
  assert.is(seq.expected, COUNT);
});

Remote('remote - a 16 MiB message beside a stream of small ones', async () => {
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4093) big[i] = (i * 31) & 0xff;
  const small = mesh1.instance('g.small.1.0', { userData: 's', watch: ['g.b.1.0'] });
  await next(small.startup$);
  let bigGot: Uint8Array | undefined;
  let smallGot = 0;
  let smallBeforeBig = 0;
  const sub = b.messages$.subscribe((m) => {
    if (m.data.length > 1000) bigGot = m.data;
    else if (++smallGot && !bigGot) smallBeforeBig++;
  });
  a.sendTo(bRef, big);
  await sendAll(small, bRef, 200, () => new Uint8Array([7]));
  await until(() => bigGot !== undefined && smallGot === 200, 60_000, 'big + 200 small');
  sub.unsubscribe();
  assert.ok(Buffer.compare(Buffer.from(bigGot!), Buffer.from(big)) === 0, '16 MiB intact');
  assert.ok(smallBeforeBig > 0, 'small messages were not held behind the 16 MiB one');
  await small.close();
});

Remote('remote - a receiver that does not read: its ring fills, the remote sender is paused (QueueFullError), then all arrive', async () => {
  const slow = mesh2.instance('g.slow.1.0', { userData: 'slow' });
  await next(slow.startup$);
  await a.service$('g.slow.1.0');
  const ref = (await next(a.members$('g.slow.1.0'), (l) => l.length > 0))[0]!;
  let sent = 0;
  let full = false;
  while (!full && sent < 2_000_000) {
    try {
      a.sendTo(ref, seqPayload(sent));
      sent++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      // the local ring is full: give the agents time to move what they can, then see if it stays full
      await sleep(50);
      try {
        a.sendTo(ref, seqPayload(sent));
        sent++;
      } catch (again) {
        if (!(again instanceof QueueFullError)) throw again;
        full = true;
      }
    }
  }
  assert.ok(full, 'the sender saw QueueFullError');
  const st = await agent2.status();
  assert.ok(st.instances.find((i) => i.id === 'g.slow.1.0/slow')!.rx.depth > 0, 'the receiver ring holds messages');
  let expected = 0;
  let bad = 0;
  slow.messages$.subscribe((m) => {
    if (new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true) !== expected) bad++;
    expected++;
  });
  await until(() => expected === sent || bad > 0, 30_000, `${sent} messages`);
  assert.is(bad, 0);
  assert.is((await agent1.status()).links!.out[0]!.bounces, 0, 'nothing bounced');
  await slow.close();
});

Remote('remote - exactly two TCP connections between two agents talking both ways', async () => {
  const sub = b.messages$.subscribe((m) => m.reply('back'));
  await a.request(bRef, 'x');
  sub.unsubscribe();
  const s1 = await agent1.status();
  const s2 = await agent2.status();
  assert.equal(s1.links!.out.map((l) => l.peer), ['host-2'], 'agent 1 dialled agent 2 once');
  assert.equal(s2.links!.out.map((l) => l.peer), ['host-1'], 'agent 2 dialled agent 1 once');
  const logs = `agent 1: ${agent1.fixture.stderr}\nagent 2: ${agent2.fixture.stderr}`;
  assert.is(s1.links!.out[0]!.connects, 1, logs);
  assert.is(s2.links!.out[0]!.connects, 1, logs);
  let ss = '';
  try {
    ss = execFileSync('ss', ['-Htn', 'state', 'established'], { encoding: 'utf8' });
  } catch {
    console.log('  (ss not available: connection count checked with link stats only)');
    return;
  }
  const ports = [agent1.linkAddress, agent2.linkAddress].map((x) => x.slice(x.lastIndexOf(':')));
  // each connection appears twice on loopback (both ends); count the ends at the listening ports
  const ends = ss.split('\n').filter((l) => ports.some((p) => l.split(/\s+/)[2]?.endsWith(p)));
  assert.is(ends.length, 2, `two connections to the link ports:\n${ends.join('\n')}`);
});

Remote.run();
