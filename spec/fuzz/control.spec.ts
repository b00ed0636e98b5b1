/**
 * Fuzz: the agent's control socket (issue 10). FUZZ_CASES (default 10,000)
 * seeded cases (FUZZ_SEED, default fixed; control-cases.ts) of broken,
 * confused and hostile control frames, before and after authentication,
 * against a real `rxmesh up`, while a canary pair of game `g` on the same
 * agent keeps making round trips. Longer runs: bench/fuzz.ts.
 */
import { fuzzSuite } from './suite.js';

fuzzSuite('control', 'fuzz control socket', 'fuzz - control socket: seeded cases never take the agent down, and the canary keeps its round trip');
