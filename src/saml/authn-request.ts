// SP-initiated login: the AuthnRequest and how it travels to the IdP.
// Small code instead of samlify's createLoginRequest, which needs an IdP
// entity built from metadata and a template-replacement callback for
// NameIDPolicy/RequestedAuthnContext/the Query-style ACS URL.
import { randomBytes } from 'node:crypto';
import { BINDING_URN, NAMEID_FORMAT_URN } from './nameid.ts';
import { redirectBindingURL, signRootElement } from './sign.ts';
import { formatSamlTime } from './time.ts';
import type { SamlConnectorConfig } from './types.ts';
import { appendQuery } from './urls.ts';
import { NS, escapeXml as x } from './xml.ts';

export type AuthnRequestTarget =
  | { binding: 'HTTPRedirect'; url: string }
  | { binding: 'HTTPPost'; url: string; fields: Record<string, string> };

export interface AuthnRequestParams {
  requestId: string;
  /** Opaque login-state id; RelayState, or the `s` ACS parameter with acsParameterStyle Query. */
  relayState: string;
  now: Date;
}

/** `_` + 32 random hex digits (an xs:ID must not start with a digit). */
export function newRequestId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

/** The ACS URL the request names: with Query style it carries `s=<relayState>`. */
export function requestedAcsURL(cfg: SamlConnectorConfig, relayState: string): string {
  return cfg.acsParameterStyle === 'Query' ? appendQuery(cfg.acsURL, [['s', relayState]]) : cfg.acsURL;
}

export function buildAuthnRequestXml(cfg: SamlConnectorConfig, params: AuthnRequestParams): string {
  const attrs = [
    `xmlns:samlp="${NS.protocol}"`,
    `xmlns:saml="${NS.assertion}"`,
    `ID="${x(params.requestId)}"`,
    'Version="2.0"',
    `IssueInstant="${formatSamlTime(params.now)}"`,
    `Destination="${x(cfg.idp.ssoURL)}"`,
    `AssertionConsumerServiceURL="${x(requestedAcsURL(cfg, params.relayState))}"`,
    `ProtocolBinding="${BINDING_URN.HTTPPost}"`,
  ];
  if (cfg.forceAuthn) attrs.push('ForceAuthn="true"');
  if (cfg.isPassive) attrs.push('IsPassive="true"');
  let body = `<saml:Issuer>${x(cfg.spEntityID)}</saml:Issuer>`;
  const policy = cfg.nameIDPolicy;
  if (policy && (policy.format !== undefined || policy.allowCreate !== undefined)) {
    const p: string[] = [];
    if (policy.format !== undefined) p.push(`Format="${x(NAMEID_FORMAT_URN[policy.format])}"`);
    if (policy.allowCreate !== undefined) p.push(`AllowCreate="${policy.allowCreate ? 'true' : 'false'}"`);
    body += `<samlp:NameIDPolicy ${p.join(' ')}/>`;
  }
  const ctx = cfg.authnContext;
  if (ctx && ctx.classRefs.length > 0) {
    const refs = ctx.classRefs.map((r) => `<saml:AuthnContextClassRef>${x(r)}</saml:AuthnContextClassRef>`).join('');
    body += `<samlp:RequestedAuthnContext Comparison="${x(ctx.comparison ?? 'exact')}">${refs}</samlp:RequestedAuthnContext>`;
  }
  return `<samlp:AuthnRequest ${attrs.join(' ')}>${body}</samlp:AuthnRequest>`;
}

/**
 * The AuthnRequest by the connector's binding. Redirect: DEFLATE (raw) +
 * base64 in the `SAMLRequest` query parameter; POST: base64 in the
 * `SAMLRequest` form field. Signed when `signAuthnRequests` (SigAlg and
 * Signature over the query on Redirect, an enveloped signature on POST). RelayState travels alongside unless the Query
 * style carries it in the ACS URL. `idptoken=<accountID>` is added to the
 * IdP URL when an account ID is configured.
 */
export function buildAuthnRequest(cfg: SamlConnectorConfig, params: AuthnRequestParams): AuthnRequestTarget {
  const xml = buildAuthnRequestXml(cfg, params);
  const withRelay = cfg.acsParameterStyle !== 'Query';
  const idpURL = cfg.accountID !== undefined ? appendQuery(cfg.idp.ssoURL, [['idptoken', cfg.accountID]]) : cfg.idp.ssoURL;
  // Signed with the SP key when signAuthnRequests: enveloped on POST, over the query on Redirect.
  const signing = cfg.signAuthnRequests ? cfg.spSigning : undefined;
  if (cfg.idp.ssoBinding === 'HTTPPost') {
    const signed = signing ? signRootElement(xml, signing) : xml;
    const fields: Record<string, string> = { SAMLRequest: Buffer.from(signed, 'utf8').toString('base64') };
    if (withRelay) fields.RelayState = params.relayState;
    return { binding: 'HTTPPost', url: idpURL, fields };
  }
  return { binding: 'HTTPRedirect', url: redirectBindingURL(idpURL, 'SAMLRequest', xml, withRelay ? params.relayState : undefined, signing) };
}
