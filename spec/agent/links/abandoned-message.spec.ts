/**
 * A peer that starts a whole-size message and then starts another without
 * ending the first (no agent does this: a source ends an unfinished message
 * with ABORT first). The first message's fragments, gathered by the
 * receiving agent, must still be settled towards the peer (refused, or in
 * doubt if the refusal cannot reach it), never held for ever.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../../lib/index.js';
import { Frag, recordType } from '../../../lib/native/index.js';
import { RecordKind } from '../../../lib/protocol/envelope.js';
import { FakePeer } from '../../fuzz/fake-peer.js';
import { MESH_SECRET, startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, until } from '../../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;

const Abandoned = suite('links abandoned message');
Abandoned.before(async () => {
  up = await startUp({ links: true });
  mesh = await up.connect();
});
Abandoned.after(async () => {
  await mesh?.close();
  await up?.stop();
  cleanupShm();
});

Abandoned('links - a gathered message its source never ended is settled, not held for ever', async () => {
  const dest = mesh.instance('g.abandon.1.0', { userData: 'd' });
  const ref = await next(dest.startup$);
  dest.messages$.subscribe(() => {});
  const port = Number(up.linkAddress.slice(up.linkAddress.lastIndexOf(':') + 1));
  const peer = await FakePeer.connect(port, MESH_SECRET, 'abandon-peer');
  try {
    peer.announce(1, 'g');
    const begin = recordType(RecordKind.DATA, Frag.BEGIN);
    peer.send(begin, 1, ref.localId, new Uint8Array(100), 0, 0, 1000); // never ended
    peer.send(begin, 1, ref.localId, new Uint8Array(100), 0, 0, 200); // a new message from the same source
    const end = peer.send(recordType(RecordKind.DATA, Frag.END), 1, ref.localId, new Uint8Array(100), 0, 0, 200);
    await until(() => peer.acked >= end, 5000, 'the frames taken');
    // the first message goes back to the peer (a refusal on the agent's own link to it), not held for ever
    const refused = async (): Promise<number> => (await up.status()).links!.in.find((l) => l.peer === 'abandon-peer')?.refused ?? 0;
    let n = 0;
    for (let i = 0; i < 50 && (n = await refused()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.is(n, 1, 'the unfinished message was refused to its peer');
  } finally {
    peer.close();
  }
});

Abandoned.run();
