/**
 * Bounds on an agent's peer-link port before the mesh-secret handshake
 * completes (issue 10 item 5), against real `rxmesh ns` + two `rxmesh agent`s:
 * an idle flood, an oversize frame before HELLO and a drip. A real peer agent
 * still links and a message still crosses. The link port's default handshake
 * deadline is 5 s; the bounds below act well before it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../../lib/index.js';
import { startAgent, startNs, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { until } from '../../helpers/wait.js';
import { closesWithin, destroyAll, dial, drip, idle, lengthPrefix, roundTrip, stillOpen } from '../../helpers/raw-control.js';

let ns: MeshProcess;
let guarded: MeshProcess; // the agent whose link port is attacked
let peer: MeshProcess;
let here: Mesh;
let there: Mesh;

const port = (): number => Number(guarded.linkAddress.split(':').pop());

const Link = suite('link port bounds');
Link.before(async () => {
  ns = await startNs();
  guarded = await startAgent(ns.nsUrl, { id: 'guarded', links: true, args: ['--max-pending', '8'] });
  peer = await startAgent(ns.nsUrl, { id: 'peer', links: true });
  here = await guarded.connect();
  there = await peer.connect();
});
Link.after(async () => {
  await here?.close();
  await there?.close();
  await guarded?.stop();
  await peer?.stop();
  await ns?.stop();
  cleanupShm();
});

Link('link port - 40 idle connections: at most --max-pending stay open, and a peer agent still links', async () => {
  const flood = await idle(port(), 40);
  await until(() => stillOpen(flood) <= 8, 3000, `at most 8 of 40 idle connections open within 3 s (${stillOpen(flood)} are)`);
  await roundTrip(here, there, 'flood'); // the peer dials the guarded agent's link port
  destroyAll(flood);
});

Link('link port - a 1,000,000-byte frame before HELLO is refused at its length prefix', async () => {
  const conns = await Promise.all(Array.from({ length: 8 }, () => dial(port()))); // no more than --max-pending
  for (const raw of conns) {
    raw.socket.write(lengthPrefix(1_000_000));
    raw.socket.write(new Uint8Array(200_000));
  }
  await Promise.all(conns.map((raw) => closesWithin(raw, 2500, 'a connection that announced 1 MB before HELLO')));
  await roundTrip(there, here, 'prefix');
});

Link('link port - a connection that drips a byte every 100 ms is closed by --auth-ms', async () => {
  await guarded.stop();
  guarded = await startAgent(ns.nsUrl, { id: 'guarded', links: true, args: ['--auth-ms', '1000'] });
  here = await guarded.connect();
  const raw = await dial(port());
  drip(raw, lengthPrefix(4000, new Uint8Array(200)));
  const ms = await closesWithin(raw, 3000, 'the dripping connection (deadline 1 s)');
  assert.ok(ms >= 800, `closed after ${Math.round(ms)} ms: by the deadline, not at once`);
  await roundTrip(here, there, 'drip');
});

Link.run();
