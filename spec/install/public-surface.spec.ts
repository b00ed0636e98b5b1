/**
 * The public surface (issue 14): an app compiled against the main entry
 * (`rxmesh`) sees types, factories, operators and errors, and none of the
 * internals of Mesh and Instance; a host program compiles against
 * `rxmesh/server`. The real compiler on three small programs: app.ts and
 * host.ts must compile; every line of internal.ts marked `// @error TSxxxx`
 * must fail with that code, and no other line may.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from '../helpers/process.js';

const FIXTURES = join(repoRoot, 'spec/install/fixtures/surface');
const Surface = suite('public surface');
let dir = '';

Surface.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rxmesh-surface-'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  for (const f of ['app.ts', 'host.ts', 'internal.ts']) copyFileSync(join(FIXTURES, f), join(dir, f));
});
Surface.after(() => rmSync(dir, { recursive: true, force: true }));

/** tsc on `files` with the repo's strict options, `rxmesh` and `rxmesh/server` mapped to the two entries. */
async function compile(files: string[]): Promise<string[]> {
  const config = {
    compilerOptions: {
      target: 'ES2022', lib: ['ES2022', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
      noEmit: true, skipLibCheck: true, types: ['node'],
      paths: { rxmesh: [join(repoRoot, 'lib/index.ts')], 'rxmesh/server': [join(repoRoot, 'lib/server.ts')] },
    },
    files,
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const out = await promisify(execFile)(process.execPath, [tsc, '-p', dir], { cwd: dir }).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
  return out.split('\n').filter((l) => /error TS\d+/.test(l));
}

Surface('public surface - an app on the main entry and a host program on rxmesh/server compile', async () => {
  const errors = await compile(['app.ts', 'host.ts']);
  assert.equal(errors, []);
});

Surface('public surface - internals of Mesh and Instance, the agent, ring classes and strategy classes are out of the main entry', async () => {
  const errors = await compile(['internal.ts']);
  const lines = readFileSync(join(dir, 'internal.ts'), 'utf8').split('\n');
  const expected = new Map<number, string>();
  lines.forEach((l, i) => {
    const m = /\/\/ @error (TS\d+)/.exec(l);
    if (m) expected.set(i + 1, m[1]!);
  });
  assert.ok(expected.size >= 10);
  const got = new Map<number, string[]>();
  for (const e of errors) {
    const m = /internal\.ts\((\d+),\d+\): error (TS\d+)/.exec(e);
    assert.ok(m, `an error outside internal.ts: ${e}`);
    got.set(Number(m[1]), [...(got.get(Number(m[1])) ?? []), m[2]!]);
  }
  for (const [line, code] of expected) assert.ok(got.get(line)?.includes(code), `line ${line} (${lines[line - 1]!.trim()}) fails with ${code}; got ${got.get(line) ?? 'none'}`);
  for (const line of got.keys()) assert.ok(expected.has(line), `line ${line} (${lines[line - 1]!.trim()}) fails unexpectedly: ${errors.join('\n')}`);
});

Surface.run();
