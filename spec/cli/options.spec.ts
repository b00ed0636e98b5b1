/**
 * Numeric and choice options are checked before anything starts: a value
 * that is not a whole number, out of range or not one of the choices exits
 * with code 2 and a message naming the option (never NaN, never a server
 * that started with it). Real `rxmesh` processes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runAll } from '../helpers/cli.js';

const Options = suite('cli options');

const BAD: [string[], string][] = [
  [['ns', '--port', 'abc'], '--port'],
  [['ns', '--port', '70000'], '--port'],
  [['up', '--http-port=-1'], '--http-port'],
  [['ns', '--lease-ttl', '1e3'], '--lease-ttl'],
  [['ns', '--lease-ttl', '0'], '--lease-ttl'],
  [['agent', '--full-ms', '2.5'], '--full-ms'],
  [['agent', '--max-conns', '0'], '--max-conns'],
  [['agent', '--max-instances-per-app', '-3'], '--max-instances-per-app'],
  [['up', '--ring-bytes', '3000'], '--ring-bytes'],
  [['agent', '--log-level', 'loud'], '--log-level'],
  [['ns', '--log-format', 'xml'], '--log-format'],
  [['request', 'g.echo.1.0', '1', '--timeout', 'soon'], '--timeout'],
  [['ns', '--no-such-option'], '--no-such-option'],
];

Options('options - a bad number or choice exits 2 naming the option; nothing starts', async () => {
  const runs = await runAll(BAD.map(([args]) => args));
  BAD.forEach(([args, option], i) => {
    const r = runs[i]!;
    const what = `rxmesh ${args.join(' ')}`;
    assert.is(r.code, 2, `${what}: exit ${r.code} ${r.stderr}`);
    assert.ok(r.stderr.includes(option), `${what}: names ${option}: ${r.stderr}`);
    assert.not.ok(/NaN/.test(r.stderr), `${what}: ${r.stderr}`);
    assert.not.ok(r.stdout.includes('"ready"'), `${what} did not start`);
  });
});

Options('options - the edge of a range is accepted: --port 0 parses, --port 65536 does not', async () => {
  // the accepted one then fails for a reason that is no usage error (its games file does not exist): exit 1
  const [top, zero] = await runAll([['ns', '--port', '65536'], ['ns', '--port', '0', '--http-port', '0', '--games', '/nonexistent/games.json']], 2);
  assert.is(top!.code, 2);
  assert.is(zero!.code, 1, zero!.stderr);
  assert.not.ok(zero!.stderr.includes('--port'), zero!.stderr);
});

Options.run();
