// Junk posts to the ACS and the opt-in sign-in rate limits, through the
// public app: each kind of junk gets its status and reason code and changes
// nothing; rate limits answer 429 RateLimited with Retry-After only when
// switched on, key on X-Forwarded-For only with --trust-proxy, never count
// unknown connectors, and keep their tables bounded. No timing here: how fast
// junk is refused is measured by `npm run bench`.

import { afterEach, describe, expect, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import type { PublicContext } from '../../../src/server/context.ts';
import { acsEarlyRefusal } from '../../../src/server/routes/saml.ts';
import { BucketTable, RateLimiter, addressKey } from '../../../src/server/rate-limit.ts';
import { REFUSAL_LINES_PER_SECOND } from '../../../src/server/login-log.ts';
import { makeResponseXml } from '../../support/saml-fixtures.ts';
import { STATE, assertRefused, setCookieLine, startHarness, startLogin, unsolicited, type Harness, type HarnessOptions } from './harness.ts';
import { bindingManifest, connectorManifest } from './manifests.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// The rate-limit tests stop the app's clock: no bucket refills while a slow machine runs them.
const frozen = (): (() => Date) => {
  const t = new Date();
  return () => t;
};

async function harness(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness(o.rateLimit ? { now: frozen(), ...o } : o);
  await h.apply(connectorManifest('demo', h.idp.certPem), connectorManifest('other', h.idp.certPem), bindingManifest('alice', 'alice@example.com', ['demo', 'other']));
  return h;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (xml: string) => new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: 'x' }).toString();

/**
 * A POST over a socket (through the listener, as real clients come), sending `body` whatever the announced length
 * (in `pieces` writes 30 ms apart); the answer is read and the socket closed.
 */
function rawPost(port: number, path: string, headers: Record<string, string>, body = 'SAMLResponse=AAAA', pieces = 1): Promise<{ status: number; headers: Record<string, unknown>; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const lines = Object.entries({ host: `127.0.0.1:${port}`, 'content-length': String(Buffer.byteLength(body)), ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const size = Math.ceil(body.length / pieces);
    socket.write(`POST ${path} HTTP/1.1\r\n${lines}\r\n${body.slice(0, size)}`);
    for (let i = 1; i < pieces; i++) setTimeout(() => socket.write(body.slice(i * size, (i + 1) * size)), 30 * i);
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = got.subarray(0, end).toString('latin1').split('\r\n');
      const parsed: Record<string, unknown> = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        parsed[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      const length = Number(parsed['content-length']);
      if (got.length - end - 4 < length) return;
      socket.destroy();
      resolve({ status: Number(head[0]!.split(' ')[1]), headers: parsed, head: head.join('\n'), body: got.subarray(end + 4, end + 4 + length).toString('utf8') });
    });
    socket.on('error', reject);
  });
}

async function metric(h: Harness, name: string): Promise<string[]> {
  return (await h.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
}

describe('junk posts to the ACS', () => {
  it('refuses each kind with its status and reason code, and issues no session', async () => {
    const h = await harness();
    const signed = makeResponseXml(h.idp, { inResponseTo: null });
    const unsigned = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    assert.notEqual(unsigned, signed);
    const cases: { what: string; url: string; payload: string; headers?: Record<string, string>; status: number; reason: string }[] = [
      { what: 'unsigned', url: '/saml/default/demo/acs', payload: form(unsigned), status: 401, reason: 'UnsolicitedResponseRefused' },
      { what: 'malformed', url: '/saml/default/demo/acs', payload: new URLSearchParams({ SAMLResponse: Buffer.alloc(6000, 0x5a).toString('base64') }).toString(), status: 400, reason: 'MalformedResponse' },
      { what: 'not base64 XML at all', url: '/saml/default/demo/acs', payload: 'SAMLResponse=%00%01', status: 400, reason: 'MalformedResponse' },
      { what: 'unknown connector', url: '/saml/default/nope/acs', payload: form(signed), status: 404, reason: 'ConnectorNotFound' },
      { what: 'oversized', url: '/saml/default/demo/acs', payload: `SAMLResponse=${'A'.repeat(1_200_000)}`, status: 413, reason: 'ResponseTooLarge' },
    ];
    for (const c of cases) {
      const res = await h.app.inject({ method: 'POST', url: c.url, headers: { ...FORM, ...c.headers }, payload: c.payload });
      assertRefused(res, c.status, c.reason);
    }
    const attempts = await metric(h, 'sso_login_attempts_total{');
    assert.ok(attempts.some((l) => l.includes('connector="_unknown"') && l.includes('reason="ConnectorNotFound"')), attempts.join('\n'));
    assert.ok(attempts.some((l) => l.includes('reason="ResponseTooLarge"')), attempts.join('\n'));
  });

  it('refuses an unsigned response to a pending login as not signed', async () => {
    const h = await harness();
    const login = await startLogin(h.app, '/saml/default/demo/login?rd=%2Fapp');
    const xml = makeResponseXml(h.idp, { inResponseTo: login.request.id, audience: login.request.issuer, destination: login.request.acsURL ?? null, recipient: login.request.acsURL ?? null });
    const res = await h.app.inject({
      method: 'POST',
      url: '/saml/default/demo/acs',
      headers: { ...FORM, cookie: `${login.stateName}=${login.state}` },
      payload: new URLSearchParams({ SAMLResponse: Buffer.from(xml.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '')).toString('base64'), RelayState: login.relayState ?? '' }).toString(),
    });
    assertRefused(res, 401, 'AssertionNotSigned');
  });

  it('refuses a post that is not a form as MalformedResponse before parsing its body', async () => {
    const h = await harness();
    // Broken JSON: had the body been parsed, the JSON parser would have refused it as MalformedRequest.
    assertRefused(await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs', headers: { 'content-type': 'application/json' }, payload: '{' }), 400, 'MalformedResponse');
    assertRefused(await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs', headers: { 'content-type': 'text/xml' }, payload: '<x/>' }), 400, 'MalformedResponse');
    assertRefused(await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs' }), 400, 'MalformedResponse');
  });

  it('answers an oversized post without keeping the connection for its body', async () => {
    const h = await harness();
    const res = await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs', headers: { ...FORM, 'content-length': String(64 * 1024 * 1024) }, payload: 'SAMLResponse=AAAA' });
    assertRefused(res, 413, 'ResponseTooLarge');
    assert.equal(res.headers.connection, 'close');
  });

  it("gives the route's 413 from the listener, before fastify, only for a plainly spelled ACS path", async () => {
    const h = await harness();
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (h.app.server.address() as AddressInfo).port;
    const big = String(64 * 1024 * 1024);
    const normalise = (headers: Record<string, unknown>) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(headers)) if (!['date', 'keep-alive', 'transfer-encoding'].includes(k)) out[k] = v;
      return out;
    };
    const attempts = async () => (await metric(h, 'sso_login_attempts_total{')).find((l) => l.includes('connector="demo"') && l.includes('reason="ResponseTooLarge"'));
    // The route's answer (inject never passes the listener) and the listener's, over a socket.
    const routed = await h.app.inject({ method: 'POST', url: '/saml/default/demo/acs', headers: { ...FORM, 'content-length': big }, payload: 'SAMLResponse=AAAA' });
    assertRefused(routed, 413, 'ResponseTooLarge');
    const before = h.logLines().length;
    const early = await rawPost(port, '/saml/default/demo/acs', { ...FORM, 'content-length': big });
    assert.equal(early.status, 413);
    const routedId = String(routed.headers['x-correlation-id'] ?? /Correlation id: <code>([0-9a-f]+)</.exec(routed.body)?.[1]);
    const earlyId = /Correlation id: <code>([0-9a-f]+)</.exec(early.body)?.[1];
    assert.ok(earlyId && earlyId !== routedId, 'a correlation id of its own');
    assert.equal(early.body.replace(earlyId, routedId), routed.body, 'the same page');
    assert.deepEqual(normalise(early.headers), normalise(routed.headers), 'the same headers');
    assert.equal(early.headers.connection, 'close');
    assert.ok((await attempts())?.endsWith(' 2'), 'both counted');
    const line = h.logLines().slice(before).find((l) => l.msg === 'login refused');
    assert.equal(line?.reason, 'ResponseTooLarge');
    assert.equal(line?.correlationId, earlyId);
    // Everything else goes on to fastify, and gets the route's own answer there.
    const cases: { path: string; headers?: Record<string, string>; status: number; reason: string }[] = [
      { path: '/saml/default/demo/acs?s=a&s=b', status: 400, reason: 'MalformedRequest' },
      { path: '/saml/default/nope/acs', status: 404, reason: 'ConnectorNotFound' },
      { path: '/saml/default/%64emo/acs', status: 413, reason: 'ResponseTooLarge' },
      { path: '/saml/default/demo/acs', headers: { accept: 'application/json' }, status: 413, reason: 'ResponseTooLarge' },
    ];
    for (const c of cases) {
      const a = await rawPost(port, c.path, { ...FORM, 'content-length': big, ...c.headers });
      assert.equal(a.status, c.status, c.path);
      assert.ok(a.body.includes(c.reason), `${c.path}: ${a.body.slice(0, 300)}`);
    }
    // Which of these the listener answered itself: the plain path only.
    const refusal = acsEarlyRefusal({ registry: h.registry, metrics: h.metrics, logger: pino({ level: 'silent' }) } as unknown as PublicContext);
    const answered = (url: string, headers: Record<string, string> = {}) => {
      const written: unknown[] = [];
      const res = { writeHead: (...args: unknown[]) => (written.push(args), res), end: (body: string) => written.push(body) };
      const req = Object.assign(new PassThrough(), { url, headers: { 'content-length': big, ...headers } });
      const took = refusal(req as unknown as IncomingMessage, res as unknown as ServerResponse, () => assert.fail('handed on'), () => false);
      assert.equal(took, written.length === 2, `${url}: answered exactly when it says so`);
      return took;
    };
    assert.equal(answered('/saml/default/demo/acs'), true);
    for (const c of cases) assert.equal(answered(c.path, c.headers), false, c.path);
    assert.equal(answered('/saml/default/demo/acs/'), false, 'trailing slash');

    // Within the limit: not refused early; read and refused as junk by the route.
    const small = await rawPost(port, '/saml/default/demo/acs', FORM, 'SAMLResponse=AAAA');
    assert.equal(small.status, 400);
    assert.ok(small.body.includes('MalformedResponse'));
  });

  it("gives the route's refusals of junk it can judge before a parse from the listener: the same answer, metric and log line", async () => {
    let stopping = false;
    const h = await harness({ stopping: () => stopping });
    await h.apply(connectorManifest('prov', h.idp.certPem, { stage: 'Provisioning' }));
    // Marks what fastify answered; the listener's own answers never pass its hooks.
    h.app.addHook('onSend', (_req, reply, payload, done) => {
      reply.header('x-answered-by', 'fastify');
      done(null, payload);
    });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (h.app.server.address() as AddressInfo).port;
    const signed = makeResponseXml(h.idp, { inResponseTo: null });
    const unsigned = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    const cases: { what: string; connector: string; body: string; status: number; reason: string }[] = [
      { what: 'unsigned', connector: 'demo', body: form(unsigned), status: 401, reason: 'UnsolicitedResponseRefused' },
      { what: 'unsigned, at a connector in Provisioning (the log line has the trail)', connector: 'prov', body: form(unsigned), status: 401, reason: 'UnsolicitedResponseRefused' },
      { what: 'no markup', connector: 'demo', body: new URLSearchParams({ SAMLResponse: Buffer.alloc(6000, 0x5a).toString('base64'), RelayState: 'x' }).toString(), status: 400, reason: 'MalformedResponse' },
      { what: 'not base64', connector: 'demo', body: 'SAMLResponse=%00%01', status: 400, reason: 'MalformedResponse' },
      { what: 'a DOCTYPE', connector: 'demo', body: form('<!DOCTYPE x><x/>'), status: 400, reason: 'DoctypeForbidden' },
      { what: 'no SAMLResponse', connector: 'demo', body: 'RelayState=x', status: 400, reason: 'MalformedResponse' },
      { what: 'an empty SAMLResponse', connector: 'demo', body: 'SAMLResponse=&RelayState=x', status: 400, reason: 'MalformedResponse' },
      { what: 'over maxResponseBytes once decoded, within the body ceiling', connector: 'demo', body: form(signed + ' '.repeat(300_000)), status: 413, reason: 'ResponseTooLarge' },
    ];
    const normalise = (headers: Record<string, unknown>) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(headers)) if (!['date', 'keep-alive', 'connection', 'transfer-encoding', 'x-answered-by'].includes(k)) out[k] = v;
      return out;
    };
    const lineOf = (from: number, id: string) => {
      const line = h.logLines().slice(from).find((l) => l.correlationId === id);
      assert.ok(line, `a log line for ${id}`);
      const { correlationId: _c, durationMs: _d, time: _t, ...rest } = line;
      return rest;
    };
    const durationOf = (from: number, id: string) => Number(h.logLines().slice(from).find((l) => l.correlationId === id)?.durationMs);
    for (const c of cases) {
      const path = `/saml/default/${c.connector}/acs`;
      const before = h.logLines().length;
      const routed = await h.app.inject({ method: 'POST', url: path, headers: FORM, payload: c.body });
      assertRefused(routed, c.status, c.reason);
      // The unsigned one comes in seven pieces, 180 ms in all: its login duration must not count the upload.
      const early = await rawPost(port, path, FORM, c.body, c.what === 'unsigned' ? 7 : 1);
      assert.equal(early.status, c.status, c.what);
      assert.equal(routed.headers['x-answered-by'], 'fastify');
      assert.equal(early.headers['x-answered-by'], undefined, `${c.what}: answered by the listener`);
      const routedId = /Correlation id: <code>([0-9a-f]+)</.exec(routed.body)?.[1] ?? '';
      const earlyId = /Correlation id: <code>([0-9a-f]+)</.exec(early.body)?.[1] ?? '';
      assert.ok(earlyId && routedId && earlyId !== routedId, `${c.what}: a correlation id of its own`);
      assert.equal(early.body.replace(earlyId, routedId), routed.body, `${c.what}: the same page`);
      assert.deepEqual(normalise(early.headers), normalise(routed.headers), `${c.what}: the same headers`);
      assert.equal(early.headers.connection, 'keep-alive', `${c.what}: the connection stays open`);
      assert.deepEqual(lineOf(before, earlyId), lineOf(before, routedId), `${c.what}: the same log line`);
      if (c.connector === 'prov') assert.ok(Array.isArray(lineOf(before, earlyId).trail), 'the trail is logged');
      if (c.what === 'unsigned') assert.ok(durationOf(before, earlyId) < 120, `durationMs ${durationOf(before, earlyId)}: the refusal's, not the upload's`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/auth/verify`)).headers.get('x-answered-by'), null, 'forward-auth from the listener');
    // Once the operator began to stop, fastify answers everything (its answers close their connections).
    stopping = true;
    const late = await rawPost(port, '/saml/default/demo/acs', FORM, cases[0]!.body);
    assert.equal(late.status, 401);
    assert.equal(late.headers['x-answered-by'], 'fastify');
    const verify = await fetch(`http://127.0.0.1:${port}/auth/verify`);
    assert.equal(verify.status, 401);
    assert.equal(verify.headers.get('x-answered-by'), 'fastify', 'forward-auth too');
    const counted = (await metric(h, 'sso_login_attempts_total{')).find((l) => l.includes('connector="demo"') && l.includes('reason="MalformedResponse"'));
    assert.ok(counted?.endsWith(' 8'), `each counted once per answer: ${counted}`);
  });

  it('takes only the posts whose answer it knows, and hands every other one to fastify as it came', async () => {
    const h = await harness();
    const signed = makeResponseXml(h.idp, { inResponseTo: null });
    const unsigned = form(signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, ''));
    const ctx = { registry: h.registry, metrics: h.metrics, logger: pino({ level: 'silent' }) };
    const run = async (o: { url?: string; headers?: Record<string, string>; body?: string; limited?: boolean; closing?: boolean; meanwhile?: () => Promise<void> }) => {
      const refusal = acsEarlyRefusal({ ...ctx, ...(o.limited ? { rateLimiter: new RateLimiter({ perAddress: 10 }, false) } : {}) } as unknown as PublicContext);
      const body = o.body ?? unsigned;
      const written: unknown[] = [];
      const res = { headersSent: false, writeHead: (...args: unknown[]) => (written.push(args), res), end: (page: string) => written.push(page) };
      const req = Object.assign(new PassThrough(), { url: o.url ?? '/saml/default/demo/acs', headers: { 'content-length': String(Buffer.byteLength(body)), ...FORM, ...o.headers } });
      let handedOn = 0;
      const took = refusal(req as unknown as IncomingMessage, res as unknown as ServerResponse, () => handedOn++, () => o.closing === true);
      if (took) {
        req.write(body.slice(0, 10));
        await o.meanwhile?.();
        req.end(body.slice(10));
        await new Promise((r) => setImmediate(r));
      }
      return { took, answered: written.length === 2, handedOn };
    };
    // Taken and answered: the plain path, a form, no state cookie (other cookies are fine), each kind the route refuses before a parse.
    assert.deepEqual(await run({}), { took: true, answered: true, handedOn: 0 });
    for (const body of ['RelayState=x', 'SAMLResponse=&RelayState=x', 'SAMLResponse=%00%01', form('<!DOCTYPE x><x/>'), `SAMLResponse=${Buffer.alloc(600, 0x5a).toString('base64')}`]) {
      assert.deepEqual(await run({ body }), { took: true, answered: true, handedOn: 0 }, body.slice(0, 40));
    }
    assert.deepEqual(await run({ headers: { cookie: 'theme=dark; lang=en' } }), { took: true, answered: true, handedOn: 0 });
    // Taken, read, and handed on: a message that gets as far as the parse; the app closing meanwhile.
    assert.deepEqual(await run({ body: form(signed) }), { took: true, answered: false, handedOn: 1 });
    assert.deepEqual(await run({ closing: true }), { took: true, answered: false, handedOn: 1 });
    // The connector changed while the body came (here: IdP-initiated login switched on, so the
    // unsigned Success is no longer UnsolicitedResponseRefused): the route judges it as it is now.
    const changed = await run({ meanwhile: () => h.apply(connectorManifest('demo', h.idp.certPem, { idpInitiated: { enabled: true, redirectPath: '/welcome' } })) });
    assert.deepEqual(changed, { took: true, answered: false, handedOn: 1 });
    // Not taken at all.
    const untouched: [string, Parameters<typeof run>[0]][] = [
      ['a state cookie', { headers: { cookie: `theme=dark; ${STATE}=abc` } }],
      ['the unprefixed state cookie', { headers: { cookie: 'sso_state=abc' } }],
      ['a client asking for JSON', { headers: { accept: 'application/json' } }],
      ['a form with a charset', { headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' } }],
      ['another content type', { headers: { 'content-type': 'text/xml' } }],
      ['no content type', { headers: { 'content-type': '' } }],
      ['a chunked body', { headers: { 'transfer-encoding': 'chunked' } }],
      ['a content encoding', { headers: { 'content-encoding': 'gzip' } }],
      ['an empty body', { headers: { 'content-length': '0' } }],
      ['a query string', { url: '/saml/default/demo/acs?s=1' }],
      ['an escaped path', { url: '/saml/default/%64emo/acs' }],
      ['a trailing slash', { url: '/saml/default/demo/acs/' }],
      ['an unknown connector', { url: '/saml/default/nope/acs' }],
      ['rate limits switched on', { limited: true }],
    ];
    for (const [what, o] of untouched) assert.deepEqual(await run(o), { took: false, answered: false, handedOn: 0 }, what);
  });

  it('hands a post it read on to the route, whose sign-in completes with that body', async () => {
    const h = await harness();
    await h.apply(connectorManifest('open', h.idp.certPem, { idpInitiated: { enabled: true, redirectPath: '/welcome' } }), bindingManifest('alice-open', 'alice@example.com', ['open']));
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (h.app.server.address() as AddressInfo).port;
    for (const pieces of [1, 4]) {
      const body = new URLSearchParams({ SAMLResponse: unsolicited(h, 'default', 'open'), RelayState: '' }).toString();
      const res = await rawPost(port, '/saml/default/open/acs', FORM, body, pieces);
      assert.equal(res.status, 303, `${pieces} piece(s): ${res.body.slice(0, 300)}`);
      assert.equal(res.headers.location, '/welcome');
      assert.match(res.head, /^set-cookie: sso_session=[^;]+/im);
    }
    // A signed response that needs a pending login: read here, refused by the route after its parse.
    const res = await rawPost(port, '/saml/default/demo/acs', FORM, new URLSearchParams({ SAMLResponse: unsolicited(h, 'default', 'demo') }).toString());
    assert.equal(res.status, 401);
    assert.ok(res.body.includes('<code>UnsolicitedResponseRefused</code>'));
    const line = h.logLines().find((l) => l.msg === 'login' && l.connector === 'default/open');
    assert.equal(line?.result, 'success');
  });

  it('answers 408 and closes the connection of a client that stalls in its body, whichever path reads it, and serves the next one', async () => {
    const h = await harness({ requestTimeoutMs: 400 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (h.app.server.address() as AddressInfo).port;
    const stalled = (headers: Record<string, string>) =>
      new Promise<{ text: string; ms: number }>((resolve, reject) => {
        const t0 = Date.now();
        // Half-open allowed: the server must close the connection itself, not wait for this side to.
        const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        const lines = Object.entries({ host: `127.0.0.1:${port}`, 'content-length': '500000', ...FORM, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        // Most of nothing: a tenth of the body, then silence.
        socket.write(`POST /saml/default/demo/acs HTTP/1.1\r\n${lines}\r\nSAMLResponse=${'A'.repeat(50_000)}`);
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('end', () =>
          setTimeout(
            () =>
              h.app.server.getConnections((_err, n) => {
                open = n;
                socket.end();
              }),
            100,
          ),
        );
        socket.on('close', () => resolve({ text, ms: Date.now() - t0 }));
        socket.on('error', reject);
        socket.setTimeout(10_000, () => socket.destroy(new Error('the server kept a stalled body for 10 s')));
      });
    let open = -1;
    for (const headers of [{}, { cookie: `${STATE}=x` }] as Record<string, string>[]) {
      open = -1;
      const r = await stalled(headers);
      assert.equal(open, 0, 'the server closed its side: no connection left');
      assert.match(r.text, /^HTTP\/1\.1 408 /, JSON.stringify(headers));
      assert.ok(r.text.endsWith('"reason":"RequestTimeout","message":"The request was not received in time."}'), r.text);
      assert.ok(r.ms >= 350, `not before the timeout: ${r.ms} ms`);
    }
    const unsigned = makeResponseXml(h.idp, { inResponseTo: null }).replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    assert.equal((await rawPost(port, '/saml/default/demo/acs', FORM, form(unsigned))).status, 401, 'a whole post is answered as before');
    // The other requests Node refuses before any route: each with its reason code, nothing echoed.
    const answer = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.write(bytes);
      });
    const huge = await answer(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 [^]*"reason":"HeadersTooLarge"/);
    const garbage = await answer('<script>alert(1)</script> NOT-HTTP\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 [^]*"reason":"MalformedRequest"/);
    assert.ok(!garbage.includes('<script>'), 'nothing of the request echoed');
  });

  it('logs at most a capped number of refusal lines per reason and second, and counts every refusal', async () => {
    const h = await harness();
    const n = REFUSAL_LINES_PER_SECOND * 3;
    for (let i = 0; i < n; i++) await h.app.inject({ method: 'POST', url: '/saml/default/nope/acs', headers: FORM, payload: 'SAMLResponse=AAAA' });
    const lines = h.logLines().filter((l) => l.msg === 'login refused' && l.reason === 'ConnectorNotFound');
    // The loop may straddle a second boundary: at most two windows' worth.
    assert.ok(lines.length >= REFUSAL_LINES_PER_SECOND && lines.length <= 2 * REFUSAL_LINES_PER_SECOND, `${lines.length} lines`);
    const counted = (await metric(h, 'sso_login_attempts_total{')).find((l) => l.includes('reason="ConnectorNotFound"'));
    assert.ok(counted?.endsWith(` ${n}`), `every refusal is counted: ${counted}`);
  });
});

describe('sign-in rate limits', () => {
  const login = (h: Harness, o: { connector?: string; remoteAddress?: string; xff?: string } = {}) =>
    h.app.inject({
      method: 'GET',
      url: `/saml/default/${o.connector ?? 'demo'}/login?rd=%2Fapp`,
      remoteAddress: o.remoteAddress ?? '203.0.113.7',
      ...(o.xff ? { headers: { 'x-forwarded-for': o.xff } } : {}),
    });

  it('never answers 429 when no limit is set', async () => {
    const h = await harness();
    for (let i = 0; i < 300; i++) assert.equal((await login(h)).statusCode, 302);
    assert.deepEqual(await metric(h, 'sso_rate_limited_total{'), []);
  });

  it('answers 429 RateLimited with Retry-After past the per-address limit, as a page or as JSON, and counts it', async () => {
    const h = await harness({ rateLimit: { perAddress: 5 } });
    for (let i = 0; i < 10; i++) assert.equal((await login(h)).statusCode, 302, `request ${i} is within the burst of 2N`);
    const res = await login(h);
    assertRefused(res, 429, 'RateLimited');
    assert.ok(Number(res.headers['retry-after']) >= 1, `Retry-After: ${res.headers['retry-after']}`);
    assert.equal(setCookieLine(res, STATE), undefined, 'no login state is started');
    const json = await h.app.inject({ method: 'GET', url: '/saml/default/demo/login?rd=%2Fapp', remoteAddress: '203.0.113.7', headers: { accept: 'application/json' } });
    assert.equal(json.statusCode, 429);
    expect(json.json()).toMatchObject({ status: 429, reason: 'RateLimited', outcome: 'unavailable' });
    // Another address is not affected.
    assert.equal((await login(h, { remoteAddress: '203.0.113.8' })).statusCode, 302);
    const limited = await metric(h, 'sso_rate_limited_total{');
    assert.ok(limited.some((l) => l.includes('scope="address"') && l.includes('endpoint="login"') && l.endsWith(' 2')), limited.join('\n'));
  });

  it('limits the ACS per connector, whatever the address, before reading the body', async () => {
    const h = await harness({ rateLimit: { perConnector: 2 } });
    const post = (connector: string, i: number) =>
      h.app.inject({ method: 'POST', url: `/saml/default/${connector}/acs`, remoteAddress: `198.51.100.${i}`, headers: FORM, payload: 'SAMLResponse=AAAA' });
    for (let i = 0; i < 4; i++) assert.equal((await post('demo', i)).statusCode, 400, 'junk within the limit is refused as junk');
    const res = await post('demo', 9);
    assertRefused(res, 429, 'RateLimited');
    assert.ok(res.headers['retry-after']);
    assert.equal((await post('other', 10)).statusCode, 400, 'another connector has its own bucket');
    const limited = await metric(h, 'sso_rate_limited_total{');
    assert.ok(limited.some((l) => l.includes('scope="connector"') && l.includes('endpoint="acs"')), limited.join('\n'));
  });

  it('ignores X-Forwarded-For without --trust-proxy: a client cannot get a fresh bucket per request', async () => {
    const h = await harness({ rateLimit: { perAddress: 1 } });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await login(h, { xff: `192.0.2.${i}` })).statusCode);
    assert.deepEqual(codes, [302, 302, 429, 429]);
  });

  it('with --trust-proxy keys on the last X-Forwarded-For entry, the one the proxy appended', async () => {
    const h = await harness({ rateLimit: { perAddress: 1 }, trustProxy: true });
    // All through one ingress (same socket address), two real clients.
    assert.equal((await login(h, { remoteAddress: '10.0.0.2', xff: '192.0.2.1' })).statusCode, 302);
    assert.equal((await login(h, { remoteAddress: '10.0.0.2', xff: '192.0.2.1' })).statusCode, 302);
    assert.equal((await login(h, { remoteAddress: '10.0.0.2', xff: '192.0.2.1' })).statusCode, 429);
    assert.equal((await login(h, { remoteAddress: '10.0.0.2', xff: '192.0.2.2' })).statusCode, 302, 'another client behind the same ingress');
    // A client-supplied entry left of the proxy's does not make a new key.
    assert.equal((await login(h, { remoteAddress: '10.0.0.2', xff: '6.6.6.6, 192.0.2.1' })).statusCode, 429);
  });

  it('does not count requests to unknown connectors', async () => {
    const h = await harness({ rateLimit: { perAddress: 1, perConnector: 1 } });
    for (let i = 0; i < 20; i++) {
      assertRefused(await login(h, { connector: `nope-${i}` }), 404, 'ConnectorNotFound');
      assert.equal((await h.app.inject({ method: 'POST', url: `/saml/default/nope-${i}/acs`, remoteAddress: '203.0.113.7', headers: FORM, payload: 'SAMLResponse=AAAA' })).statusCode, 404);
    }
    assert.equal((await login(h)).statusCode, 302, 'the address still has its whole bucket');
    assert.equal((await login(h)).statusCode, 302);
  });
});

describe('bucket tables', () => {
  it('stay bounded however many addresses come, dropping the oldest bucket', () => {
    const t = new BucketTable(1, 100);
    for (let i = 0; i < 10_000; i++) assert.equal(t.take(`10.0.${i >> 8}.${i & 255}`, 0), 0);
    assert.equal(t.size, 100);
  });

  it('refill at the configured rate and say how long to wait', () => {
    const t = new BucketTable(2);
    for (let i = 0; i < 4; i++) assert.equal(t.take('a', 0), 0);
    assert.equal(t.take('a', 0), 1);
    assert.equal(t.take('a', 499), 1);
    assert.equal(t.take('a', 1000), 0, 'half a second refills one token');
  });

  it('count IPv6 clients per /64 and IPv4-mapped addresses as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  });

  it('a limiter with no limit set has no tables', () => {
    const l = new RateLimiter({}, false);
    assert.equal(l.byAddress, undefined);
    assert.equal(l.byConnector, undefined);
  });
});
