/*
 * shmq: a lock-free single-producer / single-consumer ring of variable-length
 * records in a shared-memory file. One ring carries one direction between an
 * app and its rxmesh agent (DESIGN.md §5).
 *
 * File layout (all offsets in bytes, little-endian host order):
 *
 *   0                   128                 256                 384                 512                 640
 *   +-------------------+-------------------+-------------------+-------------------+-------------------+------------------ - -
 *   | meta line         | producer line     | head-cache line   | consumer line     | doorbell line     | data area
 *   | magic version cap | tail              | head_cache        | head              | parked            | capacity bytes
 *   | max_record pids   | records_written   |                   | records_read      | space_wanted      | (power of two)
 *   |                   | full_count        |                   | unblocked         | wakeups           |
 *   |                   |                   |                   | cursor            | space_wakeups     |
 *   +-------------------+-------------------+-------------------+-------------------+-------------------+------------------ - -
 *
 *   offset  size  field            written by   meaning
 *   ------  ----  ---------------  -----------  ------------------------------------------------------------
 *        0     4  magic            creator      SHMQ_MAGIC ("RXMQ")
 *        4     4  version          creator      SHMQ_VERSION
 *        8     4  capacity         creator      data area size, a power of two
 *       12     4  max_record       creator      largest record body accepted, <= capacity / 4
 *       16     4  creator_pid      creator
 *       20     4  producer_pid     producer     set when a producer attaches (crash recovery)
 *       24     4  consumer_pid     consumer     set when a consumer attaches
 *       28     4  data_offset      creator      SHMQ_DATA_OFFSET
 *      128     8  tail             producer     producer position (claimed bytes, monotonic)
 *      136     8  records_written  producer     counter
 *      144     8  full_count       producer     writes refused because the ring was full
 *      256     8  head_cache       producer     the producer's cached copy of head
 *      384     8  head             consumer     released position: the producer may reuse what is before it
 *      392     8  records_read     consumer     counter
 *      400     8  unblocked        consumer     records skipped after a producer died mid-record
 *      408     8  cursor           consumer     read position (>= head): [head, cursor) is read, not released
 *      512     4  parked           both         1 while the consumer sleeps on its doorbell
 *      516     4  space_wanted     both         1 while the producer waits for the consumer to free space
 *      520     8  wakeups          producer     doorbell rings
 *      528     8  space_wakeups    consumer     space-bell rings
 *      640     -  data             both         records
 *
 * Each hot field has its own 128-byte line (two 64-byte cache lines, so the
 * adjacent-line prefetcher cannot make them share).
 *
 * Record (8-byte aligned):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-------------------------------------------------------------+
 *   |          length (int32, header + body bytes, >= 8)            |
 *   +-+-------------------------------------------------------------+
 *   |     type (int32): bits 24-25 fragment kind, bits 0-23 kind    |
 *   +---------------------------------------------------------------+
 *   |                 body ... padded to a multiple of 8            |
 *   +---------------------------------------------------------------+
 *
 *   length >= 8 : committed record (published with a release store); the
 *                 length counts the header, so it is never 0 (even for an
 *                 empty body or an 8-byte padding record)
 *   length == 0 : nothing here yet
 *   length  < 0 : claimed by the producer, being written (-length bytes)
 *   type == SHMQ_TYPE_PAD : padding: up to the end of the data area (the
 *                 wrap), or a repaired claim of a producer that died
 *   type & SHMQ_TYPE_TAKEN : taken out of the ring (bit 30, set by
 *                 compare-and-swap): by the consumer as it hands the record
 *                 out, or by the producer's side when it bounces records the
 *                 consumer left unread. Whoever sets it owns the record, so a
 *                 message is delivered or bounced, never both.
 *
 * The commit flag is the length, as in Aeron: the consumer acquire-loads the
 * length at its own head and never reads the producer position on the hot
 * path. The producer caches the consumer position and re-reads it only when
 * the cache says the ring is full.
 *
 * Invariant that lets the consumer skip zeroing what it read: before a record
 * is published, the producer zeroes the header slot right after it (and keeps
 * 8 bytes free for that). So the header at the consumer's head was written in
 * the current lap: it is 0, a claim, or a committed record; never stale bytes.
 *
 * Park / wake-up (no lost wake-up; a Dekker pair of seq_cst fences):
 *   consumer: parked = 1; fence; if header at head != 0 -> parked = 0, read;
 *             else sleep on the doorbell fd until it is readable.
 *   producer: publish length (release); fence; if parked -> exchange(parked, 0)
 *             and if it was 1, write one byte to the doorbell fd.
 * At least one side sees the other's store, so either the consumer sees the
 * record or the producer sees the parked flag.
 *
 * Space wake-up (the same pair, the other way): a producer that finds the ring
 * full sets space_wanted, fences and checks again; the consumer publishes a
 * new head, fences, and if space_wanted is set exchanges it to 0 and rings its
 * space bell. So neither side polls while the other is slow.
 *
 * Crash mid-record: a producer that dies after claiming (negative length) would
 * leave the consumer waiting forever. shmq_unblock() turns such a claim into a
 * padding record when the producer's pid is gone; a producer that attaches to
 * the ring later repairs a claim it finds at its own tail the same way.
 */
#include "shmq_ring.h"

static _Thread_local char err_text[256];
static _Thread_local int err_code;

int shmq_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err_text, sizeof err_text, fmt, ap);
  va_end(ap);
  err_code = code;
  return code;
}


SHMQ_EXPORT const char *shmq_last_error(void) { return err_text; }
SHMQ_EXPORT int shmq_last_code(void) { return err_code; }

/* Layout constants for the TypeScript binding to compare against its own. */
SHMQ_EXPORT int shmq_layout(int64_t *out, int n) {
  const int64_t v[] = {
      SHMQ_MAGIC, SHMQ_VERSION, SHMQ_LINE, SHMQ_DATA_OFFSET, SHMQ_RECORD_HEADER, SHMQ_ALIGN,
      offsetof(struct shmq_header, tail), offsetof(struct shmq_header, head_cache),
      offsetof(struct shmq_header, head), offsetof(struct shmq_header, parked),
      SHMQ_TYPE_PAD, SHMQ_FRAG_SHIFT, SHMQ_KIND_MASK, SHMQ_MIN_CAPACITY, SHMQ_MAX_CAPACITY,
      offsetof(struct shmq_header, cursor), offsetof(struct shmq_header, space_wanted), SHMQ_TYPE_TAKEN,
  };
  int count = (int)(sizeof v / sizeof v[0]);
  if (out == NULL || n < count) return count;
  memcpy(out, v, sizeof v);
  return count;
}

static shmq_t *map_ring(int fd, size_t len, int role) {
  void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    fail(SHMQ_ERROR, "mmap: %s", strerror(errno));
    return NULL;
  }
  shmq_t *q = calloc(1, sizeof *q);
  if (q == NULL) {
    munmap(base, len);
    fail(SHMQ_ERROR, "out of memory");
    return NULL;
  }
  q->base = base;
  q->map_len = len;
  q->hdr = base;
  q->data = (uint8_t *)base + SHMQ_DATA_OFFSET;
  q->role = role;
  q->bell_fd = -1;
  q->space_bell_fd = -1;
  q->claim = UINT64_MAX;
  return q;
}

static int valid_geometry(uint32_t capacity, uint32_t max_record) {
  if (capacity < SHMQ_MIN_CAPACITY || capacity > SHMQ_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
    return fail(SHMQ_INVALID, "capacity %u is not a power of two in [%u, %u]", capacity, SHMQ_MIN_CAPACITY,
                SHMQ_MAX_CAPACITY);
  if (max_record == 0 || max_record > capacity / 4)
    return fail(SHMQ_INVALID, "max_record %u must be in [1, capacity/4 = %u]", max_record, capacity / 4);
  return SHMQ_OK;
}

static void attach(shmq_t *q) {
  struct shmq_header *h = q->hdr;
  q->capacity = h->capacity;
  q->mask = h->capacity - 1;
  q->max_record = h->max_record;
  q->tail = OBSERVE(&h->tail);
  q->head = OBSERVE(&h->head);
  q->cursor = q->head;
  q->head_cache = q->head;
}

static void take_role(shmq_t *q, int role) {
  q->role = role;
  if (role == SHMQ_PRODUCER) atomic_store(&q->hdr->producer_pid, (int32_t)getpid());
  if (role == SHMQ_CONSUMER) atomic_store(&q->hdr->consumer_pid, (int32_t)getpid());
}

/* Create a ring file (mode 0600) and map it once, in `role` (the creator is
 * usually one of the two sides: one mapping, not two). */
SHMQ_EXPORT shmq_t *shmq_create_as(const char *path, uint32_t capacity, uint32_t max_record, int role) {
  if (role < SHMQ_PRODUCER || role > SHMQ_OBSERVER) {
    fail(SHMQ_INVALID, "create: bad role");
    return NULL;
  }
  shmq_t *q = shmq_create(path, capacity, max_record);
  if (q) take_role(q, role);
  return q;
}

SHMQ_EXPORT shmq_t *shmq_create(const char *path, uint32_t capacity, uint32_t max_record) {
  if (path == NULL) {
    fail(SHMQ_INVALID, "path is null");
    return NULL;
  }
  if (valid_geometry(capacity, max_record) != SHMQ_OK) return NULL;
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail(SHMQ_ERROR, "create %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t len = (size_t)SHMQ_DATA_OFFSET + capacity;
  /* Allocate every page now: on a full tmpfs (a container's 64 MB /dev/shm)
   * this fails here with ENOSPC instead of a SIGBUS on first touch later. */
  int err = posix_fallocate(fd, 0, (off_t)len);
  if (err == EOPNOTSUPP || err == EINVAL) err = ftruncate(fd, (off_t)len) == 0 ? 0 : errno;
  if (err != 0) {
    struct statvfs vfs;
    unsigned long long avail = fstatvfs(fd, &vfs) == 0 ? (unsigned long long)vfs.f_bavail * vfs.f_frsize : 0;
    if (err == ENOSPC)
      fail(SHMQ_NO_SPACE, "create %s: needs %zu bytes, %llu free on its file system (enlarge /dev/shm or use smaller rings)",
           path, len, avail);
    else
      fail(SHMQ_ERROR, "allocate %s (%zu bytes): %s", path, len, strerror(err));
    close(fd);
    unlink(path);
    return NULL;
  }
  shmq_t *q = map_ring(fd, len, SHMQ_OBSERVER);
  close(fd);
  if (q == NULL) {
    unlink(path);
    return NULL;
  }
  struct shmq_header *h = q->hdr;
  h->version = SHMQ_VERSION;
  h->capacity = capacity;
  h->max_record = max_record;
  h->creator_pid = (int32_t)getpid();
  h->data_offset = SHMQ_DATA_OFFSET;
  /* magic last: an opener that sees it sees the rest */
  atomic_thread_fence(memory_order_release);
  h->magic = SHMQ_MAGIC;
  attach(q);
  return q;
}

/* Producer attach: the shared tail is where the previous producer's last
 * publish (or open claim) ended. Walk past what is already committed there
 * (a claim the consumer unblocked into padding), and turn a claim whose owner
 * died into padding, so the new producer starts on a zeroed header, at or
 * after the consumer's head. */
static void repair_tail(shmq_t *q) {
  for (;;) {
    int32_t len = OBSERVE(len_at(q, q->tail));
    if (len == 0) break;
    uint32_t size = align8((uint32_t)(len < 0 ? -len : len));
    if (size < SHMQ_RECORD_HEADER || size > q->capacity - (q->tail & q->mask)) {
      RELAXED_STORE(len_at(q, q->tail), 0); /* nothing we can size: forget it */
      break;
    }
    if (len < 0) {
      RELAXED_STORE(len_at(q, q->tail + size), 0);
      *type_at(q, q->tail) = SHMQ_TYPE_PAD;
      int32_t expected = len;
      atomic_compare_exchange_strong(len_at(q, q->tail), &expected, (int32_t)size); /* the consumer may race us to it */
    }
    q->tail += size;
  }
  uint64_t head = OBSERVE(&q->hdr->head);
  if (q->tail < head) q->tail = head; /* never behind the consumer */
  PUBLISH(&q->hdr->tail, q->tail);
}

SHMQ_EXPORT shmq_t *shmq_open(const char *path, int role) {
  if (path == NULL || role < SHMQ_PRODUCER || role > SHMQ_OBSERVER) {
    fail(SHMQ_INVALID, "open: bad path or role");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fail(SHMQ_ERROR, "open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(SHMQ_ERROR, "fstat %s: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (st.st_size < SHMQ_DATA_OFFSET) {
    fail(SHMQ_BAD_SIZE, "%s: file is %lld bytes, smaller than the %d-byte header", path, (long long)st.st_size,
         SHMQ_DATA_OFFSET);
    close(fd);
    return NULL;
  }
  shmq_t *q = map_ring(fd, (size_t)st.st_size, role);
  close(fd);
  if (q == NULL) return NULL;
  struct shmq_header *h = q->hdr;
  uint32_t magic = h->magic;
  atomic_thread_fence(memory_order_acquire);
  int rc = SHMQ_OK;
  if (magic != SHMQ_MAGIC)
    rc = fail(SHMQ_BAD_MAGIC, "%s: bad magic 0x%08x (expected 0x%08x): not an rxmesh ring", path, magic, SHMQ_MAGIC);
  else if (h->version != SHMQ_VERSION)
    rc = fail(SHMQ_BAD_VERSION, "%s: ring version %u, this library speaks %u", path, h->version, SHMQ_VERSION);
  else if (valid_geometry(h->capacity, h->max_record) != SHMQ_OK || h->data_offset != SHMQ_DATA_OFFSET)
    rc = fail(SHMQ_BAD_SIZE, "%s: corrupt geometry (capacity %u, max_record %u)", path, h->capacity, h->max_record);
  else if ((uint64_t)st.st_size != (uint64_t)SHMQ_DATA_OFFSET + h->capacity)
    rc = fail(SHMQ_BAD_SIZE, "%s: file is %lld bytes, header says %llu", path, (long long)st.st_size,
              (unsigned long long)SHMQ_DATA_OFFSET + h->capacity);
  if (rc != SHMQ_OK) {
    munmap(q->base, q->map_len);
    free(q);
    return NULL;
  }
  attach(q);
  if (role == SHMQ_PRODUCER) {
    atomic_store(&h->producer_pid, (int32_t)getpid());
    repair_tail(q);
  } else if (role == SHMQ_CONSUMER) {
    atomic_store(&h->consumer_pid, (int32_t)getpid());
    /* a new consumer reads on from what was released: records a previous one
     * read but did not release are read again */
    PUBLISH(&h->cursor, q->cursor);
  }
  return q;
}

/* A second handle on the same mapping, in another role (threads in one
 * process; the thread-sanitizer stress uses it so both sides share addresses).
 * Close it before the handle it came from. */
SHMQ_EXPORT shmq_t *shmq_dup(const shmq_t *q, int role) {
  if (q == NULL || role < SHMQ_PRODUCER || role > SHMQ_OBSERVER) {
    fail(SHMQ_INVALID, "dup: bad handle or role");
    return NULL;
  }
  shmq_t *d = calloc(1, sizeof *d);
  if (d == NULL) {
    fail(SHMQ_ERROR, "out of memory");
    return NULL;
  }
  *d = *q;
  d->role = role;
  d->bell_fd = -1;
  d->space_bell_fd = -1;
  d->claim = UINT64_MAX;
  d->peeked = 0;
  d->borrowed = 1;
  attach(d);
  return d;
}

SHMQ_EXPORT void shmq_close(shmq_t *q) {
  if (q == NULL) return;
  if (!q->borrowed) munmap(q->base, q->map_len);
  free(q);
}

SHMQ_EXPORT int shmq_unlink(const char *path) {
  if (path == NULL) return fail(SHMQ_INVALID, "path is null");
  if (unlink(path) != 0) return fail(SHMQ_ERROR, "unlink %s: %s", path, strerror(errno));
  return SHMQ_OK;
}

SHMQ_EXPORT uint32_t shmq_capacity(const shmq_t *q) { return q->capacity; }
SHMQ_EXPORT uint32_t shmq_max_record(const shmq_t *q) { return q->max_record; }
SHMQ_EXPORT void shmq_set_bell(shmq_t *q, int fd) { q->bell_fd = fd; }

/* The data area and its size, for a zero-copy view (koffi.view). */
SHMQ_EXPORT void *shmq_data(shmq_t *q) { return q->data; }

