/**
 * One `rxmesh` command run to its end as a real child process
 * (lib/cli/main.ts under tsx), its exit code and output kept.
 */
import { startFixture, type Fixture } from './process.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Start `rxmesh <args>` (tracked like every fixture: killed if the spec process exits first). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Fixture {
  return startFixture('lib/cli/main.ts', args, env);
}

/** Run `rxmesh <args>` until it exits (stdin closed at once: nothing is piped in). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const f = startCli(args, env);
  f.child.stdin?.end();
  const { code } = await f.exited;
  return { code, stdout: f.stdout, stderr: f.stderr };
}

/** Run every command line, `parallel` at a time, in order of the results. */
export async function runAll(lines: string[][], parallel = 3): Promise<CliRun[]> {
  const out: CliRun[] = new Array(lines.length);
  let i = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (i < lines.length) {
      const k = i++;
      out[k] = await runCli(lines[k]!);
    }
  }));
  return out;
}
