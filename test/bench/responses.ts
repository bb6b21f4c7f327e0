// Pre-generated, distinct signed responses: every validation in the benchmark
// (by any library) gets a response nobody has validated before under that
// library, with its own Response ID, Assertion ID and InResponseTo. The same
// list is given to every library of a scenario.

import { randomBytes } from 'node:crypto';
import type { SigningIdentity } from '../../src/demo-idp/keys.ts';
import type { ResponseOptions } from '../../src/demo-idp/saml-idp.ts';
import { makeResponse, signingIdentity } from '../support/saml-fixtures.ts';

export interface Sample {
  samlResponse: string;
  /** The AuthnRequest ID this response answers (Response and SubjectConfirmationData). */
  requestId: string;
}

export interface Scenario {
  id: string;
  title: string;
  algorithm: 'RSA' | 'EC';
  identity: SigningIdentity;
  /** Decoded XML size of the first sample, bytes. */
  bytes: number;
  attributeCount: number;
  samples: Sample[];
  /** Whether the Response is signed as well as the Assertion. */
  responseSigned: boolean;
}

/** Default attributes of the fixtures (mail + groups). */
const DEFAULT_ATTRIBUTES: Record<string, string | string[]> = { mail: 'alice@example.com', groups: ['admins', 'devs'] };

/** 20 attributes, some multi-valued, as an enterprise IdP sends them: ~15 KB doubly signed. */
export function twentyAttributes(): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { mail: 'alice@example.com' };
  for (let i = 1; i <= 19; i++) {
    const name = `urn:oid:1.3.6.1.4.1.5923.1.1.1.${i}`;
    out[name] =
      i % 4 === 1
        ? Array.from({ length: 12 }, (_, j) => `cn=group-${i}-${j},ou=groups,dc=example,dc=test`)
        : `value-${i}-${'x'.repeat(48)}`;
  }
  return out;
}

/**
 * The reference scenario of the performance targets (issue 10, target 1): 20
 * attributes, five of them with two values, about 8 KB decoded when only the
 * assertion is signed.
 */
export function referenceAttributes(): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { mail: 'alice@example.com' };
  for (let i = 1; i <= 19; i++) {
    const name = `urn:oid:1.3.6.1.4.1.5923.1.1.1.${i}`;
    out[name] = i % 4 === 1 ? [`cn=group-${i}-0,ou=groups,dc=example,dc=test`, `cn=group-${i}-1,ou=groups,dc=example,dc=test`] : `value-${i}-${'x'.repeat(8)}`;
  }
  return out;
}

/** Far enough in the future that nothing expires during the run (default would be 5 min). */
const VALIDITY_MS = 2 * 3600 * 1000;

export function generateSamples(identity: SigningIdentity, count: number, attributes: Record<string, string | string[]>, signResponse = true): Sample[] {
  const until = new Date(Date.now() + VALIDITY_MS);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const requestId = `_${randomBytes(16).toString('hex')}`;
    const overrides: Partial<ResponseOptions> = { inResponseTo: requestId, attributes, notOnOrAfter: until, confirmationNotOnOrAfter: until, signResponse };
    out.push({ samlResponse: makeResponse(identity, overrides), requestId });
  }
  return out;
}

export interface ScenarioSpec {
  id: string;
  title: string;
  algorithm: 'RSA' | 'EC';
  attributes: Record<string, string | string[]>;
  /** A peer refusing the probe is reported as unsupported (EC) rather than as a benchmark error. */
  peersMayRefuse: boolean;
  /** Sign the Response as well as the Assertion (default true). */
  signResponse?: boolean;
  /** The scenario the performance targets are judged on. */
  reference?: boolean;
}

export const SCENARIOS: ScenarioSpec[] = [
  { id: 'rsa2048-2attr', title: 'RSA-2048 SHA-256, Response+Assertion signed, 2 attributes', algorithm: 'RSA', attributes: DEFAULT_ATTRIBUTES, peersMayRefuse: false },
  { id: 'rsa2048-20attr', title: 'RSA-2048 SHA-256, Response+Assertion signed, 20 attributes', algorithm: 'RSA', attributes: twentyAttributes(), peersMayRefuse: false },
  {
    id: 'reference',
    title: 'RSA-2048 SHA-256, Assertion signed only, 20 attributes (the targets\' reference)',
    algorithm: 'RSA',
    attributes: referenceAttributes(),
    peersMayRefuse: false,
    signResponse: false,
    reference: true,
  },
  { id: 'ecp256-2attr', title: 'ECDSA P-256 SHA-256, Response+Assertion signed, 2 attributes', algorithm: 'EC', attributes: DEFAULT_ATTRIBUTES, peersMayRefuse: true },
];

export async function buildScenario(spec: ScenarioSpec, count: number): Promise<Scenario> {
  const identity = await signingIdentity('bench-idp', spec.algorithm);
  const samples = generateSamples(identity, count, spec.attributes, spec.signResponse ?? true);
  const first = samples[0];
  return {
    id: spec.id,
    title: spec.title,
    algorithm: spec.algorithm,
    identity,
    bytes: first ? Buffer.from(first.samlResponse, 'base64').length : 0,
    attributeCount: Object.keys(spec.attributes).length,
    samples,
    responseSigned: spec.signResponse ?? true,
  };
}
