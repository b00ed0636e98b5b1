/**
 * TLS 1.3 with mutual authentication on the name-server port and the links
 * (--tls-ca/--tls-cert/--tls-key on `rxmesh up` and `rxmesh agent`), on
 * loopback with real processes and a throwaway CA: apps on two agents talk
 * across a TLS link; what has no certificate of the mesh CA (a plain TCP
 * client, a client of another CA, an agent without TLS) is refused before it
 * can say anything; and a certificate alone is not enough: the mesh secret is
 * still proved inside TLS.
 */
import { connect as tlsConnect } from 'node:tls';
import { createConnection } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeValue } from '../../lib/protocol/cbor.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { startAgent, startUp, type MeshProcess } from '../helpers/mesh.js';
import { makePki, type Authority, type Issued } from '../helpers/pki.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const pki = makePki();
let mesh: Authority;
let other: Authority;
const procs: MeshProcess[] = [];

const flags = (ca: Authority, who: Issued): string[] => ['--tls-ca', ca.caFile, '--tls-cert', who.certFile, '--tls-key', who.keyFile];
const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

/** What a client gets from `port` after sending a CHALLENGE: 'answered', 'closed' or 'error: ...'. */
function probe(port: number, tls: { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined): Promise<string> {
  return new Promise((resolve) => {
    const s = tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}), checkServerIdentity: () => undefined })
      : createConnection({ host: '127.0.0.1', port });
    let got = '';
    const done = (what: string): void => {
      got ||= what;
      s.destroy();
      resolve(got);
    };
    s.on('data', () => done('answered'));
    s.on('error', (err) => done(`error: ${err.message}`));
    s.on('close', () => done('closed'));
    s.on(tls ? 'secureConnect' : 'connect', () => s.write(encodeFrame(NsMessage.CHALLENGE, 1, encodeValue(versionFields(NS_PROTOCOL)))));
    setTimeout(() => done('timeout'), 5000).unref();
  });
}

const Tls = suite('tls');
Tls.before(() => {
  mesh = pki.authority('mesh');
  other = pki.authority('other');
});
Tls.after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  pki.remove();
  cleanupShm();
});

Tls('tls - two agents on a TLS name-server port and TLS links: a request crosses; the link is up over TLS', async () => {
  const up = await startUp({ links: true, args: flags(mesh, mesh.member('agent-1')) });
  procs.push(up);
  const a2 = await startAgent(up.nsUrl, { id: 'tls-agent-2', links: true, args: flags(mesh, mesh.member('agent-2')) });
  procs.push(a2);
  const far = (await a2.connect()).instance('g.tlsfar.1.0', { userData: 'f' });
  await next(far.startup$);
  far.messages$.subscribe((m) => m.reply(m.data));
  const near = (await up.connect()).instance('g.tlsnear.1.0', { userData: 'n', watch: ['g.tlsfar.1.0'] });
  await next(near.startup$);
  await next(near.members$('g.tlsfar.1.0'), (l) => l.length > 0);
  const answer = await near.request('g.tlsfar.1.0', new TextEncoder().encode('over tls'), { timeoutMs: 5000 });
  assert.is(new TextDecoder().decode(answer.data), 'over tls');
  const link = (await up.status()).links!.out.find((l) => l.peer === 'tls-agent-2');
  assert.is(link?.state, 'up');

  // the name-server port and the link port take nobody without a certificate of the mesh CA
  const nsPort = up.ready.ns!.port;
  const linkPort = portOf(a2.linkAddress);
  for (const port of [nsPort, linkPort]) {
    assert.is.not(await probe(port, undefined), 'answered', `plain TCP to ${port}`);
    assert.match(await probe(port, { ca: mesh.ca }), /closed|error/, `TLS without a client certificate to ${port}`);
    const stranger = other.member('stranger');
    assert.match(await probe(port, { ca: mesh.ca, cert: stranger.cert, key: stranger.key }), /closed|error/, `a certificate of another CA to ${port}`);
  }
  const member = mesh.member('probe');
  assert.is(await probe(nsPort, { ca: mesh.ca, cert: member.cert, key: member.key }), 'answered', 'a member of the mesh CA is answered');
  await until(() => /TLS handshake failed/.test(up.fixture.stderr), 5000, 'refused TLS handshakes logged');
});

Tls('tls - an agent without TLS, or with a certificate of another CA, cannot join; one with the right certificate but another mesh secret cannot either', async () => {
  const up = await startUp({ links: true, args: flags(mesh, mesh.member('agent-3')) });
  procs.push(up);
  const refused = async (opts: Parameters<typeof startAgent>[1]): Promise<string> => {
    try {
      procs.push(await startAgent(up.nsUrl, { links: true, ...opts }));
      return 'joined';
    } catch (err) {
      return String(err);
    }
  };
  assert.match(await refused({ id: 'plain-agent' }), /cannot connect|connection closed|timed out|REGISTRY_UNAVAILABLE|unavailable/i);
  assert.match(await refused({ id: 'stranger-agent', args: flags(other, other.member('stranger-agent')) }), /cannot connect|closed|timed out|unavailable|certificate/i);
  assert.match(await refused({ id: 'secretless-agent', secret: 'another-secret', args: flags(mesh, mesh.member('secretless')) }), /agent authentication failed: wrong mesh secret/);
});

Tls.run();
