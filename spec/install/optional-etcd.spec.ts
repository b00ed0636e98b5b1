/**
 * etcd3 is an optional peer dependency (DESIGN-NOTES "Containers and
 * installs"): a consumer's plain install of the packed tarball has neither
 * etcd3 nor cockatiel, and an app still round-trips through `rxmesh up`. An
 * etcd registry asked for without them fails at once with NotInstalledError
 * (code NOT_INSTALLED) saying what to install, as one line, no stack trace.
 * Once the consumer runs `npm install etcd3`, the installed `rxmesh agent`
 * serves on a real etcd.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { cleanEnv, copyOfInstalled, installedPackage, roundTrip, run, type Installed } from '../helpers/packed.js';
import { repoRoot, startCommand, type Fixture } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const Optional = suite('etcd3 is optional');
let installed: Installed;
let etcd: EtcdCluster | undefined;
const fixtures: Fixture[] = [];

Optional.before(async () => {
  installed = await installedPackage();
});
Optional.after(async () => {
  for (const f of fixtures) await f.kill();
  await etcd?.close();
  cleanupShm();
});

const rxmesh = (project: string, args: string[]) => run(process.execPath, [join(project, 'node_modules/rxmesh/bin/rxmesh.js'), ...args], { cwd: project, timeoutMs: 30_000 });

Optional('optional etcd3 - a plain install has neither etcd3 nor cockatiel nor gRPC, and an app round-trips through rxmesh up', async () => {
  const modules = join(installed.project, 'node_modules');
  for (const pkg of ['etcd3', 'cockatiel', '@grpc']) assert.not.ok(existsSync(join(modules, pkg)), `${pkg} was installed`);
  const r = await roundTrip(installed.project, tempShmDir());
  assert.is(r.code, 0, `round trip failed: ${r.stderr}\n${r.stdout}`);
  assert.equal(r.result!.value, { hello: 'from the installed package' });
});

Optional('optional etcd3 - without it, rxmesh agent and games set on etcd:// stop at once with one line naming npm install etcd3', async () => {
  const shmDir = tempShmDir();
  for (const args of [['agent', '--registry', 'etcd://127.0.0.1:1', '--shm-dir', shmDir], ['games', 'set', 'g', '--registry', 'etcd://127.0.0.1:1', '--key', 'k']]) {
    const r = await rxmesh(installed.project, args);
    assert.is(r.code, 1, `${args[0]}: exit ${r.code ?? r.signal}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^rxmesh ${args[0]}: an etcd registry needs the package '(etcd3|cockatiel)', which is not installed.*npm install etcd3 cockatiel`), r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line, no stack trace: ${r.stderr}`);
  }
  assert.equal(readdirSync(shmDir), [], 'the agent made nothing in its shm dir');

  // the error as a program sees it
  writeFileSync(join(installed.project, 'load-etcd.mjs'), `
    import { MeshError } from 'rxmesh';
    const load = await import(new URL('./node_modules/rxmesh/dist/registry/etcd-load.js', import.meta.url));
    try { await load.loadEtcdBackend(); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ mesh: e instanceof MeshError, name: e.name, code: e.code, retryable: e.retryable, cause: e.cause?.code })); }
  `);
  const p = await run(process.execPath, ['load-etcd.mjs'], { cwd: installed.project });
  assert.equal(JSON.parse(p.stdout), { mesh: true, name: 'NotInstalledError', code: 'NOT_INSTALLED', retryable: false, cause: 'ERR_MODULE_NOT_FOUND' }, p.stderr);
});

Optional('optional etcd3 - after npm install etcd3 next to it, the installed rxmesh agent serves on a real etcd', async () => {
  if (!etcdSpecsEnabled('optional-etcd.spec.ts (its last test)')) return;
  const copy = await copyOfInstalled();
  const range = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies;
  const add = await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', `etcd3@${range['etcd3']}`], { cwd: copy.project, timeoutMs: 300_000 });
  assert.is(add.code, 0, add.stderr);
  assert.ok(existsSync(join(copy.project, 'node_modules/cockatiel')), 'etcd3 brings cockatiel');
  etcd = await startEtcd(1);
  const shmDir = tempShmDir();
  const agent = startCommand(process.execPath, [join(copy.pkg, 'bin/rxmesh.js'), 'agent', '--registry', etcd.url, '--shm-dir', shmDir, '--id', 'optional-etcd', '--exit-with-parent'], { cwd: copy.project, env: cleanEnv() });
  fixtures.push(agent);
  await agent.waitFor('"ready"');
  assert.ok(existsSync(join(shmDir, 'agent.sock')), 'the agent serves its control socket');
  agent.child.kill('SIGTERM');
  assert.is((await agent.exited).code, 0, agent.stderr);
});

Optional.run();
