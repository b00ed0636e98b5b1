/**
 * How rxmesh lays out its state in etcd: the `etcd://` (`etcds://`) URL, key paths, and
 * the values stored under them. Pure functions, no I/O.
 *
 *   /rxmesh/<gameId>/<service>/<userData>   an instance (JSON InstanceValue), on its agent's lease
 *   /rxmesh-kicks/<agentId>/<gameId>/<service>/<userData>
 *                                           "your instance was replaced" (JSON KickValue), on the replacer's lease
 *   /rxmesh-games/<gameId>                  the game's verifier (JSON GameValue), no lease
 *
 * Service names and user data never contain '/', so a key splits back into
 * its parts; agent ids are URI-encoded.
 */
import { OfflineReason, type InstanceKey, type InstanceRecord } from '../protocol/registry-messages.js';

export const DEFAULT_ETCD_PORT = 2379;
export const INSTANCES = '/rxmesh/';
export const KICKS = '/rxmesh-kicks/';
export const GAMES = '/rxmesh-games/';

/** Is this a URL parseEtcdUrl takes (by its scheme)? */
export const isEtcdUrl = (url: string): boolean => /^etcds?:\/\//.test(url);

/**
 * Parse `etcd://h1:2379,h2:2379` into gRPC endpoints (`http://h1:2379`, ...);
 * `etcds://` gives `https://` endpoints (dialled with TLS).
 */
export function parseEtcdUrl(url: string): string[] {
  const bad = (): TypeError => new TypeError(`'${url}' is not an etcd URL (etcd://host:port,host:port,... or etcds://... for TLS)`);
  const scheme = /^(etcds?):\/\//.exec(url)?.[1];
  if (!scheme) throw bad();
  const list = url.slice(scheme.length + 3).replace(/\/$/, '');
  if (!list) throw bad();
  return list.split(',').map((hostPort) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(hostPort);
    if (!m) throw bad();
    const port = m[2] ? Number(m[2]) : DEFAULT_ETCD_PORT;
    if (port < 1 || port > 65535) throw bad();
    return `${scheme === 'etcds' ? 'https' : 'http'}://${m[1]}:${port}`;
  });
}

/** The URL of parsed endpoints: `etcds://` when they are dialled with TLS. */
export const etcdUrlOf = (hosts: string[]): string =>
  `${hosts.every((h) => h.startsWith('https://')) ? 'etcds' : 'etcd'}://${hosts.map((h) => h.replace(/^https?:\/\//, '')).join(',')}`;

export const instancePath = (k: InstanceKey): string => `${INSTANCES}${k.gameId}/${k.service}/${k.userData}`;

export const kickPrefix = (agentId: string): string => `${KICKS}${encodeURIComponent(agentId)}/`;

export const kickPath = (agentId: string, k: InstanceKey): string => `${kickPrefix(agentId)}${k.gameId}/${k.service}/${k.userData}`;

export const gamePath = (gameId: string): string => `${GAMES}${gameId}`;

/** The instance key of an instance path, or undefined for anything else. */
export function keyOfPath(path: string): InstanceKey | undefined {
  if (!path.startsWith(INSTANCES)) return undefined;
  const parts = path.slice(INSTANCES.length).split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) return undefined;
  return { gameId: parts[0]!, service: parts[1]!, userData: parts[2]! };
}

/**
 * The narrowest key prefix holding every service a pattern can match: the
 * literal segments before the first `*` (segments never contain dots).
 */
export function patternPrefix(gameId: string, pattern: string): string {
  const segs = pattern.split('.');
  const star = segs.indexOf('*');
  if (star < 0) return `${INSTANCES}${gameId}/${pattern}/`;
  return `${INSTANCES}${gameId}/${segs.slice(0, star).join('.')}.`;
}

/** The end of a prefix range: the prefix with its last byte incremented. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** What an instance key holds. `offline` marks a tombstone: the holder is deregistering it with that reason. */
export interface InstanceValue {
  agentId: string;
  address: string;
  localId: number;
  epoch?: number;
  online: boolean;
  meta?: Record<string, string>;
  offline?: OfflineReason;
  /** A drain's tombstone: `offline` says `closed` (what a build before drain understands), this says `draining`. */
  draining?: true;
}

export interface KickValue {
  instance: InstanceRecord;
  by: InstanceRecord;
}

export interface GameValue {
  /** hex HMAC-SHA256(game key, context): see lib/protocol/auth.ts */
  verifier: string;
}

const REASONS: ReadonlySet<string> = new Set(Object.values(OfflineReason));

export function encodeInstance(r: InstanceRecord, extra: { online: boolean; offline?: OfflineReason }): Buffer {
  const v: InstanceValue = { agentId: r.agentId, address: r.address, localId: r.localId, epoch: r.epoch, online: extra.online };
  if (r.meta) v.meta = r.meta;
  if (extra.offline === OfflineReason.DRAINING) {
    v.offline = OfflineReason.CLOSED;
    v.draining = true;
  } else if (extra.offline) v.offline = extra.offline;
  return Buffer.from(JSON.stringify(v));
}

/** Decode an instance value into its record (and tombstone reason); undefined when malformed. */
export function decodeInstance(path: string, value: Buffer): { record: InstanceRecord; offline?: OfflineReason } | undefined {
  const key = keyOfPath(path);
  if (!key) return undefined;
  let v: Partial<InstanceValue>;
  try {
    v = JSON.parse(value.toString('utf8')) as Partial<InstanceValue>;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.agentId !== 'string' || typeof v.address !== 'string' ||
    typeof v.localId !== 'number' || typeof v.online !== 'boolean') return undefined;
  const epoch = typeof v.epoch === 'number' ? v.epoch : 0;
  const record: InstanceRecord = { ...key, agentId: v.agentId, address: v.address, localId: v.localId, epoch, online: v.online };
  if (v.meta && typeof v.meta === 'object') record.meta = v.meta;
  const offline = typeof v.offline === 'string' && REASONS.has(v.offline) ? (v.draining === true ? OfflineReason.DRAINING : v.offline) : undefined;
  return offline ? { record, offline } : { record };
}

export function decodeJson<T>(value: Buffer): T | undefined {
  try {
    return JSON.parse(value.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export { sameHolder } from '../protocol/registry-messages.js';

export const holderOf = (r: InstanceRecord): string => `agent '${r.agentId}' (localId ${r.localId})`;
