/**
 * What the attacker of hostile-network.spec.ts (fixtures/attacker.ts) is told
 * and what it reports: one outcome class per attempt (see the fixture).
 */

/** PEM key and certificate. */
export interface Pem {
  cert: string;
  key: string;
}

export interface Target {
  ns: { host: string; port: number };
  /** the name server's HTTP view (it listens on 127.0.0.1 unless --http-host says otherwise) */
  http: { host: string; port: number };
  /** agent 1's link port, and the address it advertises (what a dialler must prove it dialled) */
  link: { host: string; port: number; address: string };
  /** host 2's agent: who the attacker claims to be */
  victim: { agentId: string; address: string; service: string; userData: string };
  /** How attacks 1-5 connect: plain TCP, or TLS with this (stolen) certificate of the mesh CA. */
  stolen?: Pem;
  /** Attack 6 (TLS runs): a certificate of another CA. */
  rogue?: Pem;
}

export interface Outcomes {
  /** 1: WATCH without authenticating */
  watch: string;
  /** instances the WATCH answer listed (0 unless answered) */
  watchInstances: number;
  /** 2: CHALLENGE, HELLO as host 2's agent with a made-up proof, then REGISTER of the victim on that connection and on a fresh one */
  impersonate: { challenge: string; hello: string; register: string; registerFresh: string };
  /** 3: VERIFY_GAME guesses without authenticating, each on its own connection: how many of each outcome */
  verifyGame: Record<string, number>;
  /** 4: wrong-secret authentications in a row, each on its own connection */
  wrongSecret: string[];
  /** 5: agent 1's link port: did a CHALLENGE come ('answered' or 'none'), and the HELLO with a wrong proof */
  link: { challenge: string; hello: string };
  /** 7: GET /v1/instances on the name server's HTTP view from the attacker's host */
  httpView: string;
  /** 6 (with `rogue`): TLS with a certificate of another CA, and TLS without a client certificate */
  tls?: { nsRogueCa: string; linkRogueCa: string; nsNoCert: string; linkNoCert: string };
}

export const VERIFY_GUESSES = 200;
export const WRONG_SECRETS = 12;
