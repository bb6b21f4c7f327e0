// End-to-end test of access requests (spec.access.requests: Enabled) in
// standalone mode, in headless Debian Chromium against the in-process demo
// IdP: a user without a binding asks for access with the Request access
// button, the request is a manifest in the requests folder (STATE-DIR/requests),
// later sign-ins show Pending approval, the administrator approves by setting
// approval: Approved and moving the file into the manifests folder, and the
// next sign-in lands signed in; a Denied binding shows Access denied.
//
// Every page a person sees is saved as a PNG in one temporary folder that is
// kept after the run (its path is printed) so that it can be looked at; the
// operator, its folders and the browser are removed after each test.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from '@jest/globals';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { parse as parseYaml } from 'yaml';
import { ACCESS_REQUEST_LABEL, requestBindingName } from '../../src/access/requests.ts';
import { onCleanup } from '../support/cleanup.ts';
import { launchChromium } from '../support/chromium.ts';
import { startTestOperator, waitFor, type TestOperator } from '../support/operator.ts';

const NAMESPACE = 'default';
const CONNECTOR_NAME = 'demo-requests';
const CONNECTOR = `${NAMESPACE}/${CONNECTOR_NAME}`;
const DISPLAY_NAME = 'Demo IdP, access requests (development only)';
const NEWCOMER = { username: 'newcomer', password: 'newcomer-pw-7Q', email: 'newcomer@example.com' };
const REFUSED = { username: 'refused', password: 'refused-pw-3K', email: 'refused@example.com' };
const EXAMPLE_URL = 'http://localhost:8080';
const EXAMPLES = new URL('../../examples/', import.meta.url);
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Every step waits at most this long for a page or the operator. */
const STEP_MS = 10_000;

const usersYaml = `# Users of the development demo IdP for this test: nobody here has a binding.
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo-idp-users
  namespace: ${NAMESPACE}
data:
  users.yaml: |
${[NEWCOMER, REFUSED].map((u) => `    - username: ${u.username}\n      password: ${u.password}\n      email: ${u.email}\n`).join('')}`;

/** examples/connector.yaml as a connector of its own that takes access requests, its URLs on `baseURL`. */
async function connectorYaml(baseURL: string): Promise<string> {
  const example = await readFile(new URL('connector.yaml', EXAMPLES), 'utf8');
  const adapted = example
    .replace(/^  name: demo$/m, `  name: ${CONNECTOR_NAME}`)
    .replace(/^  displayName: .*$/m, `  displayName: ${DISPLAY_NAME}`)
    .replace(/^  description: .*$/m, '  description: The demo IdP; users without a binding may request access.\n  access:\n    requests: Enabled')
    .replaceAll(EXAMPLE_URL, baseURL);
  assert.match(adapted, new RegExp(`^  name: ${CONNECTOR_NAME}$`, 'm'), 'the example connector was renamed');
  assert.match(adapted, /^  access:\n    requests: Enabled$/m, 'the example connector takes access requests');
  assert.match(adapted, new RegExp(`ssoURL: ${baseURL}/demo-idp/sso`), 'the example connector names the demo IdP on this port');
  return adapted;
}

/**
 * The operator with --demo-idp on a free port and a temp manifests folder and
 * state dir. The port is only known once it listens, so the manifests (whose
 * URLs name it) are written right after start; returns once the connector is
 * ready and the IdP users are loaded.
 */
async function startOperator(): Promise<TestOperator> {
  const op = await startTestOperator({ demoIdp: true, publicHost: 'localhost', logLevel: 'info' });
  onCleanup(() => op.stop());
  await op.writeManifest('demo-idp-users.yaml', usersYaml);
  await op.writeManifest('connector.yaml', await connectorYaml(op.baseURL));
  await waitFor(() => {
    const c = op.operator.registry.current().connectors.get(CONNECTOR);
    return c?.ready && c.accessRequests && c.loginURL.startsWith(op.baseURL) && op.operator.store.get('ConfigMap', NAMESPACE, 'demo-idp-users') !== undefined;
  }, STEP_MS);
  for (const u of [NEWCOMER, REFUSED]) assert.deepEqual(op.operator.registry.current().bindings.lookup(CONNECTOR, u.email).phases, [], `no binding for ${u.email}`);
  return op;
}

/** An operator and a fresh Chromium context, both removed after the test. */
async function setUp(): Promise<{ op: TestOperator; context: BrowserContext; page: Page; problems: string[] }> {
  const t0 = performance.now();
  const timed = async <T>(p: Promise<T>): Promise<[T, number]> => [await p, Math.round(performance.now() - t0)];
  const [o, c] = await Promise.allSettled([timed(startOperator()), timed(launchChromium())]);
  if (c.status === 'fulfilled') onCleanup(() => c.value[0].close());
  if (o.status === 'rejected') throw o.reason;
  if (c.status === 'rejected') throw c.reason;
  console.log(`# operator ready in ${o.value[1]} ms, Chromium ${c.value[0].browser.version()} launched in ${c.value[1]} ms`);
  const context = await c.value[0].newContext();
  onCleanup(() => context.close());
  const page = await context.newPage();
  return { op: o.value[0], context, page, problems: watchProblems(page) };
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

/** From the home page through the demo IdP's form to the ACS; returns the ACS's answer, with the page loaded. */
async function signIn(page: Page, baseURL: string, user: { username: string; password: string }): Promise<Response> {
  const home = await page.goto(`${baseURL}/`);
  assert.equal(home?.status(), 200);
  const row = page.locator('tr', { hasText: DISPLAY_NAME });
  assert.equal(await row.count(), 1, 'the home page lists the connector');
  await row.getByRole('link', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/demo-idp/sso', { timeout: STEP_MS });
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  const acs = page.waitForResponse((r) => new URL(r.url()).pathname === `/saml/${CONNECTOR}/acs`, { timeout: STEP_MS });
  await page.getByRole('button', { name: 'Sign in' }).click();
  const res = await acs;
  await page.waitForLoadState('load');
  return res;
}

async function cookieNamed(context: BrowserContext, baseURL: string, name: string) {
  return (await context.cookies(baseURL)).find((c) => c.name === name);
}

async function bodyText(page: Page): Promise<string> {
  return page.locator('body').innerText();
}

/** Signs of a raw error instead of the page meant for a person. */
function assertNoRawError(text: string): void {
  assert.doesNotMatch(text, /Internal Server Error|\bError:|\bat [\w.]+ \(|stack|undefined|\[object Object\]/i, `no raw error on the page:\n${text}`);
}

let shotDir: Promise<string> | undefined;

/** Saves a full-page PNG under `name` in the kept screenshot folder and checks it is a real image. */
async function screenshot(page: Page, name: string): Promise<string> {
  shotDir ??= mkdtemp(join(tmpdir(), 'sso-operator-e2e-access-'));
  const shot = join(await shotDir, name);
  await page.screenshot({ path: shot, fullPage: true });
  const png = await readFile(shot);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'the PNG has a width and a height');
  assert.ok(png.length > 1000, 'the screenshot is not empty');
  console.log(`# screenshot ${name}: ${shot} (${png.length} bytes)`);
  return shot;
}

/** Files under the requests folder, relative to it (missing folder: none). */
async function requestFiles(requestsDir: string): Promise<string[]> {
  try {
    const entries = await readdir(requestsDir, { recursive: true, withFileTypes: true });
    // Spread into an array of the test's own realm: fs hands back Node's, which deepEqual tells apart.
    return [...entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(requestsDir.length + 1))].sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** sso_access_requests_pending for the connector, from the admin port (0 when the series is absent). */
async function pendingGauge(op: TestOperator): Promise<number> {
  const res = await fetch(`${op.adminURL}/metrics`);
  assert.equal(res.status, 200);
  const m = new RegExp(`^sso_access_requests_pending\\{namespace="${NAMESPACE}",connector="${CONNECTOR_NAME}"\\} (\\d+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : 0;
}

interface RequestManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: Record<string, unknown>;
}

const logins = (op: TestOperator) => op.logs.filter((l) => l.msg === 'login' || l.msg === 'login refused').map((l) => `${l.status} ${l.reason} ${l.user}`);
const recorded = (op: TestOperator) => op.logs.filter((l) => l.msg === 'access request recorded');

describe('access requests in standalone mode, in headless Chromium (--demo-idp)', () => {
  test('newcomer requests access, sees Pending approval, is approved by moving the request into the manifests folder, and signs in', async () => {
    const started = performance.now();
    const steps: Record<string, number> = {};
    let mark = started;
    const step = (name: string) => {
      const t = performance.now();
      steps[name] = Math.round(t - mark);
      mark = t;
    };
    const { op, context, page, problems } = await setUp();
    step('setUp');
    const requestsDir = join(op.stateDir, 'requests');
    const bindingName = requestBindingName(CONNECTOR_NAME, NEWCOMER.email);
    const requestFile = join(NAMESPACE, `${bindingName}.yaml`);
    assert.match(bindingName, /^access-demo-requests-[0-9a-f]{20}$/);

    // 1. Signed in at the IdP, no binding: the Request access page.
    const first = await signIn(page, op.baseURL, NEWCOMER);
    assert.equal(first.status(), 403);
    assert.equal(await page.title(), 'Request access');
    assert.equal(await page.getByRole('heading', { name: 'You do not have access yet' }).isVisible(), true);
    const text1 = await bodyText(page);
    assert.match(text1, new RegExp(`You signed in as ${escapeRe(NEWCOMER.email)}, but you have no access through ${escapeRe(DISPLAY_NAME)}\\.`));
    assert.match(text1, /Reason: BindingNotActive/);
    assertNoRawError(text1);
    const button = page.getByRole('button', { name: 'Request access' });
    assert.equal(await button.isVisible(), true);
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined, 'no session');
    const accessCookie = await cookieNamed(context, op.baseURL, 'sso_access');
    assert.ok(accessCookie, 'the request cookie is set');
    assert.equal(accessCookie.httpOnly, true);
    assert.equal(accessCookie.sameSite, 'Strict');
    assert.deepEqual(await requestFiles(requestsDir), [], 'nothing is recorded before the button is pressed');
    await screenshot(page, 'access-request.png');
    step('requestPage');

    // 2. Request access: the request is written, the page says Pending approval.
    const posted = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/request-access', { timeout: STEP_MS });
    await button.click();
    const requestRes = await posted;
    assert.equal(requestRes.status(), 200);
    assert.equal(requestRes.request().method(), 'POST');
    await page.waitForLoadState('load');
    assert.equal(await page.title(), 'Pending approval');
    assert.equal(await page.getByRole('heading', { name: 'Pending approval' }).isVisible(), true);
    const text2 = await bodyText(page);
    assert.match(text2, /is waiting for an administrator/);
    assert.match(text2, new RegExp(`as ${escapeRe(NEWCOMER.email)} is waiting`));
    assert.match(text2, /Reason: AccessPending/);
    assertNoRawError(text2);
    assert.equal(await page.getByRole('button', { name: 'Request access' }).count(), 0);
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_access'), undefined, 'the request cookie is spent');
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined, 'still no session');
    await screenshot(page, 'access-pending.png');

    // The request is a UserBinding manifest in the requests folder.
    assert.deepEqual(await requestFiles(requestsDir), [requestFile]);
    const path = join(requestsDir, requestFile);
    const requestText = await readFile(path, 'utf8');
    const requestStat = await stat(path);
    assert.match(requestText, new RegExp(`^# Access request from ${escapeRe(NEWCOMER.email)} for connector ${CONNECTOR_NAME}, `));
    assert.match(requestText, /^# Approve: set approval to Approved and move this file into the manifests folder\./m);
    const request = parseYaml(requestText) as RequestManifest;
    assert.equal(request.apiVersion, 'sso.operator.dev/v1alpha1');
    assert.equal(request.kind, 'UserBinding');
    assert.equal(request.metadata.name, bindingName);
    assert.equal(request.metadata.namespace, NAMESPACE);
    assert.deepEqual(request.metadata.labels, { [ACCESS_REQUEST_LABEL]: 'true' });
    assert.ok(Math.abs(Date.parse(request.metadata.annotations['sso.operator.dev/requested-at'] ?? '') - Date.now()) < 60_000, 'requested-at is now');
    assert.deepEqual(request.spec, { user: NEWCOMER.email, connectors: [CONNECTOR_NAME], approval: 'Pending' });
    assert.equal(requestStat.mode & 0o777, 0o600, 'only the operator reads the request');
    assert.equal(recorded(op).length, 1);
    assert.equal(recorded(op)[0]?.result, 'created');
    assert.equal(await pendingGauge(op), 1);
    step('pendingPage');

    // 3. Signing in again: Pending approval, nothing new is written.
    const again = await signIn(page, op.baseURL, NEWCOMER);
    assert.equal(again.status(), 403);
    assert.equal(await page.getByRole('heading', { name: 'Pending approval' }).isVisible(), true);
    assert.equal(await page.getByRole('button', { name: 'Request access' }).count(), 0, 'no second request form');
    assertNoRawError(await bodyText(page));
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_access'), undefined, 'no request cookie while a request waits');
    assert.deepEqual(await requestFiles(requestsDir), [requestFile]);
    assert.equal(await readFile(path, 'utf8'), requestText, 'the request is unchanged');
    assert.equal((await stat(path)).mtimeMs, requestStat.mtimeMs);
    assert.equal(recorded(op).length, 1, 'no request recorded by the second sign-in');
    const unverified = await context.request.get(`${op.baseURL}/auth/verify`, { maxRedirects: 0 });
    assert.equal(unverified.status(), 401, 'a waiting user has no session to verify');
    step('pendingAgain');

    // 4. The administrator approves: approval Approved, file moved into the manifests folder.
    const approvedText = requestText.replace(/^  approval: Pending$/m, '  approval: Approved');
    assert.notEqual(approvedText, requestText);
    await writeFile(path, approvedText);
    await rename(path, join(op.manifestsDir, `${bindingName}.yaml`));
    await waitFor(() => op.operator.registry.current().bindings.lookup(CONNECTOR, NEWCOMER.email).active, STEP_MS);
    assert.deepEqual(op.operator.registry.current().bindings.lookup(CONNECTOR, NEWCOMER.email).bindings, [`${NAMESPACE}/${bindingName}`]);
    assert.deepEqual(await requestFiles(requestsDir), [], 'no request left waiting');
    assert.equal(await pendingGauge(op), 0);
    step('approve');

    // 5. The next sign-in lands signed in on /auth/whoami; forward-auth lets the session through.
    const approved = await signIn(page, op.baseURL, NEWCOMER);
    assert.equal(approved.status(), 303);
    await page.waitForURL(`${op.baseURL}/auth/whoami`, { timeout: STEP_MS });
    assert.equal(await page.getByRole('heading', { name: 'Signed in' }).isVisible(), true);
    const text5 = await bodyText(page);
    assert.match(text5, /newcomer@example\.com/);
    assert.match(text5, new RegExp(escapeRe(CONNECTOR)));
    assertNoRawError(text5);
    assert.ok(await cookieNamed(context, op.baseURL, 'sso_session'), 'the session cookie is set');
    await screenshot(page, 'access-approved.png');
    const verify = await context.request.get(`${op.baseURL}/auth/verify?connectors=${encodeURIComponent(CONNECTOR)}`, { maxRedirects: 0 });
    assert.equal(verify.status(), 200);
    assert.equal(verify.headers()['x-auth-request-user'], NEWCOMER.email);
    assert.equal(verify.headers()['x-auth-request-email'], NEWCOMER.email);
    assert.equal(verify.headers()['x-auth-request-connector'], CONNECTOR);
    step('signedIn');
    assert.deepEqual(problems, [], 'no CSP violations or script errors');
    assert.deepEqual(logins(op), [`403 BindingNotActive ${NEWCOMER.email}`, `403 AccessPending ${NEWCOMER.email}`, `303 Success ${NEWCOMER.email}`]);
    assert.deepEqual(op.logs.filter((l) => typeof l.level === 'number' && l.level >= 50), [], 'no error logged');
    assert.doesNotMatch(op.rawLogs(), new RegExp(escapeRe(NEWCOMER.password)), 'no password in the log');
    console.log(`# access request flow in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(steps)}`);
  });

  test('refused: a binding with approval Denied shows Access denied, with no way to request access', async () => {
    const { op, context, page, problems } = await setUp();
    const requestsDir = join(op.stateDir, 'requests');

    // The administrator declines refused@example.com.
    await op.writeManifest(
      'refused-binding.yaml',
      `apiVersion: sso.operator.dev/v1alpha1
kind: UserBinding
metadata:
  name: refused-user
  namespace: ${NAMESPACE}
spec:
  user: ${REFUSED.email}
  connectors: [${CONNECTOR_NAME}]
  approval: Denied
  reason: Not on the project.
`,
    );
    await waitFor(() => op.operator.registry.current().bindings.lookup(CONNECTOR, REFUSED.email).phases.includes('Denied'), STEP_MS);

    const res = await signIn(page, op.baseURL, REFUSED);
    assert.equal(res.status(), 403);
    assert.equal(await page.title(), 'Access denied');
    assert.equal(await page.getByRole('heading', { name: 'Access denied' }).isVisible(), true);
    const text = await bodyText(page);
    assert.match(text, new RegExp(`An administrator declined access through ${escapeRe(DISPLAY_NAME)}\\.`));
    assert.match(text, /Reason: AccessDenied/);
    assertNoRawError(text);
    assert.equal(await page.getByRole('button', { name: 'Request access' }).count(), 0, 'no Request access button');
    assert.equal(await page.locator('form').count(), 0, 'no form at all');
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_access'), undefined, 'no request cookie');
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined, 'no session');
    await screenshot(page, 'access-denied.png');

    assert.deepEqual(await requestFiles(requestsDir), [], 'nothing is written for a denied user');
    const verify = await context.request.get(`${op.baseURL}/auth/verify`, { maxRedirects: 0 });
    assert.equal(verify.status(), 401);
    assert.deepEqual(problems, [], 'no CSP violations or script errors');
    assert.deepEqual(logins(op), [`403 AccessDenied ${REFUSED.email}`]);
    assert.deepEqual(op.logs.filter((l) => typeof l.level === 'number' && l.level >= 50), [], 'no error logged');
  });
});
