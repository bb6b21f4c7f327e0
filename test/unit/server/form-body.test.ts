// parseForm (src/server/form-body.ts) must read every form exactly as
// fast-querystring, @fastify/formbody's default parser, does: a differential
// property test over bodies built from the characters that matter (`&`, `=`,
// `+`, `%` with hex digits, well-formed and broken escapes of ASCII and UTF-8,
// the base64 alphabet), plus the cases an ACS post depends on.

import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import fastQuerystring from 'fast-querystring';
import { parseForm } from '../../../src/server/form-body.ts';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 0x666f_726d;

/** What fast-querystring returns, as plain entries (its result object has an empty prototype). */
const reference = (body: string) => Object.entries(fastQuerystring.parse(body) as Record<string, unknown>);
const ours = (body: string) => Object.entries(parseForm(body));

const piece = fc.oneof(
  fc.constantFrom('&', '=', '+', '%', 'a', 'Z', '0', '9', '/', '==', '%2B', '%2F', '%3D', '%2b', '%2f', '%3d', '%20', '%25', '%41', '%C3%A9', '%E2%82%AC', '%F0%9F%98%80'),
  fc.constantFrom('%C3', '%ZZ', '%4', '%%', '%C0%AF', '%ED%A0%80', '%FF', '%F4%90%80%80', '%E2%82', '__proto__', 'constructor', 'SAMLResponse', 'RelayState'),
  fc.string({ maxLength: 4 }),
);
const body = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''));

describe('form bodies (parseForm)', () => {
  it('reads any body exactly as fast-querystring does', () => {
    fc.assert(
      fc.property(body, (b) => {
        assert.deepEqual(ours(b), reference(b), `body ${JSON.stringify(b)}`);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  it('reads an ACS post: base64 escapes decoded, + as space, repeated keys as arrays', () => {
    const saml = Buffer.from('<samlp:Response ID="_1">\u00e9\u20ac ~~~ ???</samlp:Response>'.repeat(20)).toString('base64');
    assert.ok(/[+/=]/.test(saml), 'the sample uses the escaped base64 characters');
    const post = new URLSearchParams({ SAMLResponse: saml, RelayState: 'a b/c?d=é' }).toString();
    const fields = parseForm(post);
    assert.equal(fields.SAMLResponse, saml);
    assert.equal(fields.RelayState, 'a b/c?d=é');
    assert.deepEqual(ours(post), reference(post));
    // A second SAMLResponse makes an array, which the ACS refuses as not one message.
    assert.deepEqual(parseForm('SAMLResponse=a&SAMLResponse=b&SAMLResponse=c').SAMLResponse, ['a', 'b', 'c']);
    // Lower-case escapes, a broken escape kept as it came, a raw + in base64 read as a space (then refused as not base64).
    assert.equal(parseForm('x=ab%2fcd%3d').x, 'ab/cd=');
    assert.equal(parseForm('x=ab%2Fcd%zz').x, 'ab%2Fcd%zz');
    assert.equal(parseForm('x=ab+cd').x, 'ab cd');
  });

  it('has no prototype: __proto__ is a field like any other', () => {
    const fields = parseForm('__proto__=x&constructor=y');
    assert.equal(Object.getPrototypeOf(fields), null);
    assert.equal(fields['__proto__'], 'x');
    assert.equal(fields.constructor, 'y');
  });
});
