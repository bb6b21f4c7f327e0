// The benchmark's peers outside Node (crewjam/saml, gosaml2, python3-saml;
// test/support/saml-peers.ts) really validate: each accepts valid responses
// and refuses every tampered or mismatched one. A peer that accepted
// everything would make the benchmark's ratios meaningless; this catches it,
// and catches the checks the callers must add themselves (gosaml2's audience
// and time warnings and InResponseTo, crewjam's request IDs).

import { describe, expect, it } from '@jest/globals';
import { ACS_URL, IDP_ENTITY_ID, SP_ENTITY_ID, makeResponse, signingIdentity } from '../support/saml-fixtures.ts';
import { onCleanup } from '../support/cleanup.ts';
import { PEER_PROGRAMS, PeerProcess } from '../support/saml-peers.ts';
import { referenceAttributes } from '../bench/responses.ts';
import type { ResponseOptions } from '../../src/demo-idp/saml-idp.ts';

const REQUEST_ID = '_peer0123456789abcdef0123456789ab';
const NAME_ID = 'alice@example.com';

interface Case {
  name: string;
  valid: boolean;
  samlResponse: string;
  requestId: string;
}

async function cases(): Promise<Case[]> {
  const idp = await signingIdentity('peer-idp');
  const attacker = await signingIdentity('peer-attacker');
  const hourAgo = new Date(Date.now() - 3600_000);
  const make = (overrides: Partial<ResponseOptions>) => makeResponse(idp, { inResponseTo: REQUEST_ID, attributes: referenceAttributes(), ...overrides });
  const b64Edit = (b64: string, from: string, to: string) => {
    const xml = Buffer.from(b64, 'base64').toString('utf8');
    if (!xml.includes(from)) throw new Error(`test bug: ${from} not in the response`);
    return Buffer.from(xml.replace(from, to), 'utf8').toString('base64');
  };
  const valid = (name: string, overrides: Partial<ResponseOptions> = {}): Case => ({ name, valid: true, samlResponse: make(overrides), requestId: REQUEST_ID });
  const invalid = (name: string, samlResponse: string, requestId = REQUEST_ID): Case => ({ name, valid: false, samlResponse, requestId });
  return [
    valid('valid, assertion signed only', { signResponse: false }),
    valid('valid, Response and assertion signed'),
    invalid('attribute value changed after signing', b64Edit(make({ signResponse: false }), 'value-2-', 'value-2X')),
    invalid('NameID changed after signing', b64Edit(make({ signResponse: false }), `>${NAME_ID}<`, '>mallory@example.com<')),
    invalid('signed by another key', makeResponse(attacker, { inResponseTo: REQUEST_ID, signResponse: false })),
    invalid('assertion unsigned', make({ signResponse: false, signAssertion: false })),
    invalid('answers another request', make({ signResponse: false }), '_another0123456789abcdef012345678'),
    invalid('another audience', make({ signResponse: false, audience: 'https://other-sp.example.test/metadata' })),
    invalid('another recipient and destination', make({ signResponse: false, recipient: 'https://other-sp.example.test/acs', destination: 'https://other-sp.example.test/acs' })),
    invalid('expired', make({ signResponse: false, now: hourAgo })),
    invalid('another issuer', make({ signResponse: false, issuer: 'https://other-idp.example.test/metadata' })),
  ];
}

async function judge(program: keyof typeof PEER_PROGRAMS): Promise<void> {
  const all = await cases();
  const idp = await signingIdentity('peer-idp');
  const started = PeerProcess.start(program, {
    idpCertPem: idp.certPem,
    idpEntityId: IDP_ENTITY_ID,
    spEntityId: SP_ENTITY_ID,
    acsUrl: ACS_URL,
    expectedNameId: NAME_ID,
    samples: all.map((c) => ({ samlResponse: c.samlResponse, requestId: c.requestId })),
  });
  if (!started.ok) throw new Error(started.reason);
  const { peer } = started;
  onCleanup(() => peer.close());
  for (const id of PEER_PROGRAMS[program]) {
    const answer = await peer.segment(id, 0, all.length);
    // One line per case, so that a failure names the case.
    const got = all.map((c, i) => `${c.name}: ${answer.accepted[i] ? 'accepted' : 'refused'}`);
    const want = all.map((c) => `${c.name}: ${c.valid ? 'accepted' : 'refused'}`);
    expect({ peer: id, verdicts: got }).toEqual({ peer: id, verdicts: want });
    expect(answer.timingsUs).toHaveLength(all.length);
  }
}

describe('benchmark peers outside Node', () => {
  it('crewjam/saml and gosaml2 accept valid responses and refuse tampered or mismatched ones', async () => {
    await judge('go');
  });

  it('python3-saml accepts valid responses and refuses tampered or mismatched ones', async () => {
    await judge('python');
  });
});
