/**
 * Ad-hoc commands, as `nats req` / `nats pub` / `nats sub` are for NATS:
 *
 *   rxmesh request <service | service/userData> <value>   prints the reply
 *   rxmesh send    <service | service/userData> <value>   prints where it went
 *   rxmesh watch   <pattern>                            prints online/offline until Ctrl-C
 *
 * Each connects to the local agent as an app of --game (key from --key-file
 * or RXMESH_KEY) with one instance of `<game>.rxmesh-cli.0.0`, and prints one
 * line per event (one JSON object with --json). A value is JSON when it
 * parses as JSON, else the string itself.
 */
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { firstValueFrom } from 'rxjs';
import { connect } from '../client/connect.js';
import type { Instance, Mesh } from '../client/mesh-api.js';
import type { StrategyName } from '../client/instance-options.js';
import type { InstanceRef } from '../client/message.js';
import { NoRouteError } from '../protocol/errors.js';
import { validateService, validateUserData } from '../protocol/names.js';
import type { CliLog } from './cli-logger.js';
import { UsageError, type Parsed } from './options.js';

/** Connect as an app of --game and start this command's own instance (watching `watch`). */
async function openApp(p: Parsed, log: CliLog, watch: string[] = [], reconnect = false): Promise<{ mesh: Mesh; inst: Instance }> {
  const gameId = p.str('game') ?? process.env['RXMESH_GAME'] ?? 'demo';
  const keyFile = p.str('key-file');
  const key = keyFile ? (await readFile(keyFile, 'utf8')).replace(/\r?\n$/, '') : process.env['RXMESH_KEY'] ?? (gameId === 'demo' ? 'demo-key' : undefined);
  if (!key) throw new UsageError(`no key for game '${gameId}': --key-file FILE or RXMESH_KEY`);
  const agent = p.str('agent');
  const mesh = await connect({ gameId, password: key, reconnect, log: log.of('client'), ...(agent ? { agent } : {}) });
  try {
    const userData = `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 128);
    const inst = mesh.instance(`${gameId}.rxmesh-cli.0.0`, { userData, watch });
    await firstValueFrom(inst.startup$);
    return { mesh, inst };
  } catch (err) {
    await mesh.close();
    throw err;
  }
}

/** `service` or `service/userData`. */
function target(s: string): { service: string; userData?: string } {
  const slash = s.indexOf('/');
  if (slash < 0) return { service: validateService(s) };
  return { service: validateService(s.slice(0, slash)), userData: validateUserData(s.slice(slash + 1)) };
}

/** The named instance, once the watch on its service holds; NoRouteError when it is not online. */
async function instanceRef(inst: Instance, service: string, userData: string): Promise<InstanceRef> {
  await inst.service$(service);
  const ref = (await firstValueFrom(inst.members$(service))).find((m) => m.userData === userData);
  if (!ref) throw new NoRouteError(`no instance '${service}/${userData}' is online`);
  return ref;
}

export function parseValue(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** A received value in a JSON line: bytes as {base64}. */
const jsonOf = (v: unknown): unknown => (v instanceof Uint8Array ? { base64: Buffer.from(v).toString('base64') } : v);

/** A received value as a line of text: a string as it is, bytes as UTF-8, anything else as JSON. */
const textOf = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : JSON.stringify(v));

function print(p: Parsed, json: Record<string, unknown>, text: string): void {
  process.stdout.write(`${p.bool('json') ? JSON.stringify(json) : text}\n`);
}

export async function runRequest(p: Parsed, log: CliLog): Promise<void> {
  const to = target(p.positionals[0]!);
  const value = parseValue(p.positionals[1]!);
  const { mesh, inst } = await openApp(p, log);
  try {
    if (to.userData === undefined) await inst.service$(to.service);
    const dest = to.userData === undefined ? to.service : await instanceRef(inst, to.service, to.userData);
    const reply = await inst.request(dest, value, { timeoutMs: p.int('timeout')! });
    const v = reply.value();
    print(p, { from: reply.from.id, value: jsonOf(v) }, textOf(v));
  } finally {
    await mesh.close();
  }
}

export async function runSend(p: Parsed, log: CliLog): Promise<void> {
  const to = target(p.positionals[0]!);
  const value = parseValue(p.positionals[1]!);
  const { mesh, inst } = await openApp(p, log);
  try {
    let ref: InstanceRef | null;
    if (to.userData === undefined) {
      await inst.service$(to.service);
      ref = inst.send(to.service, value, { strategy: p.str('strategy') as StrategyName });
      if (!ref) throw new NoRouteError(`no instance of '${to.service}' is online`);
    } else {
      ref = await instanceRef(inst, to.service, to.userData);
      inst.sendTo(ref, value);
    }
    print(p, { to: ref.id, agentId: ref.agentId }, `sent to ${ref.id}`);
  } finally {
    await mesh.close(); // the instance's queue goes out first
  }
}

export async function runWatch(p: Parsed, log: CliLog): Promise<void> {
  const pattern = p.positionals[0]!;
  const { mesh, inst } = await openApp(p, log, [pattern], true);
  const self = inst.ref?.id;
  inst.online$.subscribe((r) => {
    if (r.id !== self) print(p, { event: 'online', instance: r.id, service: r.service, userData: r.userData, agentId: r.agentId }, `online   ${r.id}  (agent ${r.agentId})`);
  });
  inst.offline$.subscribe(({ instance: r, reason }) => {
    if (r.id !== self) print(p, { event: 'offline', instance: r.id, service: r.service, userData: r.userData, agentId: r.agentId, reason }, `offline  ${r.id}  (${reason})`);
  });
  print(p, { event: 'watching', pattern }, `watching ${pattern} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await mesh.close();
}
