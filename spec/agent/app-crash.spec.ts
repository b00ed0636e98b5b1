/**
 * Apps SIGKILLed at awkward moments, on one host: a receiver in the middle of
 * a batch (each message delivered once or bounced once, never both), and a
 * sender in the middle of a large message (its receiver frees what it had).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { ledgerSeqs, startPeer, stopPeers } from '../helpers/peer.js';
import { seqPayload } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;

const Crash = suite('app crash');
Crash.before(async () => {
  up = await startUp({ testHooks: true });
  mesh = await up.connect();
});
Crash.after(async () => {
  await stopPeers();
  await mesh?.close();
  await up?.stop();
  cleanupShm();
});

Crash('app crash - a receiver killed mid-batch: every message delivered once or bounced once, never both', async () => {
  const peer = await startPeer({ socket: up.socket, service: 'g.crash-recv.1.0', userData: 'r', mode: 'log', spinUs: 20 });
  const sender = mesh.instance('g.crash-send.1.0', { userData: 's', watch: ['g.crash-recv.1.0'] });
  await next(sender.startup$);
  const to = (await next(sender.members$('g.crash-recv.1.0'), (l) => l.length > 0))[0]!;
  const bounced = new Map<number, number>();
  sender.undeliverable$.subscribe((u) => {
    const seq = new DataView(u.data.buffer, u.data.byteOffset).getUint32(0, true);
    bounced.set(seq, (bounced.get(seq) ?? 0) + 1);
  });
  const COUNT = 20_000;
  let killed = false;
  for (let i = 0; i < COUNT; ) {
    if (!killed && peer.delivered().length >= 3000) {
      killed = true;
      await peer.fixture.kill();
    }
    try {
      sender.sendTo(to, seqPayload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
  if (!killed) {
    // all sent before it had read 3000 (a loaded machine): still kill it while it reads, not before
    await until(() => peer.delivered().length > 0, 20_000, 'the receiver under way');
    await peer.fixture.kill();
  }
  const delivered = (): Set<number> => new Set([...peer.delivered(), ...ledgerSeqs(up.shmDir)]);
  await until(() => {
    const d = delivered();
    for (let i = 0; i < COUNT; i++) if (!d.has(i) && !bounced.has(i)) return false;
    return true;
  }, 20_000, 'every message delivered or bounced');
  await sleep(200); // a late duplicate would show here
  const d = delivered();
  const both = [...d].filter((s) => bounced.has(s));
  const twice = [...bounced.values()].filter((n) => n > 1).length;
  const logged = peer.delivered();
  assert.is(both.length, 0, `${both.length} messages delivered and also bounced (e.g. ${both.slice(0, 5).join(', ')})`);
  assert.is(twice, 0, 'no message bounced twice');
  assert.is(new Set(logged).size, logged.length, 'no message delivered twice');
  assert.ok(d.size > 0 && bounced.size > 0, `${d.size} delivered, ${bounced.size} bounced`);
});

Crash('app crash - a sender killed mid-message: its receiver frees the partial message without watching it', async () => {
  const receiver = mesh.instance('g.crash-big.1.0', { userData: 'r' });
  await next(receiver.startup$);
  let whole = 0;
  receiver.messages$.subscribe(() => whole++);
  const peer = await startPeer({ socket: up.socket, service: 'g.crash-big-src.1.0', userData: 's', mode: 'large', target: 'g.crash-big.1.0', sizeMiB: 48 });
  await until(() => receiver.stats().partialMessages > 0, 10_000, 'a message half received');
  await peer.fixture.kill();
  await until(() => receiver.stats().partialMessages === 0, 10_000, 'the partial message freed');
  assert.is(receiver.stats().partialMessages, 0);
  assert.ok(whole >= 0);
});

Crash.run();

