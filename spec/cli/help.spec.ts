/**
 * `rxmesh --help` and `rxmesh <command> --help`, run as real processes: each
 * exits 0 and lists every option its command accepts (the table the parser
 * reads), with the defaults; `rxmesh help <command>` says the same.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { COMMANDS } from '../../lib/cli/commands.js';
import { runAll, runCli } from '../helpers/cli.js';

const Help = suite('cli help');

Help('help - rxmesh --help exits 0 and names every command', async () => {
  const r = await runCli(['--help']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: rxmesh <command> \[options\]/);
  for (const name of Object.keys(COMMANDS)) assert.match(r.stdout, new RegExp(`\\n  ${name} +\\S`), `${name} listed`);
  assert.not.match(r.stdout, /unknown command/);
});

Help('help - rxmesh <command> --help exits 0 with its usage, every option it takes and their defaults', async () => {
  const names = Object.keys(COMMANDS);
  const runs = await runAll(names.map((n) => [n, '--help']));
  names.forEach((name, i) => {
    const r = runs[i]!;
    assert.is(r.code, 0, `${name}: ${r.stderr}`);
    assert.ok(r.stdout.startsWith(`usage: rxmesh ${name}`), `${name}: ${r.stdout.slice(0, 80)}`);
    for (const [opt, spec] of Object.entries(COMMANDS[name]!.options)) {
      if (spec.hidden) {
        assert.not.ok(r.stdout.includes(`--${opt} `), `${name}: --${opt} is not shown`);
        continue;
      }
      const head = `  --${opt}${spec.arg ? ` ${spec.arg}` : ''}`;
      const line = r.stdout.split('\n').findIndex((l) => l === head || l.startsWith(`${head} `));
      assert.ok(line >= 0, `${name} --help lists --${opt}`);
      const dflt = spec.default ?? spec.shownDefault;
      if (dflt !== undefined) {
        const lines = r.stdout.split('\n');
        const text = `${lines[line]} ${lines[line + 1] ?? ''}`;
        assert.ok(text.includes(`(default ${dflt})`), `${name} --${opt} shows its default ${dflt}: ${text}`);
      }
    }
  });
  // what an operator looks for, spelled out
  const ns = runs[names.indexOf('ns')]!.stdout;
  assert.match(ns, /--port PORT +.*\(default 9092\)/);
  assert.match(ns, /--log-format FORMAT +.*\(default pretty\)/);
  assert.match(runs[names.indexOf('agent')]!.stdout, /--max-instances-per-app N +.*\(default 10000\)/);
  assert.match(runs[names.indexOf('request')]!.stdout, /--timeout MS +.*\(default 5000\)/);
});

Help('help - rxmesh help <command> is <command> --help; an unknown command exits 2', async () => {
  const [viaHelp, viaFlag, unknown] = await runAll([['help', 'ls'], ['ls', '--help'], ['frobnicate']]);
  assert.is(viaHelp!.code, 0);
  assert.is(viaHelp!.stdout, viaFlag!.stdout);
  assert.is(unknown!.code, 2);
  assert.match(unknown!.stderr, /unknown command 'frobnicate'/);
});

Help.run();
