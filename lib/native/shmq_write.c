/* shmq producer side: placing, copying and publishing records. */
#include "shmq_ring.h"


/* Bytes free for the producer, refreshing the cached head only when needed. */
static int make_room(shmq_t *q, uint64_t needed) {
  if (q->tail + needed - q->head_cache <= q->capacity) return 1;
  uint64_t head = OBSERVE(&q->hdr->head); /* pairs with the consumer's PUBLISH of head */
  if (head > q->tail || q->tail - head > q->capacity) return -1;
  q->head_cache = head;
  RELAXED_STORE(&q->hdr->head_cache, head);
  return q->tail + needed - head <= q->capacity;
}

/* Reserve room for one record of `body` bytes at the tail, writing a padding
 * record first when it would straddle the end. Returns the record's position,
 * or UINT64_MAX when full. `first` collects the header that must be published
 * last (the batch's first header), `first_len` its length. */
static uint64_t place(shmq_t *q, uint32_t body, uint64_t *first, int32_t *first_len, int *rc) {
  uint32_t size = record_size(body);
  uint32_t to_end = q->capacity - (uint32_t)(q->tail & q->mask);
  uint32_t pad = size > to_end ? to_end : 0;
  int room = make_room(q, (uint64_t)pad + size + SHMQ_RECORD_HEADER);
  if (room <= 0) {
    *rc = room < 0 ? fail(SHMQ_CORRUPT, "consumer position out of range") : SHMQ_FULL;
    return UINT64_MAX;
  }
  if (pad) {
    *type_at(q, q->tail) = SHMQ_TYPE_PAD;
    int32_t pad_len = (int32_t)pad;
    if (*first == UINT64_MAX) {
      *first = q->tail;
      *first_len = pad_len;
    } else {
      RELAXED_STORE(len_at(q, q->tail), pad_len);
    }
    q->tail += pad;
  }
  uint64_t pos = q->tail;
  q->tail += size;
  return pos;
}

static void notify(shmq_t *q) {
  if (q->bell_fd < 0) return;
  atomic_thread_fence(memory_order_seq_cst); /* Dekker: our publish vs. its parked store */
  if (RELAXED_LOAD(&q->hdr->parked) && atomic_exchange(&q->hdr->parked, 0)) {
    static const char one = 1;
    ssize_t n = write(q->bell_fd, &one, 1); /* EAGAIN: a byte is already waiting */
    (void)n;
    atomic_fetch_add_explicit(&q->hdr->wakeups, 1, memory_order_relaxed);
  }
}

/* Publish everything placed since `first`: zero the next header slot, then
 * release the first header's length, which makes the whole batch visible. */
static void publish(shmq_t *q, uint64_t first, int32_t first_len, uint64_t records) {
  RELAXED_STORE(len_at(q, q->tail), 0);
  PUBLISH(len_at(q, first), first_len);
  PUBLISH(&q->hdr->tail, q->tail);
  atomic_fetch_add_explicit(&q->hdr->records_written, records, memory_order_relaxed);
  notify(q);
}

static int check_producer(const shmq_t *q) {
  if (q == NULL || q->role != SHMQ_PRODUCER) return fail(SHMQ_INVALID, "not a producer handle");
  if (q->claim != UINT64_MAX) return fail(SHMQ_INVALID, "a claim is open: commit it first");
  return SHMQ_OK;
}

static void count_full(shmq_t *q) { atomic_fetch_add_explicit(&q->hdr->full_count, 1, memory_order_relaxed); }

/* Bytes the producer could write now as one record body plus its header,
 * refreshing its view of the consumer's head. */
SHMQ_EXPORT int64_t shmq_free(shmq_t *q) {
  if (q == NULL || q->role != SHMQ_PRODUCER) return fail(SHMQ_INVALID, "not a producer handle");
  uint64_t head = OBSERVE(&q->hdr->head); /* pairs with the consumer's PUBLISH of head */
  if (head > q->tail || q->tail - head > q->capacity) return fail(SHMQ_CORRUPT, "consumer position out of range");
  q->head_cache = head;
  RELAXED_STORE(&q->hdr->head_cache, head);
  uint64_t used = q->tail - head + SHMQ_RECORD_HEADER; /* the next header slot is always kept zeroed */
  return used >= q->capacity ? 0 : (int64_t)(q->capacity - used);
}

/* Ask the consumer to ring its space bell once it releases space. Returns 1
 * when the producer should wait for that bell, 0 when `bytes` are already free
 * (the request is withdrawn), or a negative result. The same Dekker pair as
 * parking: either we see the consumer's release, or it sees our flag. */
SHMQ_EXPORT int shmq_want_space(shmq_t *q, uint32_t bytes) {
  if (q == NULL || q->role != SHMQ_PRODUCER) return fail(SHMQ_INVALID, "not a producer handle");
  atomic_store(&q->hdr->space_wanted, 1);
  (void)atomic_load(&q->hdr->head); /* seq_cst: ordered after our flag (see publish_head in shmq_read.c) */
  int64_t free_bytes = shmq_free(q);
  if (free_bytes < 0 || free_bytes >= (int64_t)bytes) {
    atomic_store(&q->hdr->space_wanted, 0);
    return free_bytes < 0 ? (int)free_bytes : 0;
  }
  return 1;
}

SHMQ_EXPORT int shmq_write(shmq_t *q, int32_t type, const uint8_t *body, uint32_t len) {
  int rc = check_producer(q);
  if (rc != SHMQ_OK) return rc;
  if (len > q->max_record) return fail(SHMQ_TOO_BIG, "record of %u bytes exceeds max_record %u", len, q->max_record);
  if (type < 0) return fail(SHMQ_INVALID, "negative record type is reserved");
  uint64_t first = UINT64_MAX;
  int32_t first_len = 0;
  uint64_t pos = place(q, len, &first, &first_len, &rc);
  if (pos == UINT64_MAX) {
    if (rc == SHMQ_FULL) count_full(q);
    return rc;
  }
  *type_at(q, pos) = type;
  if (len) memcpy(q->data + (pos & q->mask) + SHMQ_RECORD_HEADER, body, len);
  if (first == UINT64_MAX) {
    first = pos;
    first_len = (int32_t)(SHMQ_RECORD_HEADER + len);
  } else {
    RELAXED_STORE(len_at(q, pos), (int32_t)(SHMQ_RECORD_HEADER + len));
  }
  publish(q, first, first_len, 1);
  return SHMQ_OK;
}

/* Write records packed in `src` in the ring's own record format. Returns the
 * number of bytes of `src` written (whole records only; less than `len` when
 * the ring filled up), or a negative result when nothing could be written. */
SHMQ_EXPORT int64_t shmq_write_batch(shmq_t *q, const uint8_t *src, uint32_t len) {
  int rc = check_producer(q);
  if (rc != SHMQ_OK) return rc;
  if (src == NULL || len % SHMQ_ALIGN != 0) return fail(SHMQ_INVALID, "batch must be 8-byte aligned records");
  uint64_t first = UINT64_MAX;
  int32_t first_len = 0;
  uint32_t off = 0;
  uint64_t records = 0;
  rc = SHMQ_OK;
  while (off < len) {
    if (len - off < SHMQ_RECORD_HEADER) { rc = fail(SHMQ_INVALID, "truncated record header at %u", off); break; }
    int32_t rlen, type;
    memcpy(&rlen, src + off, 4);
    memcpy(&type, src + off + 4, 4);
    if (rlen < SHMQ_RECORD_HEADER || type < 0 || (uint32_t)rlen - SHMQ_RECORD_HEADER > q->max_record) {
      rc = fail(rlen > SHMQ_RECORD_HEADER ? SHMQ_TOO_BIG : SHMQ_INVALID, "bad record at %u (length %d, type %d)", off,
                rlen, type);
      break;
    }
    uint32_t body = (uint32_t)rlen - SHMQ_RECORD_HEADER;
    uint32_t size = record_size(body);
    if (size > len - off) { rc = fail(SHMQ_INVALID, "record at %u runs past the batch", off); break; }
    uint64_t pos = place(q, body, &first, &first_len, &rc);
    if (pos == UINT64_MAX) break;
    memcpy(q->data + (pos & q->mask) + 4, src + off + 4, size - 4); /* type + body; length below */
    if (first == UINT64_MAX) {
      first = pos;
      first_len = rlen;
    } else {
      RELAXED_STORE(len_at(q, pos), rlen);
    }
    off += size;
    records++;
  }
  if (first != UINT64_MAX) publish(q, first, first_len, records);
  if (off > 0) return off;
  if (rc == SHMQ_FULL) count_full(q);
  return rc == SHMQ_OK ? 0 : rc;
}

/* Write a message of any size as fragments (BEGIN/MIDDLE/END, or one COMPLETE
 * record when it fits), each body being `prefix` followed by the next chunk.
 * Resumable: pass the returned offset back in until it equals `len`. Returns
 * the new offset into `msg`, or a negative result when nothing was written. */
SHMQ_EXPORT int64_t shmq_write_fragments(shmq_t *q, int32_t kind, const uint8_t *prefix, uint32_t prefix_len,
                                         const uint8_t *msg, uint64_t len, uint64_t offset) {
  int rc = check_producer(q);
  if (rc != SHMQ_OK) return rc;
  if (kind < 0 || kind > SHMQ_KIND_MASK) return fail(SHMQ_INVALID, "record kind %d out of range", kind);
  if (prefix_len >= q->max_record) return fail(SHMQ_TOO_BIG, "prefix of %u bytes leaves no room", prefix_len);
  if (offset > len || (prefix_len && prefix == NULL) || (len && msg == NULL)) return fail(SHMQ_INVALID, "bad fragment args");
  uint32_t chunk_max = q->max_record - prefix_len;
  uint64_t first = UINT64_MAX;
  int32_t first_len = 0;
  uint64_t records = 0;
  uint64_t start = offset;
  do {
    uint64_t left = len - offset;
    uint32_t chunk = left > chunk_max ? chunk_max : (uint32_t)left;
    int frag;
    if (offset == 0) frag = chunk == left ? SHMQ_FRAG_COMPLETE : SHMQ_FRAG_BEGIN;
    else frag = chunk == left ? SHMQ_FRAG_END : SHMQ_FRAG_MIDDLE;
    uint32_t body = prefix_len + chunk;
    uint64_t pos = place(q, body, &first, &first_len, &rc);
    if (pos == UINT64_MAX) break;
    uint8_t *dst = q->data + (pos & q->mask);
    *(int32_t *)(dst + 4) = kind | (frag << SHMQ_FRAG_SHIFT);
    if (prefix_len) memcpy(dst + SHMQ_RECORD_HEADER, prefix, prefix_len);
    if (chunk) memcpy(dst + SHMQ_RECORD_HEADER + prefix_len, msg + offset, chunk);
    if (first == UINT64_MAX) {
      first = pos;
      first_len = (int32_t)(SHMQ_RECORD_HEADER + body);
    } else {
      RELAXED_STORE(len_at(q, pos), (int32_t)(SHMQ_RECORD_HEADER + body));
    }
    offset += chunk;
    records++;
  } while (offset < len);
  if (first != UINT64_MAX) publish(q, first, first_len, records);
  if (offset > start || (records > 0)) return (int64_t)offset;
  if (rc == SHMQ_FULL) count_full(q);
  return rc;
}

/* Zero-copy write: claim room for one record of `len` (>= 1) bytes, fill it
 * through the data view at the returned offset + 8, then shmq_commit_claim().
 * The claim shows as a negative length, so a producer that dies before the
 * commit is detectable (shmq_unblock). The shared tail stays at the claim
 * until the commit, so a producer that attaches later finds and repairs it. */
SHMQ_EXPORT int64_t shmq_claim(shmq_t *q, int32_t type, uint32_t len) {
  int rc = check_producer(q);
  if (rc != SHMQ_OK) return rc;
  if (len == 0 || len > q->max_record)
    return fail(len ? SHMQ_TOO_BIG : SHMQ_INVALID, "claim of %u bytes outside [1, max_record %u]", len, q->max_record);
  if (type < 0) return fail(SHMQ_INVALID, "negative record type is reserved");
  uint64_t first = UINT64_MAX;
  int32_t first_len = 0;
  uint64_t pos = place(q, len, &first, &first_len, &rc);
  if (pos == UINT64_MAX) {
    if (rc == SHMQ_FULL) count_full(q);
    return rc;
  }
  RELAXED_STORE(len_at(q, q->tail), 0); /* next header, before the claim shows */
  *type_at(q, pos) = type;
  if (first != UINT64_MAX) PUBLISH(len_at(q, first), first_len); /* padding ahead of the claim */
  PUBLISH(len_at(q, pos), -(int32_t)(SHMQ_RECORD_HEADER + len));
  PUBLISH(&q->hdr->tail, pos);
  q->claim = pos;
  return (int64_t)(pos & q->mask);
}

SHMQ_EXPORT int shmq_commit_claim(shmq_t *q) {
  if (q == NULL || q->role != SHMQ_PRODUCER || q->claim == UINT64_MAX) return fail(SHMQ_INVALID, "no open claim");
  uint64_t pos = q->claim;
  q->claim = UINT64_MAX;
  PUBLISH(len_at(q, pos), -RELAXED_LOAD(len_at(q, pos)));
  PUBLISH(&q->hdr->tail, q->tail);
  atomic_fetch_add_explicit(&q->hdr->records_written, 1, memory_order_relaxed);
  notify(q);
  return SHMQ_OK;
}

