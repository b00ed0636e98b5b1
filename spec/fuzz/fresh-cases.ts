/**
 * The connection-level cases every framed port gets alike (control socket,
 * name-server TCP): random bytes, a dripped HELLO, a flood of connections,
 * a half-close, and one frame at or past the size limit. The callers add
 * their protocol's own fresh cases (HELLO bodies and frames, early requests).
 */
import { FRAME_HEADER } from '../../lib/protocol/frame.js';
import { completeness, endingFor, type Ending } from './framed.js';
import { rawFrame } from './mutate.js';
import type { FuzzRandom } from './prng.js';

export type TransportKind = 'garbage' | 'drip' | 'flood' | 'halfClose' | 'big';

/** What a port's transport cases need to know of its protocol. */
export interface Wire {
  /** The HELLO message type and a valid HELLO frame (bytes) for this case. */
  helloType: number;
  hello: () => Buffer;
  maxFrame: number;
  /** Frame types for the oversize frame, and a size past the limit typical for the port. */
  bigTypes: number[];
  bigSize: number;
}

export interface TransportCase {
  desc: string;
  parts: { type: number; id: number; bytes: Buffer }[];
  ending: Ending;
  fatal?: boolean;
  drip?: { chunk: number; delayMs: number };
  special?: { kind: 'flood'; count: number; prefix: number } | { kind: 'half-close'; afterHello: boolean };
}

export function transportCase(r: FuzzRandom, kind: TransportKind, w: Wire): TransportCase {
  switch (kind) {
    case 'garbage': {
      const bytes = r.bytes(r.size(2048));
      return { desc: `fresh: ${bytes.length} random bytes`, parts: [{ type: 0, id: 0, bytes }], ending: endingFor(completeness(bytes, w.maxFrame), r.u32()) };
    }
    case 'drip': {
      const bytes = w.hello();
      const drip = { chunk: r.int(1, 3), delayMs: r.int(1, 3) };
      return { fatal: false, desc: `fresh: HELLO dripped ${drip.chunk} byte(s) every ${drip.delayMs} ms`, parts: [{ type: w.helloType, id: 1, bytes }], ending: 'sentinel', drip };
    }
    case 'flood': {
      const count = r.pick([8, 16, 32, 70, 100]); // past 64 unauthenticated ones the oldest are closed (admission.ts)
      const prefix = r.int(0, 9);
      return { desc: `fresh: ${count} connections at once, each sending ${prefix} bytes of a HELLO and holding`, parts: [], ending: 'destroy', special: { kind: 'flood', count, prefix } };
    }
    case 'halfClose': {
      const afterHello = r.chance(0.5);
      return { desc: `fresh: half-close ${afterHello ? 'after a HELLO' : 'at once'}`, parts: [], ending: 'end', special: { kind: 'half-close', afterHello } };
    }
    case 'big': {
      // a frame at (or just past) the size limit: refused before or after allocation
      const size = r.pick([w.maxFrame - FRAME_HEADER, w.maxFrame - FRAME_HEADER + 1, w.bigSize]);
      const bytes = rawFrame(r.pick(w.bigTypes), 1, r.chance(0.5) ? Buffer.alloc(size) : r.bytes(size));
      return { desc: `fresh: one ${size}-byte frame body`, parts: [{ type: 0, id: 1, bytes }], ending: endingFor(completeness(bytes, w.maxFrame), r.u32()) };
    }
  }
}
