/**
 * Fuzz: an app's own rings (issue 10). FUZZ_CASES (default 10,000) seeded
 * cases (FUZZ_SEED; ring-cases.ts) in which app processes scribble on the tx
 * and rx rings of their own instances (records, headers, the rx consumer
 * position, the immutable line) and ring the agent's doorbell. The agent must
 * drop just the scribbling instance (FAULT), never exit or hang, and the
 * canary pair on the same agent keeps making round trips.
 */
import { fuzzSuite } from './suite.js';

fuzzSuite('rings', 'fuzz own rings', 'fuzz - own rings: scribbling apps fault only their own instances; the agent stays up and the canary keeps its round trip');
