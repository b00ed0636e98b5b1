/**
 * Sequence-numbered streams for order specs: send N numbered payloads with
 * backpressure (a full ring throws QueueFullError: wait a turn and retry the
 * same message), and check on the receiving side that they arrive in order,
 * none missing or duplicated.
 */
import { QueueFullError, type Instance, type InstanceRef } from '../../lib/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A 16-byte payload carrying `i`. */
export function seqPayload(i: number): Uint8Array {
  const p = new Uint8Array(16);
  new DataView(p.buffer).setUint32(0, i, true);
  return p;
}

/** The number a seqPayload carries. */
export const seqOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0, true);

/** Send `count` payloads from `from` to `to`, retrying each one on QueueFullError. */
export async function sendAll(from: Instance, to: InstanceRef, count: number, make: (i: number) => Uint8Array = seqPayload): Promise<void> {
  for (let i = 0; i < count; ) {
    try {
      from.sendTo(to, make(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
}

/**
 * Send `count` numbered messages from `from` to `to` and wait (up to `ms`) until `to` has them all in order or
 * something went wrong; returns how many arrived in order (`expected`) and how many did not (`bad`).
 */
export async function streamInOrder(from: Instance, to: Instance, count: number, ms = 30_000): Promise<{ expected: number; bad: number }> {
  const seq = checkSequence(to);
  try {
    await sendAll(from, to.ref!, count);
    const end = performance.now() + ms;
    while (seq.expected !== count && seq.bad === 0) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${count} messages (${seq.expected} so far)`);
      await sleep(5);
    }
    return { expected: seq.expected, bad: seq.bad };
  } finally {
    seq.stop();
  }
}

/** Watch `inst.messages$` for seqPayload numbers: `expected` is the next one due, `bad` counts gaps, duplicates and reorderings. */
export function checkSequence(inst: Instance): { readonly expected: number; readonly bad: number; stop(): void } {
  const state = { expected: 0, bad: 0 };
  const sub = inst.messages$.subscribe((m) => {
    const seq = seqOf(m.data);
    if (seq !== state.expected) state.bad++;
    state.expected = seq + 1;
  });
  return {
    get expected() { return state.expected; },
    get bad() { return state.bad; },
    stop: () => sub.unsubscribe(),
  };
}
