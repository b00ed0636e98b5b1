/** The header block codec (lib/protocol/headers.ts): what an app may pass, the wire layout, and what a receiver makes of a bad block. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeValue } from '../../lib/protocol/cbor.js';
import { BadArgumentError } from '../../lib/protocol/errors.js';
import { checkHeaders, headerBlock, HEADERS_MAX_BYTES, splitHeaders, withHeaderBlock } from '../../lib/protocol/headers.js';

const Codec = suite('header block');

const value = new Uint8Array([9, 8, 7]);

Codec('header block - round trip: u16 length, the CBOR map, then the value', () => {
  const block = checkHeaders({ a: '1', 'x-trace': 'abc' });
  const payload = withHeaderBlock(block, value);
  assert.is(payload[0]! | (payload[1]! << 8), block.length, 'little-endian length first');
  assert.equal([...payload.subarray(2 + block.length)], [9, 8, 7], 'the value after the block');
  const { headers, data } = splitHeaders(payload);
  assert.equal(headers, { a: '1', 'x-trace': 'abc' });
  assert.ok(Object.isFrozen(headers));
  assert.equal([...data], [9, 8, 7]);
});

Codec('header block - an empty map and an empty value', () => {
  const { headers, data } = splitHeaders(withHeaderBlock(checkHeaders({}), new Uint8Array(0)));
  assert.equal(headers, {});
  assert.is(data.length, 0);
});

Codec('header block - added (trace) headers go on top of the app\'s, and may pass the app\'s cap', () => {
  assert.is(headerBlock(undefined), undefined, 'no headers, no block');
  const merged = splitHeaders(withHeaderBlock(headerBlock({ a: '1', traceparent: 'mine' }, { traceparent: 'tp' })!, value)).headers;
  assert.equal(merged, { a: '1', traceparent: 'tp' });
  const big = { big: 'x'.repeat(HEADERS_MAX_BYTES - 16) };
  assert.ok(headerBlock(big, { tracestate: 'y'.repeat(500) })!.length > HEADERS_MAX_BYTES);
  assert.throws(() => headerBlock({ n: 1 }, { traceparent: 'tp' }), (e: Error) => e instanceof BadArgumentError, 'the app\'s headers are still checked');
});

Codec('header block - what an app may not pass: BadArgumentError naming it', () => {
  const cases: [unknown, RegExp][] = [
    [null, /plain object/],
    [['a'], /plain object/],
    [new Map(), /plain object/],
    [new Date(), /plain object/],
    [{ n: 1 }, /'n' must be a string, not number/],
    [{ u: undefined }, /'u' must be a string, not undefined/],
    [{ '': 'x' }, /must not be empty/],
    [{ big: 'x'.repeat(HEADERS_MAX_BYTES) }, /at most 4096/],
  ];
  for (const [h, why] of cases) {
    try {
      checkHeaders(h);
      assert.unreachable(`accepted ${String(h)}`);
    } catch (err) {
      assert.instance(err, BadArgumentError);
      assert.is((err as BadArgumentError).code, 'BAD_ARGUMENT');
      assert.match((err as Error).message, why);
    }
  }
  assert.ok(checkHeaders(Object.assign(Object.create(null) as object, { a: 'b' })).length > 0, 'a null-prototype object is fine');
});

Codec('header block - a block that does not decode is no headers, and the payload is the value', () => {
  const prefix = (n: number, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(2 + body.length);
    out[0] = n & 0xff;
    out[1] = n >> 8;
    out.set(body, 2);
    return out;
  };
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([5]),
    prefix(200, new Uint8Array(10)), // longer than the payload
    prefix(3, new Uint8Array([0xff, 0xff, 0xff, 1])), // not CBOR
    prefix(encodeValue({ a: 1 }).length, encodeValue({ a: 1 })), // a number value
    prefix(encodeValue(['a']).length, encodeValue(['a'])), // not a map
    prefix(encodeValue('s').length, encodeValue('s')),
  ];
  for (const p of bad) {
    const { headers, data } = splitHeaders(p);
    assert.is(headers, undefined);
    assert.is(data, p);
  }
});

Codec('header block - a __proto__ key on the wire pollutes nothing', () => {
  const block = encodeValue(JSON.parse('{"__proto__": "x", "ok": "y"}'));
  const { headers } = splitHeaders(withHeaderBlock(block, value));
  assert.is(headers?.['ok'], 'y');
  assert.is(Object.getPrototypeOf(headers), Object.prototype);
  assert.is(({} as Record<string, unknown>)['x'], undefined);
});

Codec.run();
