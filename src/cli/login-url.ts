// `login-url NS/NAME`: the address to hand users. In a cluster, the
// status.loginURL the operator wrote; from a folder (or in a cluster before
// the operator wrote a status, with --public-url), the URL the operator
// publishes, from its own helpers (compile-connector.ts connectorURLs,
// compile-oidc.ts oidcURLs / oauth2URLs).

import type { SsoConnector } from '../api/index.ts';
import { DEFAULT_PUBLIC_URL, parsePublicURL } from '../config.ts';
import { connectorURLs } from '../controller/compile-connector.ts';
import { oauth2URLs, oidcURLs } from '../controller/compile-oidc.ts';
import { EXIT, parseFlags, UsageError, type CliIO } from './io.ts';
import { getConnector, loadCluster } from './kube.ts';
import { readManifests } from './manifests.ts';

const FLAGS = {
  manifests: { type: 'string' },
  'public-url': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The login URL the operator publishes for a connector (status.loginURL). */
export function loginURL(publicURL: string, connector: Pick<SsoConnector, 'metadata' | 'spec'>): string {
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  switch (connector.spec.protocol) {
    case 'OIDC':
      return oidcURLs(publicURL, namespace, name).loginURL;
    case 'OAuth2':
      return oauth2URLs(publicURL, namespace, name).loginURL;
    default:
      return connectorURLs(publicURL, namespace, name).loginURL;
  }
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export async function loginURLCommand(argv: string[], io: CliIO): Promise<number | 'help'> {
  const { values: v, positionals } = parseFlags(argv, FLAGS, true);
  if (v.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'give the connector as NAMESPACE/NAME' : `one connector only, got ${positionals.length} arguments`);
  const arg = positionals[0]!;
  const slash = arg.indexOf('/');
  const name = slash >= 0 ? arg.slice(slash + 1) : arg;
  if (slash >= 0 && v.namespace !== undefined && v.namespace !== arg.slice(0, slash)) {
    throw new UsageError(`${arg} names namespace ${arg.slice(0, slash)}, -n says ${v.namespace}`);
  }
  let namespace = slash >= 0 ? arg.slice(0, slash) : v.namespace;
  if (!NAME.test(name) || (namespace !== undefined && !NAME.test(namespace))) throw new UsageError(`${JSON.stringify(arg)} is not NAMESPACE/NAME`);
  const publicURL = () => parsePublicURL(v['public-url'] ?? io.env.SSO_PUBLIC_URL ?? DEFAULT_PUBLIC_URL).toString().replace(/\/+$/, '');

  if (v.manifests !== undefined) {
    for (const flag of ['kubeconfig', 'context'] as const) if (v[flag] !== undefined) throw new UsageError(`--${flag} reads a cluster and cannot be combined with --manifests`);
    const base = publicURL();
    namespace ??= 'default';
    const set = await readManifests([v.manifests], io.cwd);
    const found = set.objects.find((o) => o.object.kind === 'SsoConnector' && o.object.metadata.namespace === namespace && o.object.metadata.name === name);
    if (!found) {
      const refused = set.problems.find((p) => p.object?.kind === 'SsoConnector' && (p.object.namespace ?? 'default') === namespace && p.object.name === name);
      io.stderr(
        refused
          ? `${io.prog}: the manifest of SsoConnector ${namespace}/${name} is refused: ${refused.file} document ${refused.documentIndex}: ${refused.path}: ${refused.message} (${io.prog} check ${v.manifests} lists every problem)\n`
          : `${io.prog}: no SsoConnector ${namespace}/${name} in ${v.manifests}\n`,
      );
      return EXIT.problems;
    }
    io.stdout(`${loginURL(base, found.object as unknown as SsoConnector)}\n`);
    return EXIT.ok;
  }

  const cluster = await loadCluster({ ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig } : {}), ...(v.context !== undefined ? { context: v.context } : {}) }, io.env);
  namespace ??= cluster.namespace;
  const connector = await getConnector(cluster, namespace, name);
  if (!connector) {
    io.stderr(`${io.prog}: SsoConnector ${namespace}/${name} not found\n`);
    return EXIT.problems;
  }
  const published = connector.status?.loginURL;
  if (typeof published === 'string' && published !== '') {
    if (v['public-url'] !== undefined && !published.startsWith(publicURL())) {
      io.stderr(`note: status.loginURL is not under --public-url ${publicURL()}: the operator runs with another --public-url\n`);
    }
    io.stdout(`${published}\n`);
    return EXIT.ok;
  }
  if (v['public-url'] === undefined) {
    io.stderr(`${io.prog}: SsoConnector ${namespace}/${name} has no status.loginURL yet (is the operator running and watching ${namespace}?); give --public-url to compute it\n`);
    return EXIT.problems;
  }
  io.stderr(`note: SsoConnector ${namespace}/${name} has no status.loginURL yet; computed from --public-url\n`);
  io.stdout(`${loginURL(publicURL(), connector)}\n`);
  return EXIT.ok;
}
