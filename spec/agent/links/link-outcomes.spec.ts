/**
 * What becomes of messages across hosts when things go wrong: a receiving
 * agent killed under a slow receiver (delivered, bounced or in doubt: never
 * delivered and bounced), bounces of messages a peer had already taken when
 * the way back was cut, and one full remote destination on a shared link.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type InstanceRef, type Mesh, type Undeliverable } from '../../../lib/index.js';
import { startAgent, startNs, type MeshProcess } from '../../helpers/mesh.js';
import { startPeer, stopPeers } from '../../helpers/peer.js';
import { seqPayload } from '../../helpers/sequence.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';

const FULL_MS = 1000;
let ns: MeshProcess;
const procs: MeshProcess[] = [];
const meshes: Mesh[] = [];

async function host(id: string, opts: { testHooks?: boolean } = {}): Promise<{ agent: MeshProcess; mesh: Mesh }> {
  const agent = await startAgent(ns.nsUrl, { id, links: true, fullMs: FULL_MS, ...opts });
  procs.push(agent);
  const mesh = await agent.connect();
  meshes.push(mesh);
  return { agent, mesh };
}

async function sender(mesh: Mesh, svc: string, watch: string): Promise<{ inst: Instance; to: InstanceRef }> {
  const inst = mesh.instance(svc, { userData: 's', watch: [watch] });
  await next(inst.startup$);
  const to = (await next(inst.members$(watch), (l) => l.length > 0))[0]!;
  return { inst, to };
}

const seqOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0, true);

const Outcomes = suite('links outcomes');
Outcomes.before(async () => {
  ns = await startNs();
});
Outcomes.after(async () => {
  await stopPeers();
  for (const m of meshes) await m.close().catch(() => {});
  for (const p of procs) await p.kill();
  await ns?.stop();
  cleanupShm();
});

Outcomes('links - receiving agent killed under a slow receiver: delivered, bounced or in doubt, never delivered and bounced', async () => {
  const h1 = await host('slow-1');
  const h2 = await host('slow-2');
  // a slow receiver in its own process: its ring stays full and its agent holds the rest of the stream
  const peer = await startPeer({ socket: h2.agent.socket, service: 'g.slow.1.0', userData: 'r', mode: 'log', spinUs: 300 });
  const { inst: src, to } = await sender(h1.mesh, 'g.slow-src.1.0', 'g.slow.1.0');
  const reported = new Map<number, Undeliverable[]>();
  src.undeliverable$.subscribe((u) => reported.set(seqOf(u.data), [...(reported.get(seqOf(u.data)) ?? []), u]));
  const COUNT = 30_000;
  for (let i = 0; i < COUNT; ) {
    try {
      src.sendTo(to, seqPayload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
  await until(() => peer.delivered().length >= 1000, 20_000, 'the slow receiver under way');
  await h2.agent.kill(); // with the stream in its ring, held by its agent, and in flight
  const delivered = (): Map<number, number> => {
    const d = new Map<number, number>();
    for (const s of peer.delivered()) d.set(s, (d.get(s) ?? 0) + 1);
    return d;
  };
  const missing = (): number[] => {
    const d = delivered();
    const out: number[] = [];
    for (let i = 0; i < COUNT; i++) if (!d.has(i) && !reported.has(i)) out.push(i);
    return out;
  };
  await until(() => missing().length === 0, 30_000, 'every message delivered or reported').catch((err: Error) => {
    const m = missing();
    const exit = peer.fixture.child.exitCode ?? peer.fixture.child.signalCode ?? 'running';
    throw new Error(`${err.message}: ${m.length} neither (e.g. ${m.slice(0, 5).join(', ')}); ${peer.delivered().length} delivered, ${reported.size} reported; receiver ${exit}: ${peer.fixture.stderr.slice(-600)}`);
  });
  await sleep(300);
  const d = delivered();
  const both = [...reported].filter(([s, us]) => d.has(s) && us.some((u) => u.reason !== 'in_doubt')).map(([s]) => s);
  const twice = [...reported.values()].filter((us) => us.length > 1).length + [...d.values()].filter((n) => n > 1).length;
  assert.is(both.length, 0, `${both.length} delivered and also bounced as undelivered (e.g. ${both.slice(0, 5).join(', ')})`);
  assert.is(twice, 0, 'nothing delivered or reported twice');
  await peer.fixture.kill();
});

Outcomes('links - bounces of messages a peer had taken reach the sender when the way back was cut', async () => {
  const h1 = await host('back-1', { testHooks: true });
  const h2 = await host('back-2');
  const peer = await startPeer({ socket: h2.agent.socket, service: 'g.back.1.0', userData: 'r', mode: 'idle' });
  const { inst: src, to } = await sender(h1.mesh, 'g.back-src.1.0', 'g.back.1.0');
  const bounced = new Set<number>();
  src.undeliverable$.subscribe((u) => bounced.add(seqOf(u.data)));
  const COUNT = 200;
  for (let i = 0; i < COUNT; i++) src.sendTo(to, seqPayload(i));
  const queued = async (): Promise<number> => (await h1.agent.status()).links!.out.find((l) => l.peer === 'back-2')?.queued ?? -1;
  for (let i = 0; i < 200 && (await queued()) !== 0; i++) await sleep(20); // all taken by the peer
  h1.agent.fixture.child.kill('SIGUSR2'); // cut every link of host 1 (and hold its own redials 1 s)
  await peer.fixture.kill(); // the receiver dies with all of them unread
  await until(() => bounced.size === COUNT, 15_000, `${COUNT} bounces`);
  assert.is(bounced.size, COUNT);
});

Outcomes('links - one full remote destination delays no other source on the link; its waiting messages bounce at once', async () => {
  const h1 = await host('hol-1');
  const h2 = await host('hol-2');
  await startPeer({ socket: h2.agent.socket, service: 'g.rhol-full.1.0', userData: 'd', mode: 'idle' });
  const healthy = h2.mesh.instance('g.rhol-ok.1.0', { userData: 'e' });
  await next(healthy.startup$);
  const got = new Set<number>();
  healthy.messages$.subscribe((m) => got.add(seqOf(m.data)));
  const { inst: stuck, to: fullRef } = await sender(h1.mesh, 'g.rhol-src1.1.0', 'g.rhol-full.1.0');
  const bounced: Undeliverable[] = [];
  stuck.undeliverable$.subscribe((u) => bounced.push(u));
  // fill the full one's ring, and queue more for it at its agent
  let accepted = 0;
  for (let fullSince = 0; !fullSince || performance.now() - fullSince < 300; ) {
    try {
      const chunk = new Uint8Array(4096);
      new DataView(chunk.buffer).setUint32(0, accepted, true);
      stuck.sendTo(fullRef, chunk);
      accepted++;
      fullSince = 0;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      fullSince ||= performance.now();
      await sleep(2);
    }
  }
  const { inst: other, to: okRef } = await sender(h1.mesh, 'g.rhol-src2.1.0', 'g.rhol-ok.1.0');
  for (let i = 0; i < 1000; i++) other.sendTo(okRef, seqPayload(i));
  await until(() => got.size === 1000, 3 * FULL_MS, 'the healthy destination served at once');
  await until(() => bounced.length > 0, 10 * FULL_MS, 'the full destination gives its waiting messages back');
  // (a timer may fire up to a few ms before performance.now() says its delay passed: the loop's clock lags)
  for (const first = performance.now(); performance.now() - first < FULL_MS; ) await sleep(FULL_MS / 10);
  const inBurst = bounced.length;
  assert.ok(bounced.every((u) => u.reason === 'queue_full'), bounced.map((u) => u.reason).join());
  assert.ok(inBurst > 1, `${inBurst} bounced together`);
  const seqs = new Set(bounced.map((u) => seqOf(u.data)));
  assert.is(seqs.size, bounced.length, 'none bounced twice');
  assert.ok([...seqs].every((n) => n < accepted), 'only accepted messages bounced');
  assert.ok(accepted > inBurst, `${accepted} accepted, ${inBurst} bounced together: some went into the full ring first`);
});

Outcomes('links - large messages from two hosts to a slow destination: each one delivered whole or bounced whole, once', async () => {
  // Two links each bring up to their per-destination window of whole-size messages, so the receiving
  // agent's wait list for the slow receiver overflows: a message refused there at its first fragment
  // must be refused whole (its rest must not reach the reader without its start, who would drop it).
  const h1 = await host('big-1');
  const h2 = await host('big-2');
  const h3 = await host('big-3');
  const peer = await startPeer({ socket: h3.agent.socket, service: 'g.big.1.0', userData: 'r', mode: 'log', spinUs: 20_000 });
  const SIZE = 100 * 1024;
  const PER_SENDER = 60;
  const reported = new Map<number, number>();
  let accepted = 0;
  const send = async (mesh: Mesh, svc: string, base: number): Promise<void> => {
    const { inst, to } = await sender(mesh, svc, 'g.big.1.0');
    inst.undeliverable$.subscribe((u) => {
      assert.is(u.data.length, SIZE, 'a report carries the whole message');
      reported.set(seqOf(u.data), (reported.get(seqOf(u.data)) ?? 0) + 1);
    });
    for (let i = 0; i < PER_SENDER; ) {
      const big = new Uint8Array(SIZE);
      new DataView(big.buffer).setUint32(0, base + i, true);
      try {
        inst.sendTo(to, big);
        accepted++;
        i++;
      } catch (err) {
        if (!(err instanceof QueueFullError)) throw err;
        await sleep(5);
      }
    }
  };
  await Promise.all([send(h1.mesh, 'g.big-src1.1.0', 0), send(h2.mesh, 'g.big-src2.1.0', 1000)]);
  const outcomes = (): number => new Set([...peer.delivered(), ...reported.keys()]).size;
  await until(() => outcomes() === accepted, 20 * FULL_MS, 'an outcome for each message').catch((err: Error) => {
    throw new Error(`${err.message}: ${peer.delivered().length} delivered and ${reported.size} reported of ${accepted}`);
  });
  await sleep(300);
  const delivered = peer.delivered();
  assert.is(delivered.length + reported.size, accepted, 'none both delivered and reported');
  assert.is(new Set(delivered).size, delivered.length, 'none delivered twice');
  assert.ok([...reported.values()].every((n) => n === 1), 'none reported twice');
});

Outcomes.run();
