// Differential test of the ACS fast path against the libraries it replaced.
//
// The service provider parses with its own XML parser (src/saml/xml-parser.ts),
// canonicalises with its own exclusive c14n (src/saml/c14n.ts) and resolves
// the one Reference itself (src/saml/signature.ts). Each must stay equivalent
// to what it replaced:
// 1. the parser and canonicaliser: for thousands of generated documents (mixed
//    namespace styles, default namespaces and xmlns="" resets, redeclared
//    prefixes, namespaced attributes in any order, entities, character
//    references, CDATA, comments, CR/LF line ends, white space in tags and
//    attribute values, non-ASCII text), every element canonicalised as apex,
//    with and without an InclusiveNamespaces PrefixList, gives byte for byte
//    what xml-crypto's ExclusiveCanonicalization gives over @xmldom/xmldom,
//    and both parsers read the same text and attributes;
// 2. signature verification: thousands of signed responses, valid and
//    tampered in ways that must and must not matter, get the same verdict
//    from verifyEnvelopedSignature as from xml-crypto's
//    SignedXml.checkSignature (held to the one profile the SP accepts:
//    a single Reference to the enclosing element, enveloped + exc-c14n), and
//    where both accept, the same signed octets as getSignedReferences().
//
// The generator is seeded; a failure prints the seed and the document.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { beforeAll, describe, it } from '@jest/globals';
import { DOMParser } from '@xmldom/xmldom';
import type { Element as DomElement, Node as DomNode } from '@xmldom/xmldom';
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';
import type { SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { C14N_EXC, DIGEST, SIG, TRANSFORM_ENVELOPED } from '../../../src/saml/algorithms.ts';
import { canonicalise } from '../../../src/saml/c14n.ts';
import { verifyEnvelopedSignature } from '../../../src/saml/signature.ts';
import type { IdpCertificate } from '../../../src/saml/types.ts';
import { parseXml, type Element } from '../../../src/saml/xml-parser.ts';
import { certificatesOf, signingIdentity } from '../../support/saml-fixtures.ts';

/** SSO_DIFF_SCALE=10 runs ten times as many (seeded differently with SSO_DIFF_SEED). */
const SCALE = Number(process.env.SSO_DIFF_SCALE ?? 1);
const DOCUMENTS = 1_500 * SCALE;
const SIGNED_DOCUMENTS = 1_000 * SCALE;
const SEED = Number(process.env.SSO_DIFF_SEED ?? 0x5eed_2026);

const P = 'urn:oasis:names:tc:SAML:2.0:protocol';
const A = 'urn:oasis:names:tc:SAML:2.0:assertion';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XS = 'http://www.w3.org/2001/XMLSchema';
const EXT = 'urn:example:ext';
const XMLNS = 'http://www.w3.org/2000/xmlns/';

/** mulberry32: small, seeded, good enough to vary documents. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
    }
    return xs;
  }
  /** White space inside a tag (between attributes, before > or />). */
  ws(): string {
    return this.pick([' ', ' ', ' ', '  ', '\n  ', '\t', '\r\n '] as const);
  }
  quote(value: string): string {
    // The value is already escaped for double quotes; single quotes need &apos; only when used inside.
    if (this.chance(0.2) && !value.includes("'")) return `'${value.replace(/&quot;/g, '"')}'`;
    return `"${value}"`;
  }
  /** Attribute value text: plain, with escapes, references and literal white space. */
  attrValue(): string {
    const parts = ['alpha', 'a b', 'x&amp;y', '&lt;tag&gt;', '&quot;q&quot;', 'tab&#9;ref', 'nl&#10;ref', 'cr&#13;ref', 'lit\ttab', 'lit\nnl', 'lit\r\ncrlf', 'é ü 漢', '&#x1F600;', "it's", '  spaced  '];
    let out = '';
    const n = 1 + this.int(3);
    for (let i = 0; i < n; i++) out += this.pick(parts);
    return out;
  }
  /** Element text: escapes, references, CDATA, comments between text, line ends. */
  text(): string {
    const parts = ['alice@example.com', 'a&amp;b', '&lt;not-a-tag&gt;', 'gt > sign', '&#13;', '\r\n', '\n', '\t', '<![CDATA[<b>&raw;</b>]]>', '<!-- note -->', 'ünïcödé', '&#x2603;', '"q"', "'a'", ' '];
    let out = '';
    const n = 1 + this.int(4);
    for (let i = 0; i < n; i++) out += this.pick(parts);
    return out;
  }
}

interface Style {
  /** Prefix for protocol and assertion elements, or '' for a default namespace. */
  p: string;
  a: string;
  /** Declare namespaces on the root only, or again on inner elements. */
  redeclare: boolean;
  /** Add declarations nobody uses (exc-c14n drops them). */
  unused: boolean;
}

function q(prefix: string, local: string): string {
  return prefix === '' ? local : `${prefix}:${local}`;
}

function decl(prefix: string, uri: string): string {
  return prefix === '' ? `xmlns="${uri}"` : `xmlns:${prefix}="${uri}"`;
}

/** A SAML-like Response with an Assertion (IDs _r and _a), in one of many namespace styles. */
function generate(g: Gen): string {
  const style: Style = {
    p: g.pick(['samlp', 'samlp', 'p', ''] as const),
    a: g.pick(['saml', 'saml', 'a', 'saml2', ''] as const),
    redeclare: g.chance(0.3),
    unused: g.chance(0.3),
  };
  if (style.p === '' && style.a === '') style.a = 'saml';
  const { p, a } = style;
  const attrs = (list: string[]): string => g.shuffle(list).map((x) => `${g.ws()}${x}`).join('') + (g.chance(0.3) ? g.ws() : '');
  const rootDecls = [decl(p, P), ...(p === a ? [] : [decl(a, A)])];
  if (a !== '' && p !== '' && g.chance(0.3)) rootDecls.push(decl('xs', XS), decl('xsi', XSI));
  if (style.unused) rootDecls.push(decl('unused', 'urn:example:unused'));
  const xsiHere = rootDecls.some((d) => d.includes(XSI));
  const rootAttrs = [...rootDecls, 'ID="_r"', 'Version="2.0"', `IssueInstant="2026-12-06T20:00:00Z"`, `Destination=${g.quote(`https://sp.example.test/acs?x=${g.int(9)}&amp;y=1`)}`];
  if (g.chance(0.3)) rootAttrs.push(`xmlns:ext="${EXT}"`, `ext:flag=${g.quote(g.attrValue())}`);

  const aDecl = style.redeclare || a === '' ? ` ${decl(a, A)}` : '';
  const issuer = (): string => `<${q(a, 'Issuer')}${aDecl}>${g.chance(0.3) ? g.text() : 'https://idp.example.test/metadata'}</${q(a, 'Issuer')}>`;

  // Attributes, sometimes with xsi:type and xmlns="" children in no namespace.
  let attributes = '';
  const count = 1 + g.int(4);
  for (let i = 0; i < count; i++) {
    const typed = g.chance(0.4);
    const xsiDecl = typed && !xsiHere ? ` xmlns:xsi="${XSI}" xmlns:xs="${XS}"` : '';
    const valueAttrs = typed ? ` xsi:type="xs:string"${xsiDecl}` : '';
    let value = `<${q(a, 'AttributeValue')}${valueAttrs}>${g.text()}</${q(a, 'AttributeValue')}>`;
    if (g.chance(0.15)) value += `<${q(a, 'AttributeValue')}><plain xmlns="">${g.text()}<inner>${g.text()}</inner></plain></${q(a, 'AttributeValue')}>`;
    if (g.chance(0.1)) value += `<${q(a, 'AttributeValue')}><ext:v xmlns:ext="urn:example:other">${g.text()}</ext:v></${q(a, 'AttributeValue')}>`;
    attributes += `<${q(a, 'Attribute')}${attrs([`Name=${g.quote(`attr-${i}`)}`, ...(g.chance(0.5) ? [`FriendlyName=${g.quote(g.attrValue())}`] : [])])}>${value}</${q(a, 'Attribute')}>`;
  }
  const assertionDecls = a === '' || style.redeclare || g.chance(0.2) ? [decl(a, A)] : [];
  if (a !== '' && g.chance(0.15)) assertionDecls.push(decl('', 'urn:example:default'));
  const assertion =
    `<${q(a, 'Assertion')}${attrs([...assertionDecls, 'ID="_a"', 'Version="2.0"', 'IssueInstant="2026-12-06T20:00:00Z"'])}>` +
    (g.chance(0.2) ? g.pick(['\n  ', '<!-- lead -->', '\r\n']) : '') +
    issuer() +
    `<${q(a, 'Subject')}><${q(a, 'NameID')}${attrs([`Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"`])}>${g.text()}</${q(a, 'NameID')}>` +
    `<${q(a, 'SubjectConfirmation')} Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><${q(a, 'SubjectConfirmationData')}${attrs(['InResponseTo="_req"', 'Recipient="https://sp.example.test/acs"', 'NotOnOrAfter="2026-12-06T21:00:00Z"'])}/></${q(a, 'SubjectConfirmation')}></${q(a, 'Subject')}>` +
    `<${q(a, 'Conditions')}${attrs(['NotBefore="2026-12-06T19:59:00Z"', 'NotOnOrAfter="2026-12-06T21:00:00Z"'])}><${q(a, 'AudienceRestriction')}><${q(a, 'Audience')}>https://sp.example.test/metadata</${q(a, 'Audience')}></${q(a, 'AudienceRestriction')}></${q(a, 'Conditions')}>` +
    `<${q(a, 'AttributeStatement')}>${attributes}</${q(a, 'AttributeStatement')}>` +
    `</${q(a, 'Assertion')}>`;
  const status = `<${q(p, 'Status')}><${q(p, 'StatusCode')} Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></${q(p, 'Status')}>`;
  const prolog = g.pick(['', '<?xml version="1.0" encoding="UTF-8"?>\n', "<?xml version='1.0'?>", '<!-- before -->\n']);
  const sep = (): string => (g.chance(0.3) ? g.pick(['\n', '\r\n  ', '<!--x-->', ' ']) : '');
  return `${prolog}<${q(p, 'Response')}${attrs(rootAttrs)}>${sep()}${issuer()}${sep()}${status}${sep()}${assertion}${sep()}</${q(p, 'Response')}>${g.chance(0.2) ? '\n<!-- after -->\n' : ''}`;
}

// --- the reference: xmldom + xml-crypto -------------------------------------

// Every xmldom warning and error fatal: how the service provider used xmldom before (parseXmlStrict).
const domParser = new DOMParser({ onError: (_level: string, msg: string) => { throw new Error(msg); } } as never);
const xcC14n = new ExclusiveCanonicalization();
// The xmldom that xml-crypto itself parses with in checkSignature (its own dependency, 0.8 today):
// its tree is what xml-crypto's canonicaliser really sees when it verifies.
const xcXmldom = createRequire(createRequire(import.meta.url).resolve('xml-crypto'))('@xmldom/xmldom') as typeof import('@xmldom/xmldom');
const xcParser = new xcXmldom.DOMParser();

function domElements(el: DomElement, out: DomElement[] = []): DomElement[] {
  out.push(el);
  for (let n: DomNode | null = el.firstChild; n != null; n = n.nextSibling) if (n.nodeType === 1) domElements(n as DomElement, out);
  return out;
}

function ourElements(el: Element, out: Element[] = []): Element[] {
  out.push(el);
  for (const c of el.childNodes) if (c.nodeType === 1) ourElements(c, out);
  return out;
}

/** xml-crypto's findAncestorNs equivalent (what SignedXml passes as ancestorNamespaces). */
function domAncestorNamespaces(el: DomElement): Array<{ prefix: string; namespaceURI: string }> {
  const own = new Set<string>([el.prefix ?? '']);
  for (let i = 0; i < el.attributes.length; i++) {
    const at = el.attributes.item(i);
    if (at && at.namespaceURI === XMLNS) own.add(at.prefix === 'xmlns' ? (at.localName ?? '') : '');
  }
  const seen = new Set<string>();
  const out: Array<{ prefix: string; namespaceURI: string }> = [];
  for (let p = el.parentNode; p != null && p.nodeType === 1; p = p.parentNode) {
    const pe = p as DomElement;
    for (let i = 0; i < pe.attributes.length; i++) {
      const at = pe.attributes.item(i);
      if (!at || at.namespaceURI !== XMLNS) continue;
      const prefix = at.prefix === 'xmlns' ? (at.localName ?? '') : '';
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (at.value !== '' && !own.has(prefix)) out.push({ prefix, namespaceURI: at.value });
    }
  }
  return out;
}

function xmlCryptoC14n(el: DomElement, prefixList: string[]): string {
  // On a deep clone, as SignedXml.canonicalize does (xml-crypto's output differs on the original
  // node for an xmlns="" reset, and it mutates the apex for a PrefixList).
  const target = el.cloneNode(true) as DomElement;
  return xcC14n.process(target as never, { inclusiveNamespacesPrefixList: prefixList, ancestorNamespaces: domAncestorNamespaces(el) } as never) as string;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at ${i}:\n  ours:       ${JSON.stringify(a.slice(Math.max(0, i - 60), i + 60))}\n  xml-crypto: ${JSON.stringify(b.slice(Math.max(0, i - 60), i + 60))}`;
}

function attributesOf(el: { attributes: ArrayLike<{ name: string; namespaceURI: string | null; value: string }> }): string[] {
  return Array.from(el.attributes, (x) => `${x.namespaceURI ?? ''}|${x.name}=${x.value}`);
}

// --- signing and tampering ---------------------------------------------------

let idp: SigningIdentity;
let stranger: SigningIdentity;
let certs: IdpCertificate[];

beforeAll(async () => {
  [idp, stranger] = await Promise.all([signingIdentity('diff-idp'), signingIdentity('diff-stranger')]);
  certs = certificatesOf(idp);
});

function sign(xml: string, id: string, g: Gen, key: SigningIdentity): string {
  const prefixList = g.chance(0.3) ? g.pick([['xs'], ['xs', 'xsi'], ['saml'], ['unused'], ['ext', 'xs']]) : undefined;
  const signer = new SignedXml({
    privateKey: key.keyPem,
    signatureAlgorithm: SIG.rsaSha256,
    canonicalizationAlgorithm: C14N_EXC,
    ...(g.chance(0.2) ? { inclusiveNamespacesPrefixList: 'xs' } : {}),
  });
  signer.addReference({
    xpath: `//*[@ID='${id}']`,
    transforms: [TRANSFORM_ENVELOPED, C14N_EXC],
    digestAlgorithm: DIGEST.sha256,
    ...(prefixList ? { inclusiveNamespacesPrefixList: prefixList } : {}),
  });
  signer.computeSignature(xml, { prefix: g.pick(['ds', 'ds', 'dsig', '']), location: { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' } });
  return signer.getSignedXml();
}

type Tamper = { name: string; apply: (xml: string, g: Gen) => string | undefined };

/** Edits of a signed document: some must break the signature, some must not. */
const TAMPERS: Tamper[] = [
  { name: 'none', apply: (x) => x },
  { name: 'nameid text', apply: (x) => replaceInside(x, 'NameID', (t) => `${t}x`) },
  { name: 'attribute value text', apply: (x) => replaceInside(x, 'AttributeValue', (t) => t.replace(/a/, 'b')) },
  { name: 'audience', apply: (x) => x.replace('https://sp.example.test/metadata</', 'https://evil.example.test/metadata</') },
  { name: 'attribute order', apply: (x) => x.replace(/(\sVersion="2\.0")(\s+IssueInstant="[^"]*")/g, '$2$1') },
  { name: 'quote style', apply: (x) => x.replace(/Version="2\.0"/g, "Version='2.0'") },
  { name: 'white space in tags', apply: (x) => x.replace(/ Version=/g, '\n   Version=').replace(/"\/>/g, '" />') },
  { name: 'character reference', apply: (x) => x.replace(/@example\.com/, '&#64;example.com') },
  { name: 'comment in text', apply: (x) => replaceInside(x, 'NameID', (t) => `<!-- c -->${t}<!---->`) },
  { name: 'CDATA for text', apply: (x) => x.replace('https://sp.example.test/metadata</', '<![CDATA[https://sp.example.test/metadata]]></') },
  { name: 'added attribute', apply: (x) => x.replace(/(<[^>]*Subject[^>]*?)>/, '$1 Extra="1">') },
  { name: 'removed attribute', apply: (x) => x.replace(/\sFriendlyName=("[^"]*"|'[^']*')/, '') },
  { name: 'digest value', apply: (x) => x.replace(/(DigestValue>)([A-Za-z0-9+/])/, (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`) },
  { name: 'signature value', apply: (x) => x.replace(/(SignatureValue>)([A-Za-z0-9+/])/, (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`) },
  { name: 'reference URI', apply: (x) => x.replace(/URI="#_a"/, 'URI="#_r"').replace(/URI="#_r"/, 'URI="#_a"') },
  { name: 'unused declaration', apply: (x) => x.replace(/(<[^>]*Assertion)(\s)/, `$1 xmlns:zz="urn:example:zz"$2`) },
  { name: 'prefix renamed', apply: (x) => (x.includes('<saml:') ? x.replace(/(<\/?)saml:/g, '$1s2:').replace(/xmlns:saml=/g, 'xmlns:s2=') : undefined) },
  { name: 'text after signature', apply: (x) => x.replace(/(<\/(?:ds:|dsig:)?Signature>)/, '$1\n') },
  { name: 'ds:Object inside signature', apply: (x) => x.replace(/(<\/(?:(ds|dsig):)?KeyInfo>)/, (_m, end: string, pre?: string) => `${end}<${pre ? `${pre}:` : ''}Object><saml:Attribute xmlns:saml="${A}" Name="role"/></${pre ? `${pre}:` : ''}Object>`) },
  { name: 'CR LF line ends', apply: (x) => x.replace(/\n/g, '\r\n') },
  { name: 'tab in attribute', apply: (x) => x.replace(/Name="attr-0"/, 'Name="attr-0\t"') },
  { name: 'entity for quote', apply: (x) => x.replace(/Name="attr-0"/, 'Name="&#97;ttr-0"') },
];

/** Applies `edit` to the text of the first element with this local name, or undefined when absent. */
function replaceInside(xml: string, local: string, edit: (text: string) => string | undefined): string | undefined {
  const re = new RegExp(`(<(?:[A-Za-z0-9]+:)?${local}\\b[^>]*>)([^<]+)(<)`);
  const m = re.exec(xml);
  if (!m) return undefined;
  const replaced = edit(m[2] as string);
  return replaced === undefined ? undefined : xml.replace(re, (_all, open: string, _t: string, lt: string) => `${open}${replaced}${lt}`);
}

/** xml-crypto's verdict on the signature that is a child of the element with `id`, and its signed octets. */
function reference(xml: string, id: string): { valid: boolean; signed?: string; detail: string } {
  let doc;
  try {
    doc = domParser.parseFromString(xml, 'text/xml');
  } catch (err) {
    return { valid: false, detail: `xmldom: ${(err as Error).message}` };
  }
  const owner = domElements(doc.documentElement as DomElement).find((e) => e.getAttribute('ID') === id);
  const signatures = owner ? Array.from(owner.childNodes).filter((n) => n.nodeType === 1 && (n as DomElement).localName === 'Signature') : [];
  if (signatures.length !== 1) return { valid: false, detail: `${signatures.length} signatures` };
  try {
    const sx = new SignedXml({ publicCert: idp.certPem });
    sx.loadSignature(signatures[0] as never);
    // The SP's profile on top of xml-crypto's own checks: one Reference, to the enclosing element,
    // exactly enveloped-signature + exc-c14n.
    const refs = (sx as unknown as { references: Array<{ uri: string; transforms: string[] }> }).references;
    if (refs.length !== 1 || refs[0]?.uri !== `#${id}` || refs[0].transforms.join(' ') !== `${TRANSFORM_ENVELOPED} ${C14N_EXC}`) {
      return { valid: false, detail: 'outside the SP profile' };
    }
    const valid = sx.checkSignature(xml);
    return valid ? { valid, signed: sx.getSignedReferences()[0] as string, detail: 'valid' } : { valid, detail: 'checkSignature false' };
  } catch (err) {
    return { valid: false, detail: `xml-crypto: ${(err as Error).message.slice(0, 120)}` };
  }
}

describe('fast XML path against xmldom + xml-crypto', () => {
  it(`parses and canonicalises ${DOCUMENTS} generated documents exactly as xmldom + xml-crypto do`, () => {
    const g = new Gen(SEED);
    let apexes = 0;
    let withPrefixList = 0;
    for (let n = 0; n < DOCUMENTS; n++) {
      const xml = generate(g);
      assert.doesNotThrow(() => domParser.parseFromString(xml, 'text/xml'), `strict xmldom refused document ${n}:\n${xml}`);
      const dom = xcParser.parseFromString(xml, 'text/xml');
      const ours = parseXml(xml);
      const domEls = domElements(dom.documentElement as DomElement);
      const ourEls = ourElements(ours.documentElement as Element);
      assert.equal(ourEls.length, domEls.length, `element count, seed ${SEED} document ${n}:\n${xml}`);
      for (let i = 0; i < ourEls.length; i++) {
        const o = ourEls[i] as Element;
        const d = domEls[i] as DomElement;
        const where = `seed ${SEED} document ${n} element ${i} <${d.tagName}>:\n${xml}`;
        assert.equal(o.tagName, d.tagName, where);
        assert.equal(o.namespaceURI ?? '', d.namespaceURI ?? '', where); // xmldom 0.8 says '' where the DOM (and ours) says null
        assert.equal(o.localName, d.localName, where);
        assert.deepEqual(attributesOf(o), attributesOf(d as never), where);
        assert.equal(o.textContent, d.textContent, where);
        const prefixList = g.chance(0.3) ? g.pick([['xs'], ['xs', 'xsi'], ['saml', 'samlp'], ['ext'], ['type']]) : [];
        if (prefixList.length > 0) withPrefixList++;
        const mine = canonicalise(o, { prefixList });
        const theirs = xmlCryptoC14n(d, prefixList);
        if (mine !== theirs) assert.fail(`c14n differs ${firstDifference(mine, theirs)}\nPrefixList ${prefixList.join(' ')}, ${where}`);
        apexes++;
      }
    }
    console.log(`[differential] ${DOCUMENTS} documents, ${apexes} elements canonicalised as apex (${withPrefixList} with a PrefixList): identical`);
    assert.ok(apexes > DOCUMENTS * 10);
  });

  it(`gives xml-crypto's verdict and signed octets on ${SIGNED_DOCUMENTS} signed, tampered responses`, () => {
    const g = new Gen(SEED ^ 0x9e3779b9);
    const tally = { agreedValid: 0, agreedInvalid: 0, byTamper: new Map<string, { valid: number; invalid: number }>() };
    for (let n = 0; n < SIGNED_DOCUMENTS; n++) {
      let xml = generate(g);
      const signAssertion = g.chance(0.8);
      const signResponse = !signAssertion || g.chance(0.4);
      const key = g.chance(0.05) ? stranger : idp;
      if (signAssertion) xml = sign(xml, '_a', g, key);
      if (signResponse) xml = sign(xml, '_r', g, key);
      const tamper = g.pick(TAMPERS);
      const edited = tamper.apply(xml, g) ?? xml;
      let ours;
      try {
        ours = parseXml(edited);
      } catch (err) {
        // Our parser refuses only what is not well-formed XML; xmldom must agree.
        assert.throws(() => domParser.parseFromString(edited, 'text/xml'), `ours refused (${(err as Error).message}) what xmldom reads, ${tamper.name}:\n${edited}`);
        tally.agreedInvalid++;
        continue;
      }
      const root = ours.documentElement as Element;
      const assertion = ourElements(root).find((e) => e.getAttribute('ID') === '_a') as Element;
      for (const [el, id, signed] of [
        [assertion, '_a', signAssertion],
        [root, '_r', signResponse],
      ] as const) {
        if (!signed) continue;
        const fast = verifyEnvelopedSignature(el, certs, false);
        const ref = reference(edited, id);
        const where = `seed ${SEED}, signed document ${n}, ${id}, tamper "${tamper.name}": ours ${fast.status}${fast.status === 'invalid' ? ` (${fast.detail})` : ''}, xml-crypto ${ref.detail}\n${edited}`;
        assert.equal(fast.status === 'valid', ref.valid, where);
        if (fast.status === 'valid') assert.equal(fast.signedXml, ref.signed, where);
        const t = tally.byTamper.get(tamper.name) ?? { valid: 0, invalid: 0 };
        if (ref.valid) {
          tally.agreedValid++;
          t.valid++;
        } else {
          tally.agreedInvalid++;
          t.invalid++;
        }
        tally.byTamper.set(tamper.name, t);
      }
    }
    const lines = [...tally.byTamper].map(([name, t]) => `${name}: ${t.valid} valid / ${t.invalid} invalid`);
    console.log(`[differential] signatures: ${tally.agreedValid} valid and ${tally.agreedInvalid} invalid, all agreed with xml-crypto\n  ${lines.join('\n  ')}`);
    // Both verdicts must have been exercised, and the edits that must not matter must have verified.
    assert.ok(tally.agreedValid > SIGNED_DOCUMENTS / 4, 'enough valid signatures');
    assert.ok(tally.agreedInvalid > SIGNED_DOCUMENTS / 4, 'enough invalid signatures');
    for (const harmless of ['none', 'quote style', 'white space in tags', 'character reference', 'comment in text', 'CDATA for text', 'text after signature', 'ds:Object inside signature', 'CR LF line ends', 'attribute order']) {
      assert.ok((tally.byTamper.get(harmless)?.valid ?? 0) > 0, `"${harmless}" verified at least once`);
    }
    for (const harmful of ['nameid text', 'audience', 'digest value', 'signature value', 'added attribute', 'prefix renamed', 'tab in attribute']) {
      assert.ok((tally.byTamper.get(harmful)?.invalid ?? 0) > 0, `"${harmful}" refused at least once`);
    }
  });
});
