/**
 * Leveled logs. `rxmesh up --log-format json --log-level warn` writes only
 * JSON lines at warn or above on stderr: a refused app (wrong game key) is
 * one warn record with its fields, the lifecycle lines (lease taken,
 * serving, stopping) are info and absent; at the default level they are
 * there. Pretty lines are `<ISO time> <LEVEL> [<component>] <msg>`. An app's
 * connect() takes a Logger (here a pino child through objectFirst, and a
 * console-shaped collector; a bare pino child fits too, fields dropped) and
 * reports the lost agent as a warning.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, objectFirst, type Logger, type LogFields } from '../../lib/index.js';
import { GAME, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { refusal, until } from '../helpers/wait.js';

const Logs = suite('logs');
const procs: MeshProcess[] = [];

Logs.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  cleanupShm();
});

interface Record {
  level: number;
  msg: string;
  component?: string;
  [field: string]: unknown;
}

const WARN = 40;

/** Every stderr line as JSON (fails on one that is not). */
function records(stderr: string): Record[] {
  return stderr.split('\n').filter((l) => l.length > 0).map((l) => {
    try {
      return JSON.parse(l) as Record;
    } catch {
      throw new assert.Assertion({ message: `not a JSON line: ${l}`, generated: false, operator: 'json', expects: 'JSON', actual: l });
    }
  });
}

/** Connect with a wrong key (refused), so the agent logs a warning. */
async function refusedApp(up: MeshProcess): Promise<void> {
  const err = await refusal(connect({ gameId: GAME, password: 'not-the-key', agent: up.socket, reconnect: false }));
  assert.is(err.code, 'AUTH');
  await until(() => up.fixture.stderr.includes('authentication failed'), 5000, 'the refusal logged');
}

Logs('logs - --log-format json --log-level warn: only JSON records at warn or above; the refusal is there, info lines are not', async () => {
  const up = await startUp({ args: ['--log-format', 'json', '--log-level', 'warn'] });
  procs.push(up);
  await refusedApp(up);
  await up.stop(); // SIGTERM: "stopping"/"stopped" are info
  const all = records(up.fixture.stderr);
  for (const r of all) assert.ok(r.level >= WARN, `level ${r.level}: ${r.msg}`);
  const refused = all.find((r) => r.msg.includes(`authentication failed for game '${GAME}'`));
  assert.ok(refused, up.fixture.stderr);
  assert.is(refused!.level, WARN);
  assert.is(refused!.component, 'agent');
  assert.is(refused!['gameId'], GAME);
  assert.type(refused!['time'], 'number');
  assert.not.ok(up.fixture.stderr.includes('took a new lease'), 'the lease line is info');
  assert.not.ok(up.fixture.stderr.includes('stopping'), 'stopping is info');
});

Logs('logs - --log-format json at the default level: the same run has its info lines (lease, serving, stopping)', async () => {
  const up = await startUp({ args: ['--log-format', 'json'] });
  procs.push(up);
  await refusedApp(up);
  await up.stop();
  const all = records(up.fixture.stderr);
  const info = all.filter((r) => r.level === 30).map((r) => r.msg);
  assert.ok(info.some((m) => m.includes('took a new lease')), info.join('\n'));
  assert.ok(info.some((m) => m.startsWith(`agent '${up.agentId}'`) && m.includes('serving')), info.join('\n'));
  assert.ok(info.includes('stopped'), info.join('\n'));
  assert.ok(all.some((r) => r.level === WARN && r.msg.includes('authentication failed')));
});

Logs('logs - pretty (the default): one readable line per record, `<ISO time> <LEVEL> [<component>] <msg>`', async () => {
  const up = await startUp();
  procs.push(up);
  await refusedApp(up);
  const lines = up.fixture.stderr.split('\n').slice(0, -1); // complete lines only: the process is still running
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \[[a-z]+\] \S/);
  assert.ok(lines.some((l) => / WARN  \[agent\] client \d+: authentication failed for game 'g' \(wrong_key\)$/.test(l)), up.fixture.stderr);
});

Logs('logs - connect({ log }) takes a pino child (objectFirst keeps the fields) or a console-shaped logger; a lost agent is a warning', async () => {
  const up = await startUp();
  procs.push(up);
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => { lines.push(chunk.toString()); done(); } });
  const viaPino = await connect({ gameId: GAME, password: 'g-key', agent: up.socket, reconnect: false, log: objectFirst(pino({ level: 'debug' }, sink).child({ app: 'spec' })) });
  const seen: { level: string; msg: string; fields?: LogFields }[] = [];
  const collect = (level: string) => (msg: string, fields?: LogFields): void => void seen.push({ level, msg, ...(fields ? { fields } : {}) });
  const consoleShaped: Logger = { error: collect('error'), warn: collect('warn'), info: collect('info'), debug: collect('debug') };
  const viaObject = await connect({ gameId: GAME, password: 'g-key', agent: up.socket, reconnect: false, log: consoleShaped });
  // a pino child as it is fits the type too: it keeps the message and drops the fields (pino reads them as format arguments)
  const plain: string[] = [];
  const plainSink = new Writable({ write: (chunk: Buffer, _enc, done) => { plain.push(chunk.toString()); done(); } });
  const viaPlainPino = await connect({ gameId: GAME, password: 'g-key', agent: up.socket, reconnect: false, log: pino(plainSink).child({ app: 'plain' }) });
  await up.kill();
  await until(() => seen.some((s) => s.level === 'warn') && lines.some((l) => l.includes('"level":40')) && plain.length > 0, 5000, 'all three to log the lost agent');
  const bare = JSON.parse(plain[0]!) as Record;
  assert.is(bare.level, WARN);
  assert.match(bare.msg, /lost the agent connection/);
  assert.is(bare['socket'], undefined);
  const lost = seen.find((s) => s.level === 'warn')!;
  assert.match(lost.msg, /lost the agent connection/);
  assert.is(lost.fields?.['socket'], up.socket);
  const rec = JSON.parse(lines.find((l) => l.includes('"level":40'))!) as Record;
  assert.match(rec.msg, /lost the agent connection/);
  assert.is(rec['socket'], up.socket, 'objectFirst kept the fields');
  assert.is(rec['app'], 'spec', 'the child binding is kept');
  assert.ok(lines.some((l) => l.includes('"level":20') && l.includes('connected to agent')), 'debug: connected');
  await Promise.all([viaPino.close(), viaObject.close(), viaPlainPino.close()]);
});

Logs.run();
