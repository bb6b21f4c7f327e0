// End-to-end test of access requests (spec.access.requests: Enabled) in
// cluster mode, in headless Debian Chromium: SimpleSAMLphp is the IdP, the
// operator runs against the real kube-apiserver as the chart's
// ServiceAccount (so the chart's RBAC is what lets it create a request), and
// the administrator decides with the CLI (`sso-operator requests ...`, a
// child process with the cluster's kubeconfig), as a person would.
//
// bob has no UserBinding: he signs in, gets the Request access button,
// presses it, sees Pending approval, and a UserBinding with approval Pending
// is on the apiserver (the requests writer's label and field manager). His
// next sign-in shows Pending approval again and creates nothing. The admin
// lists the requests and approves bob's; bob opens an application behind
// forward-auth (a loopback server that asks /auth/verify, as an ingress
// does), is sent through the sign-in, and reaches it. carol requests access
// too, the admin denies it with a reason, and carol gets Access denied and
// never passes /auth/verify.
//
// Every page a person sees is saved as a PNG in one temporary folder that is
// kept after the run (its path is printed).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, jest, test } from '@jest/globals';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { ACCESS_REQUEST_FIELD_MANAGER, ACCESS_REQUEST_LABEL, requestBindingName } from '../../src/access/requests.ts';
import { launchChromium, type LaunchedChromium } from '../support/chromium.ts';
import { REPO } from '../support/cli.ts';
import {
  applyOk,
  conditionOf,
  CONNECTOR,
  connectorManifest,
  getObject,
  GROUP_VERSION,
  listEvents,
  IDP_SECRET,
  idpSecretManifest,
  NS,
  pollFor,
  startClusterFixture,
  startFixtureOperator,
  USERS,
  type ClusterFixture,
  type K8sObject,
} from '../support/cluster-fixtures.ts';
import type { TestClusterOperator } from '../support/cluster-operator.ts';
import { kubeRequest } from '../support/kube.ts';
import { freePort } from '../support/system-deps.ts';

const KEY = `${NS.teamA}/${CONNECTOR}`;
const DISPLAY_NAME = 'SimpleSAMLphp, access requests';
const NODE = join(REPO, 'node_modules/.bin/node');
/** Every step waits at most this long for a page or the operator. */
const STEP_MS = 15_000;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type User = { name: 'bob' | 'carol'; password: string; email: string };
const BOB: User = { name: 'bob', ...USERS.bob };
const CAROL: User = { name: 'carol', ...USERS.carol };

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node src/cli.ts ARGS --kubeconfig FILE`, as an admin runs it from a shell; exits on its own within STEP_MS. */
function cli(args: string[], kubeconfig: string): Promise<Cli> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SSO_') && k !== 'KUBECONFIG'));
  const child = spawn(NODE, ['src/cli.ts', ...args, '--kubeconfig', kubeconfig], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_MS);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ...out });
    }),
  );
}

/**
 * The application behind the ingress: every request is first put to the
 * operator's /auth/verify with the browser's cookies (nginx auth-url); 200
 * shows the page with the user the operator vouched for, 401 sends the browser
 * to /auth/start (nginx auth-signin), anything else is refused with that status.
 */
async function startProtectedApp(operatorURL: () => string): Promise<{ url: string; verified: { status: number; user?: string }[]; server: Server }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const verified: { status: number; user?: string }[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const v = await fetch(`${operatorURL()}/auth/verify?connectors=${encodeURIComponent(KEY)}`, { headers: { cookie: req.headers.cookie ?? '' }, redirect: 'manual' });
      const user = v.headers.get('x-auth-request-user') ?? undefined;
      verified.push({ status: v.status, ...(user !== undefined ? { user } : {}) });
      if (v.status === 200) {
        const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Team wiki</title></head><body style="font-family:sans-serif;margin:3rem">` +
          `<h1>Team wiki</h1><p>Welcome, <strong>${esc(user ?? '')}</strong>.</p><p>Groups: ${esc(v.headers.get('x-auth-request-groups') || 'none')}</p>` +
          `<p style="color:#666">This page is served by an application behind forward-auth: the operator's /auth/verify answered 200.</p></body></html>`);
        return;
      }
      if (v.status === 401) {
        const start = new URL('/auth/start', operatorURL());
        start.searchParams.set('connector', KEY);
        start.searchParams.set('rd', `${url}${req.url ?? '/'}`);
        res.writeHead(302, { location: start.href });
        res.end();
        return;
      }
      res.writeHead(v.status, { 'content-type': 'text/plain' });
      res.end(`forward-auth answered ${v.status}`);
    })().catch((err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url, verified, server };
}

let shotDir: Promise<string> | undefined;
const shots: string[] = [];

/** Saves a full-page PNG under `name` in the kept screenshot folder and checks it is a real image. */
async function screenshot(page: Page, name: string): Promise<void> {
  shotDir ??= mkdtemp(join(tmpdir(), 'sso-operator-e2e-cluster-access-'));
  const shot = join(await shotDir, name);
  await page.screenshot({ path: shot, fullPage: true });
  const png = await readFile(shot);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, 'the PNG has a width and a height');
  assert.ok(png.length > 1000, 'the screenshot is not empty');
  shots.push(shot);
  console.log(`# screenshot ${name}: ${shot} (${png.length} bytes)`);
}

/** Signs of a raw error instead of the page meant for a person. */
function assertNoRawError(text: string): void {
  assert.doesNotMatch(text, /Internal Server Error|\bError:|\bat [\w.]+ \(|stack|undefined|\[object Object\]/i, `no raw error on the page:\n${text}`);
}

const bodyText = (page: Page) => page.locator('body').innerText();
const cookieNamed = async (context: BrowserContext, url: string, name: string) => (await context.cookies(url)).find((c) => c.name === name);

describe('access requests in cluster mode, in headless Chromium (SimpleSAMLphp, real kube-apiserver, the CLI)', () => {
  jest.setTimeout(240_000);
  let fx: ClusterFixture;
  let op: TestClusterOperator;
  let chromium: LaunchedChromium;
  let app: Awaited<ReturnType<typeof startProtectedApp>>;
  const acsPath = `/saml/${KEY}/acs`;

  /**
   * A sign-in from `start` (the home page's Sign in link, or the application):
   * SimpleSAMLphp's login form when this browser has no IdP session yet (filled
   * with `user`), its auto-submitted response, and the operator's ACS answer,
   * with the page it leads to loaded.
   */
  async function signIn(page: Page, user: User, start: () => Promise<unknown>): Promise<Response> {
    const acs = page.waitForResponse((r) => new URL(r.url()).pathname === acsPath && r.request().method() === 'POST', { timeout: STEP_MS });
    await start();
    const form = page.locator('#username');
    const first = await Promise.race([acs.then(() => 'acs' as const), form.waitFor({ state: 'visible', timeout: STEP_MS }).then(() => 'form' as const)]);
    if (first === 'form') {
      assert.ok(page.url().startsWith(fx.idp.baseURL), `the login form is SimpleSAMLphp's (${page.url()})`);
      await form.fill(user.name);
      await page.locator('#password').fill(user.password);
      await page.locator('#submit_button').click();
    }
    const res = await acs;
    // The page the ACS answered with (or redirected to), loaded: not the IdP's auto-submit page still showing.
    const location = res.status() === 303 ? new URL(res.headers().location ?? '', res.url()).href : undefined;
    await page.waitForURL((u) => (location ? u.href === location : u.pathname === acsPath), { timeout: STEP_MS });
    return res;
  }

  /** From the operator's home page: the connector's Sign in link. */
  async function signInFromHome(page: Page, user: User): Promise<Response> {
    return signIn(page, user, async () => {
      const home = await page.goto(`${op.baseURL}/`);
      assert.equal(home?.status(), 200);
      const row = page.locator('tr', { hasText: DISPLAY_NAME });
      assert.equal(await row.count(), 1, 'the home page lists the connector');
      await row.getByRole('link', { name: 'Sign in' }).click();
    });
  }

  const requestBindings = async () => {
    const r = await kubeRequest(fx.cp, 'GET', `/apis/${GROUP_VERSION}/namespaces/${NS.teamA}/userbindings?labelSelector=${encodeURIComponent(`${ACCESS_REQUEST_LABEL}=true`)}`);
    assert.equal(r.status, 200, r.text);
    return (r.body.items as K8sObject[]).map((b) => b.metadata.name).sort();
  };
  const recorded = () => op.logs.filter((l) => l.msg === 'access request recorded');
  /** Reasons of the Events on a UserBinding, once they include every one of `expected` (Events are written after status, within --kube-qps). */
  const bindingEvents = async (name: string, expected: string[]) =>
    (
      await pollFor(
        `Events ${expected.join(', ')} on UserBinding ${name}`,
        async () => {
          const reasons = (await listEvents(fx.cp, NS.teamA, { kind: 'UserBinding', name })).map((e) => e.reason);
          return expected.every((r) => reasons.includes(r)) && reasons.sort();
        },
        STEP_MS,
        100,
      )
    ).value;

  beforeAll(async () => {
    const t0 = performance.now();
    const [f, c] = await Promise.allSettled([startClusterFixture(), launchChromium()]);
    if (c.status === 'fulfilled') chromium = c.value;
    if (f.status === 'fulfilled') fx = f.value;
    if (f.status === 'rejected') throw f.reason;
    if (c.status === 'rejected') throw c.reason;
    app = await startProtectedApp(() => op.baseURL);
    const connector = connectorManifest(fx.idp, { displayName: DISPLAY_NAME });
    connector.spec.access = { requests: 'Enabled' };
    connector.spec.description = 'SimpleSAMLphp; users without a binding may request access.';
    await applyOk(fx.cp, idpSecretManifest(NS.teamA, IDP_SECRET, [fx.idp.certPem]), connector);
    op = await startFixtureOperator(fx);
    await pollFor('connector Ready', async () => conditionOf(await getObject(fx.cp, GROUP_VERSION, 'SsoConnector', NS.teamA, CONNECTOR), 'Ready')?.status === 'True', 60_000, 100);
    console.log(`# control plane, SimpleSAMLphp, Chromium ${chromium.browser.version()} and the operator ready in ${Math.round(performance.now() - t0)} ms (${JSON.stringify(fx.timings)})`);
  });

  afterAll(async () => {
    await chromium?.close();
    await new Promise((r) => (app ? app.server.close(r) : r(undefined)));
    await op?.stop();
    await fx?.stop();
    if (shots.length) console.log(`# screenshots kept in ${await shotDir}`);
  });

  test('bob requests access, sees Pending approval, is approved with the CLI, and reaches the application through /auth/verify', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    const bindingName = requestBindingName(CONNECTOR, BOB.email);
    assert.deepEqual(await requestBindings(), [], 'no request yet');

    // 1. Signed in at SimpleSAMLphp, no binding: the Request access page.
    const first = await signInFromHome(page, BOB);
    assert.equal(first.status(), 403);
    assert.equal(await page.title(), 'Request access');
    assert.equal(await page.getByRole('heading', { name: 'You do not have access yet' }).isVisible(), true);
    const text1 = await bodyText(page);
    assert.match(text1, new RegExp(`You signed in as ${escapeRe(BOB.email)}, but you have no access through ${escapeRe(DISPLAY_NAME)}\\.`));
    assert.match(text1, /Reason: BindingNotActive · Correlation id: [0-9a-f]{16}/);
    assertNoRawError(text1);
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined, 'no session');
    assert.ok(await cookieNamed(context, op.baseURL, 'sso_access'), 'the request cookie is set');
    assert.deepEqual(await requestBindings(), [], 'nothing is created before the button is pressed');
    await screenshot(page, '1-request-access.png');

    // 2. Request access: Pending approval, and a Pending UserBinding on the apiserver.
    const posted = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/request-access', { timeout: STEP_MS });
    await page.getByRole('button', { name: 'Request access' }).click();
    assert.equal((await posted).status(), 200);
    await page.waitForLoadState('load');
    assert.equal(await page.title(), 'Pending approval');
    const text2 = await bodyText(page);
    assert.match(text2, new RegExp(`Your request for access through ${escapeRe(DISPLAY_NAME)} as ${escapeRe(BOB.email)} is waiting for an administrator\\.`));
    assert.match(text2, /Reason: AccessPending/);
    assertNoRawError(text2);
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_access'), undefined, 'the request cookie is spent');
    await screenshot(page, '2-pending-approval.png');

    const created = await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName);
    assert.ok(created, `UserBinding ${NS.teamA}/${bindingName} is on the apiserver`);
    assert.deepEqual(created.spec, { user: BOB.email, connectors: [CONNECTOR], approval: 'Pending' });
    assert.deepEqual(created.metadata.labels, { [ACCESS_REQUEST_LABEL]: 'true' });
    const managedFields = created.metadata.managedFields as { manager: string; operation: string; subresource?: string }[];
    assert.deepEqual(managedFields.filter((m) => m.subresource !== 'status').map((m) => `${m.manager} ${m.operation}`), [`${ACCESS_REQUEST_FIELD_MANAGER} Update`], 'created by the requests writer alone');
    assert.equal(recorded().length, 1);
    await pollFor('the binding is PendingApproval', async () => (await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.status?.phase === 'PendingApproval', STEP_MS, 100);

    // 3. Signing in again: Pending approval, nothing new on the apiserver.
    const again = await signInFromHome(page, BOB);
    assert.equal(again.status(), 403);
    assert.equal(await page.title(), 'Pending approval');
    assert.equal(await page.getByRole('button', { name: 'Request access' }).count(), 0, 'no second request form');
    assert.deepEqual(await requestBindings(), [bindingName]);
    const after = await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName);
    assert.deepEqual(after?.spec, created.spec, 'the request is unchanged');
    assert.equal(recorded().length, 1, 'no request recorded by the second sign-in');
    assert.equal((await context.request.get(`${op.baseURL}/auth/verify`, { maxRedirects: 0 })).status(), 401, 'a waiting user has no session to verify');

    // The application sends a waiting user to sign in, which ends on Pending approval again.
    const viaApp = await signIn(page, BOB, () => page.goto(`${app.url}/`));
    assert.equal(viaApp.status(), 403);
    assert.equal(await page.title(), 'Pending approval');
    assert.deepEqual(app.verified.map((v) => v.status), [401]);

    // 4. The admin sees the request and approves it with the CLI.
    const list = await cli(['requests', 'list', '-n', NS.teamA], fx.cp.kubeconfigPath);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${NS.teamA}\\s+${bindingName}\\s+${escapeRe(BOB.email)}\\s+${CONNECTOR}\\s+Pending\\s+\\S+\\s+<none>$`, 'm'));
    const approve = await cli(['requests', 'approve', '--user', BOB.email, '--connector', KEY], fx.cp.kubeconfigPath);
    assert.deepEqual(approve, { code: 0, stdout: `UserBinding ${KEY.split('/')[0]}/${bindingName} approved (user ${BOB.email}, connector ${CONNECTOR})\n`, stderr: '' });
    assert.equal((await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.spec.approval, 'Approved');
    await pollFor('the binding is Active', async () => (await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.status?.phase === 'Active', STEP_MS, 100);
    // What told the admins someone waited, and that it was settled.
    assert.deepEqual(await bindingEvents(bindingName, ['BindingPending', 'BindingActive']), ['BindingActive', 'BindingPending']);
    // And on the connector: who asked, which binding to approve.
    const requested = await pollFor(
      `AccessRequested Event on SsoConnector ${CONNECTOR}`,
      async () => (await listEvents(fx.cp, NS.teamA, { kind: 'SsoConnector', name: CONNECTOR })).find((e) => e.reason === 'AccessRequested' && (e.note ?? '').includes(bindingName)),
      STEP_MS,
      100,
    );
    assert.ok(requested.value?.regarding?.uid, 'the Event names the connector by uid (kubectl describe finds it)');
    assert.match(requested.value?.note ?? '', new RegExp(`^${escapeRe(BOB.email)} requests access \\(UserBinding ${bindingName}, approval Pending\\)$`));

    // 5. bob opens the application: forward-auth sends him through the sign-in, and he reaches it.
    const approved = await signIn(page, BOB, () => page.goto(`${app.url}/wiki/start`));
    assert.equal(approved.status(), 303);
    assert.equal(approved.headers().location, `${app.url}/wiki/start`);
    await page.waitForURL(`${app.url}/wiki/start`, { timeout: STEP_MS });
    assert.equal(await page.title(), 'Team wiki');
    assert.match(await bodyText(page), new RegExp(`Welcome, ${escapeRe(BOB.email)}\\.`));
    assert.deepEqual(app.verified.slice(-1), [{ status: 200, user: BOB.email }]);
    await screenshot(page, '3-protected-app.png');

    // The operator's own signed-in page, and forward-auth called from this browser.
    await page.goto(`${op.baseURL}/auth/whoami`);
    assert.equal(await page.getByRole('heading', { name: 'Signed in' }).isVisible(), true);
    const text5 = await bodyText(page);
    assert.match(text5, new RegExp(escapeRe(BOB.email)));
    assert.match(text5, new RegExp(escapeRe(KEY)));
    assert.match(text5, /Correlation id: [0-9a-f]{16}/);
    assertNoRawError(text5);
    await screenshot(page, '4-signed-in.png');
    const verify = await context.request.get(`${op.baseURL}/auth/verify?connectors=${encodeURIComponent(KEY)}`, { maxRedirects: 0 });
    assert.equal(verify.status(), 200);
    assert.equal(verify.headers()['x-auth-request-user'], BOB.email);
    assert.equal(verify.headers()['x-auth-request-email'], BOB.email);
    assert.equal(verify.headers()['x-auth-request-connector'], KEY);

    // One line per sign-in (stage Production: the reason code, no user).
    const logins = op.logs.filter((l) => l.msg === 'login' || l.msg === 'login refused').map((l) => `${l.status} ${l.reason}`);
    assert.deepEqual(logins, ['403 BindingNotActive', '403 AccessPending', '403 AccessPending', '303 Success']);
    assert.deepEqual(op.logs.filter((l) => typeof l.level === 'number' && l.level >= 50), [], 'no error logged');
    assert.doesNotMatch(op.rawLogs(), new RegExp(escapeRe(BOB.password)), 'no password in the log');
    await context.close();
  });

  test('carol requests access, the admin denies it with the CLI; she gets Access denied and never passes /auth/verify', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    const bindingName = requestBindingName(CONNECTOR, CAROL.email);
    const verifiedBefore = app.verified.length;

    const first = await signInFromHome(page, CAROL);
    assert.equal(first.status(), 403);
    assert.equal(await page.title(), 'Request access');
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.waitForURL(`${op.baseURL}/auth/request-access`, { timeout: STEP_MS });
    assert.equal(await page.title(), 'Pending approval');
    assert.equal((await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.spec.approval, 'Pending');

    // The admin declines, with a reason.
    const deny = await cli(['requests', 'deny', bindingName, '-n', NS.teamA, '--reason', 'Contractors get access through #infra'], fx.cp.kubeconfigPath);
    assert.deepEqual(deny, { code: 0, stdout: `UserBinding ${NS.teamA}/${bindingName} denied (user ${CAROL.email}, connector ${CONNECTOR})\n`, stderr: '' });
    assert.deepEqual((await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.spec, {
      user: CAROL.email,
      connectors: [CONNECTOR],
      approval: 'Denied',
      reason: 'Contractors get access through #infra',
    });
    await pollFor('the binding is Denied', async () => (await getObject(fx.cp, GROUP_VERSION, 'UserBinding', NS.teamA, bindingName))?.status?.phase === 'Denied', STEP_MS, 100);
    assert.deepEqual(await bindingEvents(bindingName, ['BindingPending', 'BindingDenied']), ['BindingDenied', 'BindingPending']);

    // Through the application: sent to sign in, refused with Access denied, never let in.
    const refused = await signIn(page, CAROL, () => page.goto(`${app.url}/wiki/start`));
    assert.equal(refused.status(), 403);
    assert.equal(await page.title(), 'Access denied');
    assert.equal(await page.getByRole('heading', { name: 'Access denied' }).isVisible(), true);
    const text = await bodyText(page);
    assert.match(text, new RegExp(`An administrator declined access through ${escapeRe(DISPLAY_NAME)}\\.`));
    assert.match(text, /Reason: AccessDenied · Correlation id: [0-9a-f]{16}/);
    assert.doesNotMatch(text, /#infra/, "the admin's reason stays in the binding's status, not on the page");
    assertNoRawError(text);
    assert.equal(await page.locator('form').count(), 0, 'no form at all');
    assert.equal(await cookieNamed(context, op.baseURL, 'sso_session'), undefined, 'no session');
    await screenshot(page, '5-access-denied.png');

    assert.deepEqual(app.verified.slice(verifiedBefore).map((v) => v.status), [401], 'the application never let her in');
    const verify = await context.request.get(`${op.baseURL}/auth/verify`, { maxRedirects: 0 });
    assert.equal(verify.status(), 401);
    const listed = await cli(['requests', 'list', '-n', NS.teamA, '--all', '-o', 'json'], fx.cp.kubeconfigPath);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { user: string; approval: string }[]).map((e) => `${e.user} ${e.approval}`).sort(),
      [`${BOB.email} Approved`, `${CAROL.email} Denied`],
    );
    await context.close();
  });
});
