/**
 * `npm start`: the whole thing on one machine. Starts `rxmesh up` (name
 * server + agent, demo game 'demo') in a private shm dir, runs the ping-pong
 * pair against it, prints the result, and shuts everything down: no stray
 * processes, nothing left in /dev/shm.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const shmDir = mkdtempSync('/dev/shm/rxmesh-demo-');
const children = new Set<ChildProcess>();

function run(args: string[], onLine?: (line: string) => void): { child: ChildProcess; done: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      onLine?.(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const done = new Promise<number>((resolve) => child.once('close', (code) => { children.delete(child); resolve(code ?? 1); }));
  return { child, done };
}

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  rmSync(shmDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.once('SIGINT', () => process.exit(130));

let socket = '';
const ready = new Promise<void>((resolve) => {
  const up = run(['lib/cli/main.ts', 'up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--exit-with-parent'], (line) => {
    if (!line.includes('"ready"')) return;
    socket = (JSON.parse(line) as { ready: { agent: { socket: string } } }).ready.agent.socket;
    resolve();
  });
  void up.done.then((code) => { if (!socket) { console.error(`rxmesh up exited (${code})`); process.exit(1); } });
});
await ready;
console.log(`rxmesh up: name server + agent serving ${socket}`);

const print = (line: string) => console.log(line);
const pong = run(['samples/pingpong.ts', '--agent', socket], print);
const ping = run(['samples/pingpong.ts', '--is_ping', '--agent', socket], print);
const codes = await Promise.all([ping.done, pong.done]);

const up = [...children][0];
up?.kill('SIGTERM');
await new Promise((r) => (up ? up.once('close', r) : r(null)));
cleanup();
console.log(codes.every((c) => c === 0) ? 'demo: done, everything shut down' : `demo: failed (exit codes ${codes.join(', ')})`);
process.exitCode = codes.every((c) => c === 0) ? 0 : 1;
