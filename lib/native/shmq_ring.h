/* Internal to the shmq library: the shared header, the process-local handle,
 * and the ordering macros shared by its source files. */
#ifndef RXMESH_SHMQ_RING_H
#define RXMESH_SHMQ_RING_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "shmq.h"
#include "shmq_compat.h"

#define SHMQ_EXPORT __attribute__((visibility("default")))

/* The two orderings every cross-process hand-off goes through. */
#define PUBLISH(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define OBSERVE(p) atomic_load_explicit((p), memory_order_acquire)
#define RELAXED_LOAD(p) atomic_load_explicit((p), memory_order_relaxed)
#define RELAXED_STORE(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)

struct shmq_header {
  /* line 0: meta, immutable after create except the pids */
  uint32_t magic;
  uint32_t version;
  uint32_t capacity;
  uint32_t max_record;
  int32_t creator_pid;
  _Atomic int32_t producer_pid;
  _Atomic int32_t consumer_pid;
  uint32_t data_offset;
  uint8_t pad0[SHMQ_LINE - 32];
  /* line 1: producer */
  _Atomic uint64_t tail;
  _Atomic uint64_t records_written;
  _Atomic uint64_t full_count;
  uint8_t pad1[SHMQ_LINE - 24];
  /* line 2: producer's cache of head */
  _Atomic uint64_t head_cache;
  uint8_t pad2[SHMQ_LINE - 8];
  /* line 3: consumer */
  _Atomic uint64_t head;
  _Atomic uint64_t records_read;
  _Atomic uint64_t unblocked;
  _Atomic uint64_t cursor;
  uint8_t pad3[SHMQ_LINE - 32];
  /* line 4: doorbells */
  _Atomic uint32_t parked;
  _Atomic uint32_t space_wanted;
  _Atomic uint64_t wakeups;
  _Atomic uint64_t space_wakeups;
  uint8_t pad4[SHMQ_LINE - 24];
};

_Static_assert(sizeof(struct shmq_header) == SHMQ_DATA_OFFSET, "header size");
_Static_assert(offsetof(struct shmq_header, tail) == 128, "tail offset");
_Static_assert(offsetof(struct shmq_header, head_cache) == 256, "head_cache offset");
_Static_assert(offsetof(struct shmq_header, head) == 384, "head offset");
_Static_assert(offsetof(struct shmq_header, cursor) == 408, "cursor offset");
_Static_assert(offsetof(struct shmq_header, parked) == 512, "parked offset");
_Static_assert(offsetof(struct shmq_header, space_wanted) == 516, "space_wanted offset");
_Static_assert(offsetof(struct shmq_header, wakeups) == 520, "wakeups offset");
_Static_assert(offsetof(struct shmq_header, space_wakeups) == 528, "space_wakeups offset");
_Static_assert(SHMQ_DATA_OFFSET % SHMQ_ALIGN == 0, "data alignment");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic int32_t) == 4, "atomic sizes");

struct shmq {
  uint8_t *base;
  size_t map_len;
  struct shmq_header *hdr;
  uint8_t *data;
  uint32_t capacity;
  uint32_t mask;
  uint32_t max_record;
  int role;
  int bell_fd;      /* producer: doorbell to ring when the consumer is parked */
  int space_bell_fd;/* consumer: doorbell to ring when the producer waits for space */
  uint64_t tail;    /* producer: authoritative local copy */
  uint64_t head_cache;
  uint64_t head;    /* consumer: released position (authoritative local copy) */
  uint64_t cursor;  /* consumer: read position, >= head; records in [head, cursor) are read, not yet released */
  uint64_t claim;   /* producer: position of an open claim, or UINT64_MAX */
  int borrowed;     /* shares another handle's mapping (shmq_dup) */
  uint32_t peeked;  /* consumer: bytes of the last shmq_peek span, from cursor */
};

int shmq_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define fail shmq_fail

static inline uint32_t align8(uint32_t n) { return (n + (SHMQ_ALIGN - 1)) & ~(uint32_t)(SHMQ_ALIGN - 1); }
static inline uint32_t record_size(uint32_t body) { return align8(SHMQ_RECORD_HEADER + body); }
static inline _Atomic int32_t *len_at(shmq_t *q, uint64_t pos) { return (_Atomic int32_t *)(q->data + (pos & q->mask)); }
static inline int32_t *type_at(shmq_t *q, uint64_t pos) { return (int32_t *)(q->data + (pos & q->mask) + 4); }

#endif
