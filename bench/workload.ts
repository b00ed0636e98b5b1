/**
 * What bench/ring.ts and its producer children share: the payloads, the
 * sequence number every message carries, and the command channel (Node IPC)
 * the parent drives a producer with.
 *
 * Every message starts with a little-endian uint32 sequence number that
 * restarts at 0 on each run; the consumer checks it, so a lost, duplicated or
 * reordered message fails the benchmark instead of inflating it.
 */

/** The record kind the benchmark's messages travel as. */
export const MESSAGE_KIND = 1;

/** Parent → producer: write `run` messages, then wait for the next command. */
export interface RunCommand {
  run: number;
}

/** Producer → parent, once it has opened its transport. */
export interface ReadyReport {
  ready: true;
}

/** A payload of `size` bytes (at least 4) with a recognisable pattern after the sequence number. */
export function makePayload(size: number): Uint8Array {
  const body = new Uint8Array(Math.max(4, size));
  for (let i = 4; i < body.length; i++) body[i] = i & 0xff;
  return body;
}

export function writeSeq(buf: Uint8Array, at: number, seq: number): void {
  buf[at] = seq;
  buf[at + 1] = seq >>> 8;
  buf[at + 2] = seq >>> 16;
  buf[at + 3] = seq >>> 24;
}

export function readSeq(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** An `Int32Array` to `Atomics.wait` on: a short sleep that does not spin the CPU. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Back-off for a producer whose ring is full. The first retries are immediate
 * (one FFI call, ~0.1 µs, and the consumer usually frees a whole span soon);
 * after that it sleeps ~50 µs per try (futex timeout plus timer slack), which
 * leaves the core to the consumer and to GC threads on a 2-core machine. Every
 * ~1000 sleeps it yields to the event loop, so the producer notices that the
 * parent went away ('disconnect') instead of spinning forever on a full ring.
 */
export function backOff(tries: number): Promise<void> | undefined {
  if (tries < 32) return undefined;
  if ((tries & 1023) === 0) return new Promise((resolve) => setImmediate(resolve));
  Atomics.wait(sleeper, 0, 0, 0.02);
  return undefined;
}

/**
 * Child side of the command channel: report ready, run each command in turn,
 * and exit as soon as the parent disconnects (it died or is done with us).
 */
export function serveCommands(run: (count: number) => Promise<void>): void {
  if (!process.send) throw new Error('this script is a benchmark child: start it through bench/ring.ts');
  let queue = Promise.resolve();
  process.on('message', (msg: RunCommand) => {
    queue = queue.then(() => run(msg.run)).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
  process.on('disconnect', () => process.exit(0));
  const ready: ReadyReport = { ready: true };
  process.send(ready);
}
