// Turns one SsoConnector manifest, plus the Secrets it references, into a
// ConnectorRuntime and the status the controller publishes. Pure: everything
// it needs is passed in, so it is unit-tested without a store.

import type { SsoConnector } from '../api/index.ts';
import { normaliseFingerprint, parseDuration } from '../api/index.ts';
import { parseCertificates } from '../saml/certificates.ts';
import { loadSpSigningKey, type SpSigningKey } from '../saml/sign.ts';
import { checkRedirect } from '../session/redirects.ts';
import type { IdpCertificate, SamlConnectorConfig } from '../saml/types.ts';
import type { DiscoveryState } from '../oidc/discovery.ts';
import type { ConditionInput } from './conditions.ts';
import { compileOAuth2, compileOidc } from './compile-oidc.ts';
import { cond, readyCondition, runtimeBase } from './compile-common.ts';
import type { ConnectorRuntime } from './registry.ts';

export const EXPIRING_SOON_SECONDS = 14 * 24 * 3600;

export interface SecretLookup {
  /** Decoded value of `key` in Secret `name`, or why it is missing. */
  (namespace: string, name: string, key: string): { value: string } | { missing: 'SecretNotFound' | 'SecretKeyNotFound' };
}

export interface CompileInput {
  connector: SsoConnector;
  secret: SecretLookup;
  publicURL: string;
  /** Other connectors of the same namespace, to decide ReferenceUnique. */
  siblings: readonly SsoConnector[];
  now: Date;
  /** What discovery knows of an OIDC issuer now (never waits); required for OIDC connectors. */
  discovery?: (issuer: string) => DiscoveryState;
}

export interface ConnectorStatusFields {
  loginURL: string;
  /** SAML */
  entityID?: string;
  acsURL?: string;
  metadataURL?: string;
  certificates?: { fingerprint: string; subject: string; notAfter: string; source: string }[];
  /** OIDC */
  callbackURL?: string;
  logoutCallbackURL?: string;
  issuer?: string;
  clientKeyID?: string;
}

export interface CompileOutput {
  runtime: ConnectorRuntime;
  conditions: ConditionInput[];
  fields: ConnectorStatusFields;
  /** Secrets (names, same namespace) this connector reads: the controller indexes them. */
  secretNames: string[];
  /** Certificates actually trusted, for the expiry metric. */
  trusted: IdpCertificate[];
  /** When the result changes by itself (a certificate expires or enters the warning window). */
  requeueAt?: Date;
}

/**
 * Names of the Secrets (same namespace) a connector reads: its IdP
 * certificate Secrets and its SP signing key. The controller declares them to
 * the store before compiling, so a store that holds Secret data only for
 * referenced objects has loaded them by then.
 */
export function referencedSecretNames(connector: SsoConnector): string[] {
  const saml = connector.spec.saml;
  const names = new Set<string>();
  if (connector.spec.oidc?.clientSecretRef) names.add(connector.spec.oidc.clientSecretRef.name);
  if (connector.spec.oauth2) names.add(connector.spec.oauth2.clientSecretRef.name);
  if (connector.spec.oidc?.privateKeyJWTSecretRef) names.add(connector.spec.oidc.privateKeyJWTSecretRef.name);
  for (const c of saml?.idp.certificates ?? []) if (c.secretRef) names.add(c.secretRef.name);
  if (saml?.sp?.signingKeySecretRef) names.add(saml.sp.signingKeySecretRef.name);
  return [...names];
}

export function connectorURLs(publicURL: string, namespace: string, name: string) {
  const base = `${publicURL.replace(/\/+$/, '')}/saml/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  return { loginURL: `${base}/login`, acsURL: `${base}/acs`, metadataURL: `${base}/metadata`, sloURL: `${base}/slo` };
}


/** The connector of the namespace that owns `reference`: the earliest created, then by name. */
function referenceOwner(connector: SsoConnector, siblings: readonly SsoConnector[]): SsoConnector {
  const ref = connector.spec.reference;
  const contenders = [connector, ...siblings.filter((s) => s.metadata.name !== connector.metadata.name && s.spec.reference === ref)];
  contenders.sort((a, b) => {
    const ta = a.metadata.creationTimestamp ?? '';
    const tb = b.metadata.creationTimestamp ?? '';
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
  });
  return contenders[0]!;
}

/** ReferenceUnique: the connector of the namespace created first owns a reference. */
function referenceCondition(connector: SsoConnector, siblings: readonly SsoConnector[]): ConditionInput {
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  const ref = connector.spec.reference;
  if (ref === undefined) return cond('ReferenceUnique', 'True', 'NoReference', 'no reference set');
  const owner = referenceOwner(connector, siblings);
  return owner.metadata.name === name
    ? cond('ReferenceUnique', 'True', 'ReferenceUnique', `reference ${ref} is unique in ${namespace}`)
    : cond('ReferenceUnique', 'False', 'ReferenceConflict', `reference ${ref} is already used by ${owner.metadata.name}, created earlier`);
}

function sessionTtlSeconds(connector: SsoConnector): number {
  // Whole seconds (JWT times are integers); at least one.
  return Math.max(1, Math.floor(parseDuration(connector.spec.session?.ttl ?? '8h')));
}

export function compileConnector(input: CompileInput): CompileOutput {
  const { connector, now } = input;
  if (connector.spec.protocol === 'OAuth2') {
    return compileOAuth2({
      connector,
      secret: input.secret,
      publicURL: input.publicURL,
      referenceCondition: referenceCondition(connector, input.siblings),
      sessionTtlSeconds: sessionTtlSeconds(connector),
    });
  }
  if (connector.spec.protocol === 'OIDC') {
    return compileOidc({
      connector,
      secret: input.secret,
      publicURL: input.publicURL,
      discovery: input.discovery ?? (() => ({ status: 'failed', reason: 'DiscoveryFailed', message: 'OIDC discovery is not available here' })),
      referenceCondition: referenceCondition(connector, input.siblings),
      sessionTtlSeconds: sessionTtlSeconds(connector),
      now,
    });
  }
  const { namespace, name } = connector.metadata as { namespace: string; name: string };
  const spec = connector.spec;
  const key = `${namespace}/${name}`;
  const urls = connectorURLs(input.publicURL, namespace, name);
  const saml = spec.saml!;
  const spEntityID = saml.sp?.entityID ?? urls.metadataURL;
  const fields: ConnectorStatusFields = {
    loginURL: urls.loginURL,
    entityID: spEntityID,
    acsURL: urls.acsURL,
    metadataURL: urls.metadataURL,
    certificates: [],
  };
  const conditions: ConditionInput[] = [];
  const secretNames = new Set<string>();

  // 1. Secrets referenced by the certificate list.
  const pemSources: { pem: string; source: string }[] = [];
  const secretProblems: string[] = [];
  let secretReason = 'AllSecretsFound';
  saml.idp.certificates.forEach((c, i) => {
    if (c.pem !== undefined) {
      pemSources.push({ pem: c.pem, source: `inline[${i}]` });
      return;
    }
    const ref = c.secretRef!;
    secretNames.add(ref.name);
    const got = input.secret(namespace, ref.name, ref.key);
    if ('missing' in got) {
      secretReason = got.missing;
      secretProblems.push(
        got.missing === 'SecretNotFound'
          ? `Secret ${namespace}/${ref.name} not found`
          : `Secret ${namespace}/${ref.name} has no key ${ref.key}`,
      );
    } else {
      pemSources.push({ pem: got.value, source: `secret/${ref.name}#${ref.key}` });
    }
  });
  // The SP signing key: a kubernetes.io/tls Secret (tls.key, tls.crt).
  const signingRef = saml.sp?.signingKeySecretRef;
  const signingPems: { key?: string; cert?: string } = {};
  if (signingRef) {
    secretNames.add(signingRef.name);
    for (const [field, dataKey] of [['key', 'tls.key'], ['cert', 'tls.crt']] as const) {
      const got = input.secret(namespace, signingRef.name, dataKey);
      if ('missing' in got) {
        secretReason = got.missing;
        const problem = got.missing === 'SecretNotFound' ? `Secret ${namespace}/${signingRef.name} not found` : `Secret ${namespace}/${signingRef.name} has no key ${dataKey}`;
        if (!secretProblems.includes(problem)) secretProblems.push(problem);
      } else signingPems[field] = got.value;
    }
  }
  const secretsOK = secretProblems.length === 0;
  conditions.push(
    secretsOK
      ? cond('SecretsResolved', 'True', 'AllSecretsFound', 'every referenced Secret and key exists')
      : cond('SecretsResolved', 'False', secretReason, secretProblems.join('; ')),
  );

  // 2. Certificates: parse, pin, drop expired.
  let trusted: IdpCertificate[] = [];
  let certCondition: ConditionInput;
  if (!secretsOK) {
    certCondition = cond('CertificatesValid', 'Unknown', 'SecretsUnresolved', 'waiting for the referenced Secrets');
  } else {
    const parsed: IdpCertificate[] = [];
    const errors: string[] = [];
    for (const s of pemSources) {
      try {
        parsed.push(...parseCertificates(s.pem, s.source));
      } catch (err) {
        // parseCertificates names the source in its messages already.
        errors.push((err as Error).message);
      }
    }
    fields.certificates = parsed.map((c) => ({ fingerprint: c.fingerprint, subject: c.subject, notAfter: c.notAfter, source: c.source }));
    const pins = (saml.idp.fingerprints ?? []).map(normaliseFingerprint);
    const pinned = pins.length === 0 ? parsed : parsed.filter((c) => pins.includes(c.fingerprint));
    trusted = pinned.filter((c) => Date.parse(c.notAfter) > now.getTime());
    if (errors.length > 0) {
      // A bad PEM is a configuration error even if another certificate is fine:
      // the operator must not silently trust less than was declared.
      certCondition = cond('CertificatesValid', 'False', 'CertificateInvalid', errors.join('; '));
    } else if (parsed.length === 0) {
      certCondition = cond('CertificatesValid', 'False', 'CertificateInvalid', 'no certificate found in the given PEM data');
    } else if (pinned.length === 0) {
      certCondition = cond('CertificatesValid', 'False', 'FingerprintMismatch', `none of ${parsed.length} certificate(s) matches a pinned fingerprint`);
    } else if (trusted.length === 0) {
      certCondition = cond('CertificatesValid', 'False', 'CertificateExpired', 'every usable certificate has expired');
    } else {
      const dropped = parsed.length - trusted.length;
      certCondition = cond(
        'CertificatesValid',
        'True',
        'CertificatesTrusted',
        `${trusted.length} certificate(s) trusted` + (dropped ? `, ${dropped} ignored (expired or not pinned)` : ''),
      );
    }
  }
  conditions.push(certCondition);

  // 3. The SP signing key must load (key and certificate match, strong
  // enough, certificate not expired); never a word of the key in a message.
  let spSigning: SpSigningKey | undefined;
  let signingProblem: ConditionInput | undefined;
  if (signingRef && secretsOK) {
    const loaded = loadSpSigningKey(signingPems.key ?? '', signingPems.cert ?? '', now);
    if (loaded.ok) spSigning = loaded.signing;
    else {
      signingProblem = cond('Ready', 'False', loaded.reason, `Secret ${namespace}/${signingRef.name}: ${loaded.message}`);
    }
  }

  // 4. Expiry warning (IdP certificates and the SP's own); requeue when it changes by itself.
  let requeueAt: Date | undefined;
  if (certCondition.status !== 'True') {
    conditions.push(cond('CertificateExpiringSoon', 'Unknown', 'CertificatesNotValid', 'certificates are not valid'));
  } else {
    const times = trusted.map((c) => Date.parse(c.notAfter));
    const latest = Math.max(...times);
    const soonest = Math.min(...times);
    const warnAt = latest - EXPIRING_SOON_SECONDS * 1000;
    // Rotation is seamless while any trusted certificate stays valid, so warn on the latest one.
    const idpMessage = `the last trusted certificate expires at ${new Date(latest).toISOString()}`;
    // The SP signing certificate has no successor to fall back on: warn on it too.
    const spExpires = spSigning ? Date.parse(spSigning.notAfter) : undefined;
    const spWarnAt = spExpires === undefined ? undefined : spExpires - EXPIRING_SOON_SECONDS * 1000;
    const spMessage = spExpires === undefined ? '' : `; the SP signing certificate expires at ${new Date(spExpires).toISOString()}`;
    conditions.push(
      warnAt <= now.getTime() || (spWarnAt !== undefined && spWarnAt <= now.getTime())
        ? cond('CertificateExpiringSoon', 'True', 'CertificateExpiringSoon', idpMessage + spMessage)
        : cond('CertificateExpiringSoon', 'False', 'CertificatesFresh', idpMessage + spMessage),
    );
    const upcoming = [soonest, warnAt, latest, ...(spExpires !== undefined ? [spWarnAt!, spExpires] : [])].filter((t) => t > now.getTime());
    if (upcoming.length > 0) requeueAt = new Date(Math.min(...upcoming) + 1000);
  }

  // 5. Reference uniqueness within the namespace.
  conditions.push(referenceCondition(connector, input.siblings));

  // 6. The operator re-checks what admission checked: a redirectPath must be a
  // path on this host (a manifest may predate the CEL rule, or encode //host
  // as %2F%2F), and is used in its normalised, percent-encoded form.
  let redirectPath: string | undefined;
  let redirectProblem: ConditionInput | undefined;
  if (saml.idpInitiated?.redirectPath !== undefined) {
    const checked = checkRedirect(saml.idpInitiated.redirectPath, { publicURL: input.publicURL, allowedHosts: [] });
    if (checked.ok && saml.idpInitiated.redirectPath.startsWith('/')) redirectPath = checked.target;
    else redirectProblem = cond('Ready', 'False', 'RedirectPathInvalid', `saml.idpInitiated.redirectPath must be a path on this host: ${checked.ok ? 'not a relative path' : checked.message}`);
  }

  // 7. Ready: the first failing dependency gives the reason.
  const failing = conditions.find((c) => c.type !== 'CertificateExpiringSoon' && c.status !== 'True') ?? redirectProblem ?? signingProblem;
  const ready = failing === undefined;
  conditions.unshift(readyCondition(failing, spec.enabled !== false, urls.loginURL));

  let samlConfig: SamlConnectorConfig | undefined;
  if (ready) {
    samlConfig = {
      key,
      spEntityID,
      acsURL: urls.acsURL,
      sloURL: urls.sloURL,
      idp: {
        entityID: saml.idp.entityID,
        ssoURL: saml.idp.ssoURL,
        ssoBinding: saml.idp.ssoBinding ?? 'HTTPRedirect',
        ...(saml.idp.sloURL !== undefined ? { sloURL: saml.idp.sloURL } : {}),
        certificates: trusted,
      },
      ...(saml.sp?.nameIDPolicy ? { nameIDPolicy: saml.sp.nameIDPolicy } : {}),
      ...(saml.sp?.authnContext ? { authnContext: saml.sp.authnContext } : {}),
      forceAuthn: saml.sp?.forceAuthn ?? false,
      isPassive: saml.sp?.isPassive ?? false,
      ...(spSigning ? { spSigning } : {}),
      signAuthnRequests: saml.sp?.signAuthnRequests ?? false,
      acsParameterStyle: saml.sp?.acsParameterStyle ?? 'RelayState',
      ...(saml.accountID !== undefined ? { accountID: saml.accountID } : {}),
      security: {
        requireSignedAssertions: saml.security?.requireSignedAssertions ?? true,
        allowSHA1: saml.security?.allowSHA1 ?? false,
        maxResponseBytes: saml.security?.maxResponseBytes ?? 262144,
      },
      clockSkewSeconds: parseDuration(saml.clockSkew ?? '60s'),
      idpInitiated: {
        enabled: saml.idpInitiated?.enabled ?? false,
        ...(redirectPath !== undefined ? { redirectPath } : {}),
      },
      ...(saml.userIdentity?.attribute !== undefined ? { userIdentityAttribute: saml.userIdentity.attribute } : {}),
    };
  }

  const runtime: ConnectorRuntime = {
    ...runtimeBase(connector, { failing, protocol: 'SAML2', sessionTtlSeconds: sessionTtlSeconds(connector), loginURL: urls.loginURL }),
    ...(samlConfig ? { saml: samlConfig } : {}),
    metadataURL: urls.metadataURL,
  };


  return { runtime, conditions, fields, secretNames: [...secretNames], trusted, ...(requeueAt ? { requeueAt } : {}) };
}
