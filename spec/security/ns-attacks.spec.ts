/**
 * The name server's port against an attacker on the network who does not
 * know the mesh secret (issue 11, item 1), on loopback against a real name
 * server and a real NsRegistry agent holding a victim instance. Each case is
 * one attack that worked before agents authenticated: reading every game's
 * instances, kicking an instance by registering over it, hijacking a lease,
 * and guessing game keys through VERIFY_GAME at thousands a second. A fresh
 * name server per case: the failed-auth limit is per address, and every
 * attacker here is 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { AuthError, LimitError, MeshError, ProtocolError } from '../../lib/protocol/errors.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { NsRegistry } from '../../lib/registry/ns-registry.js';
import type { InstanceRecord } from '../../lib/registry/registry.js';
import { refusal, sleep, waitFor } from '../helpers/wait.js';
import { authenticate, helloBody, NS_SECRET, rawAgent, rawClient, startNsInProcess, type NsHandle } from '../helpers/ns.js';

const GAMES = { g: 'game-key-g', h: 'game-key-h' };
const VICTIM = { gameId: 'g', service: 'g.victim.1.0', userData: 'v' };

interface Scene {
  ns: NsHandle;
  victim: NsRegistry;
  kicks: unknown[];
  record: InstanceRecord;
  close(): Promise<void>;
}

/** A name server and a victim agent whose instance g.victim.1.0/v is online. */
async function scene(): Promise<Scene> {
  const ns = await startNsInProcess({ games: GAMES, leaseTtlMs: 2000 });
  const victim = new NsRegistry(ns.url, { secret: NS_SECRET, requestTimeoutMs: 3000 });
  const kicks: unknown[] = [];
  await victim.open({ agentId: 'victim-agent', address: '10.0.0.2:7000' }, { kicked: (i) => kicks.push(i) });
  const record: InstanceRecord = { ...VICTIM, agentId: 'victim-agent', address: '10.0.0.2:7000', localId: 1, epoch: 1, online: false };
  await victim.register(record, 'reject');
  await victim.startup(VICTIM);
  return { ns, victim, kicks, record, close: async () => { await victim.close(); await ns.close(); } };
}

/** The victim's instance is still online (a fresh watch by its own agent sees it), and it was never kicked. */
async function victimOnline(s: Scene): Promise<void> {
  const w = await s.victim.watch('g', 'g.victim.*.*', () => {});
  assert.equal(w.snapshot.map((r) => [r.agentId, r.address, r.online]), [['victim-agent', '10.0.0.2:7000', true]]);
  await w.close();
  assert.equal(s.kicks, [], 'the victim agent was never told it lost its instance');
}

const Attacks = suite('name server attacks');

Attacks('ns attack - an unauthenticated WATCH g.*.*.* learns nothing: refused and the connection closed', async () => {
  const s = await scene();
  try {
    const { conn } = await rawClient(s.ns.ns.port);
    const err = await refusal(conn.request(NsMessage.WATCH, { gameId: 'g', pattern: 'g.*.*.*' }));
    assert.instance(err, ProtocolError);
    assert.not.ok(JSON.stringify(err).includes('victim'), 'nothing of the instance in the refusal');
    await waitFor(() => conn.closed, 'the connection to close');
    await victimOnline(s);
  } finally {
    await s.close();
  }
});

Attacks('ns attack - REGISTER replace under an invented or the victim\'s agent id: HELLO without the secret is refused, so nothing is registered and nobody is kicked', async () => {
  const s = await scene();
  try {
    for (const agentId of ['invented-agent', 'victim-agent']) {
      const { conn } = await rawClient(s.ns.ns.port);
      const err = await refusal(authenticate(conn, agentId, '10.0.0.66:7000', {}, 'guessed-secret'));
      assert.instance(err, AuthError, agentId);
      await waitFor(() => conn.closed, 'the refused connection to close');
      const { conn: bare } = await rawClient(s.ns.ns.port);
      const take = { ...s.record, agentId, address: '10.0.0.66:7000' };
      const reg = await refusal(bare.request(NsMessage.REGISTER, { instance: take, conflict: 'replace' }));
      assert.instance(reg, ProtocolError, `REGISTER without a lease (${agentId})`);
    }
    await victimOnline(s);
    assert.ok(s.ns.logs.some((l) => l.includes('agent authentication failed')), 'the failures are logged');
  } finally {
    await s.close();
  }
});

Attacks('ns attack - a sniffed lease id is worth nothing: resuming it, or heartbeating it, needs the holder\'s proof', async () => {
  const s = await scene();
  try {
    const holder = await rawAgent(s.ns.ns.port, 'lease-holder', '10.0.0.3:7000');
    const leaseId = holder.hello.leaseId;
    const { conn } = await rawClient(s.ns.ns.port);
    const { nonce } = await conn.request<{ nonce: Uint8Array }>(NsMessage.CHALLENGE, versionFields(NS_PROTOCOL));
    const forged = { ...helloBody(nonce, 'lease-holder', '10.0.0.3:7000', { leaseId }, 'guessed-secret') };
    assert.instance(await refusal(conn.request(NsMessage.HELLO, forged)), AuthError);
    const other = await rawAgent(s.ns.ns.port, 'other-agent', '');
    assert.instance(await refusal(other.conn.request(NsMessage.HEARTBEAT, { leaseId })), ProtocolError);
    await holder.conn.request(NsMessage.HEARTBEAT, { leaseId }); // the holder keeps it
    holder.conn.close();
  } finally {
    await s.close();
  }
});

Attacks('ns attack - VERIFY_GAME is no oracle: refused unauthenticated; an agent passing on wrong keys is limited per game after 100, then about 5 a second', async () => {
  const s = await scene();
  try {
    const { conn } = await rawClient(s.ns.ns.port);
    const nonce = randomBytes(32);
    assert.instance(await refusal(conn.request(NsMessage.VERIFY_GAME, { gameId: 'g', nonce, proof: randomBytes(32) })), ProtocolError);
    for (let i = 0; i < 50; i++) { // a flood of them costs the log one line (and a sum later), not fifty
      const c = await rawClient(s.ns.ns.port);
      await refusal(c.conn.request(NsMessage.VERIFY_GAME, { gameId: 'g', nonce, proof: randomBytes(32) }));
      await waitFor(() => c.conn.closed, 'the refused connection to close');
    }
    const lines = s.ns.logs.filter((l) => l.includes('HELLO first')).length;
    assert.ok(lines >= 1 && lines <= 2, `${lines} log lines for 51 refused connections`);

    const agent = await rawAgent(s.ns.ns.port, 'guessing-agent', '');
    const guess = (game: string, key: string): Promise<{ ok: boolean }> => {
      const n = randomBytes(32);
      return agent.conn.request<{ ok: boolean }>(NsMessage.VERIFY_GAME, { gameId: game, nonce: n, proof: gameProof(key, n) });
    };
    const t0 = performance.now();
    let answered = 0;
    let limited: MeshError | undefined;
    for (let i = 0; i < 1000 && !limited; i++) {
      try {
        assert.is((await guess('g', `guess-${i}`)).ok, false);
        answered++;
      } catch (err) {
        limited = err as MeshError;
      }
    }
    assert.instance(limited, LimitError, 'wrong keys are cut off');
    assert.ok(answered >= 100 && answered <= 110, `${answered} wrong keys answered before the limit`);
    const limitedAt = performance.now();
    assert.instance(await refusal(guess('g', GAMES.g)), LimitError, 'while limited even the right key gets no answer (no oracle)');
    assert.is((await guess('h', GAMES.h)).ok, true, 'another game is not affected');
    const honest = await rawAgent(s.ns.ns.port, 'honest-agent', '');
    const n = randomBytes(32);
    assert.equal(await honest.conn.request(NsMessage.VERIFY_GAME, { gameId: 'g', nonce: n, proof: gameProof(GAMES.g, n) }), { ok: true, known: true }, 'another agent is not affected');
    assert.ok(s.ns.logs.some((l) => l.includes("too many wrong keys for game 'g'")), 'the limit is logged');
    // then it earns about 5 a second back
    await sleep(1100 - (performance.now() - limitedAt));
    let more = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await guess('g', `later-${i}`);
        more++;
      } catch {
        break;
      }
    }
    assert.ok(more >= 4 && more <= 7, `${more} guesses a second later`);
    const rate = answered / ((limitedAt - t0) / 1000);
    process.stderr.write(`  (VERIFY_GAME: ${answered} wrong keys at ${Math.round(rate)}/s, then limited; ${more} more after ~1 s)\n`);
    agent.conn.close();
    honest.conn.close();
    conn.close();
  } finally {
    await s.close();
  }
});

Attacks('ns attack - guessing the mesh secret: 10 failures from one address, then that address is refused LIMIT before any proof is checked, and it is logged', async () => {
  const s = await scene();
  try {
    const errors: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { conn } = await rawClient(s.ns.ns.port);
      const err = await refusal(authenticate(conn, 'guesser', '', {}, `secret-guess-${i}`));
      errors.push(err.code);
      conn.close();
    }
    assert.equal(errors, [...Array(10).fill('AUTH'), 'LIMIT', 'LIMIT']);
    assert.ok(s.ns.logs.some((l) => l.includes('too many failed agent authentications')), 'the limit is logged');
    // the victim's live connection is not affected (its lease keeps beating)
    await sleep(500);
    assert.ok(s.victim.connected, 'the victim agent stayed connected');
    await victimOnline(s);
  } finally {
    await s.close();
  }
});

Attacks('ns attack - a name server without the secret is not believed: the agent refuses its answer (AUTH) and registers nothing there', async () => {
  const fake = await startNsInProcess({ games: GAMES, secret: 'another-mesh' });
  try {
    const agent = new NsRegistry(fake.url, { secret: NS_SECRET, requestTimeoutMs: 2000 });
    const err = await refusal(agent.open({ agentId: 'careful-agent', address: '' }, { kicked: () => {} }));
    assert.instance(err, AuthError);
    await agent.close();
  } finally {
    await fake.close();
  }
});

Attacks.run();
