/**
 * The etcd backend, loaded only when an etcd registry is asked for.
 *
 * etcd3 (with its gRPC stack, about 40 packages) and cockatiel are optional
 * peer dependencies: an app, `rxmesh up` and an agent on the name server
 * neither install nor load them. Everything that constructs an EtcdRegistry
 * outside the specs goes through here, so a missing package is one clear
 * NotInstalledError naming the command that fixes it, not a module-resolution
 * stack trace at startup.
 */
import { NotInstalledError } from '../protocol/errors.js';

export type EtcdBackend = typeof import('./etcd-registry.js');

/** The packages the etcd backend imports that an install may lack. */
const OPTIONAL = new Set(['etcd3', 'cockatiel']);

/** The etcd backend module; NotInstalledError when etcd3 or cockatiel is not installed. */
export function loadEtcdBackend(): Promise<EtcdBackend> {
  return loadOptional(() => import('./etcd-registry.js'));
}

/**
 * An EtcdRegistry on `url` (`etcd://host:port,...` or `etcds://...`), with the
 * backend loaded on first use: a host program that never asks for one never
 * loads etcd3. NotInstalledError when etcd3 or cockatiel is not installed.
 */
export async function createEtcdRegistry(
  url: string,
  options?: import('./etcd-registry.js').EtcdRegistryOptions,
): Promise<import('./etcd-registry.js').EtcdRegistry> {
  const { EtcdRegistry } = await loadEtcdBackend();
  return new EtcdRegistry(url, options);
}

/** The etcd lister behind `rxmesh ls --registry etcd://...`, on the same terms. */
export function loadEtcdLister(): Promise<typeof import('./etcd-list.js')> {
  return loadOptional(() => import('./etcd-list.js'));
}

async function loadOptional<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const missing = missingPackage(err);
    if (!missing || !OPTIONAL.has(missing)) throw err;
    throw new NotInstalledError(
      `an etcd registry needs the package '${missing}', which is not installed (it is optional: apps and agents on ` +
        `the name server do without it); install it where rxmesh is: npm install etcd3 cockatiel (-g for a global rxmesh)`,
      { cause: err },
    );
  }
}

/** The package an ERR_MODULE_NOT_FOUND names ("Cannot find package 'x' imported from ..."). */
function missingPackage(err: unknown): string | undefined {
  if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  return /Cannot find package '((?:@[^/']+\/)?[^/']+)/.exec((err as Error).message)?.[1];
}
