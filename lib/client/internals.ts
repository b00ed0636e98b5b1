/**
 * The instance behind the public `Instance` interface: the operators need
 * what apps do not see (counted watches). Apps cannot reach it through the
 * main entry, which does not export this module.
 */
import { BadArgumentError } from '../protocol/errors.js';
import { InstanceImpl } from './instance.js';
import type { Instance } from './mesh-api.js';

export function internals(inst: Instance): InstanceImpl {
  if (inst instanceof InstanceImpl) return inst;
  throw new BadArgumentError('not an instance made by mesh.instance()');
}
