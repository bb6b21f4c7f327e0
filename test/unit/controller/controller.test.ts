import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { Controller } from '../../../src/controller/controller.ts';
import { Registry } from '../../../src/controller/registry.ts';
import { MemoryStatusSink } from '../../../src/controller/status-sink.ts';
import { StatusWriter, type StatusWriterOptions } from '../../../src/controller/status-writer.ts';
import { generateSigningIdentity, type SigningIdentity } from '../../../src/demo-idp/keys.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { createLogger } from '../../../src/operator.ts';
import { MemoryStore } from '../../../src/store/memory-store.ts';
import type { StoredObject } from '../../../src/store/types.ts';
import { binding, connector, secret } from './fixtures.ts';

let idp: SigningIdentity;
let next: SigningIdentity;
before(async () => {
  [idp, next] = await Promise.all([generateSigningIdentity({ commonName: 'idp' }), generateSigningIdentity({ commonName: 'next' })]);
});

const obj = (o: unknown) => o as StoredObject;

async function setup(objects: unknown[]) {
  const store = new MemoryStore({ objects: objects.map(obj) });
  const registry = new Registry();
  const status = new MemoryStatusSink();
  const metrics = createMetrics();
  const controller = new Controller({ store, registry, status: writerFor(status), metrics, logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
  await controller.start();
  await controller.idle();
  return { store, registry, status, metrics, controller };
}

function writerFor(target: MemoryStatusSink, extra: Partial<StatusWriterOptions> = {}): StatusWriter {
  return new StatusWriter({ target, logger: createLogger('silent'), ...extra });
}

function ready(status: MemoryStatusSink, name: string) {
  const s = status.get('SsoConnector', 'default', name) as { conditions: { type: string; status: string; reason: string }[] } | undefined;
  return s?.conditions.find((c) => c.type === 'Ready');
}

describe('Controller', () => {
  it('compiles connectors and bindings into the registry and publishes status', async () => {
    const t = await setup([secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a'), binding('alice', 'alice@x.io', ['a'], { groups: ['dev'] })]);
    const snap = t.registry.current();
    assert.equal(snap.connectors.get('default/a')?.ready, true);
    assert.deepEqual(snap.bindings.lookup('default/a', 'alice@x.io'), { active: true, groups: ['dev'], bindings: ['default/alice'] });
    assert.equal(ready(t.status, 'a')?.status, 'True');
    assert.equal((t.status.get('UserBinding', 'default', 'alice') as { phase: string }).phase, 'Active');
    assert.match(await t.metrics.registry.metrics(), /sso_connectors\{state="ready"\} 1/);
    await t.controller.stop();
  });

  it('re-queues exactly the connectors that reference a changed Secret, and swaps in the new certificates', async () => {
    const t = await setup([
      secret('idp-cert', { 'tls.crt': idp.certPem }),
      secret('other', { 'tls.crt': idp.certPem }),
      connector('a'),
      connector('b', {}, { idp: { certificates: [{ secretRef: { name: 'other', key: 'tls.crt' } }] } }),
    ]);
    const reconciles = async () => Number(/sso_reconcile_total\{kind="SsoConnector",result="success"\} (\d+)/.exec(await t.metrics.registry.metrics())?.[1]);
    const before = await reconciles();
    t.store.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem + next.certPem })));
    await t.controller.idle();
    assert.equal((await reconciles()) - before, 1, 'only connector a is reconciled');
    assert.equal(t.registry.current().connectors.get('default/a')?.saml?.idp.certificates.length, 2);
    assert.equal(t.registry.current().connectors.get('default/b')?.saml?.idp.certificates.length, 1);
    await t.controller.stop();
  });

  it('fails closed when a referenced Secret is deleted, and recovers when it returns', async () => {
    const t = await setup([secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')]);
    t.store.delete('Secret', 'default', 'idp-cert');
    await t.controller.idle();
    assert.equal(t.registry.current().connectors.get('default/a')?.ready, false);
    assert.equal(ready(t.status, 'a')?.reason, 'SecretNotFound');
    t.store.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem })));
    await t.controller.idle();
    assert.equal(t.registry.current().connectors.get('default/a')?.ready, true);
    await t.controller.stop();
  });

  it('writes status only when it changed', async () => {
    const t = await setup([secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')]);
    const writes = t.status.writes;
    // Same content again: a resync must not produce a write.
    t.store.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem })));
    t.store.upsert(obj({ ...secret('idp-cert', { 'tls.crt': idp.certPem }), metadata: { name: 'idp-cert', namespace: 'default', labels: { x: 'y' } } }));
    await t.controller.idle();
    assert.equal(t.status.writes, writes);
    await t.controller.stop();
  });

  it('gives binding phases: Active, PendingApproval, Denied, Invalid (no such connector)', async () => {
    const t = await setup([
      secret('idp-cert', { 'tls.crt': idp.certPem }),
      connector('a'),
      binding('ok', 'a@x.io', ['a']),
      binding('pending', 'p@x.io', ['a'], { approval: 'Pending' }),
      binding('denied', 'd@x.io', ['a'], { approval: 'Denied' }),
      binding('invalid', 'i@x.io', ['nope']),
    ]);
    const phase = (n: string) => (t.status.get('UserBinding', 'default', n) as { phase: string }).phase;
    assert.equal(phase('ok'), 'Active');
    assert.equal(phase('pending'), 'PendingApproval');
    assert.equal(phase('denied'), 'Denied');
    assert.equal(phase('invalid'), 'Invalid');
    assert.equal(t.registry.current().bindings.lookup('default/a', 'p@x.io').active, false);
    // The connector appears: the binding becomes Active without being edited.
    t.store.upsert(obj(connector('nope')));
    await t.controller.idle();
    assert.equal(phase('invalid'), 'Active');
    await t.controller.stop();
  });

  it('keeps a connector whose manifest became invalid in the registry as not ready (503), with the problem as reason', async () => {
    const t = await setup([secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')]);
    t.store.setProblems([
      { file: 'a.yaml', documentIndex: 0, path: '$.spec.saml.idp.ssoURL', reason: 'SchemaViolation', message: 'must be a URL', object: { kind: 'SsoConnector', namespace: 'default', name: 'a' } },
    ]);
    t.store.delete('SsoConnector', 'default', 'a');
    await t.controller.idle();
    const rt = t.registry.current().connectors.get('default/a');
    assert.equal(rt?.ready, false);
    assert.equal(rt?.notReadyReason, 'ManifestInvalid');
    assert.match(ready(t.status, 'a')?.reason ?? '', /ManifestInvalid/);
    t.store.setProblems([]);
    t.store.upsert(obj(connector('a')));
    await t.controller.idle();
    assert.equal(t.registry.current().connectors.get('default/a')?.ready, true);
    await t.controller.stop();
  });

  it('removes a deleted connector from the registry and its certificate metric', async () => {
    const t = await setup([secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')]);
    assert.match(await t.metrics.registry.metrics(), /sso_idp_certificate_not_after_seconds\{namespace="default",connector="a"/);
    t.store.delete('SsoConnector', 'default', 'a');
    await t.controller.idle();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.registry.current().connectors.get('default/a'), undefined);
    assert.equal(t.status.get('SsoConnector', 'default', 'a'), undefined);
    assert.doesNotMatch(await t.metrics.registry.metrics(), /sso_idp_certificate_not_after_seconds\{namespace="default",connector="a"/);
    await t.controller.stop();
  });
});

describe('Controller events', () => {
  it('records transitions, not repeats: ready, rotated, invalid', async () => {
    const recorded: string[] = [];
    const store = new MemoryStore({ objects: [secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')].map(obj) });
    const controller = new Controller({
      store,
      registry: new Registry(),
      status: writerFor(new MemoryStatusSink(), { events: { record: async (o, type, reason) => void recorded.push(`${o.kind}/${o.name} ${type} ${reason}`) } }),
      metrics: createMetrics(),
      logger: createLogger('silent'),
      publicURL: 'https://sso.example.test',
    });
    await controller.start();
    await controller.idle();
    assert.deepEqual(recorded, ['SsoConnector/a Normal ConnectorReady']);
    store.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem })));
    await controller.idle();
    assert.equal(recorded.length, 1, 'an unchanged reconcile records nothing');
    store.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem + next.certPem })));
    await controller.idle();
    assert.equal(recorded[1], 'SsoConnector/a Normal CertificateRotated');
    store.delete('Secret', 'default', 'idp-cert');
    await controller.idle();
    assert.equal(recorded[2], 'SsoConnector/a Warning ConnectorInvalid');
    assert.equal(recorded.length, 3);
    await controller.stop();
  });

  it('declares every Secret a connector reads (IdP certificates and the SP signing key) before compiling it', async () => {
    // Like the Kubernetes store: a Secret's data is there only once it is in the interest set.
    class InterestStore extends MemoryStore {
      interest = new Set<string>();
      override get(kind: Parameters<MemoryStore['get']>[0], namespace: string, name: string) {
        if (kind === 'Secret' && !this.interest.has(`${namespace}/${name}`)) return undefined;
        return super.get(kind, namespace, name);
      }
      setInterest(_kind: 'Secret' | 'ConfigMap', keys: ReadonlySet<string>): void {
        this.interest = new Set(keys);
      }
    }
    const store = new InterestStore({
      objects: [
        secret('idp-cert', { 'tls.crt': idp.certPem }),
        secret('sp-signing', { 'tls.crt': next.certPem, 'tls.key': next.keyPem }),
        connector('a', {}, { sp: { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } } }),
      ].map(obj),
    });
    const registry = new Registry();
    const status = new MemoryStatusSink();
    const seen: string[] = [];
    // What the request path would have served at each step (status writes are
    // coalesced, so they could hide a passing SecretNotFound).
    const original = registry.setConnector.bind(registry);
    registry.setConnector = (key, runtime) => {
      if (runtime) seen.push(runtime.ready ? 'Serving' : (runtime.notReadyReason ?? 'NotReady'));
      original(key, runtime);
    };
    const controller = new Controller({ store, registry, status: writerFor(status), metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await controller.start();
    await controller.idle();
    assert.deepEqual(seen, ['Serving'], 'never SecretNotFound on the way');
    assert.ok(registry.current().connectors.get('default/a')?.saml?.spSigning);
    assert.deepEqual([...store.interest].sort(), ['default/idp-cert', 'default/sp-signing']);
    await controller.stop();
  });
});
