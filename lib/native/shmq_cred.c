/* Peer credentials of a connected Unix socket (SO_PEERCRED): the agent learns
 * which user an app runs as, to give that user its own rings and directory.
 * Node has no API for it; the kernel's answer cannot be forged by the peer. */
#include "shmq_ring.h"
#include <sys/socket.h>

/* out[0] = pid, out[1] = uid, out[2] = gid. */
SHMQ_EXPORT int shmq_peer_cred(int fd, int32_t *out) {
  if (out == NULL) return fail(SHMQ_INVALID, "out is null");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return fail(SHMQ_ERROR, "SO_PEERCRED: %s", strerror(errno));
  out[0] = (int32_t)cred.pid;
  out[1] = (int32_t)cred.uid;
  out[2] = (int32_t)cred.gid;
  return SHMQ_OK;
}
