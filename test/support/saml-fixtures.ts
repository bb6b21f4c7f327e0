// Shared helpers for SAML tests: a connector config, signing identities
// (generated once per test process and cached), and a response builder with
// defaults that pass every check.
import assert from 'node:assert/strict';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Document } from '@xmldom/xmldom';
import { generateSigningIdentity } from '../../src/demo-idp/keys.ts';
import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import { buildSignedResponse, buildSignedResponseXml } from '../../src/demo-idp/saml-idp.ts';
import type { ResponseOptions } from '../../src/demo-idp/saml-idp.ts';
import { parseCertificates } from '../../src/saml/certificates.ts';
import { MemoryReplayCache } from '../../src/saml/replay-cache.ts';
import type { IdpCertificate, SamlConnectorConfig, SamlReason, ValidateInput, ValidatedAssertion, ValidationResult } from '../../src/saml/types.ts';

export const IDP_ENTITY_ID = 'https://idp.example.test/metadata';
export const IDP_SSO_URL = 'https://idp.example.test/sso';
export const SP_ENTITY_ID = 'https://sp.example.test/saml/default/demo/metadata';
export const ACS_URL = 'https://sp.example.test/saml/default/demo/acs';
export const REQUEST_ID = '_0123456789abcdef0123456789abcdef';

const identities = new Map<string, Promise<SigningIdentity>>();

/** A signing identity per name, generated once per process (`idp`, `idp2`, `attacker`, ...). */
export function signingIdentity(name = 'idp', algorithm: 'RSA' | 'EC' = 'RSA'): Promise<SigningIdentity> {
  const key = `${name}/${algorithm}`;
  let p = identities.get(key);
  if (!p) {
    p = generateSigningIdentity({ commonName: `${name}.example.test`, algorithm });
    identities.set(key, p);
  }
  return p;
}

export function certificatesOf(...ids: SigningIdentity[]): IdpCertificate[] {
  return ids.flatMap((id, i) => parseCertificates(id.certPem, `inline[${i}]`));
}

type ConfigOverrides = Partial<Omit<SamlConnectorConfig, 'idp' | 'security' | 'idpInitiated'>> & {
  idp?: Partial<SamlConnectorConfig['idp']>;
  security?: Partial<SamlConnectorConfig['security']>;
  idpInitiated?: Partial<SamlConnectorConfig['idpInitiated']>;
};

export function makeConfig(certificates: readonly IdpCertificate[], overrides: ConfigOverrides = {}): SamlConnectorConfig {
  const { idp, security, idpInitiated, ...rest } = overrides;
  return {
    key: 'default/demo',
    spEntityID: SP_ENTITY_ID,
    acsURL: ACS_URL,
    forceAuthn: false,
    signAuthnRequests: false,
    encryption: { mode: 'None', keys: [], allowLegacy: false },
    isPassive: false,
    acsParameterStyle: 'RelayState',
    clockSkewSeconds: 60,
    ...rest,
    idp: { entityID: IDP_ENTITY_ID, ssoURL: IDP_SSO_URL, ssoBinding: 'HTTPRedirect', certificates, ...idp },
    security: { requireSignedAssertions: true, allowSHA1: false, maxResponseBytes: 262144, ...security },
    idpInitiated: { enabled: false, ...idpInitiated },
  };
}

/** Response options that pass every check against makeConfig(), signed by `id`. */
export function responseOptions(id: SigningIdentity, overrides: Partial<ResponseOptions> = {}): ResponseOptions {
  return {
    signingKeyPem: id.keyPem,
    signingCertPem: id.certPem,
    issuer: IDP_ENTITY_ID,
    audience: SP_ENTITY_ID,
    destination: ACS_URL,
    recipient: ACS_URL,
    inResponseTo: REQUEST_ID,
    nameID: 'alice@example.com',
    nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    attributes: { mail: 'alice@example.com', groups: ['admins', 'devs'] },
    ...overrides,
  };
}

export function makeResponse(id: SigningIdentity, overrides: Partial<ResponseOptions> = {}): string {
  return buildSignedResponse(responseOptions(id, overrides));
}

export function makeResponseXml(id: SigningIdentity, overrides: Partial<ResponseOptions> = {}): string {
  return buildSignedResponseXml(responseOptions(id, overrides));
}

export function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

export function input(samlResponse: string, overrides: Partial<ValidateInput> = {}): ValidateInput {
  return { samlResponse, expectedInResponseTo: REQUEST_ID, now: new Date(), replay: new MemoryReplayCache(), ...overrides };
}

/** Asserts a failed validation with exactly `reason`, failing one check only (the last trail entry). */
export function assertRejected(result: ValidationResult, reason: SamlReason): void {
  if (result.ok) assert.fail(`expected ${reason}, but the response was accepted`);
  assert.equal(result.reason, reason, `expected ${reason}, got ${result.reason}: ${result.message}`);
  const failures = result.trail.filter((e) => !e.ok);
  assert.equal(failures.length, 1, 'exactly one failed check');
  assert.equal(result.trail.at(-1)?.ok, false, 'the failed check ends the trail');
}

export function assertAccepted(result: ValidationResult): ValidatedAssertion {
  if (!result.ok) assert.fail(`expected acceptance, got ${result.reason}: ${result.message}`);
  assert.ok(result.trail.every((e) => e.ok));
  return result.assertion;
}

/** Parses, edits and re-serialises a response XML (for attack tests). */
export function editXml(xml: string, edit: (doc: Document) => void): string {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  edit(doc);
  return new XMLSerializer().serializeToString(doc);
}

export function decode(samlResponse: string): string {
  return Buffer.from(samlResponse, 'base64').toString('utf8');
}
