/* shmq public interface: constants and functions of the shared-memory ring.
 * The layout and the protocol are documented at the top of shmq.so.c. */
#ifndef RXMESH_SHMQ_H
#define RXMESH_SHMQ_H
#include <stdint.h>

#define SHMQ_MAGIC 0x514d5852u /* "RXMQ" */
#define SHMQ_VERSION 2u
#define SHMQ_LINE 128
#define SHMQ_ALIGN 8
#define SHMQ_RECORD_HEADER 8
#define SHMQ_DATA_OFFSET (5 * SHMQ_LINE)
#define SHMQ_TYPE_PAD (-1)
/* Set in a committed record's type by whoever takes it out of the ring (the
 * consumer handing it out, or the producer side bouncing it after the consumer
 * died): a compare-and-swap, so each record is taken exactly once. */
#define SHMQ_TYPE_TAKEN (1 << 30)
#define SHMQ_KIND_MASK 0x00ffffff
#define SHMQ_FRAG_SHIFT 24
#define SHMQ_FRAG_COMPLETE 0
#define SHMQ_FRAG_BEGIN 1
#define SHMQ_FRAG_MIDDLE 2
#define SHMQ_FRAG_END 3
#define SHMQ_MIN_CAPACITY 1024u
#define SHMQ_MAX_CAPACITY (1u << 30)

enum shmq_result {
  SHMQ_OK = 0,
  SHMQ_FULL = -1,
  SHMQ_ERROR = -2,      /* system call failed; errno text in the error slot */
  SHMQ_EMPTY = -3,
  SHMQ_BLOCKED = -4,    /* head is a claim still being written */
  SHMQ_TOO_BIG = -5,    /* record body larger than max_record, or dst too small */
  SHMQ_INVALID = -6,    /* bad argument */
  SHMQ_BAD_MAGIC = -7,
  SHMQ_BAD_VERSION = -8,
  SHMQ_BAD_SIZE = -9,
  SHMQ_BUSY = -10,      /* the producer that holds the claim is still alive */
  SHMQ_CORRUPT = -11,   /* a record header or position that cannot be valid */
  SHMQ_NO_SPACE = -12,  /* the file system (e.g. /dev/shm) has no room for the ring */
};

enum shmq_role { SHMQ_PRODUCER = 1, SHMQ_CONSUMER = 2, SHMQ_OBSERVER = 3 };


typedef struct shmq shmq_t;

const char *shmq_last_error(void);
int shmq_last_code(void);
int shmq_layout(int64_t *out, int n);
shmq_t *shmq_create(const char *path, uint32_t capacity, uint32_t max_record);
shmq_t *shmq_create_as(const char *path, uint32_t capacity, uint32_t max_record, int role);
shmq_t *shmq_open(const char *path, int role);
shmq_t *shmq_dup(const shmq_t *q, int role);
void shmq_close(shmq_t *q);
int shmq_unlink(const char *path);
uint32_t shmq_capacity(const shmq_t *q);
uint32_t shmq_max_record(const shmq_t *q);
void shmq_set_bell(shmq_t *q, int fd);
void *shmq_data(shmq_t *q);
int shmq_stats(const shmq_t *q, int64_t *out, int n);

int shmq_write(shmq_t *q, int32_t type, const uint8_t *body, uint32_t len);
int64_t shmq_write_batch(shmq_t *q, const uint8_t *src, uint32_t len);
int64_t shmq_write_fragments(shmq_t *q, int32_t kind, const uint8_t *prefix, uint32_t prefix_len, const uint8_t *msg,
                             uint64_t len, uint64_t offset);
int64_t shmq_claim(shmq_t *q, int32_t type, uint32_t len);
int shmq_commit_claim(shmq_t *q);

int64_t shmq_free(shmq_t *q);
int shmq_want_space(shmq_t *q, uint32_t bytes);

int64_t shmq_read_batch(shmq_t *q, uint8_t *dst, uint32_t cap);
int64_t shmq_peek(shmq_t *q, uint32_t *offset, uint32_t max_bytes);
int shmq_advance(shmq_t *q, uint32_t bytes, uint32_t records);
int shmq_release_to(shmq_t *q, uint64_t pos);
int shmq_release(shmq_t *q, uint32_t bytes, uint32_t records);
int64_t shmq_cursor(shmq_t *q);
void shmq_set_space_bell(shmq_t *q, int fd);
int shmq_available(shmq_t *q);
int shmq_spin(shmq_t *q, uint32_t spin_ns);
int shmq_park(shmq_t *q);
void shmq_unpark(shmq_t *q);
int shmq_unblock(shmq_t *q, int force);

int shmq_bell_open(const char *path, int create);
int shmq_bell_ring(int fd);
int shmq_bell_drain(int fd);
int shmq_bell_close(int fd);

int shmq_peer_cred(int fd, int32_t *out);

#endif
