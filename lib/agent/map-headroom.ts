/**
 * MapHeadroom: room for more memory mappings, checked before the agent maps an
 * instance's rings. Linux caps the mappings of a process at vm.max_map_count
 * (65530 by default); past it mmap fails, and so do V8 and malloc, and the
 * agent dies of SIGABRT while gigabytes of memory are free. Each instance
 * costs two mappings here (one per ring), so the check refuses a new instance
 * (LimitError naming the sysctl) while RESERVE mappings are still left for the
 * agent's own heap.
 *
 * Counting /proc/self/maps costs O(mappings), so it is counted again only
 * every RECOUNT_EVERY mappings added, or whenever the estimate comes near the
 * ceiling (then at most every RECOUNT_MS). The ceiling is read from
 * /proc/sys/vm/max_map_count at each count, unless `maxMaps` overrides it
 * (operators who want a lower bound; specs, which cannot lower the sysctl on
 * a shared machine, use it to reach the ceiling with a few instances through
 * this same path).
 */
import { readFileSync } from 'node:fs';

/** Mappings kept free for the agent itself (heap growth, malloc, threads). */
export const MAP_RESERVE = 1024;
const RECOUNT_EVERY = 512;
const RECOUNT_MS = 100;

export class MapHeadroom {
  private counted = 0;
  private ceiling = Number.POSITIVE_INFINITY;
  /** Mappings added (minus removed) since the last count: the estimate is counted + since. */
  private since = 0;
  private lastCount = -Infinity;

  constructor(private readonly maxMaps?: number) {
    if (maxMaps !== undefined && (!Number.isSafeInteger(maxMaps) || maxMaps <= 0)) throw new Error(`--max-maps ${maxMaps}: must be a whole number above 0`);
    this.recount();
  }

  /** Throw a LimitError unless `needed` more mappings leave MAP_RESERVE free. */
  check(needed: number, refuse: (message: string) => Error): void {
    const near = this.counted + this.since + needed + MAP_RESERVE + RECOUNT_EVERY > this.ceiling;
    const now = performance.now();
    if (this.since >= RECOUNT_EVERY || (near && now - this.lastCount >= RECOUNT_MS)) this.recount();
    const have = this.counted + this.since;
    if (have + needed + MAP_RESERVE > this.ceiling) {
      const source = this.maxMaps === undefined ? 'the sysctl vm.max_map_count' : `--max-maps (in place of the sysctl vm.max_map_count)`;
      throw refuse(`the agent has ${have} memory mappings and ${source} allows ${this.ceiling}; ${MAP_RESERVE} are kept for the agent itself ` +
        `and an instance needs ${needed}: close instances, or raise vm.max_map_count (sysctl -w vm.max_map_count=N)`);
    }
  }

  /** `n` mappings were made (> 0) or removed (< 0). */
  added(n: number): void {
    this.since += n;
  }

  private recount(): void {
    this.lastCount = performance.now();
    this.since = 0;
    this.ceiling = this.maxMaps ?? readCeiling();
    this.counted = countMappings();
  }
}

function readCeiling(): number {
  try {
    const n = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
    return Number.isFinite(n) && n > 0 ? n : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY; // not Linux: nothing to check against
  }
}

/** Lines of /proc/self/maps: the mappings the kernel counts against vm.max_map_count. */
export function countMappings(): number {
  let buf: Buffer;
  try {
    buf = readFileSync('/proc/self/maps');
  } catch {
    return 0;
  }
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}
