/**
 * Fuzz: the name server's HTTP port (issue 10). FUZZ_CASES (default 10,000)
 * seeded cases (FUZZ_SEED; http-cases.ts) of malformed, smuggled, oversized
 * and dripped HTTP requests against the read-only view of a real
 * `rxmesh up`, while a canary pair on its agent keeps making round trips.
 */
import { fuzzSuite } from './suite.js';

fuzzSuite('ns-http', 'fuzz name server http', 'fuzz - name server HTTP port: seeded cases never take it down, and the canary keeps its round trip');
