// The validators under test, each configured to accept the same responses:
// in this process ours (validateResponse), samlify 2.13 and
// @node-saml/node-saml 5, plus the floor (one XML parse); in their own
// processes (test/support/saml-peers.ts) crewjam/saml, gosaml2 and python3-saml.
// Each `call` resolves true only when the library accepted the response and
// read the expected NameID; a thrown error or a refusal is a failure.

import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { DOMParser } from '@xmldom/xmldom';
import * as samlify from 'samlify';
import { MemoryReplayCache } from '../../src/saml/replay-cache.ts';
import { validateResponse } from '../../src/saml/validate-response.ts';
import { ACS_URL, IDP_ENTITY_ID, IDP_SSO_URL, SP_ENTITY_ID, certificatesOf, makeConfig } from '../support/saml-fixtures.ts';
import type { Call } from './measure.ts';
import type { ProcessPeerId } from '../support/saml-peers.ts';
import type { Sample, Scenario } from './responses.ts';

export const EXPECTED_NAME_ID = 'alice@example.com';

export type SubjectId = 'ours' | 'samlify' | 'node-saml' | 'floor' | ProcessPeerId;

export interface Subject {
  id: SubjectId;
  call: Call;
  /** Untimed work before a segment over samples [from, to). */
  beforeSegment?: (from: number, to: number) => Promise<void>;
  /** Message of the last refusal (for the probe). */
  lastError?: string | undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What each subject verifies, printed with the results so the comparison can be judged. */
export const SUBJECT_NOTES: Record<SubjectId, string> = {
  ours:
    'validateResponse: both signatures verified, assertion re-parsed from signed octets, issuer/audience/destination/recipient/' +
    'time/InResponseTo (vs the expected request id) checks, MemoryReplayCache insert (one cache for the whole scenario; every assertion ID is new)',
  samlify:
    "parseLoginResponse(idp, 'post'): schema validation SKIPPED (setSchemaValidator no-op, favours samlify); verifies only the first " +
    'signature that checks out; no audience/recipient/destination/InResponseTo/replay checks (see src/saml/SAMLIFY-CHECKS.md)',
  'node-saml':
    'validatePostResponseAsync: verifies both signatures (the Response one is checked even with wantAuthnResponseSigned:false), ' +
    'validateInResponseTo:always against its default InMemoryCacheProvider (request ids saved untimed before each segment), ' +
    'audience/time checks; no recipient/destination/replay checks',
  crewjam:
    'github.com/crewjam/saml ServiceProvider.ParseXMLResponse (base64 decode included): signatures, Destination, issuer, ' +
    'InResponseTo, audience, Recipient, times; MaxIssueDelay raised from 90 s to 3 h because the responses are generated ' +
    'before the run (NotBefore/NotOnOrAfter still checked); no replay check. Own process, GOMAXPROCS=1, one goroutine',
  gosaml2:
    'github.com/russellhaering/gosaml2 RetrieveAssertionInfo: signatures, Destination, issuer, Recipient; its audience and ' +
    'time warnings and the SubjectConfirmationData InResponseTo are checked by the caller (gosaml2 leaves both to it); no ' +
    'replay check. Same process as crewjam, taking turns segment by segment',
  'python3-saml':
    "Debian's python3-onelogin-saml2 (libxml2 + xmlsec in C) OneLogin_Saml2_Response(settings, b64).is_valid(request, " +
    'request_id), strict: signatures, Destination, Recipient, audience, issuer, InResponseTo, times; no replay check. Own process',
  floor:
    'not a validator: one @xmldom/xmldom DOMParser.parseFromString of the decoded document (decoded untimed), the physical ' +
    'floor of a one-parse design; its row shows how many floors ours takes',
};

/** Printed with the notes: how the figures of the other processes were taken. */
export const PROCESS_PEERS_NOTE =
  'crewjam, gosaml2, python3-saml: each validation timed inside the peer process (Go time.Now, Python perf_counter_ns) around ' +
  'the same call as above; process start, imports and the JSON round trip are excluded; their segments take turns with the ' +
  'in-process ones round by round, on the same responses after the same warm-up; no heap/RSS figures';

export function ours(scenario: Scenario): Subject {
  const cfg = makeConfig(certificatesOf(scenario.identity));
  const replay = new MemoryReplayCache();
  const { samples } = scenario;
  const subject: Subject = {
    id: 'ours',
    call: async (i) => {
      const s = samples[i] as Sample;
      const result = await validateResponse(cfg, { samlResponse: s.samlResponse, expectedInResponseTo: s.requestId, now: new Date(), replay });
      if (!result.ok) subject.lastError = `${result.reason}: ${result.message}`;
      return result.ok && result.assertion.nameID === EXPECTED_NAME_ID;
    },
  };
  return subject;
}

/** One DOM parse of the decoded document: what validation costs at the least if it parses once. */
export function floorSubject(scenario: Scenario): Subject {
  const decoded = scenario.samples.map((s) => Buffer.from(s.samlResponse, 'base64').toString('utf8'));
  const parser = new DOMParser();
  return {
    id: 'floor',
    call: async (i) => parser.parseFromString(decoded[i] as string, 'text/xml').documentElement?.localName === 'Response',
  };
}

let schemaValidatorSet = false;

export function samlifySubject(scenario: Scenario): Subject {
  if (!schemaValidatorSet) {
    // samlify refuses to run without a schema validator; a no-op one favours it (no XSD validation cost).
    samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });
    schemaValidatorSet = true;
  }
  const idp = samlify.IdentityProvider({
    entityID: IDP_ENTITY_ID,
    signingCert: scenario.identity.certPem,
    singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: IDP_SSO_URL }],
    singleLogoutService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${IDP_SSO_URL}/slo` }],
  });
  const sp = samlify.ServiceProvider({
    entityID: SP_ENTITY_ID,
    wantAssertionsSigned: true,
    assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: ACS_URL }],
  });
  const { samples } = scenario;
  const subject: Subject = {
    id: 'samlify',
    call: async (i) => {
      const s = samples[i] as Sample;
      try {
        const out = await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: s.samlResponse } });
        return out.extract?.nameID === EXPECTED_NAME_ID;
      } catch (err) {
        subject.lastError = message(err);
        return false;
      }
    },
  };
  return subject;
}

export function nodeSamlSubject(scenario: Scenario): Subject {
  const saml = new SAML({
    idpCert: scenario.identity.certPem,
    issuer: SP_ENTITY_ID,
    callbackUrl: ACS_URL,
    audience: SP_ENTITY_ID,
    idpIssuer: IDP_ENTITY_ID,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 60_000,
  });
  const { samples } = scenario;
  const subject: Subject = {
    id: 'node-saml',
    // What getAuthorizeUrlAsync does at login time: remember the request id.
    beforeSegment: async (from, to) => {
      const instant = new Date().toISOString();
      for (let i = from; i < to && i < samples.length; i++) await saml.cacheProvider.saveAsync((samples[i] as Sample).requestId, instant);
    },
    call: async (i) => {
      const s = samples[i] as Sample;
      try {
        const out = await saml.validatePostResponseAsync({ SAMLResponse: s.samlResponse });
        return out.profile?.nameID === EXPECTED_NAME_ID;
      } catch (err) {
        subject.lastError = message(err);
        return false;
      }
    },
  };
  return subject;
}

/** Why a subject refuses the probe sample, or undefined when it accepts it. */
export async function probe(subject: Subject, index: number): Promise<string | undefined> {
  await subject.beforeSegment?.(index, index + 1);
  subject.lastError = undefined;
  if (await subject.call(index)) return undefined;
  return subject.lastError ?? 'refused';
}
