/**
 * Fuzz: the name server's TCP port (issue 10). FUZZ_CASES (default 10,000)
 * seeded cases (FUZZ_SEED; ns-cases.ts) of broken, confused and hostile
 * registry frames, before and after a lease, against the name server of a
 * real `rxmesh up`, while a canary pair on its agent (which registers through
 * that name server) keeps making round trips.
 */
import { fuzzSuite } from './suite.js';

fuzzSuite('ns-tcp', 'fuzz name server tcp', 'fuzz - name server TCP port: seeded cases never take it down, and the canary keeps its round trip');
