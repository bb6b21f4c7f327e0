// Compiles the connectors of a set of manifests as the controller does
// (controller/compile-connector.ts compileConnector, with the Secrets and
// ConfigMaps found among the manifests), without the network unless asked:
// offline, an OIDC issuer's discovery and an IdP metadata url are "not
// fetched" (Unknown), never a failure. With `fetch`, each is fetched once by
// the operator's own fetchers (oidc/discovery.ts, saml/metadata-fetcher.ts)
// with a short time limit, and the documents are checked by the same code
// (readIdpMetadata inside compileConnector).

import type { SsoConnector } from '../api/index.ts';
import { compileConnector, type CompileOutput, type SecretLookup } from '../controller/compile-connector.ts';
import type { ConditionInput } from '../controller/conditions.ts';
import { OidcDiscovery } from '../oidc/discovery.ts';
import { MetadataFetcher } from '../saml/metadata-fetcher.ts';
import type { LoadedObject } from '../store/load-manifests.ts';

export interface CompileOptions {
  publicURL: string;
  now: Date;
  /** Fetch discovery documents and metadata urls, each within this many ms. */
  fetchTimeoutMs?: number;
}

export interface CompiledConnector {
  loaded: LoadedObject;
  connector: SsoConnector;
  out: CompileOutput;
}

/** The reason a condition gets offline when its document was not fetched. */
export const NOT_FETCHED = 'NotFetched';

const SILENT = { info() {}, warn() {} };

/** Secret / ConfigMap values by `ns/name`, as the controller's lookups read the store. */
export function lookups(objects: readonly LoadedObject[]): { secret: SecretLookup; configMap: SecretLookup } {
  const byKey = new Map<string, LoadedObject['object']>();
  for (const { object } of objects) {
    if (object.kind === 'Secret' || object.kind === 'ConfigMap') byKey.set(`${object.kind}/${object.metadata.namespace}/${object.metadata.name}`, object);
  }
  return {
    secret: (namespace, name, key) => {
      const s = byKey.get(`Secret/${namespace}/${name}`);
      if (!s) return { missing: 'SecretNotFound' };
      const b64 = s.data?.[key];
      return b64 === undefined ? { missing: 'SecretKeyNotFound' } : { value: Buffer.from(b64, 'base64').toString('utf8') };
    },
    configMap: (namespace, name, key) => {
      const c = byKey.get(`ConfigMap/${namespace}/${name}`);
      if (!c) return { missing: 'SecretNotFound' };
      const v = c.data?.[key];
      return v === undefined ? { missing: 'SecretKeyNotFound' } : { value: v };
    },
  };
}

/** Fetches every issuer and metadata url once, in parallel; resolves when each attempt has ended. */
async function fetchAll(connectors: readonly SsoConnector[], timeoutMs: number) {
  const waiting = new Map<string, () => void>();
  const ended = (key: string) => {
    waiting.get(key)?.();
    waiting.delete(key);
  };
  const discovery = new OidcDiscovery({ logger: SILENT, timeoutMs, onChange: (issuer) => ended(`oidc ${issuer}`) });
  const metadata = new MetadataFetcher({ logger: SILENT, timeoutMs, onChange: (url) => ended(`saml ${url}`) });
  const issuers = new Set(connectors.flatMap((c) => (c.spec.oidc ? [c.spec.oidc.issuer] : [])));
  const urls = new Set(connectors.flatMap((c) => (c.spec.saml?.idp.metadata?.url !== undefined ? [c.spec.saml.idp.metadata.url] : [])));
  const pending: Promise<void>[] = [];
  const wait = (key: string) => pending.push(new Promise<void>((resolve) => waiting.set(key, resolve)));
  for (const issuer of issuers) wait(`oidc ${issuer}`);
  for (const url of urls) wait(`saml ${url}`);
  for (const issuer of issuers) discovery.get(issuer);
  for (const url of urls) metadata.get(url, 3_600_000);
  // Each attempt is bounded by timeoutMs; this bounds the whole in case one is not.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs + 5000)))]);
  clearTimeout(timer);
  return { discovery, metadata };
}

/** Every connector among `objects`, compiled; `siblings` are the connectors of the same namespace in the set. */
export async function compileConnectors(objects: readonly LoadedObject[], options: CompileOptions): Promise<CompiledConnector[]> {
  const connectors = objects.filter((o) => o.object.kind === 'SsoConnector');
  const specs = connectors.map((o) => o.object as unknown as SsoConnector);
  const { secret, configMap } = lookups(objects);
  const fetched = options.fetchTimeoutMs !== undefined ? await fetchAll(specs, options.fetchTimeoutMs) : undefined;
  try {
    return connectors.map((loaded) => {
      const connector = loaded.object as unknown as SsoConnector;
      const out = compileConnector({
        connector,
        secret,
        configMap,
        publicURL: options.publicURL,
        siblings: specs.filter((s) => s.metadata.namespace === connector.metadata.namespace),
        now: options.now,
        discovery: fetched ? (issuer) => fetched.discovery.get(issuer) : () => ({ status: 'pending' }),
        idpMetadata: fetched ? (url, refreshMs) => fetched.metadata.get(url, refreshMs) : () => ({ status: 'pending' }),
      });
      if (!fetched) out.conditions = out.conditions.map((c) => notFetched(c, connector));
      return { loaded, connector, out };
    });
  } finally {
    fetched?.discovery.stop();
    fetched?.metadata.stop();
  }
}

/** Offline, "pending" means "not fetched": said so, as Unknown (Ready included). */
function notFetched(c: ConditionInput, connector: SsoConnector): ConditionInput {
  if (c.reason === 'DiscoveryPending') {
    return { type: c.type, status: 'Unknown', reason: NOT_FETCHED, message: `the discovery document of ${connector.spec.oidc?.issuer} was not fetched (offline; --fetch fetches it)` };
  }
  if (c.reason === 'MetadataPending') {
    return { type: c.type, status: 'Unknown', reason: NOT_FETCHED, message: `the IdP metadata ${connector.spec.saml?.idp.metadata?.url} was not fetched (offline; --fetch fetches it)` };
  }
  return c;
}
