/**
 * The agent's epoch: a number that names this incarnation of the agent. Every
 * address an app gets is of one epoch, and the Router refuses addresses of
 * another, so a ref held across an agent restart can never reach whichever
 * instance now has that local id. Epochs are kept in the agent's shm dir and
 * only grow while it exists (a host's shm survives agent restarts, not
 * reboots; apps do not survive a reboot either), starting at a random value.
 */
import { randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function nextEpoch(shmDir: string): number {
  const file = join(shmDir, 'epoch');
  let previous = 0;
  try {
    previous = Number(readFileSync(file, 'utf8').trim()) || 0;
  } catch {
    /* first start in this directory */
  }
  let epoch = previous > 0 && previous < 0xffff_fff0 ? previous + 1 : randomInt(1, 0x7fff_ffff);
  if (epoch === previous) epoch++;
  writeFileSync(file, `${epoch}\n`, { mode: 0o600 });
  return epoch;
}
