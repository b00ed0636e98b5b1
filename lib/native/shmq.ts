/**
 * The koffi binding of shmq.so: every C function typed, the library located
 * relative to this module (never the working directory), and the layout
 * constants that must equal the C ones (spec/native/layout.spec.ts checks).
 */
import koffi, { type LibraryHandle } from 'koffi';
import { findLibrary, loadFailureMessage } from './locate.js';

/** Results of the C functions (enum shmq_result). */
export const ShmqResult = {
  OK: 0,
  FULL: -1,
  ERROR: -2,
  EMPTY: -3,
  BLOCKED: -4,
  TOO_BIG: -5,
  INVALID: -6,
  BAD_MAGIC: -7,
  BAD_VERSION: -8,
  BAD_SIZE: -9,
  BUSY: -10,
  CORRUPT: -11,
  NO_SPACE: -12,
} as const;
export type ShmqResult = (typeof ShmqResult)[keyof typeof ShmqResult];

export const ShmqRole = { PRODUCER: 1, CONSUMER: 2, OBSERVER: 3 } as const;
export type ShmqRole = (typeof ShmqRole)[keyof typeof ShmqRole];

/** Fragment kinds, in bits 24-25 of a record's type. */
export const Frag = { COMPLETE: 0, BEGIN: 1, MIDDLE: 2, END: 3 } as const;
export type Frag = (typeof Frag)[keyof typeof Frag];

/** The ring layout as TypeScript sees it; must equal shmq_layout() in C. */
export const Layout = {
  MAGIC: 0x514d5852,
  VERSION: 2,
  LINE: 128,
  DATA_OFFSET: 640,
  RECORD_HEADER: 8,
  ALIGN: 8,
  OFF_TAIL: 128,
  OFF_HEAD_CACHE: 256,
  OFF_HEAD: 384,
  OFF_PARKED: 512,
  TYPE_PAD: -1,
  FRAG_SHIFT: 24,
  KIND_MASK: 0x00ffffff,
  MIN_CAPACITY: 1024,
  MAX_CAPACITY: 1 << 30,
  OFF_CURSOR: 408,
  OFF_SPACE_WANTED: 516,
  TYPE_TAKEN: 1 << 30,
} as const;

/** The order shmq_layout() reports its values in. */
export const LAYOUT_ORDER: readonly (keyof typeof Layout)[] = [
  'MAGIC', 'VERSION', 'LINE', 'DATA_OFFSET', 'RECORD_HEADER', 'ALIGN', 'OFF_TAIL', 'OFF_HEAD_CACHE',
  'OFF_HEAD', 'OFF_PARKED', 'TYPE_PAD', 'FRAG_SHIFT', 'KIND_MASK', 'MIN_CAPACITY', 'MAX_CAPACITY',
  'OFF_CURSOR', 'OFF_SPACE_WANTED', 'TYPE_TAKEN',
];

/** shmq.so could not be found or loaded. */
export class NativeLoadError extends Error {
  override readonly name = 'NativeLoadError';
  readonly code = 'NATIVE_LOAD';
  constructor(readonly path: string, options?: ErrorOptions) {
    super(loadFailureMessage(path), options);
  }
}

/** An opaque `shmq_t *` owned by a Ring. */
export type RingHandle = { readonly __brand: 'shmq_t' };

export interface ShmqNative {
  shmq_last_error(): string;
  shmq_last_code(): number;
  shmq_layout(out: BigInt64Array, n: number): number;
  shmq_create(path: string, capacity: number, maxRecord: number): RingHandle | null;
  shmq_create_as(path: string, capacity: number, maxRecord: number, role: ShmqRole): RingHandle | null;
  shmq_open(path: string, role: ShmqRole): RingHandle | null;
  shmq_close(q: RingHandle): void;
  shmq_unlink(path: string): number;
  shmq_capacity(q: RingHandle): number;
  shmq_max_record(q: RingHandle): number;
  shmq_set_bell(q: RingHandle, fd: number): void;
  shmq_data(q: RingHandle): unknown;
  shmq_stats(q: RingHandle, out: BigInt64Array, n: number): number;
  shmq_write(q: RingHandle, type: number, body: Uint8Array, len: number): number;
  shmq_write_batch(q: RingHandle, src: Uint8Array, len: number): number;
  shmq_write_fragments(
    q: RingHandle, kind: number, prefix: Uint8Array | null, prefixLen: number,
    msg: Uint8Array, len: number, offset: number,
  ): number;
  shmq_claim(q: RingHandle, type: number, len: number): number;
  shmq_commit_claim(q: RingHandle): number;
  shmq_free(q: RingHandle): number;
  shmq_want_space(q: RingHandle, bytes: number): number;
  shmq_read_batch(q: RingHandle, dst: Uint8Array, cap: number): number;
  shmq_peek(q: RingHandle, offset: Uint32Array, maxBytes: number): number;
  shmq_advance(q: RingHandle, bytes: number, records: number): number;
  shmq_release_to(q: RingHandle, pos: number): number;
  shmq_release(q: RingHandle, bytes: number, records: number): number;
  shmq_cursor(q: RingHandle): number;
  shmq_set_space_bell(q: RingHandle, fd: number): void;
  shmq_available(q: RingHandle): number;
  shmq_spin(q: RingHandle, spinNs: number): number;
  shmq_park(q: RingHandle): number;
  shmq_unpark(q: RingHandle): void;
  shmq_unblock(q: RingHandle, force: number): number;
  shmq_bell_open(path: string, create: number): number;
  shmq_bell_ring(fd: number): number;
  shmq_bell_drain(fd: number): number;
  shmq_bell_close(fd: number): number;
  shmq_peer_cred(fd: number, out: Int32Array): number;
}

const SIGNATURES: Record<keyof ShmqNative, string> = {
  shmq_last_error: 'const char *shmq_last_error(void)',
  shmq_last_code: 'int shmq_last_code(void)',
  shmq_layout: 'int shmq_layout(int64_t *out, int n)',
  shmq_create: 'shmq_t *shmq_create(const char *path, uint32_t capacity, uint32_t max_record)',
  shmq_create_as: 'shmq_t *shmq_create_as(const char *path, uint32_t capacity, uint32_t max_record, int role)',
  shmq_open: 'shmq_t *shmq_open(const char *path, int role)',
  shmq_close: 'void shmq_close(shmq_t *q)',
  shmq_unlink: 'int shmq_unlink(const char *path)',
  shmq_capacity: 'uint32_t shmq_capacity(shmq_t *q)',
  shmq_max_record: 'uint32_t shmq_max_record(shmq_t *q)',
  shmq_set_bell: 'void shmq_set_bell(shmq_t *q, int fd)',
  shmq_data: 'void *shmq_data(shmq_t *q)',
  shmq_stats: 'int shmq_stats(shmq_t *q, int64_t *out, int n)',
  shmq_write: 'int shmq_write(shmq_t *q, int32_t type, const uint8_t *body, uint32_t len)',
  shmq_write_batch: 'int64_t shmq_write_batch(shmq_t *q, const uint8_t *src, uint32_t len)',
  shmq_write_fragments:
    'int64_t shmq_write_fragments(shmq_t *q, int32_t kind, const uint8_t *prefix, uint32_t prefix_len, const uint8_t *msg, uint64_t len, uint64_t offset)',
  shmq_claim: 'int64_t shmq_claim(shmq_t *q, int32_t type, uint32_t len)',
  shmq_commit_claim: 'int shmq_commit_claim(shmq_t *q)',
  shmq_free: 'int64_t shmq_free(shmq_t *q)',
  shmq_want_space: 'int shmq_want_space(shmq_t *q, uint32_t bytes)',
  shmq_read_batch: 'int64_t shmq_read_batch(shmq_t *q, uint8_t *dst, uint32_t cap)',
  shmq_peek: 'int64_t shmq_peek(shmq_t *q, uint32_t *offset, uint32_t max_bytes)',
  shmq_advance: 'int shmq_advance(shmq_t *q, uint32_t bytes, uint32_t records)',
  shmq_release_to: 'int shmq_release_to(shmq_t *q, uint64_t pos)',
  shmq_release: 'int shmq_release(shmq_t *q, uint32_t bytes, uint32_t records)',
  shmq_cursor: 'int64_t shmq_cursor(shmq_t *q)',
  shmq_set_space_bell: 'void shmq_set_space_bell(shmq_t *q, int fd)',
  shmq_available: 'int shmq_available(shmq_t *q)',
  shmq_spin: 'int shmq_spin(shmq_t *q, uint32_t spin_ns)',
  shmq_park: 'int shmq_park(shmq_t *q)',
  shmq_unpark: 'void shmq_unpark(shmq_t *q)',
  shmq_unblock: 'int shmq_unblock(shmq_t *q, int force)',
  shmq_bell_open: 'int shmq_bell_open(const char *path, int create)',
  shmq_bell_ring: 'int shmq_bell_ring(int fd)',
  shmq_bell_drain: 'int shmq_bell_drain(int fd)',
  shmq_bell_close: 'int shmq_bell_close(int fd)',
  shmq_peer_cred: 'int shmq_peer_cred(int fd, _Out_ int32_t *out)',
};

/** Where shmq.so lives (lib/native/locate.ts): RXMESH_SHMQ_LIB if set, else
 * the prebuilt binary for this platform if it loads, else a local `make` build. */
export function locateLibrary(): string {
  return findLibrary().path;
}

let loaded: ShmqNative | undefined;

/** The bound library, loaded once. Throws NativeLoadError. */
export function native(): ShmqNative {
  if (loaded) return loaded;
  const path = locateLibrary();
  let lib: LibraryHandle;
  try {
    lib = koffi.load(path);
  } catch (cause) {
    throw new NativeLoadError(path, { cause });
  }
  koffi.opaque('shmq_t');
  const fns: Partial<Record<keyof ShmqNative, unknown>> = {};
  for (const [name, signature] of Object.entries(SIGNATURES)) fns[name as keyof ShmqNative] = lib.func(signature);
  loaded = fns as ShmqNative;
  return loaded;
}

/** A zero-copy ArrayBuffer over `len` bytes at a pointer returned by C. */
export function viewOf(pointer: unknown, len: number): ArrayBuffer {
  return koffi.view(pointer, len);
}

/** Poll a file descriptor for readability on the event loop (no thread blocks). */
export function pollReadable(fd: number, onReadable: () => void): { stop(): void; close(): void; unref(): void; ref(): void } {
  const handle = koffi.node.poll(fd, { readable: true }, () => onReadable());
  return handle;
}

/** The layout constants as the C library reports them. */
export function nativeLayout(): Record<keyof typeof Layout, number> {
  const n = native();
  const out = new BigInt64Array(32);
  const count = n.shmq_layout(out, out.length);
  const result = {} as Record<keyof typeof Layout, number>;
  LAYOUT_ORDER.forEach((key, i) => {
    result[key] = i < count ? Number(out[i]) : Number.NaN;
  });
  return result;
}
