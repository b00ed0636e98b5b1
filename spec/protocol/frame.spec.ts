/**
 * The frame decoder is linear in the bytes it receives, however they are
 * split (issue 10 item 6). Measured without clocks: every way a Buffer's
 * bytes can be copied in JS (Buffer.concat, Buffer.from of a view,
 * Uint8Array#set, Buffer#copy) is wrapped and the bytes counted while the
 * decoder runs. A decoder that concatenates its pending bytes with each chunk
 * copies ~2,900 x a 4 MiB frame when it arrives in 1,460-byte TCP segments.
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameDecoder, type Frame } from '../../lib/protocol/frame.js';

const MSS = 1460;

/** Counts the bytes copied by Buffer/Uint8Array copy primitives until `stop()`. */
function copyMeter(): { bytes: () => number; stop: () => void } {
  let bytes = 0;
  const concat = Buffer.concat;
  const from = Buffer.from;
  const set = Uint8Array.prototype.set;
  const copy = Buffer.prototype.copy;
  Buffer.concat = function (list: readonly Uint8Array[], total?: number) {
    const out = concat.call(Buffer, list, total);
    bytes += out.length;
    return out;
  } as typeof Buffer.concat;
  Buffer.from = function (this: unknown, ...args: unknown[]) {
    if (ArrayBuffer.isView(args[0]) || Array.isArray(args[0])) bytes += (args[0] as { length: number }).length; // a copy; from(arrayBuffer) is a view
    return (from as (...a: unknown[]) => Buffer).apply(Buffer, args);
  } as typeof Buffer.from;
  Uint8Array.prototype.set = function (this: Uint8Array, src: ArrayLike<number>, offset?: number) {
    bytes += src.length;
    return set.call(this, src, offset);
  };
  Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ...rest: number[]) {
    const n = copy.call(this, target, ...rest);
    bytes += n;
    return n;
  };
  return {
    bytes: () => bytes,
    stop: () => {
      Buffer.concat = concat;
      Buffer.from = from;
      Uint8Array.prototype.set = set;
      Buffer.prototype.copy = copy;
    },
  };
}

function feed(decoder: { push(chunk: Uint8Array): Frame[] }, wire: Uint8Array, sizes: () => number): { frames: Frame[]; copied: number } {
  const meter = copyMeter();
  const frames: Frame[] = [];
  try {
    for (let off = 0; off < wire.length;) {
      const n = Math.min(sizes(), wire.length - off);
      frames.push(...decoder.push(wire.subarray(off, off + n)));
      off += n;
    }
  } finally {
    meter.stop();
  }
  return { frames, copied: meter.bytes() };
}

const Linear = suite('frame decoder - linear');

Linear('frame decoder - the copy meter sees a decoder that concatenates per chunk (quadratic)', () => {
  // the naive decoder, as a yardstick: keeps everything received in one buffer
  let pending = Buffer.alloc(0);
  const naive = { push: (chunk: Uint8Array): Frame[] => ((pending = Buffer.concat([pending, chunk])), []) };
  const wire = encodeFrame(7, 1, randomBytes(256 * 1024));
  const { copied } = feed(naive, wire, () => MSS);
  assert.ok(copied > 50 * wire.length, `the naive decoder copied ${copied} bytes for ${wire.length} (the meter works)`);
});

Linear('frame decoder - one 4 MiB frame in 1,460-byte chunks is copied at most twice over', () => {
  const body = randomBytes(4 * 1024 * 1024 - 10);
  const wire = encodeFrame(7, 42, body);
  const { frames, copied } = feed(new FrameDecoder(), wire, () => MSS);
  assert.is(frames.length, 1);
  assert.is(frames[0]!.id, 42);
  assert.ok(Buffer.from(frames[0]!.body).equals(body), 'the body arrives intact');
  assert.ok(copied <= 2 * wire.length, `copied ${copied} bytes for a ${wire.length}-byte frame (at most ${2 * wire.length})`);
});

Linear('frame decoder - 2,000 frames of mixed sizes split at random points are copied at most twice over', () => {
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const bodies = Array.from({ length: 2000 }, (_, i) => randomBytes(i % 100 === 0 ? 200_000 : rand(3000)));
  const wire = Buffer.concat(bodies.map((b, i) => encodeFrame(3, i + 1, b)));
  const { frames, copied } = feed(new FrameDecoder(), wire, () => 1 + rand(2 * MSS));
  assert.is(frames.length, bodies.length);
  assert.ok(frames.every((f, i) => f.id === i + 1 && Buffer.from(f.body).equals(bodies[i]!)), 'every frame intact and in order');
  assert.ok(copied <= 2 * wire.length, `copied ${copied} bytes for ${wire.length} bytes of frames (at most ${2 * wire.length})`);
});

Linear.run();
