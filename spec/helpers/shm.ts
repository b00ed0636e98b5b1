/**
 * Shared-memory scratch space for specs: each spec gets its own directory
 * under /dev/shm (mode 0700, like the agent's), and every directory handed
 * out is removed by cleanupShm(), which also runs when the process exits, so
 * ring files do not outlive a failed or crashed spec run.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';

const PREFIX = '/dev/shm/rxmesh-spec-';
const dirs = new Set<string>();

/** A new, empty, private directory under /dev/shm, removed by cleanupShm(). */
export function tempShmDir(): string {
  const dir = mkdtempSync(PREFIX);
  chmodSync(dir, 0o700); // mkdtemp already asks for 0700; say it where it matters
  dirs.add(dir);
  return dir;
}

/** Remove every directory tempShmDir() created (recursively). Idempotent. */
export function cleanupShm(): void {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

// 'exit' also fires after an uncaught exception; its handlers must be synchronous.
process.on('exit', cleanupShm);
// An interrupted run (Ctrl-C, kill) skips 'exit': clean up, then die of the same signal.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanupShm();
    process.kill(process.pid, signal);
  });
}
