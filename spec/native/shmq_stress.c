/* Stress test of the shmq ring: a producer and a consumer exchange N records
 * of random sizes (1 B .. max_record, plus fragmented messages up to
 * 4 x max_record) through a small ring, so it wraps many times. The consumer
 * regenerates every expected record from its index and checks order, length
 * and an FNV-1a checksum of every byte. Both write paths (single, batch,
 * claim/commit, fragments) and both read paths (copying batch, zero-copy peek)
 * are used, and the consumer parks on a FIFO doorbell when idle, so a lost
 * wake-up shows up as a timed-out poll with data waiting.
 *
 *   stress --mode process|thread --records N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmq.h"

#define CAPACITY (64u * 1024u)
#define MAX_RECORD (8u * 1024u)
#define KIND_WHOLE 1
#define KIND_MESSAGE 2
#define SEED 0x9e3779b97f4a7c15ull

static uint64_t records_total;
static char ring_path[128];
static char bell_path[128];

static uint64_t splitmix(uint64_t x) {
  x += SEED;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Size of record `i`: mostly small, some up to max_record, a few fragmented. */
static uint32_t size_of(uint64_t i, int *fragmented) {
  uint64_t r = splitmix(i);
  *fragmented = (r % 1024) == 0;
  if (*fragmented) return MAX_RECORD + 1 + (uint32_t)((r >> 10) % (3 * MAX_RECORD));
  if ((r % 64) == 1) return 1 + (uint32_t)((r >> 6) % MAX_RECORD);
  return 1 + (uint32_t)((r >> 6) % 64);
}

static void fill(uint64_t i, uint8_t *dst, uint32_t len) {
  uint64_t r = splitmix(i ^ 0x5555);
  for (uint32_t j = 0; j < len; j++) dst[j] = (uint8_t)((r >> ((j & 7) * 8)) + j);
}

static uint32_t fnv(const uint8_t *p, uint32_t len) {
  uint32_t h = 2166136261u;
  for (uint32_t j = 0; j < len; j++) h = (h ^ p[j]) * 16777619u;
  return h;
}

static void die(const char *what) {
  fprintf(stderr, "stress: %s: %s (code %d)\n", what, shmq_last_error(), shmq_last_code());
  exit(2);
}

static uint32_t align8(uint32_t n) { return (n + 7) & ~7u; }

/* ------------------------------------------------------------- producer */

static uint8_t batch[64 * 1024];
static uint32_t batch_len;

static void flush_batch(shmq_t *q) {
  uint32_t off = 0;
  while (off < batch_len) {
    int64_t n = shmq_write_batch(q, batch + off, batch_len - off);
    if (n > 0) off += (uint32_t)n;
    else if (n == SHMQ_FULL) sched_yield();
    else die("write_batch");
  }
  batch_len = 0;
}

static void produce(shmq_t *q) {
  static uint8_t msg[4 * MAX_RECORD + 8];
  for (uint64_t i = 0; i < records_total; i++) {
    int fragmented;
    uint32_t len = size_of(i, &fragmented);
    int mode = (int)((splitmix(i) >> 20) % 3);
    if (fragmented || mode != 1) flush_batch(q);
    if (fragmented) {
      fill(i, msg, len);
      uint64_t off = 0;
      while (off < len) {
        int64_t n = shmq_write_fragments(q, KIND_MESSAGE, NULL, 0, msg, len, off);
        if (n >= 0) off = (uint64_t)n;
        else if (n == SHMQ_FULL) sched_yield();
        else die("write_fragments");
      }
    } else if (mode == 0) {
      fill(i, msg, len);
      int rc;
      while ((rc = shmq_write(q, KIND_WHOLE, msg, len)) == SHMQ_FULL) sched_yield();
      if (rc != SHMQ_OK) die("write");
    } else if (mode == 1) {
      if (batch_len + 8 + align8(len) > sizeof batch) flush_batch(q);
      int32_t hdr[2] = {(int32_t)(8 + len), KIND_WHOLE};
      memcpy(batch + batch_len, hdr, 8);
      fill(i, batch + batch_len + 8, len);
      batch_len += align8(8 + len);
    } else {
      int64_t off;
      while ((off = shmq_claim(q, KIND_WHOLE, len)) == SHMQ_FULL) sched_yield();
      if (off < 0) die("claim");
      fill(i, (uint8_t *)shmq_data(q) + off + 8, len);
      if (shmq_commit_claim(q) != SHMQ_OK) die("commit_claim");
    }
  }
  flush_batch(q);
}

/* ------------------------------------------------------------- consumer */

static uint64_t next_index;
static uint8_t *assembly;
static uint32_t assembly_len;
static uint8_t expect_buf[4 * MAX_RECORD + 8];
static uint64_t lost_wakeups, parks;

static void check(const uint8_t *body, uint32_t len) {
  int fragmented;
  uint32_t want = size_of(next_index, &fragmented);
  fill(next_index, expect_buf, want);
  if (len != want || fnv(body, len) != fnv(expect_buf, want) || memcmp(body, expect_buf, len) != 0) {
    fprintf(stderr, "stress: record %llu: got %u bytes, want %u (checksum %08x vs %08x)\n",
            (unsigned long long)next_index, len, want, fnv(body, len), fnv(expect_buf, want));
    exit(1);
  }
  next_index++;
}

static void on_record(int32_t type, const uint8_t *body, uint32_t len) {
  int kind = type & SHMQ_KIND_MASK;
  int frag = type >> SHMQ_FRAG_SHIFT;
  if (kind == KIND_WHOLE && frag == SHMQ_FRAG_COMPLETE) {
    check(body, len);
    return;
  }
  if (kind != KIND_MESSAGE) {
    fprintf(stderr, "stress: unexpected record type %d\n", type);
    exit(1);
  }
  if (frag == SHMQ_FRAG_BEGIN) assembly_len = 0;
  memcpy(assembly + assembly_len, body, len);
  assembly_len += len;
  if (frag == SHMQ_FRAG_END) check(assembly, assembly_len);
}

static int drain_batch(shmq_t *q, uint8_t *buf, uint32_t cap) {
  int64_t n = shmq_read_batch(q, buf, cap);
  if (n == SHMQ_BLOCKED) return 0;
  if (n < 0) die("read_batch");
  for (uint32_t off = 0; off < (uint32_t)n;) {
    int32_t hdr[2];
    memcpy(hdr, buf + off, 8);
    on_record(hdr[1], buf + off + 8, (uint32_t)hdr[0] - 8);
    off += align8((uint32_t)hdr[0]);
  }
  return n > 0;
}

static int drain_peek(shmq_t *q) {
  uint32_t at;
  int64_t n = shmq_peek(q, &at, 16 * 1024);
  if (n == SHMQ_BLOCKED) return 0;
  if (n < 0) die("peek");
  const uint8_t *data = shmq_data(q);
  uint32_t records = 0;
  for (uint32_t off = 0; off < (uint32_t)n; records++) {
    int32_t hdr[2];
    memcpy(hdr, data + at + off, 8);
    on_record(hdr[1], data + at + off + 8, (uint32_t)hdr[0] - 8);
    off += align8((uint32_t)hdr[0]);
  }
  if (n > 0 && shmq_release(q, (uint32_t)n, records) != SHMQ_OK) die("release");
  return n > 0;
}

static void consume(shmq_t *q, int bell) {
  static uint8_t buf[32 * 1024];
  assembly = malloc(4 * MAX_RECORD + 8);
  unsigned idle = 0;
  for (uint64_t turn = 0; next_index < records_total; turn++) {
    int got = (turn & 1) ? drain_peek(q) : drain_batch(q, buf, sizeof buf);
    if (got) { idle = 0; continue; }
    if (++idle < 4) { sched_yield(); continue; }
    /* idle: park on the doorbell; a poll that times out while data waits is a lost wake-up */
    idle = 0;
    if (!shmq_park(q)) continue;
    parks++;
    struct pollfd p = {.fd = bell, .events = POLLIN};
    int rc = poll(&p, 1, 200);
    shmq_bell_drain(bell);
    shmq_unpark(q);
    if (rc == 0 && shmq_available(q)) lost_wakeups++;
  }
  free(assembly);
}

/* ------------------------------------------------------------- harness */

struct side { shmq_t *q; int bell; };

static void *producer_thread(void *arg) {
  struct side *s = arg;
  produce(s->q);
  return NULL;
}

int main(int argc, char **argv) {
  const char *mode = "process";
  records_total = 1000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--mode") == 0) mode = argv[i + 1];
    else if (strcmp(argv[i], "--records") == 0) records_total = strtoull(argv[i + 1], NULL, 10);
  }
  snprintf(ring_path, sizeof ring_path, "/dev/shm/shmq-stress-%d", (int)getpid());
  snprintf(bell_path, sizeof bell_path, "/dev/shm/shmq-stress-%d.bell", (int)getpid());
  shmq_t *ring = shmq_create(ring_path, CAPACITY, MAX_RECORD);
  if (ring == NULL) die("create");
  int bell = shmq_bell_open(bell_path, 1);
  if (bell < 0) die("bell_open");
  int status = 0;
  if (strcmp(mode, "process") == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      shmq_t *p = shmq_open(ring_path, SHMQ_PRODUCER);
      if (p == NULL) die("open producer");
      int b = shmq_bell_open(bell_path, 0);
      shmq_set_bell(p, b);
      produce(p);
      shmq_close(p);
      _exit(0);
    }
    shmq_t *c = shmq_open(ring_path, SHMQ_CONSUMER);
    if (c == NULL) die("open consumer");
    consume(c, bell);
    waitpid(pid, &status, 0);
    shmq_close(c);
  } else {
    struct side p = {shmq_dup(ring, SHMQ_PRODUCER), bell};
    shmq_t *c = shmq_dup(ring, SHMQ_CONSUMER);
    if (p.q == NULL || c == NULL) die("dup");
    shmq_set_bell(p.q, bell);
    pthread_t t;
    pthread_create(&t, NULL, producer_thread, &p);
    consume(c, bell);
    pthread_join(t, NULL);
    shmq_close(p.q);
    shmq_close(c);
  }
  int64_t st[16];
  shmq_stats(ring, st, 16);
  shmq_close(ring);
  shmq_unlink(ring_path);
  shmq_bell_close(bell);
  unlink(bell_path);
  printf("stress %s: %llu records verified, %lld ring records, %lld laps, %llu parks, %lld wakeups, %llu lost wake-ups\n",
         mode, (unsigned long long)next_index, (long long)st[3], (long long)(st[0] / CAPACITY),
         (unsigned long long)parks, (long long)st[6], (unsigned long long)lost_wakeups);
  if (status != 0 || lost_wakeups != 0) return 1;
  return 0;
}
