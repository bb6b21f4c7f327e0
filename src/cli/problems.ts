// What `check` reports about compiled connectors and across objects, as
// problems located like the loader's: file, document, JSON path, reason.
//
// - Secret and ConfigMap references: each one resolved against the manifests
//   (all of them, not only the first that fails as in a compile). A missing
//   object is a warning (it may exist where the manifests are applied); a
//   missing key in an object that is there is an error.
// - The compile's conditions that are not fine, each at the field it is about;
//   Ready only when its reason is not reported already. Unknown conditions
//   depend on another one (or on a document not fetched) and are left out.
// - Cross-object: a binding naming a connector that is not in the set
//   (warning); duplicates and reference conflicts come from the loader and
//   the compile (ReferenceUnique) themselves.

import type { SsoConnector, UserBinding } from '../api/index.ts';
import type { ConditionInput } from '../controller/conditions.ts';
import { childPath } from '../store/json-path.ts';
import type { LoadedObject } from '../store/load-manifests.ts';
import type { SourceProblem } from '../store/types.ts';
import { lookups, NOT_FETCHED, type CompiledConnector } from './compile.ts';

export type Severity = 'error' | 'warning';

export interface CheckProblem {
  file: string;
  documentIndex: number;
  path: string;
  severity: Severity;
  reason: string;
  message: string;
  object?: { kind: string; namespace?: string; name?: string };
}

/** A reference to a Secret (key, or tls.key and tls.crt) or ConfigMap key, where it is in the manifest. */
interface Reference {
  kind: 'Secret' | 'ConfigMap';
  path: string;
  name: string;
  /** undefined: a kubernetes.io/tls Secret (tls.key and tls.crt). */
  key?: string;
}

function references(spec: SsoConnector['spec'], base: string): Reference[] {
  const refs: Reference[] = [];
  const at = (...keys: (string | number)[]) => keys.reduce<string>((p, k) => childPath(p, k), base);
  const secret = (path: string, ref: { name: string; key?: string } | undefined, tls = false) => {
    if (ref) refs.push({ kind: 'Secret', path, name: ref.name, ...(tls ? {} : { key: ref.key! }) });
  };
  secret(at('oidc', 'clientSecretRef'), spec.oidc?.clientSecretRef);
  secret(at('oidc', 'privateKeyJWTSecretRef'), spec.oidc?.privateKeyJWTSecretRef, true);
  secret(at('oauth2', 'clientSecretRef'), spec.oauth2?.clientSecretRef);
  const saml = spec.saml;
  saml?.idp.certificates?.forEach((c, i) => secret(at('saml', 'idp', 'certificates', i, 'secretRef'), c.secretRef));
  saml?.idp.metadata?.signingCertificates?.forEach((c, i) => secret(at('saml', 'idp', 'metadata', 'signingCertificates', i, 'secretRef'), c.secretRef));
  secret(at('saml', 'idp', 'metadata', 'secretRef'), saml?.idp.metadata?.secretRef);
  const cm = saml?.idp.metadata?.configMapRef;
  if (cm) refs.push({ kind: 'ConfigMap', path: at('saml', 'idp', 'metadata', 'configMapRef'), name: cm.name, key: cm.key });
  for (const field of ['signingKeySecretRef', 'nextSigningKeySecretRef', 'encryptionKeySecretRef', 'nextEncryptionKeySecretRef'] as const) {
    secret(at('saml', 'sp', field), saml?.sp?.[field], true);
  }
  return refs;
}

/** Reasons of a failed lookup: reported by referenceProblems, not again from the conditions. */
const LOOKUP_REASONS = new Set(['SecretNotFound', 'SecretKeyNotFound', 'ConfigMapNotFound', 'ConfigMapKeyNotFound']);

/** True conditions that are worth a warning. */
const WARN_WHEN_TRUE = new Set(['CertificateExpiringSoon', 'LegacyEncryptionAllowed']);
/** Conditions whose True is a note, not a problem (MetadataUnsigned: an uploaded document trusted as read, by choice). */
const NEGATIVE = new Set(['CertificateExpiringSoon', 'LegacyEncryptionAllowed', 'MetadataUnsigned']);

/** The field a condition is about. */
function conditionPath(c: ConditionInput, spec: SsoConnector['spec'], base: string): string {
  const at = (...keys: (string | number)[]) => keys.reduce<string>((p, k) => childPath(p, k), base);
  const saml = spec.saml;
  const metadata = saml?.idp.metadata;
  switch (c.type) {
    case 'CertificatesValid':
      if (c.reason === 'FingerprintMismatch') return at('saml', 'idp', 'fingerprints');
      return saml?.idp.certificates ? at('saml', 'idp', 'certificates') : at('saml', 'idp', 'metadata');
    case 'CertificateExpiringSoon':
      return saml?.idp.certificates ? at('saml', 'idp', 'certificates') : at('saml', 'idp');
    case 'IdPMetadataSynced':
      if (c.reason === 'MetadataSigningCertificateInvalid') return at('saml', 'idp', 'metadata', 'signingCertificates');
      return at('saml', 'idp', 'metadata', metadata?.url !== undefined ? 'url' : metadata?.configMapRef ? 'configMapRef' : 'secretRef');
    case 'ClientCredentialsValid':
      if (spec.oauth2) return at('oauth2', 'clientSecretRef');
      return at('oidc', spec.oidc?.privateKeyJWTSecretRef ? 'privateKeyJWTSecretRef' : 'clientSecretRef');
    case 'OIDCDiscoverySucceeded':
      return at('oidc', 'issuer');
    case 'EndpointsValid':
      return at('oauth2');
    case 'ReferenceUnique':
      return at('reference');
    case 'LegacyEncryptionAllowed':
      return at('saml', 'security', 'allowLegacyEncryption');
    default:
      break;
  }
  switch (c.reason) {
    case 'SigningKeyInvalid':
      return at('saml', 'sp', c.message.includes('(next signing key)') ? 'nextSigningKeySecretRef' : 'signingKeySecretRef');
    case 'EncryptionKeyInvalid': {
      const next = saml?.sp?.nextEncryptionKeySecretRef?.name;
      const current = saml?.sp?.encryptionKeySecretRef?.name;
      const named = /^Secret [^/]+\/([^:]+):/.exec(c.message)?.[1];
      return at('saml', 'sp', named !== undefined && named === next && named !== current ? 'nextEncryptionKeySecretRef' : 'encryptionKeySecretRef');
    }
    case 'RedirectPathInvalid':
      return at('saml', 'idpInitiated', 'redirectPath');
    case 'IdPMetadataUnavailable':
      return at('saml', 'idp');
    default:
      return base;
  }
}

/** CertificateInvalid names each bad source (`inline[0]: ...; secret/x#tls.crt (PEM block 1): ...`): one problem each, at its field. */
function certificateProblems(c: ConditionInput, spec: SsoConnector['spec'], base: string): { path: string; message: string }[] {
  const certs = spec.saml?.idp.certificates;
  if (!certs) return [{ path: conditionPath(c, spec, base), message: c.message }];
  const idp = childPath(childPath(childPath(base, 'saml'), 'idp'), 'certificates');
  return c.message.split('; ').map((part) => {
    const inline = /^inline\[(\d+)\]/.exec(part);
    if (inline) return { path: childPath(childPath(idp, Number(inline[1])), 'pem'), message: part };
    const fromSecret = /^secret\/([^#]+)#(\S+?)(?: \(|:)/.exec(part);
    const i = fromSecret ? certs.findIndex((x) => x.secretRef?.name === fromSecret[1] && x.secretRef?.key === fromSecret[2]) : -1;
    return { path: i >= 0 ? childPath(childPath(idp, i), 'secretRef') : idp, message: part };
  });
}

function identity(loaded: LoadedObject) {
  const { kind, metadata } = loaded.object;
  return { kind, namespace: metadata.namespace, name: metadata.name };
}

/** Problems of one compiled connector. `refused`: the documents refused, whose objects are reported there (not again as missing). */
export function connectorProblems(compiled: CompiledConnector, objects: readonly LoadedObject[], refused: readonly SourceProblem[] = []): CheckProblem[] {
  const { loaded, connector, out } = compiled;
  const base = childPath(loaded.path, 'spec');
  const ns = connector.metadata.namespace!;
  const problems: CheckProblem[] = [];
  const add = (path: string, severity: Severity, reason: string, message: string) => {
    if (problems.some((p) => p.path === path && p.reason === reason && p.message === message)) return;
    problems.push({ file: loaded.file, documentIndex: loaded.documentIndex, path, severity, reason, message, object: identity(loaded) });
  };

  // Every reference, resolved against the manifests.
  const { secret, configMap } = lookups(objects);
  for (const ref of references(connector.spec, base)) {
    const lookup = ref.kind === 'Secret' ? secret : configMap;
    for (const key of ref.key !== undefined ? [ref.key] : ['tls.key', 'tls.crt']) {
      const got = lookup(ns, ref.name, key);
      if (!('missing' in got)) continue;
      if (got.missing === 'SecretNotFound') {
        const name = ref.name;
        if (refused.some((p) => p.object?.kind === ref.kind && p.object.name === name && (p.object.namespace ?? 'default') === ns)) continue;
        add(ref.path, 'warning', `${ref.kind}NotFound`, `${ref.kind} ${ns}/${ref.name} is not among the manifests (the connector is not Ready unless it exists where they are applied)`);
      } else {
        add(ref.path, 'error', `${ref.kind}KeyNotFound`, `${ref.kind} ${ns}/${ref.name} has no key ${key}`);
      }
    }
  }

  const reported = new Set<string>(LOOKUP_REASONS);
  for (const c of out.conditions) {
    if (c.type === 'Ready' || c.status === 'Unknown' || LOOKUP_REASONS.has(c.reason)) continue;
    const bad = NEGATIVE.has(c.type) ? c.status === 'True' && WARN_WHEN_TRUE.has(c.type) : c.status === 'False';
    if (!bad) continue;
    const severity: Severity = NEGATIVE.has(c.type) ? 'warning' : 'error';
    if (c.reason === 'CertificateInvalid') for (const p of certificateProblems(c, connector.spec, base)) add(p.path, severity, c.reason, p.message);
    else add(conditionPath(c, connector.spec, base), severity, c.reason, c.message);
    reported.add(c.reason);
  }
  const ready = out.conditions.find((c) => c.type === 'Ready');
  if (ready && ready.status === 'False' && !reported.has(ready.reason) && ready.reason !== NOT_FETCHED) {
    add(conditionPath(ready, connector.spec, base), 'error', ready.reason, ready.message);
  }
  return problems;
}

/** A binding naming a connector that is not in the set: a warning (it may exist in the cluster). */
export function bindingProblems(objects: readonly LoadedObject[], refused: readonly SourceProblem[]): CheckProblem[] {
  const connectors = new Set(objects.filter((o) => o.object.kind === 'SsoConnector').map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}`));
  // A connector whose manifest is refused is reported there already.
  for (const p of refused) if (p.object?.kind === 'SsoConnector' && p.object.name) connectors.add(`${p.object.namespace ?? 'default'}/${p.object.name}`);
  const problems: CheckProblem[] = [];
  for (const loaded of objects) {
    if (loaded.object.kind !== 'UserBinding') continue;
    const binding = loaded.object as unknown as UserBinding;
    const ns = binding.metadata.namespace!;
    binding.spec.connectors.forEach((name, i) => {
      if (connectors.has(`${ns}/${name}`)) return;
      problems.push({
        file: loaded.file,
        documentIndex: loaded.documentIndex,
        path: childPath(childPath(childPath(loaded.path, 'spec'), 'connectors'), i),
        severity: 'warning',
        reason: 'ConnectorNotFound',
        message: `no SsoConnector ${ns}/${name} among the manifests (the binding does not apply to it unless it exists where they are applied)`,
        object: identity(loaded),
      });
    });
  }
  return problems;
}
