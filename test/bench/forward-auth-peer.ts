// The peer of the forward-auth benchmark: oauth2-proxy v7 (built from its Go
// module by tools/peers/oauth2-proxy/build.sh), cookie session store, against
// a loopback oidc-provider (test/support/oidc-provider.ts), request and auth
// logging off, pinned to a core by the caller. Signed in once through
// /oauth2/start as a browser would; its session cookie(s) then go to
// /oauth2/auth (202 with X-Auth-Request-User/-Email, like our 200).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BrowserClient } from '../support/browser-client.ts';
import { loginAtProvider, startOpenIdProvider, type TestOpenIdProvider } from '../support/oidc-provider.ts';
import { freePort } from '../support/system-deps.ts';

const BUILD = fileURLToPath(new URL('../../tools/peers/oauth2-proxy/build.sh', import.meta.url));

export interface PeerServer {
  port: number;
  pid: number;
  version: string;
  /** Cookie header of a signed-in session. */
  cookie: string;
  stop(): Promise<void>;
}

/** Path of the oauth2-proxy binary (built on first use, about 3 minutes), or why it is unavailable. */
export function buildOauth2Proxy(): { bin: string } | { unavailable: string } {
  const r = spawnSync(BUILD, [], { encoding: 'utf8', timeout: 15 * 60_000 });
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || bin === '') return { unavailable: `${BUILD} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}` };
  return { bin };
}

export async function startOauth2Proxy(bin: string, pin: string[]): Promise<PeerServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let op: TestOpenIdProvider | undefined;
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  op = await startOpenIdProvider({ redirectURIs: [`${base}/oauth2/callback`] });
  op.accounts.set('alice', { sub: 'alice', email: 'alice@example.com', email_verified: true });
  const args = [
    `--http-address=127.0.0.1:${port}`,
    '--provider=oidc',
    `--oidc-issuer-url=${op.issuer}`,
    `--client-id=${op.clientID}`,
    `--client-secret=${op.clientSecret}`,
    `--cookie-secret=${randomBytes(32).toString('base64url').slice(0, 32)}`,
    '--cookie-secure=false',
    '--email-domain=*',
    `--redirect-url=${base}/oauth2/callback`,
    '--upstream=static://202',
    '--code-challenge-method=S256',
    '--set-xauthrequest',
    '--request-logging=false',
    '--auth-logging=false',
    '--standard-logging=false',
  ];
  const [cmd, ...pre] = [...pin, bin];
  const child = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await op?.stop();
    op = undefined;
  };
  try {
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`oauth2-proxy exited with ${child.exitCode}`);
      const up = await fetch(`${base}/ping`).then((r) => r.status === 200, () => false);
      if (up) break;
      if (Date.now() > until) throw new Error('oauth2-proxy did not answer /ping within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const browser = new BrowserClient();
    const { callback } = await loginAtProvider(browser, `${base}/oauth2/start?rd=%2F`, 'alice');
    const back = await browser.get(callback, { followRedirects: false });
    if (back.status !== 302) throw new Error(`oauth2-proxy callback answered ${back.status}: ${back.body.slice(0, 300)}`);
    const cookie = browser.cookies
      .cookiesFor(`${base}/oauth2/auth`)
      .filter((c) => c.name.startsWith('_oauth2_proxy') && !c.name.endsWith('_csrf'))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const probe = await fetch(`${base}/oauth2/auth`, { headers: { cookie } });
    if (probe.status !== 202 || probe.headers.get('x-auth-request-email') !== 'alice@example.com') {
      throw new Error(`oauth2-proxy /oauth2/auth answered ${probe.status} (${probe.headers.get('x-auth-request-email')}) to the signed-in cookie`);
    }
    return { port, pid: child.pid!, version, cookie, stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
}
