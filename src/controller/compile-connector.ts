// Turns one SsoConnector manifest, plus the Secrets it references, into a
// ConnectorRuntime and the status the controller publishes. Pure: everything
// it needs is passed in, so it is unit-tested without a store.

import type { SsoConnector } from '../api/index.ts';
import { normaliseFingerprint, parseDuration } from '../api/index.ts';
import { parseCertificates } from '../saml/certificates.ts';
import { readIdpMetadata, type IdpMetadata } from '../saml/idp-metadata.ts';
import { compileExpression, type CompiledExpression } from '../access/expressions.ts';
import type { FetchedMetadata, MetadataFetchState } from '../saml/metadata-fetcher.ts';
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
  /** Plain values of ConfigMaps, as `secret` gives Secrets' (saml.idp.metadata.configMapRef). */
  configMap?: SecretLookup;
  /** What is known of an IdP metadata url now (never waits); `refreshMs`: how soon it is to be fetched again. */
  idpMetadata?: (url: string, refreshMs: number) => MetadataFetchState;
  /** The last metadata copy of this connector that passed every check (kept by the controller). */
  lastGoodMetadata?: FetchedMetadata;
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
  /** SAML with saml.idp.metadata */
  idpMetadata?: { source: string; entityID: string; fetchedAt?: string; validUntil?: string; signedBy?: string; filled: string[] };
}

export interface CompileOutput {
  runtime: ConnectorRuntime;
  conditions: ConditionInput[];
  fields: ConnectorStatusFields;
  /** Secrets (names, same namespace) this connector reads: the controller indexes them. */
  secretNames: string[];
  /** ConfigMaps (names, same namespace) this connector reads. */
  configMapNames?: string[];
  /** The IdP metadata url this connector follows, and the fetched copy it accepted (the controller keeps it as the last good one). */
  metadataURL?: string;
  metadataAccepted?: FetchedMetadata;
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
  for (const c of saml?.idp.metadata?.signingCertificates ?? []) if (c.secretRef) names.add(c.secretRef.name);
  if (saml?.idp.metadata?.secretRef) names.add(saml.idp.metadata.secretRef.name);
  if (saml?.sp?.signingKeySecretRef) names.add(saml.sp.signingKeySecretRef.name);
  if (saml?.sp?.nextSigningKeySecretRef) names.add(saml.sp.nextSigningKeySecretRef.name);
  if (saml?.sp?.encryptionKeySecretRef) names.add(saml.sp.encryptionKeySecretRef.name);
  if (saml?.sp?.nextEncryptionKeySecretRef) names.add(saml.sp.nextEncryptionKeySecretRef.name);
  return [...names];
}

/** Names of the ConfigMaps (same namespace) a connector reads: its IdP metadata file. */
export function referencedConfigMapNames(connector: SsoConnector): string[] {
  const ref = connector.spec.saml?.idp.metadata?.configMapRef;
  return ref ? [ref.name] : [];
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

/**
 * Compiles a connector, then its access expressions (spec.access.identityExpression,
 * groupsExpression): one that does not compile leaves the connector
 * Ready=False ExpressionInvalid with the compiler's message, whatever its protocol.
 */
export function compileConnector(input: CompileInput): CompileOutput {
  const out = compileProtocol(input);
  const access = input.connector.spec.access;
  if (access?.identityExpression === undefined && access?.groupsExpression === undefined) return out;
  const compiled: { identityExpression?: CompiledExpression; groupsExpression?: CompiledExpression } = {};
  const problems: string[] = [];
  for (const field of ['identityExpression', 'groupsExpression'] as const) {
    const source = access[field];
    if (source === undefined) continue;
    const c = compileExpression(source);
    if (c.ok) compiled[field] = c.run;
    else problems.push(`spec.access.${field}: ${c.error}`);
  }
  if (problems.length === 0) {
    out.conditions.push(cond('ExpressionsValid', 'True', 'Compiled', 'the access expressions compile'));
    out.runtime = { ...out.runtime, ...compiled };
    return out;
  }
  const message = problems.join('; ');
  out.conditions.push(cond('ExpressionsValid', 'False', 'ExpressionInvalid', message));
  if (out.runtime.ready) {
    const i = out.conditions.findIndex((c) => c.type === 'Ready');
    if (i >= 0) out.conditions[i] = cond('Ready', 'False', 'ExpressionInvalid', message);
    const { saml: _s, oidc: _o, oauth2: _a, ...rest } = out.runtime;
    out.runtime = { ...rest, ready: false, notReadyReason: 'ExpressionInvalid' };
  }
  return out;
}

function compileProtocol(input: CompileInput): CompileOutput {
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
  (saml.idp.certificates ?? []).forEach((c, i) => {
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
  // The SP's own key pairs: kubernetes.io/tls Secrets (tls.key, tls.crt).
  const tlsPems = (ref: { name: string } | undefined): { key?: string; cert?: string } => {
    const pems: { key?: string; cert?: string } = {};
    if (!ref) return pems;
    secretNames.add(ref.name);
    for (const [field, dataKey] of [['key', 'tls.key'], ['cert', 'tls.crt']] as const) {
      const got = input.secret(namespace, ref.name, dataKey);
      if ('missing' in got) {
        secretReason = got.missing;
        const problem = got.missing === 'SecretNotFound' ? `Secret ${namespace}/${ref.name} not found` : `Secret ${namespace}/${ref.name} has no key ${dataKey}`;
        if (!secretProblems.includes(problem)) secretProblems.push(problem);
      } else pems[field] = got.value;
    }
    return pems;
  };
  const signingRef = saml.sp?.signingKeySecretRef;
  const signingPems = tlsPems(signingRef);
  // The next SP signing key, during a rotation: published, not used to sign.
  const nextSigningRef = saml.sp?.nextSigningKeySecretRef;
  const nextSigningPems = tlsPems(nextSigningRef);
  // The SP encryption keys: the current one and, during a rotation, the next.
  const encryptionRefs = [saml.sp?.encryptionKeySecretRef, saml.sp?.nextEncryptionKeySecretRef].filter((r): r is { name: string } => r !== undefined);
  const encryptionPems = encryptionRefs.map((ref) => ({ ref, ...tlsPems(ref) }));
  // The certificates that must sign the IdP metadata, from inline PEM or Secrets.
  const metadataSignerPems: { pem: string; source: string }[] = [];
  (saml.idp.metadata?.signingCertificates ?? []).forEach((c, i) => {
    if (c.pem !== undefined) return void metadataSignerPems.push({ pem: c.pem, source: `metadata.signingCertificates[${i}]` });
    const ref = c.secretRef!;
    secretNames.add(ref.name);
    const got = input.secret(namespace, ref.name, ref.key);
    if ('missing' in got) {
      secretReason = got.missing;
      const problem = got.missing === 'SecretNotFound' ? `Secret ${namespace}/${ref.name} not found` : `Secret ${namespace}/${ref.name} has no key ${ref.key}`;
      if (!secretProblems.includes(problem)) secretProblems.push(problem);
    } else metadataSignerPems.push({ pem: got.value, source: `secret/${ref.name}#${ref.key}` });
  });
  const secretsOK = secretProblems.length === 0;
  conditions.push(
    secretsOK
      ? cond('SecretsResolved', 'True', 'AllSecretsFound', 'every referenced Secret and key exists')
      : cond('SecretsResolved', 'False', secretReason, secretProblems.join('; ')),
  );

  // 1b. The IdP metadata, when the connector names one: what it fills in below.
  // A metadata file in a Secret is indexed like any other Secret read, so its
  // rotation (a new IdP key, an old one withdrawn) reconciles the connector.
  if (saml.idp.metadata?.secretRef) secretNames.add(saml.idp.metadata.secretRef.name);
  const resolved = saml.idp.metadata ? resolveIdpMetadata(input, saml, namespace, metadataSignerPems, secretsOK) : undefined;
  const md = resolved?.metadata;
  if (resolved) conditions.push(...resolved.conditions);
  const idpEntityID = saml.idp.entityID ?? md?.entityID;
  const filled: string[] = [];
  if (md) {
    if (saml.idp.entityID === undefined) filled.push('entityID');
    if (saml.idp.ssoURL === undefined) filled.push('ssoURL', 'ssoBinding');
    if (saml.idp.sloURL === undefined && md.slo?.binding === 'HTTPRedirect') filled.push('sloURL');
    if (saml.idp.certificates === undefined) filled.push('certificates');
    if (saml.sp?.nameIDPolicy === undefined && metadataNameIDFormat(md) !== undefined) filled.push('nameIDFormat');
    fields.idpMetadata = {
      source: resolved.source,
      entityID: md.entityID,
      ...(resolved.fetchedAt !== undefined ? { fetchedAt: new Date(resolved.fetchedAt).toISOString() } : {}),
      ...(md.validUntil !== undefined ? { validUntil: new Date(md.validUntil).toISOString() } : {}),
      ...(md.signedBy !== undefined ? { signedBy: md.signedBy } : {}),
      filled,
    };
    // The metadata's certificates, when the spec lists none.
    if (saml.idp.certificates === undefined) for (const c of md.certificates) pemSources.push({ pem: c.pem, source: c.source });
  }

  // 2. Certificates: parse, pin, drop expired.
  let trusted: IdpCertificate[] = [];
  let certCondition: ConditionInput;
  if (!secretsOK) {
    certCondition = cond('CertificatesValid', 'Unknown', 'SecretsUnresolved', 'waiting for the referenced Secrets');
  } else if (saml.idp.certificates === undefined && !md) {
    certCondition = cond('CertificatesValid', 'Unknown', 'IdPMetadataUnavailable', 'the certificates come from the IdP metadata, which is not available');
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
  let spSigningNext: SpSigningKey | undefined;
  if (nextSigningRef && secretsOK) {
    const loaded = loadSpSigningKey(nextSigningPems.key ?? '', nextSigningPems.cert ?? '', now);
    if (loaded.ok) spSigningNext = loaded.signing;
    else signingProblem ??= cond('Ready', 'False', loaded.reason, `Secret ${namespace}/${nextSigningRef.name} (next signing key): ${loaded.message}`);
  }

  // 3b. The SP encryption keys: RSA only (RSA-OAEP key transport), 2048 bits
  // or more, key and certificate matching; the IdP encrypts to the certificate.
  const encryptionMode = saml.encryption ?? 'None';
  const encryptionKeys: SpSigningKey[] = [];
  let encryptionProblem: ConditionInput | undefined;
  if (secretsOK) {
    for (const p of encryptionPems) {
      const loaded = loadSpSigningKey(p.key ?? '', p.cert ?? '', now);
      const problem = !loaded.ok ? loaded.message : loaded.signing.key.asymmetricKeyType !== 'rsa' ? 'the key is not RSA (assertions are encrypted to RSA keys only: RSA-OAEP)' : undefined;
      if (problem !== undefined) {
        encryptionProblem ??= cond('Ready', 'False', 'EncryptionKeyInvalid', `Secret ${namespace}/${p.ref.name}: ${problem}`);
      } else if (loaded.ok) encryptionKeys.push(loaded.signing);
    }
  }
  if (encryptionMode !== 'None' && (saml.security?.allowLegacyEncryption ?? false)) {
    conditions.push(
      cond('LegacyEncryptionAllowed', 'True', 'AllowedBySpec', 'AES-CBC content encryption and RSA-1_5 key transport are accepted (saml.security.allowLegacyEncryption): both are open to padding-oracle attacks; switch the IdP to AES-GCM and RSA-OAEP'),
    );
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
    const upcoming = [soonest, warnAt, latest, ...(spExpires !== undefined ? [spWarnAt!, spExpires] : []), ...(md?.validUntil !== undefined ? [md.validUntil] : [])].filter((t) => t > now.getTime());
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
  // A failed metadata refresh does not block while a good copy is in use (the condition says which).
  const advisory = (c: ConditionInput) => c.type === 'CertificateExpiringSoon' || c.type === 'MetadataUnsigned' || (c.type === 'IdPMetadataSynced' && md !== undefined);
  const missingIdp =
    md === undefined && (idpEntityID === undefined || saml.idp.ssoURL === undefined)
      ? cond('Ready', 'False', 'IdPMetadataUnavailable', 'entityID and ssoURL come from the IdP metadata, which is not available')
      : undefined;
  const failing = conditions.find((c) => !advisory(c) && c.status !== 'True') ?? missingIdp ?? redirectProblem ?? signingProblem ?? encryptionProblem;
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
        entityID: idpEntityID!,
        ssoURL: saml.idp.ssoURL ?? md!.sso.url,
        ssoBinding: saml.idp.ssoBinding ?? (saml.idp.ssoURL === undefined ? md!.sso.binding : 'HTTPRedirect'),
        ...(saml.idp.sloURL !== undefined ? { sloURL: saml.idp.sloURL } : md?.slo?.binding === 'HTTPRedirect' ? { sloURL: md.slo.url } : {}),
        certificates: trusted,
      },
      ...(saml.sp?.nameIDPolicy ? { nameIDPolicy: saml.sp.nameIDPolicy } : md && metadataNameIDFormat(md) ? { nameIDPolicy: { format: metadataNameIDFormat(md)! } } : {}),
      ...(saml.sp?.authnContext ? { authnContext: saml.sp.authnContext } : {}),
      forceAuthn: saml.sp?.forceAuthn ?? false,
      isPassive: saml.sp?.isPassive ?? false,
      ...(spSigning ? { spSigning } : {}),
      ...(spSigningNext ? { spSigningNext } : {}),
      signAuthnRequests: saml.sp?.signAuthnRequests ?? false,
      encryption: { mode: encryptionMode, keys: encryptionKeys, allowLegacy: saml.security?.allowLegacyEncryption ?? false },
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
      ...(saml.groupsAttribute !== undefined ? { groupsAttribute: saml.groupsAttribute } : {}),
    };
  }

  const runtime: ConnectorRuntime = {
    ...runtimeBase(connector, { failing, protocol: 'SAML2', sessionTtlSeconds: sessionTtlSeconds(connector), loginURL: urls.loginURL }),
    ...(samlConfig ? { saml: samlConfig } : {}),
    metadataURL: urls.metadataURL,
  };


  return {
    runtime,
    conditions,
    fields,
    secretNames: [...secretNames],
    configMapNames: referencedConfigMapNames(connector),
    ...(saml.idp.metadata?.url !== undefined ? { metadataURL: saml.idp.metadata.url } : {}),
    ...(resolved?.accepted ? { metadataAccepted: resolved.accepted } : {}),
    trusted,
    ...(requeueAt ? { requeueAt } : {}),
  };
}

const NAMEID_FORMAT_OF: Readonly<Record<string, 'EmailAddress' | 'Persistent' | 'Transient' | 'Unspecified'>> = {
  'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress': 'EmailAddress',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent': 'Persistent',
  'urn:oasis:names:tc:SAML:2.0:nameid-format:transient': 'Transient',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified': 'Unspecified',
};

/** The NameID format to ask for when the spec names none: emailAddress when the IdP offers it, else the one format it offers. */
function metadataNameIDFormat(md: IdpMetadata): 'EmailAddress' | 'Persistent' | 'Transient' | 'Unspecified' | undefined {
  const known = md.nameIDFormats.map((f) => NAMEID_FORMAT_OF[f]).filter((f) => f !== undefined);
  if (known.includes('EmailAddress')) return 'EmailAddress';
  return known.length === 1 ? known[0] : undefined;
}

interface ResolvedMetadata {
  metadata?: IdpMetadata;
  source: string;
  fetchedAt?: number;
  /** The fetched copy accepted now (url only). */
  accepted?: FetchedMetadata;
  conditions: ConditionInput[];
}

/**
 * saml.idp.metadata: reads the document (ConfigMap, Secret, or the fetcher's
 * copy of the url) and checks it with readIdpMetadata. For a url, a copy
 * that fails (unreachable, invalid, signature, expired) leaves the last good
 * copy in use, until its own validUntil passes: IdPMetadataSynced=False says
 * why, and the connector keeps serving.
 */
function resolveIdpMetadata(
  input: CompileInput,
  saml: NonNullable<SsoConnector['spec']['saml']>,
  namespace: string,
  signerPems: readonly { pem: string; source: string }[],
  secretsOK: boolean,
): ResolvedMetadata {
  const m = saml.idp.metadata!;
  const conditions: ConditionInput[] = [];
  const synced = (status: 'True' | 'False' | 'Unknown', reason: string, message: string) => conditions.push(cond('IdPMetadataSynced', status, reason, message));
  const signers: IdpCertificate[] = [];
  try {
    for (const p of signerPems) signers.push(...parseCertificates(p.pem, p.source));
  } catch (err) {
    synced('False', 'MetadataSigningCertificateInvalid', (err as Error).message);
    return { source: m.url ?? '', conditions };
  }
  if (!secretsOK && (m.secretRef || (m.signingCertificates ?? []).some((c) => c.secretRef))) {
    synced('Unknown', 'SecretsUnresolved', 'waiting for the referenced Secrets');
    return { source: m.url ?? '', conditions };
  }
  conditions.push(
    signers.length > 0
      ? cond('MetadataUnsigned', 'False', 'SignatureRequired', `the metadata must be signed by one of ${signers.length} certificate(s)`)
      : cond('MetadataUnsigned', 'True', 'NoSigningCertificates', 'metadata.signingCertificates is empty: the metadata is trusted as read, unsigned (name the certificates that sign it to have it checked)'),
  );
  const read = (text: string, source: string) =>
    readIdpMetadata(text, {
      ...(saml.idp.entityID !== undefined ? { entityID: saml.idp.entityID } : {}),
      signingCertificates: signers,
      allowSHA1: saml.security?.allowSHA1 ?? false,
      now: input.now,
      source,
    });

  if (m.configMapRef || m.secretRef) {
    const ref = (m.configMapRef ?? m.secretRef)!;
    const source = `${m.configMapRef ? 'configmap' : 'secret'}/${ref.name}#${ref.key}`;
    const got = m.configMapRef ? (input.configMap ?? (() => ({ missing: 'SecretNotFound' as const })))(namespace, ref.name, ref.key) : input.secret(namespace, ref.name, ref.key);
    if ('missing' in got) {
      const what = m.configMapRef ? 'ConfigMap' : 'Secret';
      synced('False', got.missing === 'SecretNotFound' ? `${what}NotFound` : `${what}KeyNotFound`, `${what} ${namespace}/${ref.name}${got.missing === 'SecretNotFound' ? ' not found' : ` has no key ${ref.key}`}`);
      return { source, conditions };
    }
    const r = read(got.value, source);
    if (!r.ok) {
      synced('False', r.reason, r.message);
      return { source, conditions };
    }
    synced('True', 'MetadataRead', describeMetadata(r.metadata, source));
    return { metadata: r.metadata, source, conditions };
  }

  const url = m.url!;
  const intervalMs = parseDuration(m.refreshInterval ?? '1h') * 1000;
  // A good copy's cacheDuration and validUntil shorten the interval (down to 5 s, the shortest interval allowed).
  const last = input.lastGoodMetadata?.url === url ? input.lastGoodMetadata : undefined;
  const lastRead = last ? read(last.text, url) : undefined;
  const lastMd = lastRead?.ok ? lastRead.metadata : undefined;
  const bounds = [intervalMs, lastMd?.cacheDurationMs, lastMd?.validUntil !== undefined ? lastMd.validUntil - input.now.getTime() : undefined].filter((v): v is number => v !== undefined);
  const refreshMs = Math.max(5000, Math.min(...bounds));
  const state = input.idpMetadata?.(url, refreshMs) ?? { status: 'failed' as const, reason: 'MetadataFetchFailed' as const, message: 'IdP metadata fetching is not available here' };
  const fallback = (reason: string, message: string): ResolvedMetadata => {
    if (lastMd && last) {
      synced('False', reason, `${message}; serving with the copy fetched at ${new Date(last.fetchedAt).toISOString()}${lastMd.validUntil !== undefined ? ` until its validUntil ${new Date(lastMd.validUntil).toISOString()}` : ''}`);
      return { metadata: lastMd, source: url, fetchedAt: last.fetchedAt, conditions };
    }
    synced('False', reason, message);
    return { source: url, conditions };
  };
  if (state.status === 'pending') {
    if (lastMd && last) return { metadata: lastMd, source: url, fetchedAt: last.fetchedAt, conditions: [...conditions, cond('IdPMetadataSynced', 'True', 'MetadataFetched', describeMetadata(lastMd, url))] };
    synced('Unknown', 'MetadataPending', `fetching ${url}`);
    return { source: url, conditions };
  }
  if (state.status === 'failed') return fallback(state.reason, state.message);
  const doc = state.document;
  if (last && doc.text === last.text && lastMd) {
    synced('True', 'MetadataFetched', describeMetadata(lastMd, url));
    return { metadata: lastMd, source: url, fetchedAt: doc.fetchedAt, accepted: doc, conditions };
  }
  const r = read(doc.text, url);
  if (!r.ok) return fallback(r.reason, r.message);
  synced('True', 'MetadataFetched', describeMetadata(r.metadata, url));
  return { metadata: r.metadata, source: url, fetchedAt: doc.fetchedAt, accepted: doc, conditions };
}

function describeMetadata(md: IdpMetadata, source: string): string {
  return `${md.entityID} from ${source}: ${md.certificates.length} signing certificate(s)${md.signedBy ? `, signed by ${md.signedBy}` : ''}${md.validUntil !== undefined ? `, valid until ${new Date(md.validUntil).toISOString()}` : ''}`;
}
