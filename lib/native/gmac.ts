/**
 * GMAC tags (AES-256-GCM over associated data only, nothing encrypted) made by
 * the OpenSSL that Node itself carries, bound with koffi from the process's
 * own symbol table (Node exports its OpenSSL for addons). One cipher context
 * per key: the key schedule is set once, and a tag costs setting the nonce,
 * feeding the data and taking the tag: four calls and no JS object, where
 * `createCipheriv` builds a cipher object per tag (about twice the time for a
 * small chunk; DESIGN-NOTES "Links: batching and latency").
 *
 * Same algorithm, key, nonce and data as node:crypto, so the same tag: the
 * wire does not change. Where the symbols are not there (a Node built
 * otherwise), `GmacKey.for` returns undefined and callers keep node:crypto.
 * The context holds the key schedule; it is freed (and cleansed by OpenSSL)
 * when its GmacKey is collected.
 */
import koffi from 'koffi';

const EVP_CTRL_GCM_GET_TAG = 0x10;
const GMAC_TAG = 16;

interface OpenSsl {
  ctxNew(): unknown;
  ctxFree(ctx: unknown): void;
  aes256gcm(): unknown;
  init(ctx: unknown, cipher: unknown, engine: null, key: Uint8Array | null, iv: Uint8Array | null): number;
  update(ctx: unknown, out: null, outl: number[], data: Uint8Array, len: number): number;
  final(ctx: unknown, out: Uint8Array, outl: number[]): number;
  ctrl(ctx: unknown, type: number, arg: number, ptr: Uint8Array): number;
}

let bound: OpenSsl | null | undefined;

/** Node's own OpenSSL, bound once; null when its symbols cannot be found. */
function openSsl(): OpenSsl | null {
  if (bound !== undefined) return bound;
  try {
    const lib = koffi.load(null as unknown as string);
    bound = {
      ctxNew: lib.func('void *EVP_CIPHER_CTX_new(void)'),
      ctxFree: lib.func('void EVP_CIPHER_CTX_free(void *ctx)'),
      aes256gcm: lib.func('const void *EVP_aes_256_gcm(void)'),
      init: lib.func('int EVP_EncryptInit_ex(void *ctx, const void *cipher, void *engine, const uint8_t *key, const uint8_t *iv)'),
      update: lib.func('int EVP_EncryptUpdate(void *ctx, uint8_t *out, _Out_ int *outl, const uint8_t *data, int len)'),
      final: lib.func('int EVP_EncryptFinal_ex(void *ctx, uint8_t *out, _Out_ int *outl)'),
      ctrl: lib.func('int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, uint8_t *ptr)'),
    } as OpenSsl;
  } catch {
    bound = null;
  }
  return bound;
}

const contexts = new FinalizationRegistry<unknown>((ctx) => bound?.ctxFree(ctx));

/** One AES-256 key's GMAC, over a reused OpenSSL context. */
export class GmacKey {
  private readonly outl = [0];
  private readonly none = new Uint8Array(GMAC_TAG);
  private readonly ctx: unknown;

  /** Only through nativeGmac (which knows the binding is there). */
  private constructor(private readonly ssl: OpenSsl, key: Uint8Array) {
    if (key.length !== 32) throw new RangeError(`an AES-256 key is 32 bytes, not ${key.length}`);
    this.ctx = ssl.ctxNew();
    if (!this.ctx) throw new Error('EVP_CIPHER_CTX_new failed');
    contexts.register(this, this.ctx);
    if (ssl.init(this.ctx, ssl.aes256gcm(), null, key, null) !== 1) throw new Error('EVP_EncryptInit_ex (key) failed');
  }

  /** A GMAC for `key` through Node's own OpenSSL, or undefined when it cannot be bound. */
  static for(key: Uint8Array): GmacKey | undefined {
    const ssl = openSsl();
    return ssl ? new GmacKey(ssl, key) : undefined;
  }

  /** Write into `tag` the tag of parts[from, to) (in order, as one message) under the 12-byte `nonce`. */
  tag(nonce: Uint8Array, parts: readonly Uint8Array[], from: number, to: number, tag: Uint8Array): void {
    // OpenSSL reads 12 bytes of nonce and writes 16 of tag through these pointers: never let it past a buffer
    if (nonce.length !== 12 || tag.length < GMAC_TAG) throw new RangeError(`a GMAC needs a 12-byte nonce and a ${GMAC_TAG}-byte tag buffer`);
    const { ssl, ctx, outl } = this;
    let ok = ssl.init(ctx, null, null, null, nonce) === 1;
    for (let i = from; ok && i < to; i++) if (parts[i]!.length > 0) ok = ssl.update(ctx, null, outl, parts[i]!, parts[i]!.length) === 1;
    ok = ok && ssl.final(ctx, this.none, outl) === 1 && ssl.ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GMAC_TAG, tag) === 1;
    if (!ok) throw new Error('OpenSSL failed to make a GMAC tag');
  }
}
