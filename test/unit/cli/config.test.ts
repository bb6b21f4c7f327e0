import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ConfigError, parseRunArgs, type RunConfig } from '../../../src/config.ts';

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): RunConfig {
  const c = parseRunArgs(argv, env);
  assert.notEqual(c, 'help');
  return c as RunConfig;
}

describe('run flags', () => {
  it('has the documented defaults', () => {
    const c = parse(['--manifests', 'examples']);
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(c.adminListen, { host: '0.0.0.0', port: 9090 });
    assert.equal(c.publicURL, 'http://localhost:8080');
    assert.equal(c.trustProxy, false);
    assert.equal(c.demoIdp, false);
    assert.deepEqual(c.allowedRedirectHosts, []);
  });

  it('reads SSO_* variables and lets a flag win over its variable', () => {
    const env = { SSO_PUBLIC_URL: 'https://sso.example.com/base/', SSO_LISTEN: '127.0.0.1:1234', SSO_TRUST_PROXY: 'true', SSO_ALLOWED_REDIRECT_HOSTS: 'a.example.com, .b.example.com' };
    const c = parse(['--listen', '[::1]:99'], env);
    assert.equal(c.publicURL, 'https://sso.example.com/base');
    assert.deepEqual(c.listen, { host: '::1', port: 99 });
    assert.equal(c.trustProxy, true);
    assert.deepEqual(c.allowedRedirectHosts, ['a.example.com', '.b.example.com']);
  });

  it('refuses a plain-http public URL that is not loopback', () => {
    assert.throws(() => parse(['--public-url', 'http://sso.example.com']), (e: Error) => e instanceof ConfigError && /https/.test(e.message));
    assert.equal(parse(['--public-url', 'http://127.0.0.1:8080']).publicURL, 'http://127.0.0.1:8080');
  });

  it('refuses malformed values with a message naming the flag', () => {
    assert.throws(() => parse(['--listen', 'nope']), /--listen must be HOST:PORT/);
    assert.throws(() => parse(['--listen', '1.2.3.4:70000']), /--listen/);
    assert.throws(() => parse(['--log-level', 'loud']), /--log-level/);
    assert.throws(() => parse([], { SSO_TRUST_PROXY: 'maybe' }), /SSO_TRUST_PROXY/);
    assert.throws(() => parse(['--bogus']), ConfigError);
    assert.throws(() => parse(['--public-url', 'https://x.example.com/?a=1']), /query/);
  });
});

describe('cluster flags', () => {
  it('parses namespaces, lease namespace and redis URL', () => {
    const c = parse(['--kubeconfig', '/k', '--namespaces', 'team-a, team-b', '--lease-namespace', 'sso-system', '--redis-url', 'redis://127.0.0.1:6379']);
    assert.deepEqual(c.namespaces, ['team-a', 'team-b']);
    assert.equal(c.leaseNamespace, 'sso-system');
    assert.equal(c.redisURL, 'redis://127.0.0.1:6379');
    assert.equal(c.kubeconfig, '/k');
  });

  it('takes --kube-qps (or SSO_KUBE_QPS) from 1 to 1000, in cluster mode only', () => {
    assert.equal(parse([]).kubeQPS, undefined, 'default applied by the cluster mode (100)');
    assert.equal(parse(['--kube-qps', '200']).kubeQPS, 200);
    assert.equal(parse([], { SSO_KUBE_QPS: '1000' }).kubeQPS, 1000);
    for (const bad of ['0', '-1', '1.5', '1001', '01', 'fast']) {
      assert.throws(() => parse(['--kube-qps', bad]), (e: Error) => e instanceof ConfigError && /--kube-qps/.test(e.message), bad);
    }
    assert.throws(() => parse(['--manifests', 'examples', '--kube-qps', '5']), (e: Error) => e instanceof ConfigError && /cluster mode/.test(e.message));
  });

  it('takes --request-timeout (or SSO_REQUEST_TIMEOUT) in whole seconds from 1 to 3600', () => {
    assert.equal(parse([]).requestTimeoutSeconds, undefined, 'default applied by the listener (60 s)');
    assert.equal(parse(['--request-timeout', '300']).requestTimeoutSeconds, 300);
    assert.equal(parse([], { SSO_REQUEST_TIMEOUT: '3600' }).requestTimeoutSeconds, 3600);
    assert.equal(parse(['--manifests', 'examples', '--request-timeout', '1']).requestTimeoutSeconds, 1, 'both modes');
    for (const bad of ['0', '-1', '1.5', '3601', '01', '60s', '']) {
      assert.throws(() => parse(['--request-timeout', bad]), (e: Error) => e instanceof ConfigError && /--request-timeout/.test(e.message), JSON.stringify(bad));
    }
  });

  it('leaves rate limits off unless --rate-limit-per-address / --rate-limit-per-connector (or their variables) set one', () => {
    assert.equal(parse([]).rateLimit, undefined);
    assert.equal(parse(['--rate-limit-per-address', '0']).rateLimit, undefined, '0 is off');
    assert.deepEqual(parse(['--rate-limit-per-address', '20']).rateLimit, { perAddress: 20 });
    assert.deepEqual(parse(['--rate-limit-per-connector', '500'], { SSO_RATE_LIMIT_PER_ADDRESS: '5' }).rateLimit, { perAddress: 5, perConnector: 500 });
    assert.deepEqual(parse(['--manifests', 'examples', '--rate-limit-per-connector', '1']).rateLimit, { perConnector: 1 }, 'standalone too');
    for (const bad of ['-1', '1.5', '01', 'lots', '1000001']) {
      assert.throws(() => parse(['--rate-limit-per-address', bad]), (e: Error) => e instanceof ConfigError && /--rate-limit-per-address/.test(e.message), bad);
      assert.throws(() => parse(['--rate-limit-per-connector', bad]), (e: Error) => e instanceof ConfigError && /--rate-limit-per-connector/.test(e.message), bad);
    }
  });

  it('refuses cluster flags with --manifests and malformed names', () => {
    assert.throws(() => parse(['--manifests', 'x', '--namespaces', 'a']), /cannot be combined with --manifests/);
    assert.throws(() => parse(['--namespaces', 'Team_A']), /not a namespace name/);
    assert.throws(() => parse(['--redis-url', 'http://x']), /redis:\/\//);
  });
});

describe('--cookie-domain', () => {
  it('accepts a domain that covers the public host', () => {
    assert.equal(parse(['--public-url', 'https://sso.example.com', '--cookie-domain', 'example.com']).cookieDomain, 'example.com');
    assert.equal(parse(['--public-url', 'https://sso.example.com', '--cookie-domain', '.example.com']).cookieDomain, '.example.com');
  });

  it('refuses a malformed domain or one that does not cover the public host', () => {
    assert.throws(() => parse(['--public-url', 'https://sso.example.com', '--cookie-domain', 'example.com:443']), /domain name/);
    assert.throws(() => parse(['--public-url', 'https://sso.example.com', '--cookie-domain', 'other.com']), /does not cover/);
    assert.throws(() => parse(['--public-url', 'https://sso.example.com', '--cookie-domain', 'ample.com']), /does not cover/);
  });
});
