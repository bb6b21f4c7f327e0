// The strict XML parser of the service provider: what it reads (the same data
// model as the DOM) and every refusal its header promises, each with the
// attack or ambiguity it defends against.
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalise } from '../../../src/saml/c14n.ts';
import { MAX_ATTRIBUTES, MAX_DEPTH, MAX_NAMESPACE_DECLARATIONS, XML_NS, XMLNS_NS, XmlParseError, parseXml, type Element } from '../../../src/saml/xml-parser.ts';

function root(xml: string): Element {
  const el = parseXml(xml).documentElement;
  assert.ok(el);
  return el;
}

function refused(xml: string, message: RegExp): void {
  assert.throws(() => parseXml(xml), (err: unknown) => {
    assert.ok(err instanceof XmlParseError, `expected XmlParseError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('xml-parser: what it reads', () => {
  it('resolves namespaces of elements and attributes, including declarations on ancestors and redeclarations', () => {
    const r = root('<p:a xmlns:p="urn:p" xmlns="urn:d" x="1" p:y="2"><b><p:c xmlns:p="urn:q" p:z="3"/></b><d xmlns=""/></p:a>');
    assert.equal(r.namespaceURI, 'urn:p');
    assert.equal(r.prefix, 'p');
    assert.equal(r.localName, 'a');
    assert.equal(r.getAttributeNodeNS(null, 'x')?.value, '1');
    assert.equal(r.getAttributeNS('urn:p', 'y'), '2');
    const b = r.childNodes[0] as Element;
    assert.equal(b.namespaceURI, 'urn:d');
    const c = b.childNodes[0] as Element;
    assert.equal(c.namespaceURI, 'urn:q');
    assert.equal(c.getAttributeNS('urn:q', 'z'), '3');
    assert.equal((r.childNodes[1] as Element).namespaceURI, null);
    const decl = r.attributes.find((a) => a.name === 'xmlns:p');
    assert.deepEqual([decl?.prefix, decl?.localName, decl?.namespaceURI], ['xmlns', 'p', XMLNS_NS]);
    assert.equal(r.attributes.find((a) => a.name === 'xmlns')?.namespaceURI, XMLNS_NS);
    assert.equal(c.lookupNamespaceURI('p'), 'urn:q');
    assert.equal(b.lookupNamespaceURI(null), 'urn:d');
    assert.equal(root('<a xml:lang="en"/>').getAttributeNS(XML_NS, 'lang'), 'en');
  });

  it('decodes the predefined entities and character references, normalises attribute white space, and CR LF', () => {
    const r = root('<a v="x&amp;y&lt;&gt;&quot;&apos; t\tn\nr&#9;&#10;&#13;&#x1F600;">a&amp;b&#65;&#x42;\r\nc\rd<![CDATA[<&>]]></a>');
    assert.equal(r.getAttribute('v'), 'x&y<>"\' t n r\t\n\r\u{1F600}');
    assert.equal(r.textContent, 'a&bAB\nc\nd<&>');
  });

  it('keeps comments as nodes that add nothing to the text (a comment cannot truncate a NameID)', () => {
    const r = root('<NameID>alice@example.com<!---->.evil.test</NameID>');
    assert.equal(r.textContent, 'alice@example.com.evil.test');
    assert.equal(r.childNodes.length, 3);
  });

  it('accepts an XML declaration, a byte order mark, and comments and processing instructions outside the root', () => {
    const doc = parseXml('\uFEFF<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<!-- c --><?pi data?>\n<a/>\n<!-- after -->');
    assert.equal(doc.documentElement?.localName, 'a');
    assert.equal(doc.firstChild?.nodeName, 'xml');
  });

  it('reads non-ASCII names', () => {
    assert.equal(root('<été xmlns:ü="urn:u" ü:ñ="1"/>').attributes[1]?.localName, 'ñ');
  });
});

describe('xml-parser: refusals', () => {
  it('refuses a DOCTYPE and every markup declaration (entity expansion, XXE, DTD attribute defaults)', () => {
    refused('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /DOCTYPE/);
    refused('<a><!ENTITY x "y"></a>', /DOCTYPE|declaration/);
    refused('<a><!ATTLIST a b CDATA "c"></a>', /declaration/);
  });

  it('refuses entities other than the five predefined ones, and references to characters XML does not allow', () => {
    refused('<a>&x;</a>', /undeclared entity/);
    refused('<a v="&nbsp;"/>', /undeclared entity/);
    refused('<a>&#0;</a>', /character reference/);
    refused('<a>&#xD800;</a>', /character reference/);
    refused('<a>&#xZ;</a>', /malformed character reference/);
    refused('<a>a & b</a>', /entity reference/);
  });

  it('refuses processing instructions inside the document element (canonicalisers disagree on them)', () => {
    refused('<a><?pi data?></a>', /processing instruction inside/);
    refused('<a/><?xml version="1.0"?>', /XML declaration/);
  });

  it('refuses what is not well-formed', () => {
    refused('<a><b></a></b>', /does not match/);
    refused('<a>', /end of document/);
    refused('<a></a><b/>', /after the root element/);
    refused('text<a/>', /before the root/);
    refused('', /no root element/);
    refused('<a b="1" b="2"/>', /duplicate attribute/);
    refused('<a b=1/>', /quoted/);
    refused('<a b="<"/>', /"<" in an attribute value/);
    refused('<a b="1"c="2"/>', /white space before an attribute/);
    refused('<a>]]></a>', /"]]>" in text/);
    refused('<a><!-- a -- b --></a>', /"--" inside a comment/);
    refused('<a><!-- a ---></a>', /"--" inside a comment/);
    refused('<a><![CDATA[x</a>', /unterminated CDATA/);
    refused('<?xml version="2.0"?><a/>', /XML declaration/);
    refused('</a>', /end tag without a start tag/);
  });

  it('refuses characters outside XML\'s Char production, lone surrogates included', () => {
    refused('<a>\u0001</a>', /character not allowed/);
    refused('<a>\uFFFF</a>', /character not allowed/);
    refused('<a>\uD800x</a>', /character not allowed/);
    refused('<a>x\uDC00</a>', /character not allowed/);
    assert.equal(root('<a>\u{1F600}</a>').textContent, '\u{1F600}');
  });

  it('refuses documents that are not namespace-well-formed (a reader could resolve names differently from the signer)', () => {
    refused('<p:a/>', /unbound namespace prefix p/);
    refused('<a p:b="1"/>', /unbound namespace prefix p/);
    refused('<a xmlns:p="urn:p" xmlns:q="urn:p" p:b="1" q:b="2"/>', /duplicate attribute/);
    refused('<a xmlns:p=""/>', /undeclared with an empty value/);
    refused('<a xmlns:xmlns="urn:x"/>', /xmlns prefix/);
    refused('<a xmlns:xml="urn:x"/>', /reserved namespace/);
    refused(`<a xmlns:p="${XML_NS}"/>`, /reserved namespace/);
    refused(`<a xmlns="${XMLNS_NS}"/>`, /reserved namespace/);
    refused('<a:b:c xmlns:a="urn:a"/>', /malformed qualified name/);
    refused('<:a/>', /malformed qualified name/);
  });

  it(`refuses nesting deeper than ${MAX_DEPTH} (no reader of the tree runs out of stack)`, () => {
    const ok = `${'<a>'.repeat(MAX_DEPTH)}${'</a>'.repeat(MAX_DEPTH)}`;
    assert.equal(root(ok).localName, 'a');
    refused(`${'<a>'.repeat(MAX_DEPTH + 1)}${'</a>'.repeat(MAX_DEPTH + 1)}`, /nested deeper/);
    refused('<a>'.repeat(100_000), /nested deeper/);
  });

  it('refuses more attributes per element and namespace declarations per document than its caps (quadratic work before the signature check)', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}="v"`).join('');
    assert.equal(root(`<a${attrs(MAX_ATTRIBUTES)}/>`).attributes.length, MAX_ATTRIBUTES);
    refused(`<a${attrs(MAX_ATTRIBUTES + 1)}/>`, /more than 256 attributes/);
    refused(`<a${attrs(20_000)}/>`, /more than 256 attributes/);
    const decls = (n: number) => Array.from({ length: n }, (_, i) => ` xmlns:p${i}="urn:p${i}"`).join('');
    assert.equal(root(`<a${decls(MAX_NAMESPACE_DECLARATIONS - 1)}><b xmlns="urn:d"/></a>`).localName, 'a');
    refused(`<a${decls(MAX_NAMESPACE_DECLARATIONS)}><b xmlns="urn:d"/></a>`, /namespace declarations/);
    refused(`<a>${Array.from({ length: 300 }, (_, i) => `<b xmlns:q="urn:${i}"/>`).join('')}</a>`, /namespace declarations/);
  });

  it('never echoes markup from the input in its messages', () => {
    try {
      parseXml('<a><script></a>');
      assert.fail('accepted');
    } catch (err) {
      assert.doesNotMatch((err as Error).message, /</);
    }
  });
});

describe('xml-parser: hostile input', () => {
  const SEED_DOC =
    '<?xml version="1.0"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0">' +
    '<saml:Issuer>https://idp.example.test</saml:Issuer><!-- c --><saml:Assertion ID="_a"><saml:Subject><saml:NameID Format="f">a&amp;b&#x41;<![CDATA[<x>]]></saml:NameID></saml:Subject>' +
    '<saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">m</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>';

  /** Either a document whose every element canonicalises, or XmlParseError; nothing else (no crash, no other error). */
  function parsesOrRefuses(xml: string): void {
    let doc;
    try {
      doc = parseXml(xml);
    } catch (err) {
      if (!(err instanceof XmlParseError)) throw err;
      return;
    }
    const walk = (el: Element): void => {
      canonicalise(el);
      void el.textContent;
      for (const c of el.childNodes) if (c.nodeType === 1) walk(c);
    };
    walk(doc.documentElement as Element);
  }

  it('random text: a document or XmlParseError, never another error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => parsesOrRefuses(s)), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('<', '>', '/', '?', '!', '-', '[', ']', '&', ';', '#', 'x', 'a', ':', '=', '"', "'", ' ', 'C', 'D', 'A', 'T'), maxLength: 120 }), (s) => parsesOrRefuses(s)), { numRuns: 3000 });
  });

  it('a SAML document with random insertions, deletions and replacements: a document or XmlParseError', () => {
    const edit = fc.record({ at: fc.nat({ max: SEED_DOC.length }), drop: fc.nat({ max: 8 }), insert: fc.string({ unit: fc.constantFrom('<', '>', '/', '&', ';', '#', '"', "'", '=', ':', ' ', '\r', '\n', '-', '!', '?', ']', 'x', '\u0000', '\uD800'), maxLength: 6 }) });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let xml = SEED_DOC;
        for (const e of edits) xml = xml.slice(0, e.at) + e.insert + xml.slice(e.at + e.drop);
        parsesOrRefuses(xml);
      }),
      { numRuns: 5000 },
    );
    parsesOrRefuses(SEED_DOC);
    assert.equal(parseXml(SEED_DOC).documentElement?.localName, 'Response');
  });
});
