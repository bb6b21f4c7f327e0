// A strict, namespace-aware XML 1.0 parser for the SAML messages the service
// provider receives, and the small read-only DOM it builds.
//
// Why not @xmldom/xmldom: on the ACS path the parse was the largest single
// cost. One xmldom parse of a 15 KB response takes about 1,000 µs on the
// reference machine, as long as the whole validation may take to reach its
// target of 15 times samlify (`npm run bench`); this parser reads the same
// document in about a fifth of that. It builds exactly the data model xmldom
// builds for a well-formed document (the same element and attribute names,
// namespaces, attribute values after normalisation, text after entity and
// line-end handling), so `c14n.ts` canonicalises it to the same octets as
// xml-crypto does over xmldom; `test/unit/saml/xml-differential.test.ts`
// checks both on thousands of generated documents.
//
// What it refuses (XmlParseError), and what each refusal defends against:
// - any DOCTYPE or markup declaration, and every entity other than the five
//   predefined ones and character references: entity expansion ("billion
//   laughs"), external entities (XXE) and DTD attribute defaults that would
//   make what is read differ from what was signed;
// - processing instructions inside the root element: exclusive c14n
//   implementations disagree on them (xml-crypto renders only their data), so
//   signed content holding one could verify in one reading and mean another;
// - anything not well-formed or not namespace-well-formed (unbound prefixes,
//   duplicate attributes, mismatched tags, characters outside XML's Char
//   production, `]]>` in text, `--` in comments): a document another parser
//   would "repair" differently than the signer saw it;
// - nesting deeper than MAX_DEPTH: the recursive readers of the tree
//   (canonicalisation, text) cannot run out of stack on hostile input;
// - more than MAX_ATTRIBUTES attributes on an element or MAX_NAMESPACE_DECLARATIONS
//   namespace declarations in a document: both would make a response within the
//   size limit cost seconds of CPU (quadratic duplicate checks and name lookups)
//   before its signature could be refused.
//
// Comments and CDATA sections are accepted: comments are kept as nodes and
// contribute nothing to text (a comment inside a NameID cannot truncate it,
// CVE-2017-11428), CDATA becomes text.

/**
 * Refused input. An Error (callers and tests test for it), but without a
 * stack trace: capturing one, deep in fastify's call chain, was about 11 µs
 * of the 140 µs that refusing a malformed post cost (a CPU profile of the
 * junk bench, issue 10), and the stack of a parse of hostile input says
 * nothing the message does not.
 */
export class XmlParseError extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'XmlParseError';
  }
}

export const ELEMENT_NODE = 1;
export const ATTRIBUTE_NODE = 2;
export const TEXT_NODE = 3;
export const PROCESSING_INSTRUCTION_NODE = 7;
export const COMMENT_NODE = 8;
export const DOCUMENT_NODE = 9;

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
export const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** Deeper nesting than this is refused; SAML messages nest about 8 levels. */
export const MAX_DEPTH = 256;
/** More attributes on one element are refused (duplicate checks are quadratic in it). */
export const MAX_ATTRIBUTES = 256;
/** More namespace declarations in one document are refused (name lookups scan the bindings in scope). */
export const MAX_NAMESPACE_DECLARATIONS = 256;

export type Node = Element | Text | Comment | ProcessingInstruction;
export type ParentNode = Element | Document;

abstract class ChildBase {
  parentNode: ParentNode | null = null;
  nextSibling: Node | null = null;
  previousSibling: Node | null = null;
}

/** Text and comments: character data. */
abstract class CharacterData extends ChildBase {
  data: string;
  constructor(data: string) {
    super();
    this.data = data;
  }
  get nodeValue(): string {
    return this.data;
  }
  get textContent(): string {
    return this.data;
  }
}

export class Text extends CharacterData {
  readonly nodeType = TEXT_NODE;
  readonly nodeName = '#text';
}

export class Comment extends CharacterData {
  readonly nodeType = COMMENT_NODE;
  readonly nodeName = '#comment';
}

export class ProcessingInstruction extends ChildBase {
  readonly nodeType = PROCESSING_INSTRUCTION_NODE;
  target: string;
  data: string;
  constructor(target: string, data: string) {
    super();
    this.target = target;
    this.data = data;
  }
  get nodeName(): string {
    return this.target;
  }
  get nodeValue(): string {
    return this.data;
  }
  get textContent(): string {
    return this.data;
  }
}

export class Attr {
  readonly nodeType = ATTRIBUTE_NODE;
  /** The qualified name as written, e.g. `xsi:type` or `xmlns:saml`. */
  readonly name: string;
  readonly prefix: string | null;
  readonly localName: string;
  readonly namespaceURI: string | null;
  readonly value: string;
  constructor(name: string, prefix: string | null, localName: string, namespaceURI: string | null, value: string) {
    this.name = name;
    this.prefix = prefix;
    this.localName = localName;
    this.namespaceURI = namespaceURI;
    this.value = value;
  }
  get nodeName(): string {
    return this.name;
  }
  get nodeValue(): string {
    return this.value;
  }
}

function appendTo(parent: Element | Document, child: Node): void {
  const last = parent.childNodes.length > 0 ? parent.childNodes[parent.childNodes.length - 1]! : null;
  child.parentNode = parent;
  if (last) {
    last.nextSibling = child;
    child.previousSibling = last;
  }
  parent.childNodes.push(child);
}

export class Element extends ChildBase {
  readonly nodeType = ELEMENT_NODE;
  readonly childNodes: Node[] = [];
  /** The qualified name as written. */
  readonly tagName: string;
  readonly prefix: string | null;
  readonly localName: string;
  readonly namespaceURI: string | null;
  /** Every attribute in document order, namespace declarations included (as in the DOM). */
  readonly attributes: Attr[];
  constructor(tagName: string, prefix: string | null, localName: string, namespaceURI: string | null, attributes: Attr[]) {
    super();
    this.tagName = tagName;
    this.prefix = prefix;
    this.localName = localName;
    this.namespaceURI = namespaceURI;
    this.attributes = attributes;
  }
  get nodeName(): string {
    return this.tagName;
  }
  get firstChild(): Node | null {
    return this.childNodes[0] ?? null;
  }
  get lastChild(): Node | null {
    return this.childNodes[this.childNodes.length - 1] ?? null;
  }
  /** Text and CDATA of every descendant, in document order; comments add nothing. */
  get textContent(): string {
    let out = '';
    for (const c of this.childNodes) {
      if (c.nodeType === TEXT_NODE) out += c.data;
      else if (c.nodeType === ELEMENT_NODE) out += c.textContent;
    }
    return out;
  }
  getAttributeNode(name: string): Attr | null {
    for (const a of this.attributes) if (a.name === name) return a;
    return null;
  }
  getAttribute(name: string): string | null {
    return this.getAttributeNode(name)?.value ?? null;
  }
  hasAttribute(name: string): boolean {
    return this.getAttributeNode(name) !== null;
  }
  getAttributeNodeNS(namespaceURI: string | null, localName: string): Attr | null {
    const ns = namespaceURI === '' ? null : namespaceURI;
    for (const a of this.attributes) if (a.localName === localName && a.namespaceURI === ns) return a;
    return null;
  }
  getAttributeNS(namespaceURI: string | null, localName: string): string | null {
    return this.getAttributeNodeNS(namespaceURI, localName)?.value ?? null;
  }
  hasAttributeNS(namespaceURI: string | null, localName: string): boolean {
    return this.getAttributeNodeNS(namespaceURI, localName) !== null;
  }
  /** Descendant elements (document order) with this namespace (or '*') and local name (or '*'). */
  getElementsByTagNameNS(namespaceURI: string | null, localName: string): Element[] {
    const ns = namespaceURI === '' ? null : namespaceURI;
    const out: Element[] = [];
    const walk = (el: Element): void => {
      for (const c of el.childNodes) {
        if (c.nodeType !== ELEMENT_NODE) continue;
        if ((ns === '*' || c.namespaceURI === ns) && (localName === '*' || c.localName === localName)) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  /** Descendant elements (document order) with this qualified name (or '*'). */
  getElementsByTagName(qualifiedName: string): Element[] {
    return this.getElementsByTagNameNS('*', '*').filter((e) => qualifiedName === '*' || e.tagName === qualifiedName);
  }
  /** The namespace bound to `prefix` (null for the default namespace) here, or null. */
  lookupNamespaceURI(prefix: string | null): string | null {
    const p = prefix ?? '';
    if (p === 'xml') return XML_NS;
    if (p === 'xmlns') return XMLNS_NS;
    for (let el: ParentNode | null = this; el != null && el.nodeType === ELEMENT_NODE; el = el.parentNode) {
      for (const a of el.attributes) {
        if (a.namespaceURI !== XMLNS_NS) continue;
        if (p === '' ? a.prefix === null : a.prefix === 'xmlns' && a.localName === p) return a.value === '' ? null : a.value;
      }
    }
    return null;
  }
}

export class Document {
  readonly nodeType = DOCUMENT_NODE;
  readonly nodeName = '#document';
  readonly childNodes: Node[] = [];
  readonly parentNode = null;
  documentElement: Element | null = null;
  get firstChild(): Node | null {
    return this.childNodes[0] ?? null;
  }
}

// ---------------------------------------------------------------------------

const NAME_START =
  ':A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
const NAME = new RegExp(`[${NAME_START}][${NAME_CHAR}]*`, 'uy');
/** Characters outside XML 1.0's Char production: controls and noncharacters, then lone surrogates. */
const NOT_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const XML_DECL =
  /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>/;
const ATTR_WS = /[\t\n\r]/g;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isCharCode(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

function fail(message: string, pos: number): never {
  throw new XmlParseError(`${message} at offset ${pos}`);
}

/** Replaces the predefined entities and character references; anything else is refused. */
function decodeReferences(raw: string, at: number): string {
  let out = '';
  let from = 0;
  for (let amp = raw.indexOf('&'); amp !== -1; amp = raw.indexOf('&', from)) {
    const semi = raw.indexOf(';', amp + 1);
    if (semi === -1 || semi - amp > 12) fail('unterminated entity reference', at + amp);
    const name = raw.slice(amp + 1, semi);
    let value: string | undefined;
    if (name.charCodeAt(0) === 35 /* # */) {
      const hex = name.charCodeAt(1) === 120; /* x */
      const digits = name.slice(hex ? 2 : 1);
      if (digits === '' || !(hex ? /^[0-9A-Fa-f]+$/ : /^[0-9]+$/).test(digits)) fail('malformed character reference', at + amp);
      const cp = Number.parseInt(digits, hex ? 16 : 10);
      if (!isCharCode(cp)) fail('character reference to a character XML does not allow', at + amp);
      value = String.fromCodePoint(cp);
    } else {
      value = Object.hasOwn(PREDEFINED, name) ? PREDEFINED[name] : undefined;
      if (value === undefined) fail(`undeclared entity &${name.slice(0, 20)};`, at + amp);
    }
    out += raw.slice(from, amp) + value;
    from = semi + 1;
  }
  return out + raw.slice(from);
}

interface RawAttr {
  name: string;
  value: string;
}

class Parser {
  private pos = 0;
  /** In-scope namespace bindings, innermost last: prefix ('' for default), uri ('' unbinds the default). */
  private readonly scope: string[] = ['xml', XML_NS];
  private declarations = 0;
  private readonly src: string;

  constructor(src: string) {
    this.src = src;
  }

  parse(): Document {
    const doc = new Document();
    const { src } = this;
    if (src.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (src.startsWith('<?xml', this.pos)) {
      const m = XML_DECL.exec(this.pos === 0 ? src : src.slice(this.pos));
      if (!m) fail('malformed XML declaration', this.pos);
      appendTo(doc, new ProcessingInstruction('xml', m[0].slice(6, -2).trim()));
      this.pos += m[0].length;
    }
    this.misc(doc);
    if (src.charCodeAt(this.pos) !== 60 /* < */) fail(this.pos >= src.length ? 'no root element' : 'text before the root element', this.pos);
    doc.documentElement = this.element(doc);
    this.misc(doc);
    if (this.pos < src.length) fail('content after the root element', this.pos);
    return doc;
  }

  private skipSpace(): boolean {
    const { src } = this;
    const start = this.pos;
    for (;;) {
      const c = src.charCodeAt(this.pos);
      if (c === 32 || c === 10 || c === 9 || c === 13) this.pos++;
      else return this.pos > start;
    }
  }

  /** Comments, processing instructions and white space outside the root element. */
  private misc(doc: Document): void {
    const { src } = this;
    for (;;) {
      this.skipSpace();
      if (src.startsWith('<!--', this.pos)) appendTo(doc, this.comment());
      else if (src.startsWith('<?', this.pos)) appendTo(doc, this.processingInstruction());
      else if (src.startsWith('<!', this.pos)) fail('DOCTYPE and markup declarations are not allowed', this.pos);
      else return;
    }
  }

  private name(): string {
    // ASCII names (all of SAML's) without the regular expression.
    const { src } = this;
    const start = this.pos;
    let i = start;
    let c = src.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58) {
      for (c = src.charCodeAt(++i); (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 58 || c === 95 || c === 45 || c === 46; c = src.charCodeAt(++i));
      if (c < 128 || Number.isNaN(c)) {
        this.pos = i;
        return src.slice(start, i);
      }
    }
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    if (!m) fail('expected a name', this.pos);
    this.pos += m[0].length;
    return m[0];
  }

  private comment(): Comment {
    const start = this.pos + 4;
    const end = this.src.indexOf('-->', start);
    if (end === -1) fail('unterminated comment', this.pos);
    const data = this.src.slice(start, end);
    if (data.includes('--') || data.endsWith('-')) fail('"--" inside a comment', start);
    this.pos = end + 3;
    return new Comment(data);
  }

  private processingInstruction(): ProcessingInstruction {
    const at = this.pos;
    this.pos += 2;
    const target = this.name();
    if (target.toLowerCase() === 'xml') fail('XML declaration not at the start of the document', at);
    if (target.includes(':')) fail('processing instruction target with a colon', at);
    const end = this.src.indexOf('?>', this.pos);
    if (end === -1) fail('unterminated processing instruction', at);
    let data = '';
    if (end > this.pos) {
      if (!this.skipSpace()) fail('malformed processing instruction', at);
      data = this.src.slice(Math.min(this.pos, end), end);
    }
    this.pos = end + 2;
    return new ProcessingInstruction(target, data);
  }

  private lookup(prefix: string): string | null {
    const { scope } = this;
    for (let i = scope.length - 2; i >= 0; i -= 2) {
      if (scope[i] === prefix) return scope[i + 1] === '' ? null : (scope[i + 1] as string);
    }
    return null;
  }

  /** Start tag at `pos` (which is at '<'); returns the element and whether it was empty (`/>`). */
  private startTag(rawAttrs: RawAttr[]): { qname: string; empty: boolean } {
    const { src } = this;
    this.pos++;
    const qname = this.name();
    for (;;) {
      const spaced = this.skipSpace();
      const c = src.charCodeAt(this.pos);
      if (c === 62 /* > */) {
        this.pos++;
        return { qname, empty: false };
      }
      if (c === 47 /* / */ && src.charCodeAt(this.pos + 1) === 62) {
        this.pos += 2;
        return { qname, empty: true };
      }
      if (!spaced) fail(this.pos >= src.length ? 'unterminated start tag' : 'expected white space before an attribute', this.pos);
      const name = this.name();
      this.skipSpace();
      if (src.charCodeAt(this.pos) !== 61 /* = */) fail('expected "=" after an attribute name', this.pos);
      this.pos++;
      this.skipSpace();
      const q = src.charCodeAt(this.pos);
      if (q !== 34 && q !== 39) fail('attribute value must be quoted', this.pos);
      const end = src.indexOf(q === 34 ? '"' : "'", this.pos + 1);
      if (end === -1) fail('unterminated attribute value', this.pos);
      let value = src.slice(this.pos + 1, end);
      if (value.includes('<')) fail('"<" in an attribute value', this.pos);
      // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space
      // becomes a space; characters from references are kept as they are.
      if (value.includes('\t') || value.includes('\n') || value.includes('\r')) value = value.replace(ATTR_WS, ' ');
      if (value.includes('&')) value = decodeReferences(value, this.pos + 1);
      if (rawAttrs.length >= MAX_ATTRIBUTES) fail(`more than ${MAX_ATTRIBUTES} attributes on one element`, this.pos);
      for (const a of rawAttrs) if (a.name === name) fail(`duplicate attribute ${name}`, this.pos);
      rawAttrs.push({ name, value });
      this.pos = end + 1;
    }
  }

  /** Splits a QName; namespace well-formedness allows one colon between two non-empty parts. */
  private split(qname: string, at: number): [string | null, string] {
    const colon = qname.indexOf(':');
    if (colon === -1) return [null, qname];
    if (colon === 0 || colon === qname.length - 1 || qname.indexOf(':', colon + 1) !== -1) fail(`malformed qualified name ${qname}`, at);
    return [qname.slice(0, colon), qname.slice(colon + 1)];
  }

  /** Builds the element from a parsed start tag: binds its namespaces and resolves names. */
  private open(qname: string, rawAttrs: RawAttr[], at: number): { el: Element; bound: number } {
    const { scope } = this;
    const before = scope.length;
    for (const a of rawAttrs) {
      if ((a.name === 'xmlns' || a.name.startsWith('xmlns:')) && ++this.declarations > MAX_NAMESPACE_DECLARATIONS) {
        fail(`more than ${MAX_NAMESPACE_DECLARATIONS} namespace declarations`, at);
      }
      if (a.name === 'xmlns') {
        if (a.value === XML_NS || a.value === XMLNS_NS) fail('reserved namespace as the default namespace', at);
        scope.push('', a.value);
      } else if (a.name.startsWith('xmlns:')) {
        const prefix = a.name.slice(6);
        if (prefix === '' || prefix.includes(':')) fail(`malformed namespace declaration ${a.name}`, at);
        if (prefix === 'xmlns') fail('the xmlns prefix cannot be declared', at);
        if (a.value === '') fail(`namespace prefix ${prefix} undeclared with an empty value`, at);
        if ((prefix === 'xml') !== (a.value === XML_NS) || a.value === XMLNS_NS) fail(`reserved namespace bound to ${prefix}`, at);
        scope.push(prefix, a.value);
      }
    }
    const attrs: Attr[] = new Array(rawAttrs.length);
    for (let i = 0; i < rawAttrs.length; i++) {
      const { name, value } = rawAttrs[i] as RawAttr;
      if (name === 'xmlns') {
        attrs[i] = new Attr(name, null, 'xmlns', XMLNS_NS, value);
        continue;
      }
      const [prefix, local] = this.split(name, at);
      if (prefix === 'xmlns') {
        attrs[i] = new Attr(name, 'xmlns', local, XMLNS_NS, value);
        continue;
      }
      const ns = prefix === null ? null : this.lookup(prefix);
      if (prefix !== null && ns === null) fail(`unbound namespace prefix ${prefix}`, at);
      if (ns !== null) {
        for (let j = 0; j < i; j++) {
          const b = attrs[j] as Attr;
          if (b.namespaceURI === ns && b.localName === local) fail(`duplicate attribute {${ns}}${local}`, at);
        }
      }
      attrs[i] = new Attr(name, prefix, local, ns, value);
    }
    const [prefix, local] = this.split(qname, at);
    const ns = this.lookup(prefix ?? '');
    if (prefix !== null && ns === null) fail(`unbound namespace prefix ${prefix}`, at);
    if (prefix === 'xmlns') fail('element in the xmlns namespace', at);
    return { el: new Element(qname, prefix, local, ns, attrs), bound: scope.length - before };
  }

  /** The root element and everything in it, without recursion. */
  private element(doc: Document): Element {
    const { src, scope } = this;
    const stack: Element[] = [];
    const bound: number[] = [];
    let root: Element | undefined;
    let pendingText = '';
    const flushText = (): void => {
      if (pendingText === '') return;
      appendTo(stack[stack.length - 1] as Element, new Text(pendingText));
      pendingText = '';
    };
    do {
      const at = this.pos;
      const c = src.charCodeAt(at);
      if (c !== 60 /* < */) {
        // Character data up to the next markup.
        const lt = src.indexOf('<', at);
        if (lt === -1) fail('unexpected end of document inside an element', at);
        let raw = src.slice(at, lt);
        if (raw.includes(']]>')) fail('"]]>" in text', at);
        if (raw.includes('&')) raw = decodeReferences(raw, at);
        pendingText += raw;
        this.pos = lt;
        continue;
      }
      const c1 = src.charCodeAt(at + 1);
      if (c1 === 47 /* / */) {
        if (stack.length === 0) fail('end tag without a start tag', at);
        flushText();
        this.pos += 2;
        const name = this.name();
        this.skipSpace();
        if (src.charCodeAt(this.pos) !== 62) fail('malformed end tag', at);
        this.pos++;
        const open = stack.pop() as Element;
        if (open.tagName !== name) fail(`end tag ${name} does not match start tag ${open.tagName}`, at);
        scope.length -= bound.pop() as number;
        continue;
      }
      if (c1 === 33 /* ! */) {
        if (src.startsWith('<!--', at)) {
          flushText();
          appendTo(stack[stack.length - 1] as Element, this.comment());
          continue;
        }
        if (src.startsWith('<![CDATA[', at)) {
          const end = src.indexOf(']]>', at + 9);
          if (end === -1) fail('unterminated CDATA section', at);
          pendingText += src.slice(at + 9, end);
          this.pos = end + 3;
          continue;
        }
        fail('DOCTYPE and markup declarations are not allowed', at);
      }
      if (c1 === 63 /* ? */) fail('processing instruction inside the document element', at);
      flushText();
      const rawAttrs: RawAttr[] = [];
      const { qname, empty } = this.startTag(rawAttrs);
      const { el, bound: n } = this.open(qname, rawAttrs, at);
      if (stack.length === 0) {
        if (root) fail('content after the root element', at);
        root = el;
        appendTo(doc, el);
      } else {
        appendTo(stack[stack.length - 1] as Element, el);
      }
      if (empty) {
        scope.length -= n;
      } else {
        if (stack.length >= MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH}`, at);
        stack.push(el);
        bound.push(n);
      }
    } while (stack.length > 0);
    return root as Element;
  }
}

/**
 * Why a text cannot be a document, judged from its first characters alone:
 * a document starts with markup (after a byte order mark and white space).
 * Undefined when it may be one. parseXml refuses such a text with this
 * message; a caller that refuses junk in bulk asks first, since a function
 * that throws at every call stays in V8's interpreter (trail.ts, reject).
 */
export function markupStartProblem(xml: string): string | undefined {
  const first = /[^\uFEFF \t\r\n]/.exec(xml.length > 64 ? xml.slice(0, 64) : xml);
  if (!first) return 'no root element at offset 0';
  if (first[0] !== '<') return `text before the root element at offset ${first.index}`;
  return undefined;
}

/**
 * Parses `xml` strictly (see the header). The input is text: line ends are
 * normalised to LF first, as XML requires.
 */
export function parseXml(xml: string): Document {
  // Junk is refused before the whole text is scanned.
  const problem = markupStartProblem(xml);
  if (problem !== undefined) throw new XmlParseError(problem);
  const src = xml.includes('\r') ? xml.replace(/\r\n?/g, '\n') : xml;
  const bad = NOT_CHAR.exec(src) ?? (SURROGATE.test(src) ? LONE_SURROGATE.exec(src) : null);
  if (bad) fail('character not allowed in XML', bad.index);
  return new Parser(src).parse();
}
