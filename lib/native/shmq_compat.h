/* glibc floor of the prebuilt library: included last by shmq_ring.h.
 *
 * The prebuilds are compiled on Debian 12 (glibc 2.36) but must load on glibc
 * 2.17 (RHEL 7/8, Ubuntu 20.04, Amazon Linux 2). A call links against the
 * newest version of its symbol the build's glibc has, so each call whose only
 * version is newer than GLIBC_2.17 is routed here to the system call itself
 * (syscall@GLIBC_2.2.5 / @GLIBC_2.17 on arm64).
 *
 *   fstat, stat, lstat: real symbols only since GLIBC_2.33 (before, header
 *   wrappers around __fxstat). The kernel's struct stat is glibc's on x86_64
 *   and arm64, so the system call fills it the same way.
 *
 * musl has no symbol versions: nothing to do there. scripts/check-glibc-floor.mjs
 * (run by npm test) reads every prebuild with objdump -T and fails on any
 * symbol newer than GLIBC_2.17: a new call it names gets a line here. */
#ifndef RXMESH_SHMQ_COMPAT_H
#define RXMESH_SHMQ_COMPAT_H
#ifdef __GLIBC__
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int shmq_compat_fstat(int fd, struct stat *st) { return (int)syscall(SYS_fstat, fd, st); }
static inline int shmq_compat_stat(const char *path, struct stat *st, int flags) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, flags);
}

#define fstat(fd, st) shmq_compat_fstat((fd), (st))
#define stat(path, st) shmq_compat_stat((path), (st), 0)
#define lstat(path, st) shmq_compat_stat((path), (st), AT_SYMLINK_NOFOLLOW)
#endif
#endif
