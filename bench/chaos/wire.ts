/**
 * What the chaos apps put on the wire and in their logs, shared by the app
 * fixture (writer) and the accounting (reader).
 *
 * Payload: bytes, at least 32. The first 32 bytes are the header below, so
 * the agent's taken-ledger (the hex of a message's first 32 bytes) names the
 * message and where it was meant to go. The rest is padding filled with
 * `seq & 0xff`, which the receiver checks together with the length field.
 *
 *   0  u32 magic 'CHAO'
 *   4  u16 sender app slot       6  u16 app incarnation
 *   8  u16 sender index          10 u16 sender instance generation
 *   12 u32 seq                   (per sender incarnation, counts accepted messages)
 *   16 u8  kind (1 sendTo, 2 send, 3 request)
 *   17 u8  destination service   (index of the receiver service: its home agent)
 *   18 u16 destination receiver  (0xffff: any instance of the service)
 *   20 u32 destination localId   (0: not known when the payload was written)
 *   24 u8  destination agent     (0xff: not known)
 *   25 ... 27 zero
 *   28 u32 total payload length
 *
 * Log lines (one per event, fs.writeSync, fields split by one space; t = ms
 * since the run started):
 *   A t id kind svc recv addr sz  accepted: send/sendTo/request returned. svc = receiver service index; recv = r<k>
 *                                (the named or routed receiver) or * (any instance: request to a service, no route);
 *                                addr = agent:localId of the targeted/routed ref, or -
 *   D t id recvKey addr flags    handed to messages$ of recvKey (at address addr); flags '-' or from the receiver's own checks
 *   B t id reason                reported on undeliverable$
 *   R t id                       request resolved by a reply
 *   T t id                       request timed out (not an outcome: see accounting.ts)
 *   J t id code                  request rejected later (not by a timeout); the report itself is the B line
 *   U t key instanceId addr      instance `key` online at addr (startup, and again after each agent reconnect)
 *   E t key why                  instance `key` ended (closed, kicked, failed): no reports reach it after this
 *   L t text                     app lifecycle, free text
 * Keys: sender `app.inc.s<k>.gen`, receiver `app.inc.r<k>.gen`; a message id is `<senderKey>.<seq>`.
 */

export const HEADER_BYTES = 32;
const MAGIC = 0x4f414843;
export const ANY_RECEIVER = 0xffff;
export const NO_AGENT = 0xff;

export const Kind = { sendTo: 1, send: 2, request: 3 } as const;
export type KindName = keyof typeof Kind;
export const KIND_NAMES: Record<number, KindName> = { 1: 'sendTo', 2: 'send', 3: 'request' };

export const GAME = 'g';
export const GAME_KEY = 'chaos-key';
export const AGENT_LETTERS = ['a', 'b', 'c'] as const;
export const agentIdOf = (agent: number): string => `chaos-${AGENT_LETTERS[agent]}`;
export const agentIndexOf = (agentId: string): number => AGENT_LETTERS.indexOf(agentId.slice('chaos-'.length) as 'a');

/** Receivers of service `svc` live under `g.chaos.<letter>.0` (the letter of the agent they started on). */
export const receiverService = (svc: number): string => `${GAME}.chaos.${AGENT_LETTERS[svc]}.0`;
export const RECEIVER_PATTERN = `${GAME}.chaos.*.*`;
export const receiverUserData = (k: number): string => `r${k}`;
export const senderService = (agent: number): string => `${GAME}.send.${AGENT_LETTERS[agent]}.0`;
export const senderUserData = (k: number): string => `s${k}`;
export const serviceIndexOf = (service: string): number => AGENT_LETTERS.indexOf(service.split('.')[2] as 'a');

export interface Header {
  app: number;
  inc: number;
  sender: number;
  gen: number;
  seq: number;
  kind: number;
  destService: number;
  destReceiver: number;
  destLocal: number;
  destAgent: number;
  length: number;
}

export const senderKey = (app: number, inc: number, sender: number, gen: number): string => `${app}.${inc}.s${sender}.${gen}`;
export const receiverKey = (app: number, inc: number, receiver: number, gen: number): string => `${app}.${inc}.r${receiver}.${gen}`;
export const messageId = (h: Pick<Header, 'app' | 'inc' | 'sender' | 'gen' | 'seq'>): string => `${senderKey(h.app, h.inc, h.sender, h.gen)}.${h.seq}`;
/** The sender key of a message id (everything before the last dot). */
export const senderOfId = (id: string): string => id.slice(0, id.lastIndexOf('.'));
export const seqOfId = (id: string): number => Number(id.slice(id.lastIndexOf('.') + 1));
/** `agent:localId` as the logs write an address. */
export const addr = (agent: number, localId: number): string => `${agent}:${localId}`;

/** A payload of `size` bytes (at least HEADER_BYTES) carrying `h`. */
export function encodeMessage(h: Omit<Header, 'length'>, size: number): Uint8Array {
  const length = Math.max(HEADER_BYTES, size);
  const bytes = new Uint8Array(length);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint16(4, h.app, true);
  v.setUint16(6, h.inc, true);
  v.setUint16(8, h.sender, true);
  v.setUint16(10, h.gen, true);
  v.setUint32(12, h.seq, true);
  v.setUint8(16, h.kind);
  v.setUint8(17, h.destService);
  v.setUint16(18, h.destReceiver, true);
  v.setUint32(20, h.destLocal, true);
  v.setUint8(24, h.destAgent);
  v.setUint32(28, length, true);
  if (length > HEADER_BYTES) bytes.fill(h.seq & 0xff, HEADER_BYTES);
  return bytes;
}

/** The header of a payload (or of its first 32 bytes); undefined when it is not a chaos message. */
export function decodeHeader(bytes: Uint8Array): Header | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC) return undefined;
  return {
    app: v.getUint16(4, true),
    inc: v.getUint16(6, true),
    sender: v.getUint16(8, true),
    gen: v.getUint16(10, true),
    seq: v.getUint32(12, true),
    kind: v.getUint8(16),
    destService: v.getUint8(17),
    destReceiver: v.getUint16(18, true),
    destLocal: v.getUint32(20, true),
    destAgent: v.getUint8(24),
    length: v.getUint32(28, true),
  };
}

/** Is the whole payload intact (length as written, padding as written)? */
export function bodyIntact(bytes: Uint8Array, h: Header): boolean {
  if (bytes.length !== h.length) return false;
  if (bytes.length === HEADER_BYTES) return true;
  const fill = h.seq & 0xff;
  // the first and last padding bytes, and one in the middle: a torn or misassembled fragment shows here
  return bytes[HEADER_BYTES] === fill && bytes[bytes.length - 1] === fill && bytes[(HEADER_BYTES + bytes.length) >> 1] === fill;
}

/** The receiver index of a userData `r<k>` (-1 if it is not a receiver's). */
export const receiverIndexOf = (userData: string): number => (/^r\d+$/.test(userData) ? Number(userData.slice(1)) : -1);
