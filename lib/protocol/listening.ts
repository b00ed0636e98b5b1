/** Start and stop a listening socket (TCP, HTTP, TLS) as promises: the name server's ports, the operator endpoints. */
import type { Server } from 'node:net';

/** Listen on `port` at `host`; rejects with the listen error (e.g. EADDRINUSE). */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stop listening; resolves once the server is closed (at once if it never listened). */
export function stopListening(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}
