// The first stage of ACS validation returns its refusals instead of throwing
// them (Trail.reject): a function that ends in a throw at every call stays in
// V8's interpreter, and this stage is what a junk flood runs through.

import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { decodeResponse } from '../../../src/saml/response-decode.ts';
import { Rejection, Trail } from '../../../src/saml/trail.ts';
import { parseXmlStrict } from '../../../src/saml/xml.ts';
import { refuseBeforeParse, validateResponse } from '../../../src/saml/validate-response.ts';
import { REQUEST_ID, b64, certificatesOf, input, makeConfig, makeResponseXml, signingIdentity } from '../../support/saml-fixtures.ts';

const MAX = 64 * 1024;
const RESPONSE = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0"/>';

const cases: { name: string; samlResponse: string; check: string; reason: string }[] = [
  { name: 'an encoded text over the limit', samlResponse: 'A'.repeat(MAX * 2), check: 'size', reason: 'ResponseTooLarge' },
  { name: 'text that is not base64', samlResponse: 'not*base64!', check: 'base64', reason: 'MalformedResponse' },
  { name: 'base64 with non-zero trailing bits', samlResponse: 'QR==', check: 'base64', reason: 'MalformedResponse' },
  { name: 'bytes that are not UTF-8', samlResponse: Buffer.from([0xff, 0xfe, 0x3c]).toString('base64'), check: 'base64', reason: 'MalformedResponse' },
  { name: 'a DOCTYPE', samlResponse: b64('<!DOCTYPE x [<!ENTITY a "b">]><x/>'), check: 'doctype', reason: 'DoctypeForbidden' },
  { name: 'text that is not well-formed XML', samlResponse: b64('<a><b></a>'), check: 'xml', reason: 'MalformedResponse' },
  { name: 'text that is no markup at all', samlResponse: Buffer.alloc(600, 0x5a).toString('base64'), check: 'xml', reason: 'MalformedResponse' },
  { name: 'another root element', samlResponse: b64('<x xmlns="urn:example"/>'), check: 'root', reason: 'MalformedResponse' },
  { name: 'a Response of another version', samlResponse: b64(RESPONSE.replace('2.0"/>', '1.1"/>')), check: 'root', reason: 'MalformedResponse' },
];

describe('decodeResponse', () => {
  for (const c of cases) {
    it(`returns, not throws, the refusal of ${c.name}`, () => {
      const trail = new Trail();
      const out = decodeResponse(c.samlResponse, MAX, trail);
      assert.ok(out instanceof Rejection, 'a Rejection is returned');
      assert.equal(out.reason, c.reason);
      const last = trail.entries.at(-1);
      assert.equal(last?.check, c.check);
      assert.equal(last?.ok, false);
    });
  }

  it("refuses text that is no markup with the parser's own message", () => {
    for (const text of ['ZZZZ', '  \n x<a/>', '\uFEFFtext', ' '.repeat(70) + '<a/>', '']) {
      let parserMessage = '';
      try {
        // What the parser was given before: the decoded text, its byte order mark taken off by the UTF-8 decoder.
        parseXmlStrict(text.replace(/^\uFEFF/, ''));
      } catch (err) {
        parserMessage = (err as Error).message;
      }
      assert.ok(parserMessage, `the parser refuses ${JSON.stringify(text)}`);
      const trail = new Trail();
      const out = decodeResponse(text === '' ? '' : Buffer.from(text).toString('base64'), MAX, trail);
      assert.ok(out instanceof Rejection);
      if (text !== '') assert.equal(trail.entries.at(-1)?.detail, `MalformedResponse: not well-formed XML (${parserMessage})`);
    }
  });

  it("returns beforeParse's refusal, and never parses that text", () => {
    const trail = new Trail();
    let seen: string | undefined;
    const out = decodeResponse(b64('<not well-formed'), MAX, trail, (xml, t) => {
      seen = xml;
      return t.reject('signature', 'SignatureMissing', 'refused before parsing');
    });
    assert.equal(seen, '<not well-formed');
    assert.ok(out instanceof Rejection);
    assert.equal(out.reason, 'SignatureMissing');
    assert.deepEqual(trail.entries.map((e) => e.check), ['size', 'doctype', 'signature']);
  });

  it('decodes a well-formed Response, and beforeParse may let it through', () => {
    const trail = new Trail();
    const out = decodeResponse(b64(RESPONSE), MAX, trail, () => undefined);
    assert.ok(!(out instanceof Rejection));
    assert.equal(out.root.localName, 'Response');
    assert.ok(trail.entries.every((e) => e.ok));
  });
});

describe('refuseBeforeParse', () => {
  it("gives exactly validateResponse's refusal whenever it refuses, and leaves every other message to it", async () => {
    const idp = await signingIdentity('idp');
    const signed = makeResponseXml(idp, { inResponseTo: null });
    const unsigned = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    assert.notEqual(unsigned, signed);
    const failed = unsigned.replace('status:Success', 'status:Requester');
    const texts: { name: string; samlResponse: string; early: boolean }[] = [
      ...cases.map((c) => ({ name: c.name, samlResponse: c.samlResponse, early: !['xml', 'root'].includes(c.check) || c.name === 'text that is no markup at all' })),
      { name: 'an unsigned Success', samlResponse: b64(unsigned), early: true },
      { name: 'an unsigned Success with line breaks in its base64', samlResponse: b64(unsigned).replace(/(.{76})/g, '$1\r\n'), early: true },
      { name: 'an unsigned Success that names SignatureValue in a comment', samlResponse: b64(unsigned.replace('<saml:Issuer', '<!-- SignatureValue --><saml:Issuer')), early: false },
      { name: 'an unsigned answer without Success', samlResponse: b64(failed), early: false },
      { name: 'a signed response', samlResponse: b64(signed), early: false },
      { name: 'a signed response over the limit', samlResponse: b64(signed + ' '.repeat(MAX)), early: true },
      { name: 'an empty message', samlResponse: '', early: true },
    ];
    const configs = [
      makeConfig(certificatesOf(idp), { security: { maxResponseBytes: MAX } }),
      makeConfig(certificatesOf(idp), { security: { maxResponseBytes: MAX }, idpInitiated: { enabled: true } }),
      makeConfig(certificatesOf(idp), { security: { maxResponseBytes: MAX, requireSignedAssertions: false }, idpInitiated: { enabled: true } }),
    ];
    let early = 0;
    for (const cfg of configs) {
      for (const expected of [null, REQUEST_ID]) {
        for (const t of texts) {
          const what = `${t.name} (idpInitiated ${cfg.idpInitiated.enabled}, signed assertions ${cfg.security.requireSignedAssertions}, pending ${expected !== null})`;
          const full = await validateResponse(cfg, input(t.samlResponse, { expectedInResponseTo: expected }));
          const got = refuseBeforeParse(cfg, { samlResponse: t.samlResponse, expectedInResponseTo: expected });
          assert.equal(got !== undefined, t.early, what);
          if (got === undefined) {
            // Left to the full validation, which got past the text to the parse.
            assert.ok(full.trail.some((e) => e.check === 'xml' || e.check === 'root'), `${what}: ${JSON.stringify(full.trail)}`);
            continue;
          }
          early++;
          assert.deepEqual(got, full, what);
        }
      }
    }
    assert.ok(early >= 60, `${early} refusals compared`);
  });
});
