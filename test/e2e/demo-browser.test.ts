// End-to-end test of the quick-start demo in headless Debian Chromium: the
// shipped examples/ plus --demo-idp, on a free port, signed in through the
// real browser (redirect binding, IdP form, auto-POST to the ACS, cookies).

import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, jest, test } from '@jest/globals';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, type LaunchedChromium } from '../support/chromium.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

const EXAMPLES = new URL('../../examples/', import.meta.url);
const EXAMPLE_URL = 'http://localhost:8080';
const CONNECTOR = 'default/demo';
const ENCRYPTED = 'default/demo-encrypted';

/** examples/*.yaml with the default public URL replaced by `baseURL`. */
async function exampleManifests(baseURL: string): Promise<Record<string, string>> {
  const names = (await readdir(EXAMPLES)).filter((n) => /\.ya?ml$/.test(n)).sort();
  assert.ok(names.length > 0, 'examples/ has YAML files');
  const out: Record<string, string> = {};
  for (const name of names) out[name] = (await readFile(new URL(name, EXAMPLES), 'utf8')).replaceAll(EXAMPLE_URL, baseURL);
  assert.ok(Object.values(out).some((y) => y.includes(`${baseURL}/demo-idp/sso`)), 'the example connector names the demo IdP URL');
  return out;
}

/**
 * Starts the operator as `npm start` does (examples + --demo-idp, public host
 * localhost) on a free port. The port is only known once it listens, so the
 * examples (with their URLs rewritten) go into the watched folder right after
 * start and the test waits until the connector is loaded.
 */
async function startDemo(demoIdp: boolean): Promise<TestOperator> {
  const op = await startTestOperator({ demoIdp, publicHost: 'localhost', logLevel: 'info' });
  try {
    assert.match(op.baseURL, /^http:\/\/localhost:\d+$/);
    for (const [rel, yaml] of Object.entries(await exampleManifests(op.baseURL))) await op.writeManifest(rel, yaml);
    await waitFor(() => {
      const c = op.operator.registry.current().connectors.get(CONNECTOR);
      const users = op.operator.store.get('ConfigMap', 'default', 'demo-idp-users');
      const bindings = op.operator.registry.current().bindings.lookup(CONNECTOR, 'demo@example.com');
      // demo-encrypted is configured from the demo IdP's metadata URL: Ready once that was fetched.
      const encrypted = op.operator.registry.current().connectors.get(ENCRYPTED);
      const encryptedReady = encrypted !== undefined && encrypted.ready && op.operator.registry.current().bindings.lookup(ENCRYPTED, 'demo@example.com').active;
      return c !== undefined && c.loginURL.startsWith(op.baseURL) && users !== undefined && bindings.active && (!demoIdp || (c.ready && encryptedReady));
    }, 10_000);
    return op;
  } catch (err) {
    await op.stop();
    throw err;
  }
}

/** Content-Security-Policy violations and uncaught script errors of a page. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

async function cell(page: Page, claim: string): Promise<string> {
  const row = page.locator('tr').filter({ has: page.locator('th', { hasText: new RegExp(`^${claim}$`) }) });
  assert.equal(await row.count(), 1, `one row for claim ${claim}`);
  return (await row.locator('td').innerText()).trim();
}

/** Opens `/`, presses Sign in on the demo connector, and returns on the IdP's form. */
async function openIdpForm(page: Page, baseURL: string): Promise<void> {
  const home = await page.goto(`${baseURL}/`);
  assert.equal(home?.status(), 200);
  const row = page.locator('tr', { hasText: 'Demo IdP (development only)' });
  const signIn = row.getByRole('link', { name: 'Sign in' });
  await signIn.click();
  await page.waitForURL((u) => u.pathname === '/demo-idp/sso', { timeout: 10_000 });
  assert.equal(await page.getByRole('heading', { name: 'Demo IdP' }).isVisible(), true);
}

async function submitCredentials(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function cookieNamed(context: BrowserContext, baseURL: string, name: string) {
  return (await context.cookies(baseURL)).find((c) => c.name === name);
}

describe('demo in headless Chromium (examples + --demo-idp)', () => {
  // Every test and hook here may take this long (the default is 30 s).
  jest.setTimeout(60_000);
  let op: TestOperator;
  let chromium: LaunchedChromium;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const [o, c] = await Promise.allSettled([startDemo(true), launchChromium()]);
    if (o.status === 'fulfilled') op = o.value;
    if (c.status === 'fulfilled') chromium = c.value;
    if (o.status === 'rejected') throw o.reason;
    if (c.status === 'rejected') throw c.reason;
    timings.chromiumInstallMs = chromium.installMs;
    timings.chromiumLaunchMs = chromium.launchMs;
    if (chromium.installed.length) console.log(`# apt-get installed ${chromium.installed.join(' ')} in ${chromium.installMs} ms`);
    console.log(`# Chromium ${chromium.browser.version()} launched in ${chromium.launchMs} ms`);
  });

  afterAll(async () => {
    await chromium?.close();
    await op?.stop();
    console.log(`# timings: ${JSON.stringify(timings)}`);
  });

  test('the home page lists the demo connector with a Sign in link', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${op.baseURL}/`);
      assert.equal(res?.status(), 200);
      const row = page.locator('tr', { hasText: 'Demo IdP (development only)' });
      assert.equal(await row.count(), 1);
      assert.match(await row.innerText(), new RegExp(CONNECTOR));
      assert.equal(await row.getByText('Demo IdP (development only)').isVisible(), true);
      assert.equal(await row.getByText('not ready').count(), 0);
      const link = row.getByRole('link', { name: 'Sign in' });
      assert.equal(await link.isVisible(), true);
      assert.equal(await link.getAttribute('href'), `/saml/default/demo/login?rd=${encodeURIComponent('/auth/whoami')}`);
      assert.equal(await page.getByRole('link', { name: /Development demo IdP/ }).isVisible(), true);
    } finally {
      await context.close();
    }
  });

  // One browser session, three steps in order: each test goes on from where the one before left the browser.
  describe('demo/demo signs in, keeps its cookies as the browser does, and signs out', () => {
    let context: BrowserContext;
    let page: Page;
    let problems: string[];
    let acsResponse: import('playwright-core').Response;
    let pendingState: Awaited<ReturnType<typeof cookieNamed>>;

    beforeAll(async () => {
      context = await chromium.newContext();
      page = await context.newPage();
      problems = watchProblems(page);
    });

    afterAll(async () => {
      await context?.close();
    });

    test('demo/demo signs in and lands on /auth/whoami', async () => {
      const started = performance.now();

      await openIdpForm(page, op.baseURL);
      // The pending login is in the state cookie while the user is at the IdP.
      pendingState = await cookieNamed(context, op.baseURL, 'sso_state');
      assert.ok(pendingState, 'sso_state is set by /login');
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined);

      const acs = page.waitForResponse((r) => new URL(r.url()).pathname === '/saml/default/demo/acs');
      await submitCredentials(page, 'demo', 'demo');
      acsResponse = await acs;
      assert.equal(acsResponse.status(), 303);
      assert.equal(acsResponse.request().method(), 'POST');
      await page.waitForURL(`${op.baseURL}/auth/whoami`, { timeout: 10_000 });
      timings.signInFlowMs = Math.round(performance.now() - started);

      assert.equal(await page.getByRole('heading', { name: 'Signed in' }).isVisible(), true);
      assert.equal(await cell(page, 'sub'), 'demo@example.com');
      assert.equal(await cell(page, 'email'), 'demo@example.com');
      const groups = (await cell(page, 'groups')).split(',').map((g) => g.trim());
      assert.ok(groups.includes('developers'), `groups ${groups.join(',')} include developers`);
      assert.deepEqual(groups.sort(), ['demo', 'developers']);
      assert.equal(await cell(page, 'connector'), CONNECTOR);
      assert.match(await page.locator('body').innerText(), /demo@example\.com/);

      const dir = await mkdtemp(join(tmpdir(), 'sso-operator-e2e-'));
      const shot = join(dir, 'whoami.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = await readFile(shot);
      assert.ok((await stat(shot)).size > 1000, 'screenshot is not empty');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
      assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'PNG has a width and a height');
      console.log(`# screenshot of /auth/whoami: ${shot} (${png.length} bytes)`);
    });

    test('cookies: sso_session HttpOnly + SameSite=Lax, sso_state SameSite=None + Secure', async () => {
      assert.ok(pendingState && acsResponse, 'signed in by the test before');
      const session = await cookieNamed(context, op.baseURL, 'sso_session');
      assert.ok(session, 'sso_session is set');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
      assert.equal(session.secure, false, 'plain-http public URL: the session cookie is not Secure');
      assert.equal(session.path, '/');
      assert.equal(session.domain, 'localhost');
      assert.ok(session.expires > Date.now() / 1000 + 7 * 3600, 'lives for the connector session ttl (8h)');
      // Chromium may report a cookie without SameSite as Lax: check the attribute was really sent.
      const setCookies = (await acsResponse.headersArray()).filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value);
      const rawSession = setCookies.find((v) => v.startsWith('sso_session='));
      assert.ok(rawSession, 'the ACS sets sso_session');
      assert.match(rawSession, /; HttpOnly(;|$)/);
      assert.match(rawSession, /; SameSite=Lax(;|$)/);
      assert.doesNotMatch(rawSession, /; Domain=/, 'no --cookie-domain: host-only cookie');
      // The one pending login was used: the ACS deletes the state cookie (same attributes, Max-Age=0).
      const rawState = setCookies.find((v) => v.startsWith('sso_state='));
      assert.ok(rawState, 'the ACS rewrites sso_state');
      assert.match(rawState, /^sso_state=; Max-Age=0;/);
      assert.match(rawState, /; Secure(;|$)/);
      assert.match(rawState, /; SameSite=None(;|$)/);
      assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie), '', 'no cookie is visible to scripts');

      // As the browser kept it while the user was at the IdP.
      assert.equal(pendingState.sameSite, 'None');
      assert.equal(pendingState.secure, true);
      assert.equal(pendingState.httpOnly, true);
      assert.equal(pendingState.path, '/');
      assert.ok(pendingState.expires > Date.now() / 1000 && pendingState.expires < Date.now() / 1000 + 11 * 60, 'short-lived (10 min)');
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_state'), undefined, 'no pending login left: the state cookie is gone');
    });

    test('the Sign out button ends the session here and, by single logout, at the demo IdP', async () => {
      const paths: string[] = [];
      const onRequest = (r: import('playwright-core').Request) => {
        if (r.isNavigationRequest()) paths.push(new URL(r.url()).pathname);
      };
      page.on('request', onRequest);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${op.baseURL}/`, { timeout: 10_000 });
      page.off('request', onRequest);
      // The browser carried the LogoutRequest to the IdP and its signed
      // LogoutResponse back; the pending logout (sso_state) came back with it.
      assert.deepEqual(paths, ['/auth/logout', '/demo-idp/slo', '/saml/default/demo/slo', '/']);
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_state'), undefined, 'the pending logout is spent');
      assert.match(op.rawLogs(), /"initiator":"sp","result":"success","reason":"Success"/);
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined);
      const res = await page.goto(`${op.baseURL}/auth/whoami`);
      assert.equal(res?.status(), 401);
      assert.equal(await page.getByRole('heading', { name: 'Not signed in' }).isVisible(), true);
      assert.equal(await page.getByText('demo@example.com').count(), 0);
      assert.deepEqual(problems, [], 'no CSP violations or script errors');
    });
  });

  test('the OIDC example: demo/demo signs in through the demo OpenID Provider and signs out there too', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${op.baseURL}/`);
      const row = page.locator('tr', { hasText: 'default/demo-oidc' });
      assert.equal(await row.count(), 1, 'the home page lists the OIDC example');
      await row.getByRole('link', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname.startsWith('/demo-op/interaction/'), { timeout: 10_000 });
      assert.equal(await page.getByRole('heading', { name: 'Demo OpenID Provider' }).isVisible(), true);
      await submitCredentials(page, 'demo', 'wrong');
      assert.equal(await page.getByText('Wrong username or password.').isVisible(), true);
      await submitCredentials(page, 'demo', 'demo');
      await page.waitForURL(`${op.baseURL}/auth/whoami`, { timeout: 10_000 });
      assert.equal(await cell(page, 'email'), 'demo@example.com');
      assert.equal(await cell(page, 'connector'), 'default/demo-oidc');
      const dir = await mkdtemp(join(tmpdir(), 'sso-operator-e2e-'));
      await page.screenshot({ path: join(dir, 'whoami-oidc.png'), fullPage: true });
      console.log(`# screenshot of /auth/whoami after the OIDC sign-in: ${join(dir, 'whoami-oidc.png')}`);
      // Sign out: here, then at the provider (RP-initiated logout, which asks to confirm).
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL((u) => u.pathname.startsWith('/demo-op/session/end'), { timeout: 10_000 });
      await page.getByRole('button', { name: /yes/i }).click();
      await page.waitForURL(`${op.baseURL}/`, { timeout: 10_000 });
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined);
      // The provider session ended too: signing in again asks for the password.
      await page.goto(`${op.baseURL}/oidc/default/demo-oidc/login?rd=%2Fauth%2Fwhoami`);
      await page.waitForURL((u) => u.pathname.startsWith('/demo-op/interaction/'), { timeout: 10_000 });
      assert.equal(await page.getByLabel('Password').isVisible(), true);
      assert.deepEqual(problems, [], 'no CSP violations or script errors');
    } finally {
      await context.close();
    }
  });

  test('a wrong password shows an error on the IdP form and sets no session', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      await openIdpForm(page, op.baseURL);
      const login = page.waitForResponse((r) => new URL(r.url()).pathname === '/demo-idp/login');
      await submitCredentials(page, 'demo', 'not-the-password');
      assert.equal((await login).status(), 200);
      await page.waitForURL((u) => u.pathname === '/demo-idp/login', { timeout: 10_000 });
      assert.equal(await page.getByText('Wrong username or password.').isVisible(), true);
      assert.equal(await page.getByLabel('Password').isVisible(), true, 'the form is shown again');
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined);
      const res = await page.goto(`${op.baseURL}/auth/whoami`);
      assert.equal(res?.status(), 401);
    } finally {
      await context.close();
    }
  });

  test('the pending user signs in at the IdP but is refused with 403 BindingNotActive', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      await openIdpForm(page, op.baseURL);
      const acs = page.waitForResponse((r) => new URL(r.url()).pathname === '/saml/default/demo/acs');
      await submitCredentials(page, 'pending', 'pending');
      const res = await acs;
      assert.equal(res.status(), 403);
      await page.waitForURL((u) => u.pathname === '/saml/default/demo/acs', { timeout: 10_000 });
      await page.waitForLoadState('load');
      assert.equal(await page.getByRole('heading', { name: 'Access not granted' }).isVisible(), true);
      assert.match(await page.locator('body').innerText(), /BindingNotActive/);
      assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined);
    } finally {
      await context.close();
    }
  });

  /** The assertion of a SAMLResponse posted to the ACS, as the browser sent it: encrypted or not. */
  function postedResponse(acs: import('playwright-core').Response): string {
    const form = new URLSearchParams(acs.request().postData() ?? '');
    return Buffer.from(form.get('SAMLResponse') ?? '', 'base64').toString('utf8');
  }

  async function whoamiScreenshot(page: Page, name: string): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'sso-operator-e2e-'));
    const shot = join(dir, name);
    await page.screenshot({ path: shot, fullPage: true });
    const png = await readFile(shot);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
    assert.ok(png.length > 1000, 'screenshot is not empty');
    console.log(`# screenshot of /auth/whoami: ${shot} (${png.length} bytes)`);
  }

  test('demo-encrypted: demo/demo signs in, the samlify-built Response carries the assertion encrypted to the connector, and lands on /auth/whoami', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${op.baseURL}/`);
      const row = page.locator('tr', { hasText: 'Demo IdP, encrypted assertions (development only)' });
      assert.equal(await row.count(), 1, 'the home page lists the encrypted example');
      assert.match(await row.innerText(), new RegExp(ENCRYPTED));
      await row.getByRole('link', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname === '/demo-idp/sso', { timeout: 10_000 });
      assert.match(await page.locator('body').innerText(), /saml\/default\/demo-encrypted\/metadata/, 'the IdP names the SP it signs in to');
      const acs = page.waitForResponse((r) => new URL(r.url()).pathname === '/saml/default/demo-encrypted/acs');
      await submitCredentials(page, 'demo', 'demo');
      const acsResponse = await acs;
      assert.equal(acsResponse.status(), 303);
      const posted = postedResponse(acsResponse);
      assert.match(posted, /<saml:EncryptedAssertion/, 'the browser carried an encrypted assertion');
      assert.doesNotMatch(posted, /<saml:Assertion|demo@example\.com/, 'nothing of the assertion is readable on the way');
      assert.match(posted, /xmlenc11#aes256-gcm/);
      await page.waitForURL(`${op.baseURL}/auth/whoami`, { timeout: 10_000 });
      assert.equal(await page.getByRole('heading', { name: 'Signed in' }).isVisible(), true);
      assert.equal(await cell(page, 'email'), 'demo@example.com');
      assert.equal(await cell(page, 'connector'), ENCRYPTED);
      await whoamiScreenshot(page, 'whoami-encrypted.png');
      const sent = op.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('demo IdP: SAML Response sent') && l.sp === `${op.baseURL}/saml/default/demo-encrypted/metadata`);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]?.encrypted, true);
      assert.deepEqual(problems, [], 'no CSP violations or script errors');
    } finally {
      await context.close();
    }
  });

  test('IdP-initiated from the demo IdP page into demo-encrypted: lands on the connector redirectPath, signed in', async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${op.baseURL}/demo-idp/`);
      await page.getByLabel('Service provider (its entity ID)').fill(`${op.baseURL}/saml/default/demo-encrypted/metadata`);
      await page.getByRole('button', { name: 'Sign in to it' }).click();
      await page.waitForURL((u) => u.pathname === '/demo-idp/idp-initiated', { timeout: 10_000 });
      const acs = page.waitForResponse((r) => new URL(r.url()).pathname === '/saml/default/demo-encrypted/acs');
      await submitCredentials(page, 'demo', 'demo');
      const acsResponse = await acs;
      assert.equal(acsResponse.status(), 303);
      const posted = postedResponse(acsResponse);
      assert.match(posted, /<saml:EncryptedAssertion/);
      assert.doesNotMatch(posted, /InResponseTo/, 'unsolicited: it answers no request');
      await page.waitForURL(`${op.baseURL}/auth/whoami`, { timeout: 10_000 });
      assert.equal(await cell(page, 'connector'), ENCRYPTED);
      assert.equal(await cell(page, 'sub'), 'demo@example.com');
      await whoamiScreenshot(page, 'whoami-idp-initiated.png');
      assert.deepEqual(problems, [], 'no CSP violations or script errors');
    } finally {
      await context.close();
    }
  });

  test('the operator logged no errors during the browser flows', () => {
    const errors = op.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(errors, []);
    // Five sign-ins reached the operator (wrong passwords stopped at the IdP and the OpenID Provider):
    // SAML (plain, encrypted SP- and IdP-initiated) and OIDC successes, one refusal.
    const logins = op.logs.filter((l) => l.msg === 'login' || l.msg === 'login refused').map((l) => `${l.connector} ${l.status} ${l.reason} ${l.user}`);
    assert.deepEqual(logins.sort(), [
      'default/demo 303 Success demo@example.com',
      'default/demo 403 BindingNotActive pending@example.com',
      'default/demo-encrypted 303 Success demo@example.com',
      'default/demo-encrypted 303 Success demo@example.com',
      'default/demo-oidc 303 Success demo@example.com',
    ]);
    // The demo IdP said for each Response whether it encrypted it, and logged no assertion.
    const sent = op.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('demo IdP: SAML Response sent')).map((l) => `${String(l.sp).replace(op.baseURL, '')} ${l.idpInitiated} ${l.encrypted}`);
    assert.deepEqual(sent.sort(), [
      '/saml/default/demo-encrypted/metadata false true',
      '/saml/default/demo-encrypted/metadata true true',
      '/saml/default/demo/metadata false false',
      '/saml/default/demo/metadata false false',
    ]);
    assert.doesNotMatch(op.rawLogs(), /EncryptedAssertion|saml:Assertion|SAMLResponse"/, 'no SAML message in the log');
    assert.doesNotMatch(op.rawLogs(), /"password"\s*:\s*"(?!\[redacted\])/, 'no password in the log');
  });
});

describe('examples without --demo-idp', () => {
  test('nothing is served under /demo-idp/ and the demo connector is not ready', async () => {
    const op = await startDemo(false);
    try {
      for (const path of ['/demo-idp/', '/demo-idp/metadata', '/demo-idp/sso']) {
        const res = await fetch(`${op.baseURL}${path}`, { redirect: 'manual' });
        assert.equal(res.status, 404, `${path} is not served`);
        await res.body?.cancel();
      }
      const login = await fetch(`${op.baseURL}/demo-idp/login`, { method: 'POST', body: new URLSearchParams({ ticket: 'x', username: 'demo', password: 'demo' }) });
      assert.equal(login.status, 404);
      await login.body?.cancel();

      const home = await fetch(`${op.baseURL}/`);
      assert.equal(home.status, 200);
      const html = await home.text();
      assert.match(html, /Demo IdP \(development only\)/);
      assert.match(html, /default\/demo/);
      assert.match(html, /not ready \(SecretNotFound\)/);
      assert.doesNotMatch(html, /\/saml\/default\/demo\/login/, 'no Sign in link');
      assert.doesNotMatch(html, /\/demo-idp\//, 'no link to the demo IdP');

      const start = await fetch(`${op.baseURL}/saml/default/demo/login?rd=%2Fauth%2Fwhoami`, { redirect: 'manual' });
      assert.equal(start.status, 503);
      assert.match(await start.text(), /ConnectorNotReady/);
    } finally {
      await op.stop();
    }
  });
});
