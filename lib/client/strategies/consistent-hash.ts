/**
 * consistent-hash: a hash ring with virtual nodes. Each candidate owns
 * VNODES points (hashes of its id); a key goes to the owner of the first
 * point at or after the key's hash. When one instance joins N, only the keys
 * that land on its new points move (about 1/(N+1) of them), all to it; when
 * one leaves, only its keys move. Without a key it throws BadArgumentError:
 * there is no silent fallback to another strategy.
 *
 * The ring of a candidate list is built once and cached per list (the
 * membership hands out the same array until the service changes).
 */
import { BadArgumentError } from '../../protocol/errors.js';
import type { InstanceRef } from '../message.js';
import type { RouteContext, Strategy } from './strategy.js';

const VNODES = 256;

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface HashRing {
  points: Uint32Array;
  owners: InstanceRef[];
}

function buildRing(candidates: readonly InstanceRef[]): HashRing {
  const entries: [number, InstanceRef][] = [];
  for (const c of candidates) for (let v = 0; v < VNODES; v++) entries.push([hash32(`${c.id}#${v}`), c]);
  entries.sort((a, b) => a[0] - b[0] || (a[1].id < b[1].id ? -1 : 1));
  return { points: Uint32Array.from(entries, (e) => e[0]), owners: entries.map((e) => e[1]) };
}

export class ConsistentHashStrategy implements Strategy {
  private readonly rings = new WeakMap<readonly InstanceRef[], HashRing>();

  select(candidates: readonly InstanceRef[], ctx: RouteContext): InstanceRef | undefined {
    if (ctx.key === undefined || ctx.key === null || ctx.key === '') {
      throw new BadArgumentError(`consistent-hash routing to '${ctx.service}' needs a key ({ key })`);
    }
    if (candidates.length === 0) return undefined;
    let ring = this.rings.get(candidates);
    if (!ring) this.rings.set(candidates, (ring = buildRing(candidates)));
    const h = hash32(String(ctx.key));
    let lo = 0;
    let hi = ring.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring.points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return ring.owners[lo === ring.points.length ? 0 : lo];
  }
}
