/** The name server's public surface. */
export { NameServer, DEFAULT_NS_PORT, DEFAULT_NS_HTTP_PORT, type NameServerOptions } from './server.js';
export { loadGames, validateGames, type GameKeys } from './games.js';
export { DEFAULT_LEASE_TTL_MS } from './leases.js';
