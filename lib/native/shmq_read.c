/* shmq consumer side: reading, peeking, releasing, parking and crash recovery.
 *
 * The consumer has two positions. `cursor` is where it reads next; `head` is
 * what it has released to the producer. Records in [head, cursor) have been
 * read but are still the consumer's: the agent keeps a sender's records there
 * until their delivery is settled, and an app keeps messages there that no
 * subscriber has taken yet. Both are published: head frees space, cursor
 * tells a producer that outlives the consumer what was (possibly) taken. */
#include "shmq_ring.h"


static int check_consumer(const shmq_t *q) {
  if (q == NULL || q->role != SHMQ_CONSUMER) return fail(SHMQ_INVALID, "not a consumer handle");
  return SHMQ_OK;
}

/* Validate the header at `pos` whose length was just observed. */
static int sane(shmq_t *q, uint64_t pos, int32_t len) {
  uint32_t to_end = q->capacity - (uint32_t)(pos & q->mask);
  int32_t type = *type_at(q, pos);
  if (len < SHMQ_RECORD_HEADER) return 0;
  if (type == SHMQ_TYPE_PAD) return len % SHMQ_ALIGN == 0 && (uint32_t)len <= to_end; /* wrap, or a repaired claim */
  return type >= 0 && (uint32_t)len - SHMQ_RECORD_HEADER <= q->max_record && align8((uint32_t)len) <= to_end;
}

/* A lap of nothing but padding: no producer writes that (a wrap pads once, to the end of the ring), and
 * stepping over it would go round forever. */
static int padding_lap(shmq_t *q) {
  return fail(SHMQ_CORRUPT, "a whole lap of padding at position %llu", (unsigned long long)q->cursor);
}

/* Publish head (frees the space for the producer). When a producer may wait
 * for space, it is a Dekker pair with shmq_want_space: a seq_cst store of head
 * then a seq_cst load of space_wanted here, a seq_cst store of space_wanted
 * then a seq_cst load of head there, so at least one side sees the other. */
static void publish_head(shmq_t *q) {
  if (q->space_bell_fd < 0) {
    PUBLISH(&q->hdr->head, q->head);
    return;
  }
  atomic_store(&q->hdr->head, q->head);
  if (atomic_load(&q->hdr->space_wanted) && atomic_exchange(&q->hdr->space_wanted, 0)) {
    static const char one = 1;
    ssize_t n = write(q->space_bell_fd, &one, 1); /* EAGAIN: a byte is already waiting */
    (void)n;
    atomic_fetch_add_explicit(&q->hdr->space_wakeups, 1, memory_order_relaxed);
  }
}

static void publish_cursor(shmq_t *q, uint64_t records) {
  PUBLISH(&q->hdr->cursor, q->cursor);
  if (records) atomic_fetch_add_explicit(&q->hdr->records_read, records, memory_order_relaxed);
}

/* Copy whole committed records into `dst` (ring format, padding skipped), up
 * to `cap` bytes, and release them. Only when nothing is held back (head ==
 * cursor). Returns bytes copied, 0 when empty, or a negative result
 * (SHMQ_BLOCKED: the next record is claimed but not committed yet). */
SHMQ_EXPORT int64_t shmq_read_batch(shmq_t *q, uint8_t *dst, uint32_t cap) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  if (dst == NULL) return fail(SHMQ_INVALID, "dst is null");
  if (q->head != q->cursor) return fail(SHMQ_INVALID, "read_batch while records are held (head behind cursor)");
  q->peeked = 0; /* a copying read ends any earlier peek */
  uint32_t out = 0;
  uint64_t records = 0;
  uint64_t skipped = 0; /* padding stepped over in this call */
  for (;;) {
    int32_t len = OBSERVE(len_at(q, q->cursor)); /* pairs with the producer's PUBLISH */
    if (len == 0) break;
    if (len < 0) { rc = SHMQ_BLOCKED; break; }
    if (!sane(q, q->cursor, len)) { rc = fail(SHMQ_CORRUPT, "corrupt record at position %llu", (unsigned long long)q->cursor); break; }
    uint32_t size = align8((uint32_t)len);
    if (*type_at(q, q->cursor) == SHMQ_TYPE_PAD) {
      if ((skipped += size) >= q->capacity) { rc = padding_lap(q); break; }
      q->cursor += size;
      continue;
    }
    if (size > cap - out) {
      if (out == 0) rc = fail(SHMQ_TOO_BIG, "record of %u bytes does not fit a %u-byte buffer", size, cap);
      break;
    }
    memcpy(dst + out, q->data + (q->cursor & q->mask), size);
    out += size;
    q->cursor += size;
    records++;
  }
  q->head = q->cursor;
  publish_cursor(q, records);
  publish_head(q);
  if (out > 0) return out;
  return rc;
}

/* Zero-copy read: the committed records from the cursor up to the wrap (or
 * `max_bytes`), as a span of the data area. *offset receives where it starts;
 * the return value is its length in bytes (0 when empty, negative on error).
 * The cursor does not move: shmq_advance() says how much was read. Padding
 * at the cursor is skipped here (and released with it when nothing is held). */
SHMQ_EXPORT int64_t shmq_peek(shmq_t *q, uint32_t *offset, uint32_t max_bytes) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  uint64_t pos = q->cursor;
  uint32_t span = 0;
  uint64_t skipped = 0; /* padding stepped over in this call */
  for (;;) {
    int32_t len = OBSERVE(len_at(q, pos));
    if (len == 0) break;
    if (len < 0) { if (span == 0) rc = SHMQ_BLOCKED; break; }
    if (!sane(q, pos, len)) { if (span == 0) rc = fail(SHMQ_CORRUPT, "corrupt record at position %llu", (unsigned long long)pos); break; }
    uint32_t size = align8((uint32_t)len);
    if (*type_at(q, pos) == SHMQ_TYPE_PAD) {
      if (span > 0) break;
      if ((skipped += size) >= q->capacity) { rc = padding_lap(q); break; }
      int follow = q->head == q->cursor;
      q->cursor = pos = pos + size; /* step over the padding now */
      publish_cursor(q, 0);
      if (follow) {
        q->head = q->cursor;
        publish_head(q);
      }
      continue;
    }
    if (span > 0 && span + size > max_bytes) break;
    span += size;
    pos += size;
    if ((pos & q->mask) == 0) break; /* the span stops at the wrap */
  }
  if (offset) *offset = (uint32_t)(q->cursor & q->mask);
  q->peeked = span;
  if (span > 0) return span;
  return rc;
}

/* Move the cursor over `bytes` (whole records of the last peek). */
SHMQ_EXPORT int shmq_advance(shmq_t *q, uint32_t bytes, uint32_t records) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  if (bytes % SHMQ_ALIGN != 0 || bytes > q->peeked) return fail(SHMQ_INVALID, "advance of %u bytes, %u peeked", bytes, q->peeked);
  q->peeked -= bytes;
  q->cursor += bytes;
  publish_cursor(q, records);
  return SHMQ_OK;
}

/* Release everything before `pos` to the producer (head <= pos <= cursor). */
SHMQ_EXPORT int shmq_release_to(shmq_t *q, uint64_t pos) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  if (pos < q->head || pos > q->cursor || (pos - q->head) % SHMQ_ALIGN != 0)
    return fail(SHMQ_INVALID, "release to %llu outside [head %llu, cursor %llu]", (unsigned long long)pos,
                (unsigned long long)q->head, (unsigned long long)q->cursor);
  if (pos == q->head) return SHMQ_OK;
  q->head = pos;
  publish_head(q);
  return SHMQ_OK;
}

/* Read and release `bytes` from the cursor (whole records previously peeked),
 * when nothing is held back: the simple consumer's one call per span. */
SHMQ_EXPORT int shmq_release(shmq_t *q, uint32_t bytes, uint32_t records) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  if (q->head != q->cursor) return fail(SHMQ_INVALID, "release while records are held (use advance + release_to)");
  rc = shmq_advance(q, bytes, records);
  if (rc != SHMQ_OK) return rc;
  q->head = q->cursor;
  publish_head(q);
  return SHMQ_OK;
}

/* The consumer's read position. */
SHMQ_EXPORT int64_t shmq_cursor(shmq_t *q) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  return (int64_t)q->cursor;
}

/* Consumer: ring `fd` after releasing space while the producer waits for it. */
SHMQ_EXPORT void shmq_set_space_bell(shmq_t *q, int fd) {
  if (q) q->space_bell_fd = fd;
}

/* A committed record (or padding) at the cursor. An open claim is not data:
 * the consumer may park on it, and the producer's commit rings the doorbell. */
static int has_data(shmq_t *q) { return RELAXED_LOAD(len_at(q, q->cursor)) > 0; }

SHMQ_EXPORT int shmq_available(shmq_t *q) { return check_consumer(q) == SHMQ_OK && has_data(q); }

/* Spin up to `spin_ns` for data. Returns 1 if data is waiting, 0 otherwise. */
SHMQ_EXPORT int shmq_spin(shmq_t *q, uint32_t spin_ns) {
  if (check_consumer(q) != SHMQ_OK) return 0;
  if (has_data(q)) return 1;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned i = 1;; i++) {
    if (has_data(q)) return 1;
    if ((i & 63) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      uint64_t el = (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t.tv_nsec - t0.tv_nsec);
      if (el >= spin_ns) return 0;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

/* Announce that the consumer is about to sleep. Returns 1 if it may sleep on
 * the doorbell, 0 if data arrived meanwhile (the parked flag is cleared). */
SHMQ_EXPORT int shmq_park(shmq_t *q) {
  if (check_consumer(q) != SHMQ_OK) return 0;
  atomic_store(&q->hdr->parked, 1);
  atomic_thread_fence(memory_order_seq_cst); /* Dekker: our parked store vs. its publish */
  if (has_data(q)) {
    atomic_store(&q->hdr->parked, 0);
    return 0;
  }
  return 1;
}

SHMQ_EXPORT void shmq_unpark(shmq_t *q) {
  if (check_consumer(q) == SHMQ_OK) atomic_store(&q->hdr->parked, 0);
}

static int pid_alive(int32_t pid) {
  if (pid <= 0) return 0;
  return kill(pid, 0) == 0 || errno == EPERM;
}

/* Turn a claim at the cursor whose producer died into padding so reading goes
 * on. SHMQ_OK: unblocked; SHMQ_BUSY: the producer is alive (or force == 0
 * and its pid is unknown); SHMQ_EMPTY: nothing is claimed at the cursor. */
SHMQ_EXPORT int shmq_unblock(shmq_t *q, int force) {
  int rc = check_consumer(q);
  if (rc != SHMQ_OK) return rc;
  int32_t len = OBSERVE(len_at(q, q->cursor));
  if (len >= 0) return SHMQ_EMPTY;
  int32_t pid = atomic_load(&q->hdr->producer_pid);
  if (!force && pid_alive(pid)) return fail(SHMQ_BUSY, "the producer (pid %d) holding the claim is alive", pid);
  uint32_t rlen = (uint32_t)-len;
  if (rlen < SHMQ_RECORD_HEADER || rlen - SHMQ_RECORD_HEADER > q->max_record ||
      align8(rlen) > q->capacity - (uint32_t)(q->cursor & q->mask))
    return fail(SHMQ_CORRUPT, "claim of %u bytes at the cursor cannot be valid", rlen);
  *type_at(q, q->cursor) = SHMQ_TYPE_PAD;
  int32_t expected = len;
  if (!atomic_compare_exchange_strong(len_at(q, q->cursor), &expected, (int32_t)align8(rlen))) return SHMQ_EMPTY;
  atomic_fetch_add_explicit(&q->hdr->unblocked, 1, memory_order_relaxed);
  return SHMQ_OK;
}

/* Counters: tail, head, records_written, records_read, full_count, unblocked,
 * wakeups, parked, producer_pid, consumer_pid, creator_pid, cursor,
 * space_wakeups, space_wanted. Returns the count. */
SHMQ_EXPORT int shmq_stats(const shmq_t *q, int64_t *out, int n) {
  if (q == NULL) return fail(SHMQ_INVALID, "null handle");
  struct shmq_header *h = q->hdr;
  const int64_t v[] = {
      (int64_t)atomic_load(&h->tail), (int64_t)atomic_load(&h->head), (int64_t)atomic_load(&h->records_written),
      (int64_t)atomic_load(&h->records_read), (int64_t)atomic_load(&h->full_count), (int64_t)atomic_load(&h->unblocked),
      (int64_t)atomic_load(&h->wakeups), atomic_load(&h->parked), atomic_load(&h->producer_pid),
      atomic_load(&h->consumer_pid), h->creator_pid, (int64_t)atomic_load(&h->cursor),
      (int64_t)atomic_load(&h->space_wakeups), atomic_load(&h->space_wanted),
  };
  int count = (int)(sizeof v / sizeof v[0]);
  if (out == NULL || n < count) return count;
  memcpy(out, v, sizeof v);
  return count;
}
