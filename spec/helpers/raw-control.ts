/**
 * Raw sockets for the connection-bound specs: floods of idle connections,
 * drips, oversize length prefixes, and the probes that count what happened
 * (how many are still open, the server's RSS, an app round trip).
 */
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import type { MeshProcess } from './mesh.js';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { encodeFrame, FrameDecoder, type Frame } from '../../lib/protocol/frame.js';
import { GUARD_MS, next, sleep, until } from './wait.js';

/** A socket that notes its frames and when it closed (by either side). */
export interface Raw {
  socket: Socket;
  frames: Frame[];
  closed: () => boolean;
}

/** Dial a TCP port (`number`) or a Unix socket (`string`); resolves once connected. */
export function dial(to: number | string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = typeof to === 'number' ? createConnection({ host: '127.0.0.1', port: to }) : createConnection(to);
    const frames: Frame[] = [];
    const decoder = new FrameDecoder();
    let closed = false;
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {}); // resets are expected when the server drops us
      resolve({ socket, frames, closed: () => closed });
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        frames.push(...decoder.push(chunk));
      } catch { /* not frames (HTTP): nobody asks */ }
    });
    socket.once('close', () => (closed = true));
  });
}

/** `n` connections that send nothing (dialled a few at a time). */
export async function idle(to: number | string, n: number): Promise<Raw[]> {
  const out: Raw[] = [];
  for (let i = 0; i < n; i += 20) {
    out.push(...await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => dial(to))));
  }
  return out;
}

export const stillOpen = (raws: Raw[]): number => raws.filter((r) => !r.closed()).length;

export function destroyAll(raws: Raw[]): void {
  for (const r of raws) r.socket.destroy();
}

/** Write one byte of `bytes` every `everyMs` until the socket closes or the bytes run out. */
export function drip(raw: Raw, bytes: Uint8Array, everyMs = 100): void {
  let i = 0;
  const timer = setInterval(() => {
    if (raw.closed() || i >= bytes.length) {
      clearInterval(timer);
      return;
    }
    raw.socket.write(bytes.subarray(i, ++i));
  }, everyMs);
}

/** Resolves with how long the socket took to close; fails after `ms`. */
export async function closesWithin(raw: Raw, ms: number, what: string): Promise<number> {
  const t0 = performance.now();
  await until(raw.closed, ms, `${what} to be closed`);
  return performance.now() - t0;
}

/** A frame's length prefix saying `len` bytes follow, then `body` (the start of them). */
export function lengthPrefix(len: number, body = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32BE(len, 0);
  b.set(body, 4);
  return b;
}

export const frame = (type: number, id: number, body: unknown): Buffer => encodeFrame(type, id, encodeValue(body));

/** The answer to request `id` on a raw connection (undefined if it closed first). */
export async function answer(raw: Raw, id: number): Promise<Frame | undefined> {
  await until(() => raw.frames.some((f) => f.id === id) || raw.closed(), GUARD_MS, `an answer to request ${id}`);
  return raw.frames.find((f) => f.id === id);
}

export const body = <T>(f: Frame | undefined): T => decodeValue<T>(f!.body);

/** Resident memory of a process, in MiB. */
export function rssMib(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** A request from one app's instance answered by another app's: the mesh still works. */
export async function roundTrip(server: Mesh, client: Mesh, tag: string): Promise<void> {
  const echo = server.instance('g.echo.1.0', { userData: `echo-${tag}` });
  echo.messages$.subscribe((m) => m.reply(m.value()));
  const id = (await next(echo.startup$)).id;
  const asker = client.instance('g.asker.1.0', { userData: `asker-${tag}`, watch: ['g.echo.1.0'] });
  await next(asker.startup$);
  // the echo as the asker's agent numbers it (another agent's instance has another node there)
  const ref = (await next(asker.members$('g.echo.1.0'), (l) => l.some((r) => r.id === id))).find((r) => r.id === id)!;
  const reply = await asker.request(ref, { tag }, { timeoutMs: GUARD_MS });
  assert.equal(reply.value(), { tag });
  await asker.close();
  await echo.close();
}

/** Two new apps on `agent` and a request between them. */
export async function meshWorks(agent: MeshProcess, tag: string): Promise<void> {
  const a = await agent.connect();
  const b = await agent.connect();
  await roundTrip(a, b, tag);
  await a.close();
  await b.close();
}

export { sleep };
