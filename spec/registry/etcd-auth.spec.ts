/**
 * EtcdRegistry against real etcd processes that check who talks to them:
 * - etcd's own auth: a `root` user, and the agent's user with the
 *   `rxmesh-agent` role (readwrite on /rxmesh/ and /rxmesh-kicks/, read on
 *   /rxmesh-games/), made with etcd3's user and role calls, then auth enabled;
 * - mutual TLS: etcd on https with --client-cert-auth, certificates from a
 *   throwaway CA made with openssl (spec/helpers/pki.ts), an `etcds://` URL.
 * Each refusal must fail open() at once with RegistryAuthError, for its own
 * reason, and no error or log line may carry a password or key.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, Range } from 'etcd3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { RegistryAuthError } from '../../lib/protocol/errors.js';
import {
  EtcdRegistry, etcdSecurityFromFiles, parseEtcdUrl, type EtcdAuth, type EtcdRegistryOptions,
} from '../../lib/registry/etcd-registry.js';
import type { InstanceRecord } from '../../lib/registry/registry.js';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { EventLog } from '../helpers/ns.js';
import { makePki, type Authority, type Issued, type Pki } from '../helpers/pki.js';

const enabled = etcdSpecsEnabled('etcd-auth.spec.ts');

const GAME = { ag: 'auth-game-key' };
const FAST = { requestTimeoutMs: 4000, callTimeoutMs: 1000, leaseTtlMs: 1000 };
const noKicks = { kicked: (): void => {} };
const secret = (): string => randomBytes(12).toString('base64url');

let registries: EtcdRegistry[] = [];
/** Every log line of every registry, checked for secrets after each test. */
const logs: string[] = [];

function registry(url: string, o: EtcdRegistryOptions): EtcdRegistry {
  const r = new EtcdRegistry(url, { ...FAST, log: (m) => logs.push(m), ...o });
  registries.push(r);
  return r;
}

async function closeRegistries(secrets: string[]): Promise<void> {
  await Promise.allSettled(registries.map((r) => r.close()));
  registries = [];
  noSecret(logs.splice(0), secrets);
}

function noSecret(texts: string[], secrets: string[]): void {
  for (const t of texts) for (const s of secrets) assert.not.ok(t.includes(s), `a secret leaked into: ${t}`);
}

/** open() must be refused with RegistryAuthError matching `why`, well before the request timeout. */
async function refused(r: EtcdRegistry, why: RegExp, secrets: string[]): Promise<void> {
  const t0 = performance.now();
  const err = await r.open({ agentId: 'refused', address: '' }, noKicks).then(() => undefined, (e: unknown) => e);
  const ms = performance.now() - t0;
  assert.instance(err, RegistryAuthError, `open() should be refused, got ${String(err)}`);
  const e = err as RegistryAuthError;
  assert.is(e.code, 'REGISTRY_AUTH');
  assert.is(e.retryable, false);
  assert.match(e.message, why);
  assert.ok(ms < FAST.requestTimeoutMs / 2, `refused at once, not retried like an outage (${Math.round(ms)} ms)`);
  noSecret([e.message, String(e.stack), String((e.cause as Error | undefined)?.message)], secrets);
}

/**
 * `holder` registers and starts an instance, `watcher` (its own agent) sees
 * it online, game proofs check out (a read of /rxmesh-games/), and the
 * holder closing takes it offline at the watcher.
 */
async function endToEnd(holder: EtcdRegistry, watcher: EtcdRegistry, userData: string): Promise<void> {
  await holder.open({ agentId: `holder-${userData}`, address: '' }, noKicks);
  await watcher.open({ agentId: `watcher-${userData}`, address: '' }, noKicks);
  const log = new EventLog();
  const watch = await watcher.watch('ag', `ag.svc.${userData}.*`, log.listener);
  assert.equal(watch.snapshot, []);
  const rec: InstanceRecord = {
    gameId: 'ag', service: `ag.svc.${userData}.1`, userData, agentId: `holder-${userData}`, address: '', localId: 1, epoch: 1, online: false,
  };
  await holder.register(rec, 'reject');
  await holder.startup(rec);
  const on = await log.next((e) => e.kind === 'online', 'the instance online at the watcher');
  assert.is(on.instance.agentId, `holder-${userData}`);
  const nonce = randomBytes(16);
  assert.is(await watcher.verifyGame('ag', nonce, gameProof(GAME.ag, nonce)), 'ok');
  assert.is(await watcher.verifyGame('ag', nonce, gameProof('not-the-key', nonce)), 'wrong_key');
  await holder.close();
  const off = await log.next((e) => e.kind === 'offline', 'the instance offline at the watcher');
  assert.is(off.kind === 'offline' && off.reason, 'closed');
}

/** A suite's setup, run by its first test; every test fails with the setup's error if it failed. */
function once<T>(setup: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= setup());
}

// --- URL and option checks (no etcd needed) ---------------------------------------

const options = suite('etcd-auth options');

options('etcd-auth options - etcds:// dials https; tls with an etcd:// URL is a TypeError naming both', () => {
  assert.equal(parseEtcdUrl('etcds://h1:2379,10.0.0.2'), ['https://h1:2379', 'https://10.0.0.2:2379']);
  assert.equal(parseEtcdUrl('etcd://h1'), ['http://h1:2379']);
  assert.is(new EtcdRegistry('etcds://h1:2379,h2:2379').url, 'etcds://h1:2379,h2:2379');
  assert.throws(() => new EtcdRegistry('etcd://h1:2379', { tls: { ca: Buffer.from('x') } }), (e: Error) =>
    e instanceof TypeError && /tls/.test(e.message) && /etcd:\/\//.test(e.message) && /etcds:\/\//.test(e.message));
  assert.throws(() => new EtcdRegistry('etcds://h1', { tls: { cert: Buffer.from('x') } }), /both cert and key/);
  assert.throws(() => new EtcdRegistry('etcd://h1', { auth: { username: 'u', password: '' } }), /username and password/);
});

options('etcd-auth options - etcdSecurityFromFiles reads PEM files and the password from a file or RXMESH_ETCD_PASSWORD', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rxmesh-sec-'));
  try {
    const at = (f: string, text: string): string => {
      writeFileSync(join(dir, f), text);
      return join(dir, f);
    };
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const passwordFile = at('pw', 's3cret pass\n');
    assert.equal(etcdSecurityFromFiles({ user: 'agent', passwordFile, env: {} }), { auth: { username: 'agent', password: 's3cret pass' } });
    assert.equal(etcdSecurityFromFiles({ user: 'agent', env: { RXMESH_ETCD_PASSWORD: 'from-env' } }).auth, { username: 'agent', password: 'from-env' });
    assert.is(etcdSecurityFromFiles({ user: 'agent', passwordFile, env: { RXMESH_ETCD_PASSWORD: 'from-env' } }).auth?.password, 's3cret pass');
    assert.equal(etcdSecurityFromFiles({ env: { RXMESH_ETCD_PASSWORD: 'from-env' } }), {}, 'no user, no auth');
    assert.throws(() => etcdSecurityFromFiles({ user: 'agent', env: {} }), /RXMESH_ETCD_PASSWORD/);
    assert.throws(() => etcdSecurityFromFiles({ user: 'agent', passwordFile: at('empty', '\n'), env: {} }), /is empty/);
    assert.throws(() => etcdSecurityFromFiles({ passwordFile, env: {} }), /without an etcd user/);
    const tls = etcdSecurityFromFiles({ caFile: at('ca', pem), certFile: at('c', pem), keyFile: at('k', pem), env: {} }).tls;
    assert.equal([tls?.ca?.toString(), tls?.cert?.toString(), tls?.key?.toString()], [pem, pem, pem]);
    assert.throws(() => etcdSecurityFromFiles({ certFile: at('c2', pem), env: {} }), /cert file and its key file/);
    assert.throws(() => etcdSecurityFromFiles({ caFile: at('der', 'MIIB'), env: {} }), (e: Error) => /not PEM/.test(e.message) && !e.message.includes('MIIB'));
    assert.throws(() => etcdSecurityFromFiles({ caFile: join(dir, 'missing'), env: {} }), /missing.*ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- etcd auth: users, roles, passwords ----------------------------------------------

const auth = suite('etcd-auth users');
const root: EtcdAuth = { username: 'root', password: secret() };
const agent: EtcdAuth = { username: 'rxmesh-agent', password: secret() };
const passwords = [root.password, agent.password];
let plain: EtcdCluster | undefined;

/** An etcd3 client (for users and roles) as `as`, or anonymous before auth is on. */
const admin = (cluster: EtcdCluster, as?: EtcdAuth): Etcd3 => new Etcd3({ hosts: cluster.hosts, ...(as ? { auth: as } : {}) });

const authEtcd = once(async () => {
  plain = await startEtcd(1);
  const c = admin(plain);
  try {
    await c.role('root').create();
    await c.user('root').create(root.password);
    await c.user('root').addRole('root');
    // the role README documents: readwrite on instances and kicks, read on game verifiers
    const role = await c.role('rxmesh-agent').create();
    await role.grant([
      { permission: 'Readwrite', range: Range.prefix('/rxmesh/') },
      { permission: 'Readwrite', range: Range.prefix('/rxmesh-kicks/') },
      { permission: 'Read', range: Range.prefix('/rxmesh-games/') },
    ]);
    await c.user(agent.username).create(agent.password);
    await c.user(agent.username).addRole('rxmesh-agent');
    await c.auth.authEnable();
  } finally {
    c.close();
  }
  await plain.setGames(GAME, root);
  return plain;
});

auth.after.each(() => closeRegistries(passwords));
auth.after(async () => {
  await plain?.close();
});

auth('etcd-auth users - the agent user registers, starts up and is watched online by another agent', async () => {
  const etcd = await authEtcd();
  await endToEnd(registry(etcd.url, { auth: agent }), registry(etcd.url, { auth: agent }), 'pw');
});

auth('etcd-auth users - a wrong password is refused at once, naming the user and not the password', async () => {
  const etcd = await authEtcd();
  const wrong = secret();
  await refused(registry(etcd.url, { auth: { username: agent.username, password: wrong } }), /refused user 'rxmesh-agent': wrong password/, [wrong, ...passwords]);
});

auth('etcd-auth users - no credentials are refused: etcd has auth enabled', async () => {
  const etcd = await authEtcd();
  await refused(registry(etcd.url, {}), /has auth enabled and no user was given/, passwords);
});

auth('etcd-auth users - a user without the role is refused; granted the role, the same user works', async () => {
  const etcd = await authEtcd();
  const bare: EtcdAuth = { username: 'rxmesh-bare', password: secret() };
  const c = admin(etcd, root);
  try {
    await c.user(bare.username).create(bare.password);
    await refused(registry(etcd.url, { auth: bare }), /denied user 'rxmesh-bare' permission/, [bare.password, ...passwords]);
    await c.user(bare.username).addRole('rxmesh-agent');
    await endToEnd(registry(etcd.url, { auth: bare }), registry(etcd.url, { auth: agent }), 'granted');
  } finally {
    await c.user(bare.username).delete().catch(() => {});
    c.close();
  }
});

auth('etcd-auth users - the agent role reaches only its prefixes: no game verifier writes, no other keys', async () => {
  const etcd = await authEtcd();
  const err = await registry(etcd.url, { auth: agent }).setGame('ag', 'hijacked').then(() => undefined, (e: unknown) => e);
  assert.instance(err, RegistryAuthError, 'an agent must not replace a game verifier');
  assert.match((err as Error).message, /denied user 'rxmesh-agent' permission/);
  await registry(etcd.url, { auth: root }).setGame('ag', GAME.ag); // root may (rxmesh games set)
  const c = admin(etcd, agent);
  try {
    const outside = await c.put('/rxmesh-other/x').value('1').then(() => 'written', (e: Error) => e.constructor.name);
    assert.is(outside, 'EtcdPermissionDeniedError');
    assert.is(await c.get('/rxmesh/ag/probe'), null, 'inside its prefix it may read');
  } finally {
    c.close();
  }
});

auth('etcd-auth users - after an etcd restart (which forgets every auth token) watches still see new instances', async () => {
  const etcd = await authEtcd();
  const holder = registry(etcd.url, { auth: agent });
  const watcher = registry(etcd.url, { auth: agent });
  await holder.open({ agentId: 'holder-restart', address: '' }, noKicks);
  await watcher.open({ agentId: 'watcher-restart', address: '' }, noKicks);
  const log = new EventLog();
  await watcher.watch('ag', 'ag.rs.*.*', log.listener);
  const rec = (userData: string, localId: number): InstanceRecord =>
    ({ gameId: 'ag', service: 'ag.rs.1.1', userData, agentId: 'holder-restart', address: '', localId, epoch: 1, online: false });
  await holder.register(rec('before', 1), 'reject');
  await holder.startup(rec('before', 1));
  await log.next((e) => e.kind === 'online' && e.instance.userData === 'before', 'the first instance online');
  await etcd.kill(etcd.members[0]!);
  await etcd.restart(etcd.members[0]!);
  await holder.register(rec('after', 2), 'reject');
  await holder.startup(rec('after', 2));
  await log.next((e) => e.kind === 'online' && e.instance.userData === 'after', 'the instance registered after the restart, online', 10_000);
});

// --- mutual TLS ----------------------------------------------------------------------

const mtls = suite('etcd-auth mtls');
let pki: Pki | undefined;
let tlsEtcd: EtcdCluster | undefined;
let ours: Authority;
let agentCert: Issued;

const tlsSetup = once(async () => {
  pki = makePki();
  ours = pki.authority('rxmesh');
  const server = ours.server('etcd');
  agentCert = ours.client('rxmesh-agent');
  tlsEtcd = await startEtcd(1, {
    tls: { certFile: server.certFile, keyFile: server.keyFile, trustedCaFile: ours.caFile, client: { ca: ours.ca, cert: agentCert.cert, key: agentCert.key } },
  });
  await tlsEtcd.setGames(GAME);
  return tlsEtcd;
});

const keys = (): string[] => [agentCert.key.toString(), 'PRIVATE KEY'];

mtls.after.each(() => closeRegistries(keys()));
mtls.after(async () => {
  await tlsEtcd?.close();
  const dir = pki?.dir;
  pki?.remove();
  if (dir) assert.not.ok(existsSync(dir), 'the certificates are removed');
});

mtls('etcd-auth mtls - etcds:// with the CA and a client certificate works end to end', async () => {
  const etcd = await tlsSetup();
  assert.match(etcd.url, /^etcds:\/\//);
  const security = etcdSecurityFromFiles({ caFile: ours.caFile, certFile: agentCert.certFile, keyFile: agentCert.keyFile, env: {} });
  await endToEnd(registry(etcd.url, security), registry(etcd.url, security), 'tls');
});

mtls('etcd-auth mtls - without a client certificate the connection is refused', async () => {
  const etcd = await tlsSetup();
  await refused(registry(etcd.url, { tls: { ca: ours.ca } }), /refused the TLS connection .*none was given/, keys());
});

mtls('etcd-auth mtls - a client certificate from another CA is refused', async () => {
  const etcd = await tlsSetup();
  const stranger = pki!.authority('stranger').client('rxmesh-agent');
  await refused(registry(etcd.url, { tls: { ca: ours.ca, cert: stranger.cert, key: stranger.key } }),
    /refused the TLS connection .*not one it trusts/, [...keys(), stranger.key.toString()]);
});

mtls('etcd-auth mtls - without a CA the default trust store is used, and it does not know this server', async () => {
  const etcd = await tlsSetup();
  await refused(registry(etcd.url, { tls: { cert: agentCert.cert, key: agentCert.key } }), /server certificate this side does not trust/, keys());
  await refused(registry(etcd.url, {}), /server certificate this side does not trust/, keys());
});

if (enabled) {
  options.run();
  auth.run();
  mtls.run();
}
