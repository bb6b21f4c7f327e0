// A development-only SAML IdP served in the operator's own process when
// --demo-idp is given, so the examples work with no other software. Its
// signing key is generated at start and its certificate is published as the
// Secret default/demo-idp-signing (an overlay object of the store), which the
// example connector references. Users come from the ConfigMap
// default/demo-idp-users in the manifests folder. Never for production: it
// has plain-text passwords and no rate limiting.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { escapeHtml, sendAutoPost, sendPage } from '../server/html.ts';
import type { StoredObject } from '../store/types.ts';
import { generateSigningIdentity, type SigningIdentity } from './keys.ts';
import { loadSpSigningKey, redirectBindingURL } from '../saml/sign.ts';
import { buildSignedResponse, logoutResponseXml, parseAuthnRequest, parseLogoutRequest, type ParsedAuthnRequest } from './saml-idp.ts';

export interface DemoUser {
  username: string;
  password: string;
  email: string;
  attributes?: Record<string, string[]>;
}

export interface DemoIdpOptions {
  publicURL: string;
  logger: Logger;
  /** The users.yaml text of the demo-idp-users ConfigMap, read at each login. */
  users: () => string | undefined;
  identity?: SigningIdentity;
}

export interface DemoIdp {
  entityID: string;
  identity: SigningIdentity;
  overlay: StoredObject[];
  plugin: (app: FastifyInstance) => Promise<void>;
}

const PENDING_TTL_MS = 10 * 60 * 1000;
const MAX_PENDING = 1000;

export function parseDemoUsers(text: string | undefined): DemoUser[] {
  if (!text) return [];
  const doc: unknown = parseYaml(text);
  if (!Array.isArray(doc)) throw new Error('users.yaml must be a list of users');
  return doc.map((u: unknown, i) => {
    const o = u as Partial<DemoUser>;
    if (typeof o?.username !== 'string' || typeof o.password !== 'string' || typeof o.email !== 'string') {
      throw new Error(`user ${i}: username, password and email are required strings`);
    }
    return { username: o.username, password: o.password, email: o.email, ...(o.attributes ? { attributes: o.attributes } : {}) };
  });
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function demoIdpMetadata(entityID: string, base: string, certPem: string): string {
  const cert = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
  return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeHtml(entityID)}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeHtml(base)}/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeHtml(base)}/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeHtml(base)}/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`;
}

export async function createDemoIdp(opts: DemoIdpOptions): Promise<DemoIdp> {
  const base = `${opts.publicURL}/demo-idp`;
  const entityID = `${base}/metadata`;
  const identity = opts.identity ?? (await generateSigningIdentity({ commonName: 'sso-operator demo IdP', days: 365 }));
  // The Redirect-binding signer the SP uses for its own messages signs as well for the IdP.
  const loaded = loadSpSigningKey(identity.keyPem, identity.certPem);
  if (!loaded.ok) throw new Error(`demo IdP signing key: ${loaded.message}`);
  const redirectSigner = loaded.signing;
  const overlay: StoredObject[] = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-idp-signing', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'sso-operator-demo-idp' } },
      type: 'Opaque',
      // Only the public certificate: the key never leaves the demo IdP.
      data: { 'tls.crt': Buffer.from(identity.certPem).toString('base64') },
    },
  ];
  const pending = new Map<string, { request: ParsedAuthnRequest; expires: number }>();

  function remember(request: ParsedAuthnRequest): string {
    const now = Date.now();
    for (const [k, v] of pending) if (v.expires < now) pending.delete(k);
    if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
    const ticket = randomBytes(16).toString('base64url');
    pending.set(ticket, { request, expires: now + PENDING_TTL_MS });
    return ticket;
  }

  function loginForm(ticket: string, request: ParsedAuthnRequest, error?: string): string {
    return `<h1>Demo IdP</h1><p class="muted">Development only. Signing in to <code>${escapeHtml(request.issuer)}</code>.</p>` +
      (error ? `<p><strong>${escapeHtml(error)}</strong></p>` : '') +
      `<form method="post" action="/demo-idp/login"><input type="hidden" name="ticket" value="${escapeHtml(ticket)}">` +
      `<p><label>Username<br><input name="username" autocomplete="username" autofocus></label></p>` +
      `<p><label>Password<br><input name="password" type="password" autocomplete="current-password"></label></p>` +
      `<p><button type="submit">Sign in</button></p></form><p class="muted">Users are in <code>examples/demo-idp-users.yaml</code> (try demo / demo).</p>`;
  }

  async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/demo-idp/', async (_req, reply) =>
      sendPage(reply, 200, 'Demo IdP', `<h1>Demo IdP</h1><p>A development-only SAML IdP in the sso-operator process.</p><p>Entity ID: <code>${escapeHtml(entityID)}</code><br><a href="/demo-idp/metadata">Metadata</a></p>`),
    );
    app.get('/demo-idp/metadata', async (_req, reply) =>
      reply.header('content-type', 'application/samlmetadata+xml; charset=utf-8').send(demoIdpMetadata(entityID, base, identity.certPem)),
    );
    const sso = (binding: 'HTTPRedirect' | 'HTTPPost') => async (req: { query: unknown; body: unknown; id: string }, reply: import('fastify').FastifyReply) => {
      const params = (binding === 'HTTPRedirect' ? req.query : req.body) as { SAMLRequest?: string; RelayState?: string } | undefined;
      let request: ParsedAuthnRequest;
      try {
        request = parseAuthnRequest({ ...(params?.SAMLRequest ? { SAMLRequest: params.SAMLRequest } : {}), ...(params?.RelayState !== undefined ? { RelayState: params.RelayState } : {}) }, binding);
      } catch (err) {
        return sendPage(reply, 400, 'Demo IdP', `<h1>Bad AuthnRequest</h1><p>${escapeHtml((err as Error).message)}</p>`);
      }
      // Only this operator's own ACS endpoints: the demo IdP must not mint
      // assertions for arbitrary sites named in a forged request.
      if (!request.acsURL || !request.acsURL.startsWith(`${opts.publicURL}/saml/`)) {
        return sendPage(reply, 400, 'Demo IdP', '<h1>Bad AuthnRequest</h1><p>The AssertionConsumerServiceURL is not an endpoint of this operator.</p>');
      }
      return sendPage(reply, 200, 'Demo IdP sign-in', loginForm(remember(request), request));
    };
    // Single logout: the demo IdP keeps no session of its own, so it only
    // answers an SP's LogoutRequest with a signed LogoutResponse (HTTP-Redirect)
    // to that SP's SLO endpoint, which must be one of this operator's (derived
    // from the SP entity ID: .../saml/{ns}/{name}/metadata -> .../slo).
    app.get<{ Querystring: { SAMLRequest?: string; RelayState?: string } }>('/demo-idp/slo', async (req, reply) => {
      let request: ReturnType<typeof parseLogoutRequest>;
      try {
        request = parseLogoutRequest({
          ...(typeof req.query.SAMLRequest === 'string' ? { SAMLRequest: req.query.SAMLRequest } : {}),
          ...(typeof req.query.RelayState === 'string' ? { RelayState: req.query.RelayState } : {}),
        });
      } catch (err) {
        return sendPage(reply, 400, 'Demo IdP', `<h1>Bad LogoutRequest</h1><p>${escapeHtml((err as Error).message)}</p>`);
      }
      const spPrefix = `${opts.publicURL}/saml/`;
      if (!request.issuer.startsWith(spPrefix) || !request.issuer.endsWith('/metadata')) {
        return sendPage(reply, 400, 'Demo IdP', '<h1>Bad LogoutRequest</h1><p>The Issuer is not a service provider of this operator.</p>');
      }
      const sloURL = `${request.issuer.slice(0, -'/metadata'.length)}/slo`;
      opts.logger.info({ demoIdp: true, sp: request.issuer }, 'demo IdP: single logout');
      const xml = logoutResponseXml({ issuer: entityID, destination: sloURL, inResponseTo: request.id });
      return reply.code(302).header('cache-control', 'no-store').header('location', redirectBindingURL(sloURL, 'SAMLResponse', xml, request.relayState, redirectSigner)).send();
    });
    app.get('/demo-idp/sso', sso('HTTPRedirect'));
    app.post('/demo-idp/sso', sso('HTTPPost'));
    app.post<{ Body: { ticket?: string; username?: string; password?: string } }>('/demo-idp/login', async (req, reply) => {
      const { ticket = '', username = '', password = '' } = req.body ?? {};
      const p = pending.get(ticket);
      if (!p || p.expires < Date.now()) return sendPage(reply, 400, 'Demo IdP', '<h1>Sign-in expired</h1><p>Start again from the application.</p><p><a href="/">Home</a></p>');
      let users: DemoUser[];
      try {
        users = parseDemoUsers(opts.users());
      } catch (err) {
        return sendPage(reply, 500, 'Demo IdP', `<h1>Demo users unreadable</h1><p>${escapeHtml((err as Error).message)}</p>`);
      }
      const user = users.find((u) => u.username === username);
      if (!user || !sameSecret(user.password, password)) {
        opts.logger.info({ demoIdp: true, username }, 'demo IdP: wrong username or password');
        return sendPage(reply, 200, 'Demo IdP sign-in', loginForm(ticket, p.request, 'Wrong username or password.'));
      }
      pending.delete(ticket);
      const request = p.request;
      const now = new Date();
      const samlResponse = buildSignedResponse({
        signingKeyPem: identity.keyPem,
        signingCertPem: identity.certPem,
        issuer: entityID,
        audience: request.issuer,
        destination: request.acsURL!,
        recipient: request.acsURL!,
        inResponseTo: request.id,
        nameID: user.email,
        nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        attributes: { email: [user.email], username: [user.username], ...(user.attributes ?? {}) },
        now,
        sessionNotOnOrAfter: new Date(now.getTime() + 8 * 3600 * 1000),
      });
      const fields: Record<string, string> = { SAMLResponse: samlResponse };
      if (request.relayState !== undefined) fields.RelayState = request.relayState;
      return sendAutoPost(reply, request.acsURL!, fields);
    });
  }

  return { entityID, identity, overlay, plugin };
}
