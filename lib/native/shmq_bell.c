/* shmq doorbell: the FIFO a parked consumer sleeps on. */
#include "shmq_ring.h"


/* A doorbell is a FIFO opened O_RDWR | O_NONBLOCK by both sides: the reader
 * polls it on its event loop (no thread blocks), the writer's byte never
 * blocks, and neither side sees EOF or ENXIO when the other is absent. */
SHMQ_EXPORT int shmq_bell_open(const char *path, int create) {
  if (path == NULL) return fail(SHMQ_INVALID, "path is null");
  if (create && mkfifo(path, 0600) != 0 && errno != EEXIST) return fail(SHMQ_ERROR, "mkfifo %s: %s", path, strerror(errno));
  int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(SHMQ_ERROR, "open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(fd);
    return fail(SHMQ_INVALID, "%s is not a FIFO", path);
  }
  return fd;
}

SHMQ_EXPORT int shmq_bell_ring(int fd) {
  static const char one = 1;
  if (write(fd, &one, 1) == 1 || errno == EAGAIN) return SHMQ_OK;
  return fail(SHMQ_ERROR, "doorbell write: %s", strerror(errno));
}

/* Empty the doorbell; returns the number of rings drained. */
SHMQ_EXPORT int shmq_bell_drain(int fd) {
  char buf[256];
  int total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) { total += (int)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    return total;
  }
}

SHMQ_EXPORT int shmq_bell_close(int fd) { return close(fd) == 0 ? SHMQ_OK : fail(SHMQ_ERROR, "close: %s", strerror(errno)); }
