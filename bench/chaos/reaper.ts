/**
 * Reaper: a small detached process that cleans up after the harness when
 * the harness cannot: `npx tsx` answers Ctrl-C by SIGKILLing its child if
 * the child's event loop does not acknowledge the signal within ~60 ms, and
 * nothing runs in a SIGKILLed process. The harness tells the reaper, line by
 * line on a pipe, every pid it starts and every path it creates (and which
 * ones it already cleaned up). When the pipe closes, however the harness
 * died, the reaper SIGKILLs the pids still listed and removes the paths.
 *
 * It runs in its own session (no terminal SIGINT reaches it), and kills a pid
 * only if /proc/<pid>/cmdline still contains MARKER, so a reused pid is never hit.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
const fs = require('node:fs');
const marker = process.argv[1];
const pids = new Set(), paths = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (s) => {
  buf += s;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const op = line.slice(0, 2), arg = line.slice(3);
    if (op === '+p') pids.add(arg); else if (op === '-p') pids.delete(arg);
    else if (op === '+d') paths.add(arg); else if (op === '-d') paths.delete(arg);
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) {
    try {
      if (fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes(marker)) process.kill(Number(pid), 'SIGKILL');
    } catch {}
  }
  for (const p of paths) try { fs.rmSync(p, { recursive: true, force: true }); } catch {}
  process.exit(0);
});
`;

/** In the command line of every process of a chaos run (its shm dir or temp dir names it). */
export const MARKER = 'rxmesh-chaos-';

let reaper: ChildProcess | undefined;

function tell(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, ['-e', SCRIPT, MARKER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    reaper.stdin!.on('error', () => {});
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref();
  }
  reaper.stdin!.write(`${line}\n`);
}

/** What the reaper must clean up should the harness die, and what no longer needs it. */
export const reap = {
  pid: (pid: number): void => tell(`+p ${pid}`),
  pidGone: (pid: number): void => tell(`-p ${pid}`),
  path: (path: string): void => tell(`+d ${path}`),
  pathGone: (path: string): void => tell(`-d ${path}`),
};
