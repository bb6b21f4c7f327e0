import assert from 'node:assert/strict';
import { beforeAll, describe, it } from '@jest/globals';
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
beforeAll(async () => {
  [idp, next] = await Promise.all([generateSigningIdentity({ commonName: 'idp' }), generateSigningIdentity({ commonName: 'next' })]);
});

const obj = (o: unknown) => o as StoredObject;

/** Like the Kubernetes store: a Secret's data is there only once it is in the interest set; what it was told is kept. */
class InterestStore extends MemoryStore {
  interest = new Set<string>();
  told: string[] = [];
  override get(kind: Parameters<MemoryStore['get']>[0], namespace: string, name: string) {
    if (kind === 'Secret' && !this.interest.has(`${namespace}/${name}`)) return undefined;
    return super.get(kind, namespace, name);
  }
  changeInterest(kind: 'Secret' | 'ConfigMap', add: readonly string[], remove: readonly string[]): void {
    if (kind !== 'Secret') return;
    for (const k of remove) this.interest.delete(k);
    for (const k of add) this.interest.add(k);
    if (add.length + remove.length > 0) this.told.push(`+${add.join(',')} -${remove.join(',')}`);
  }
}

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

/** Records each connector runtime the registry is given: Serving, or its not-ready reason. */
function servedStates(registry: Registry): string[] {
  const seen: string[] = [];
  const original = registry.setConnector.bind(registry);
  registry.setConnector = (key, runtime) => {
    if (runtime) seen.push(runtime.ready ? 'Serving' : (runtime.notReadyReason ?? 'NotReady'));
    original(key, runtime);
  };
  return seen;
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
    assert.deepEqual(snap.bindings.lookup('default/a', 'alice@x.io'), { active: true, groups: ['dev'], bindings: ['default/alice'], phases: ['Active'] });
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
    assert.equal(t.registry.current().bindings.lookup('default/nope', 'i@x.io').active, true);
    // Edited: no change for its bindings. Gone (deleted or refused): Invalid again, at once in the index.
    t.store.upsert(obj(connector('nope', { displayName: 'edited' })));
    assert.equal(t.registry.current().bindings.get('default', 'invalid')?.phase, 'Active');
    t.store.delete('SsoConnector', 'default', 'nope');
    assert.equal(t.registry.current().bindings.get('default', 'invalid')?.phase, 'Invalid');
    await t.controller.idle();
    assert.equal(phase('invalid'), 'Invalid');
    t.store.upsert(obj(connector('nope')));
    assert.equal(t.registry.current().bindings.get('default', 'invalid')?.phase, 'Active');
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
    const store = new InterestStore({
      objects: [
        secret('idp-cert', { 'tls.crt': idp.certPem }),
        secret('sp-signing', { 'tls.crt': next.certPem, 'tls.key': next.keyPem }),
        connector('a', {}, { sp: { signAuthnRequests: true, signingKeySecretRef: { name: 'sp-signing' } } }),
      ].map(obj),
    });
    const registry = new Registry();
    const status = new MemoryStatusSink();
    // What the request path would have served at each step (status writes are
    // coalesced, so they could hide a passing SecretNotFound).
    const seen = servedStates(registry);
    const controller = new Controller({ store, registry, status: writerFor(status), metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await controller.start();
    await controller.idle();
    assert.deepEqual(seen, ['Serving'], 'never SecretNotFound on the way');
    assert.ok(registry.current().connectors.get('default/a')?.saml?.spSigning);
    assert.deepEqual([...store.interest].sort(), ['default/idp-cert', 'default/sp-signing']);
    await controller.stop();
  });
});

describe('Controller: interest in Secrets, counted', () => {
  it('keeps a Secret two connectors read until neither does; a connector switched to another Secret gives up the first', async () => {
    const shared = { idp: { certificates: [{ secretRef: { name: 'shared', key: 'tls.crt' } }] } };
    const store = new InterestStore({ objects: [secret('shared', { 'tls.crt': idp.certPem }), secret('own', { 'tls.crt': next.certPem }), connector('a', {}, shared), connector('b', {}, shared)].map(obj) });
    const registry = new Registry();
    const controller = new Controller({ store, registry, status: writerFor(new MemoryStatusSink()), metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await controller.start();
    await controller.idle();
    assert.deepEqual([...store.interest], ['default/shared']);
    assert.deepEqual(store.told, ['+default/shared -'], 'told once, for both connectors');
    store.delete('SsoConnector', 'default', 'a');
    await controller.idle();
    assert.deepEqual([...store.interest], ['default/shared'], 'b still reads it');
    assert.equal(registry.current().connectors.get('default/b')?.ready, true);
    store.upsert(obj(connector('b', {}, { idp: { certificates: [{ secretRef: { name: 'own', key: 'tls.crt' } }] } })));
    await controller.idle();
    assert.deepEqual([...store.interest], ['default/own'], 'the first one given up once nobody reads it');
    assert.equal(registry.current().connectors.get('default/b')?.saml?.idp.certificates[0]?.fingerprint !== undefined, true);
    assert.equal(registry.current().connectors.get('default/b')?.ready, true, 'never served without its new Secret');
    store.delete('SsoConnector', 'default', 'b');
    await controller.idle();
    assert.deepEqual([...store.interest], []);
    await controller.stop();
  });
});

describe('Controller: IdP metadata in a Secret', () => {
  it('a rotation of the metadata Secret (a new IdP key, the old one withdrawn) reaches the registry', async () => {
    const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
    const doc = (key: SigningIdentity) =>
      `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/md"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
      `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body(key.certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;
    const c = connector('m');
    (c.spec.saml as Record<string, unknown>).idp = { metadata: { secretRef: { name: 'idp-md', key: 'metadata.xml' } } };
    const t = await setup([secret('idp-md', { 'metadata.xml': doc(idp) }), c]);
    const fingerprints = () => t.registry.current().connectors.get('default/m')?.saml?.idp.certificates.map((x) => x.fingerprint);
    const before = fingerprints();
    assert.equal(before?.length, 1);
    t.store.upsert(obj(secret('idp-md', { 'metadata.xml': doc(next) })));
    await t.controller.idle();
    const after = fingerprints();
    assert.equal(after?.length, 1);
    assert.notDeepEqual(after, before, 'the withdrawn key is no longer trusted');
    await t.controller.stop();
  });
});

describe('Controller start', () => {
  it('reconciles nothing and writes no status until the store has synced (a connector listed before its Secret is never SecretNotFound)', async () => {
    // Like the Kubernetes store: the connectors' list may arrive before the Secrets'.
    class SyncingStore extends MemoryStore {
      override async start(): Promise<void> {
        this.upsert(obj(connector('a')));
        this.upsert(obj(binding('alice', 'alice@x.io', ['a'])));
        await new Promise((r) => setTimeout(r, 20));
        this.upsert(obj(secret('idp-cert', { 'tls.crt': idp.certPem })));
        await super.start();
      }
    }
    const store = new SyncingStore();
    const registry = new Registry();
    const seen = servedStates(registry);
    const recorded: string[] = [];
    const sink = new MemoryStatusSink();
    const controller = new Controller({
      store,
      registry,
      status: writerFor(sink, { events: { record: async (o, _t, reason) => void recorded.push(`${o.name} ${reason}`) } }),
      metrics: createMetrics(),
      logger: createLogger('silent'),
      publicURL: 'https://sso.example.test',
    });
    await controller.start();
    assert.equal(registry.current().bindings.lookup('default/a', 'alice@x.io').active, true, 'serving once started');
    await controller.idle();
    assert.deepEqual(seen, ['Serving']);
    assert.deepEqual(recorded, ['a ConnectorReady']);
    assert.equal(sink.writes, 2, 'one status each for the connector and the binding');
    await controller.stop();
  });
});

describe('Controller: binding statuses after a restart', () => {
  it('looks at every binding at once; only those whose status must be written wait, as keys, while the writer is full', async () => {
    const CURRENT = 20_000;
    const STALE = 6_000;
    const objects: unknown[] = [secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a')];
    for (let i = 0; i < CURRENT + STALE; i++) objects.push(binding(`u${i}`, `u${i}@x.io`, ['a']));
    // Before the restart: every status written once.
    const before = new MemoryStatusSink();
    const first = new Controller({ store: new MemoryStore({ objects: objects.map(obj) }), registry: new Registry(), status: writerFor(before), metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await first.start();
    await first.idle();
    await first.stop();
    // After it: the first 20,000 carry their status, the other 6,000 none (written by nobody yet).
    const carried = (kind: string, ns: string, name: string) =>
      kind === 'UserBinding' && Number(name.slice(1)) >= CURRENT ? undefined : before.get(kind as 'UserBinding', ns, name);
    class RestartedStore extends MemoryStore {
      observedStatus(kind: string, ns: string, name: string) {
        return carried(kind, ns, name);
      }
    }
    // Writes hang until released: the writer fills up to its limit (5,000) and stays full.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    class GatedSink extends MemoryStatusSink {
      override async write(...args: Parameters<MemoryStatusSink['write']>) {
        await gate;
        return super.write(...args);
      }
    }
    const sink = new GatedSink();
    const status = new StatusWriter({ target: sink, logger: createLogger('silent'), concurrency: 1, observed: carried });
    const store = new RestartedStore({ objects: objects.map(obj) });
    const controller = new Controller({ store, registry: new Registry(), status, metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    const depth = (queue: string) => controller.queueStats().find((q) => q.queue === queue)!.depth;
    await controller.start();
    // The 20,000 that need nothing are looked at while the writer is full; 1,000 that need a write wait as keys.
    const t0 = performance.now();
    while (depth('binding_status') > STALE - 5_000) {
      if (performance.now() - t0 > 10_000) throw new Error(`binding_status still ${depth('binding_status')} after 10 s (status_bindings ${depth('status_bindings')})`);
      await new Promise((r) => setImmediate(r));
    }
    // Give the workers a moment more: nothing else may move while the writer is full.
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    // (The worker of the `write` lane holds one key while it waits for room; the writer has one write in hand.)
    const waiting = depth('binding_status');
    assert.ok(waiting >= STALE - 5_000 - 2 && waiting <= STALE - 5_000, `binding_status ${waiting}`);
    assert.ok(depth('status_bindings') >= 4_999 && depth('status_bindings') <= 5_000, `status_bindings ${depth('status_bindings')}`);
    assert.equal(sink.writes, 0);
    // Released: every stale one is written, none of the current ones.
    release();
    await controller.idle();
    const bindingWrites = sink.list().filter((e) => e.kind === 'UserBinding');
    assert.equal(bindingWrites.length, STALE);
    assert.ok(bindingWrites.every((e) => Number(e.name.slice(1)) >= CURRENT));
    assert.equal(sink.get('UserBinding', 'default', `u${CURRENT + STALE - 1}`)?.phase, 'Active');
    await controller.stop();
    status.close();
  });
});

describe('Controller: trust changes first, whatever the backlog', () => {
  it('updates the registry before it waits on the store: a deleted connector is gone while its Secret bookkeeping hangs', async () => {
    let hang = false;
    class HangingStore extends MemoryStore {
      changeInterest(): Promise<void> {
        return hang ? new Promise(() => {}) : Promise.resolve();
      }
    }
    const store = new HangingStore({ objects: [secret('idp-cert', { 'tls.crt': idp.certPem }), connector('a'), connector('b')].map(obj) });
    const registry = new Registry();
    const status = writerFor(new MemoryStatusSink());
    const controller = new Controller({ store, registry, status, metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await controller.start();
    hang = true;
    store.delete('SsoConnector', 'default', 'a');
    await until(() => !registry.current().connectors.has('default/a'));
    // And a certificate change of another connector is not held up by it (the trust worker is free).
    const fp = () => registry.current().connectors.get('default/b')?.saml?.idp.certificates[0]?.fingerprint;
    const before = fp();
    store.upsert(obj(secret('idp-cert', { 'tls.crt': next.certPem })));
    await until(() => fp() !== before);
    status.close();
  });

  /** A status target that takes 2 ms a write: 20,000 binding statuses take 40 s to drain. */
  class SlowSink extends MemoryStatusSink {
    override async write(...args: Parameters<MemoryStatusSink['write']>) {
      await new Promise((r) => setTimeout(r, 2));
      return super.write(...args);
    }
  }

  async function withBacklog() {
    const store = new MemoryStore({ objects: [secret('idp-cert', { 'tls.crt': idp.certPem }), secret('other', { 'tls.crt': next.certPem }), connector('a'), binding('alice', 'alice@x.io', ['a'])].map(obj) });
    const registry = new Registry();
    const status = new StatusWriter({ target: new SlowSink(), logger: createLogger('silent'), concurrency: 1 });
    const controller = new Controller({ store, registry, status, metrics: createMetrics(), logger: createLogger('silent'), publicURL: 'https://sso.example.test' });
    await controller.start();
    await controller.idle();
    // The burst: 20,000 new bindings, each wanting a status write, and 200 new connectors to compile.
    for (let i = 0; i < 20_000; i++) store.upsert(obj(binding(`u${i}`, `u${i}@x.io`, ['a'])));
    for (let i = 0; i < 200; i++) store.upsert(obj(connector(`new${i}`, {}, { idp: { certificates: [{ secretRef: { name: 'other', key: 'tls.crt' } }] } })));
    const depth = (queue: string) => controller.queueStats().find((q) => q.queue === queue)!.depth;
    assert.ok(depth('binding_status') + depth('status_bindings') > 15_000, 'a backlog of binding statuses');
    assert.ok(depth('reconcile') > 150, 'a backlog of new connectors');
    return { store, registry, status, controller, depth };
  }

  /** Waits (yielding to the event loop) until cond() holds; returns the ms it took. */
  async function until(cond: () => boolean): Promise<number> {
    const t0 = performance.now();
    while (!cond()) {
      if (performance.now() - t0 > 10_000) throw new Error('not within 10 s');
      await new Promise((r) => setImmediate(r));
    }
    return performance.now() - t0;
  }

  it('a certificate removal reaches the registry before the waiting connectors and binding statuses', async () => {
    const t = await withBacklog();
    t.store.upsert(obj(secret('idp-cert', { 'tls.crt': next.certPem })));
    const fp = () => t.registry.current().connectors.get('default/a')?.saml?.idp.certificates[0]?.fingerprint;
    const before = fp();
    const ms = await until(() => fp() !== before);
    assert.ok(t.depth('reconcile') > 100, `new connectors still waiting: ${t.depth('reconcile')}`);
    assert.ok(t.depth('status_bindings') + t.depth('binding_status') > 10_000, 'binding statuses still waiting');
    console.log(`# certificate removal served after ${ms.toFixed(1)} ms, ${t.depth('reconcile')} connectors and ${t.depth('status_bindings') + t.depth('binding_status')} binding statuses still waiting`);
    await t.controller.stop();
    t.status.close();
  });

  it('a binding denied or deleted, or a connector disabled, is served at once', async () => {
    const t = await withBacklog();
    assert.equal(t.registry.current().bindings.lookup('default/a', 'alice@x.io').active, true);
    t.store.upsert(obj(binding('alice', 'alice@x.io', ['a'], { approval: 'Denied' })));
    // Synchronously: the index changes with the event, no queue in between.
    assert.equal(t.registry.current().bindings.lookup('default/a', 'alice@x.io').active, false);
    t.store.delete('UserBinding', 'default', 'u7');
    assert.equal(t.registry.current().bindings.lookup('default/a', 'u7@x.io').active, false);

    t.store.upsert(obj(connector('a', { enabled: false })));
    const ms = await until(() => t.registry.current().connectors.get('default/a')?.enabled === false);
    assert.ok(t.depth('reconcile') > 100, `new connectors still waiting: ${t.depth('reconcile')}`);
    console.log(`# connector disabled after ${ms.toFixed(1)} ms with ${t.depth('reconcile')} connectors waiting`);
    await t.controller.stop();
    t.status.close();
  });
});
