/**
 * The one error the native layer throws: a failed ring call with the C
 * result code and the reason from the library's error slot. The protocol
 * layer maps these codes onto MeshError subclasses.
 */
import { ShmqResult } from './shmq.js';

const NAMES = new Map<number, string>(Object.entries(ShmqResult).map(([k, v]) => [v, k]));

export class RingError extends Error {
  override readonly name = 'RingError';
  constructor(
    readonly result: ShmqResult,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${NAMES.get(result) ?? result}: ${message}`, options);
  }

  /** The symbolic name of a result code, e.g. 'FULL'. */
  static resultName(result: number): string {
    return NAMES.get(result) ?? String(result);
  }
}
