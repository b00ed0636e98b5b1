/** Who is at the other end of a connected Unix socket (SO_PEERCRED, via shmq.so). */
import { RingError } from './errors.js';
import { native, type ShmqResult } from './shmq.js';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The peer of a connected Unix socket, by file descriptor, as the kernel recorded it at connect(). */
export function peerCred(fd: number): PeerCred {
  const out = new Int32Array(3);
  const n = native();
  const rc = n.shmq_peer_cred(fd, out);
  if (rc !== 0) throw new RingError(rc as ShmqResult, n.shmq_last_error());
  return { pid: out[0]!, uid: out[1]!, gid: out[2]! };
}
