// Small XML helpers shared by the SP side (and the demo IdP): strict parsing,
// escaping and namespace-aware child lookup. Elements are always selected by
// namespace URI + local name, never by prefix.
import { ELEMENT_NODE, XmlParseError, parseXml } from './xml-parser.ts';
import type { Document, Element, Node } from './xml-parser.ts';

export type { Attr, Document, Element, Node } from './xml-parser.ts';
export { ELEMENT_NODE, XMLNS_NS, XML_NS, XmlParseError, markupStartProblem } from './xml-parser.ts';

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
} as const;

/** Escapes text for use in element content and double-quoted attribute values. */
export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

/**
 * True when the text carries a document type declaration or any markup
 * declaration. Defends against entity expansion ("billion laughs"), external
 * entity (XXE) reads and DTD-based attribute defaults that could change what
 * is signed versus what is read.
 */
export function hasDoctypeOrDeclarations(xml: string): boolean {
  return xml.includes('<!') && /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i.test(xml);
}

/**
 * Parses XML with the project's strict parser (`xml-parser.ts`): anything
 * not well-formed, any DOCTYPE or entity declaration, and processing
 * instructions inside the document are refused, so a document that another
 * parser would "repair" or expand is never read in a form that differs from
 * what the signer saw.
 */
export function parseXmlStrict(xml: string): Document {
  return parseXml(xml);
}

export function isElement(node: Node | null | undefined): node is Element {
  return node != null && node.nodeType === ELEMENT_NODE;
}

/** Direct element children with the given namespace and local name. */
export function childElements(parent: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n != null; n = n.nextSibling) {
    if (isElement(n) && n.localName === localName && n.namespaceURI === ns) out.push(n);
  }
  return out;
}

/** The first direct child with the given name, or undefined. */
export function childElement(parent: Element, ns: string, localName: string): Element | undefined {
  for (let n = parent.firstChild; n != null; n = n.nextSibling) {
    if (isElement(n) && n.localName === localName && n.namespaceURI === ns) return n;
  }
  return undefined;
}

/** All element children, regardless of name. */
export function elementChildren(parent: Element): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n != null; n = n.nextSibling) if (isElement(n)) out.push(n);
  return out;
}

/** Every descendant element (document order) with the given namespace and local name. */
export function descendants(root: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  const walk = (el: Element): void => {
    for (let n = el.firstChild; n != null; n = n.nextSibling) {
      if (!isElement(n)) continue;
      if (n.localName === localName && n.namespaceURI === ns) out.push(n);
      walk(n);
    }
  };
  walk(root);
  return out;
}

/** Attribute value or undefined when absent (xmldom returns '' or null for absent ones). */
export function attr(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? (el.getAttribute(name) ?? undefined) : undefined;
}

/**
 * Full text of an element: every text and CDATA descendant joined; comments
 * and processing instructions contribute nothing. Never "the first text node",
 * which a comment injected by an attacker could truncate.
 */
export function textOf(el: Element): string {
  return el.textContent ?? '';
}
