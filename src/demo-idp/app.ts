// A development-only SAML IdP served in the operator's own process when
// --demo-idp is given, so the examples work with no other software. Its
// signing key is generated at start and its certificate is published as the
// Secret default/demo-idp-signing (an overlay object of the store), which the
// example connector references. Users come from the ConfigMap
// default/demo-idp-users in the manifests folder. Never for production: it
// has plain-text passwords and no rate limiting.
//
// Its Responses are built by samlify (samlify-response.ts), not by the
// project's own saml-idp.ts, so the demo runs the SP against an independent
// implementation. It reads each SP's metadata (sp-metadata.ts) and encrypts
// the assertion when the SP publishes an encryption certificate.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { escapeHtml, sendAutoPost, sendPage } from '../server/html.ts';
import type { StoredObject } from '../store/types.ts';
import { generateSigningIdentity, type SigningIdentity } from './keys.ts';
import { loadSpSigningKey, redirectBindingURL } from '../saml/sign.ts';
import { logoutResponseXml, parseAuthnRequest, parseLogoutRequest, type ParsedAuthnRequest } from './saml-idp.ts';
import { createSamlifyIdp } from './samlify-response.ts';
import { SpMetadataLookup, spMetadataPath } from './sp-metadata.ts';

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
const SESSION_MS = 8 * 3600 * 1000;

/** A login waiting for the user's password: an AuthnRequest's, or an IdP-initiated one (no request id, ACS from the SP metadata). */
interface PendingLogin {
  /** The SP entity ID (the AuthnRequest Issuer, or the one chosen at the IdP). */
  sp: string;
  /** The AuthnRequest; absent for an IdP-initiated login. */
  request?: ParsedAuthnRequest;
  relayState?: string;
}

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

/** The users file's attributes as lists of strings (a single value may be written without a list). */
function attributeLists(attributes: DemoUser['attributes']): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(attributes ?? {})) out[name] = (Array.isArray(v) ? v : [v]).map((x: unknown) => String(x));
  return out;
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
  const pending = new Map<string, { login: PendingLogin; expires: number }>();
  const samlifyIdp = createSamlifyIdp({ entityID, ssoURL: `${base}/sso`, sloURL: `${base}/slo`, identity });
  let spMetadata: SpMetadataLookup | undefined;

  function remember(login: PendingLogin): string {
    const now = Date.now();
    for (const [k, v] of pending) if (v.expires < now) pending.delete(k);
    if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
    const ticket = randomBytes(16).toString('base64url');
    pending.set(ticket, { login, expires: now + PENDING_TTL_MS });
    return ticket;
  }

  function loginForm(ticket: string, login: PendingLogin, error?: string): string {
    return `<h1>Demo IdP</h1><p class="muted">Development only. Signing in to <code>${escapeHtml(login.sp)}</code>${login.request ? '' : ' (IdP-initiated)'}.</p>` +
      (error ? `<p><strong>${escapeHtml(error)}</strong></p>` : '') +
      `<form method="post" action="/demo-idp/login"><input type="hidden" name="ticket" value="${escapeHtml(ticket)}">` +
      `<p><label>Username<br><input name="username" autocomplete="username" autofocus></label></p>` +
      `<p><label>Password<br><input name="password" type="password" autocomplete="current-password"></label></p>` +
      `<p><button type="submit">Sign in</button></p></form><p class="muted">Users are in <code>examples/demo-idp-users.yaml</code> (try demo / demo).</p>`;
  }

  /**
   * The signed (and, when the SP's metadata asks for it, encrypted) Response
   * for `user`, built by samlify, as the auto-POST page to the ACS. The SP
   * metadata was requested when the login came in; it is awaited here.
   */
  async function respond(reply: FastifyReply, login: PendingLogin, user: DemoUser, correlationId: string): Promise<FastifyReply> {
    const lookup = spMetadata!;
    const md = await lookup.get(login.sp);
    if (!md.ok) opts.logger.warn({ demoIdp: true, correlationId, sp: login.sp, err: md.message }, 'demo IdP: SP metadata not read; the assertion is not encrypted');
    const metadata = md.ok ? md.metadata : undefined;
    // SP-initiated: the ACS of the AuthnRequest (checked when it came in);
    // IdP-initiated: the SP's HTTP-POST ACS from its metadata, on this operator only.
    const acsURL = login.request ? login.request.acsURL! : metadata?.acsURL;
    if (!acsURL || !acsURL.startsWith(`${opts.publicURL}/saml/`)) {
      return sendPage(reply, 400, 'Demo IdP', '<h1>Unknown service provider</h1><p>Its metadata names no assertion consumer service of this operator.</p>');
    }
    const now = new Date();
    let out: { samlResponse: string; encrypted: boolean };
    try {
      out = await samlifyIdp.loginResponse({
        spEntityID: login.sp,
        acsURL,
        ...(login.request ? { inResponseTo: login.request.id } : {}),
        nameID: user.email,
        attributes: { email: [user.email], username: [user.username], ...attributeLists(user.attributes) },
        now,
        sessionNotOnOrAfter: new Date(now.getTime() + SESSION_MS),
        ...(metadata?.encryptionCertificate ? { encryptionCertificate: metadata.encryptionCertificate } : {}),
      });
    } catch (err) {
      opts.logger.error({ demoIdp: true, correlationId, sp: login.sp, err: (err as Error).message }, 'demo IdP: the Response could not be built');
      return sendPage(reply, 500, 'Demo IdP', '<h1>Sign-in failed</h1><p>The demo IdP could not build the SAML Response (see the log).</p>');
    }
    opts.logger.info(
      { demoIdp: true, correlationId, sp: login.sp, username: user.username, idpInitiated: !login.request, encrypted: out.encrypted },
      out.encrypted ? 'demo IdP: SAML Response sent, assertion encrypted to the SP' : 'demo IdP: SAML Response sent, assertion not encrypted',
    );
    const fields: Record<string, string> = { SAMLResponse: out.samlResponse };
    if (login.relayState !== undefined) fields.RelayState = login.relayState;
    return sendAutoPost(reply, acsURL, fields);
  }

  async function plugin(app: FastifyInstance): Promise<void> {
    spMetadata = new SpMetadataLookup({ publicURL: opts.publicURL, addresses: () => app.addresses().filter((a) => typeof a !== 'string') });
    const exampleSP = `${opts.publicURL}/saml/default/demo/metadata`;
    app.get('/demo-idp/', async (_req, reply) =>
      sendPage(
        reply,
        200,
        'Demo IdP',
        `<h1>Demo IdP</h1><p>A development-only SAML IdP in the sso-operator process.</p><p>Entity ID: <code>${escapeHtml(entityID)}</code><br><a href="/demo-idp/metadata">Metadata</a></p>` +
          `<h2>IdP-initiated sign-in</h2><form method="get" action="/demo-idp/idp-initiated"><p><label>Service provider (its entity ID)<br><input name="sp" size="60" value="${escapeHtml(exampleSP)}"></label></p>` +
          `<p><button type="submit">Sign in to it</button></p></form>`,
      ),
    );
    app.get('/demo-idp/metadata', async (_req, reply) =>
      reply.header('content-type', 'application/samlmetadata+xml; charset=utf-8').send(demoIdpMetadata(entityID, base, identity.certPem)),
    );
    const sso = (binding: 'HTTPRedirect' | 'HTTPPost') => async (req: { query: unknown; body: unknown; id: string }, reply: FastifyReply) => {
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
      // The SP's metadata is read while the user types the password (only
      // for an Issuer that is an SP metadata URL of this operator).
      void spMetadata!.get(request.issuer);
      const login: PendingLogin = { sp: request.issuer, request, ...(request.relayState !== undefined ? { relayState: request.relayState } : {}) };
      return sendPage(reply, 200, 'Demo IdP sign-in', loginForm(remember(login), login));
    };
    // IdP-initiated: the user picks an SP of this operator here; its Response
    // answers no request and goes to the ACS of the SP's metadata.
    app.get<{ Querystring: { sp?: string; RelayState?: string } }>('/demo-idp/idp-initiated', async (req, reply) => {
      const sp = typeof req.query.sp === 'string' ? req.query.sp : '';
      if (!spMetadataPath(opts.publicURL, sp)) {
        return sendPage(reply, 400, 'Demo IdP', `<h1>Unknown service provider</h1><p>Give the entity ID of a connector of this operator, such as <code>${escapeHtml(exampleSP)}</code>.</p>`);
      }
      void spMetadata!.get(sp);
      const relayState = typeof req.query.RelayState === 'string' ? req.query.RelayState : undefined;
      const login: PendingLogin = { sp, ...(relayState !== undefined ? { relayState } : {}) };
      return sendPage(reply, 200, 'Demo IdP sign-in', loginForm(remember(login), login));
    });
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
        return sendPage(reply, 200, 'Demo IdP sign-in', loginForm(ticket, p.login, 'Wrong username or password.'));
      }
      pending.delete(ticket);
      return respond(reply, p.login, user, req.id);
    });
  }

  return { entityID, identity, overlay, plugin };
}
