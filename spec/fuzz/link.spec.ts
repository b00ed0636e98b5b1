/**
 * Fuzz: the agent's peer-link port (issue 10). FUZZ_CASES (default 10,000)
 * seeded cases (FUZZ_SEED; link-cases.ts): hostile handshakes from peers
 * without the mesh secret and, from peers with it, records of every kind,
 * size and sequence number to a victim app's instance. The agent must stay up
 * and the canary pair (same agent, same game) keep making round trips.
 */
import { fuzzSuite } from './suite.js';

fuzzSuite('link', 'fuzz peer link', 'fuzz - peer-link port: seeded cases never take the agent down, and the canary keeps its round trip');
