// transitionEvents: which status changes deserve an Event, table-driven; and the
// recorder's aggregation and leader gate with a recording transport. The real
// apiserver side: test/integration/kube-status-leader.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import {
  EventRecorder,
  transitionEvents,
  type StatusConditionView,
  type StatusView,
  type TransitionEvent,
} from '../../../src/controller/events.ts';
import type { KubeRequest, KubeResponse } from '../../../src/controller/kube-client.ts';

const FP1 = 'sha256:' + '1'.repeat(64);
const FP2 = 'sha256:' + 'a2'.repeat(32);
const FP3 = 'sha256:' + '3c'.repeat(32);

function c(type: string, status: string, reason = 'R', message = 'm'): StatusConditionView {
  return { type, status, reason, message };
}
const readyTrue = c('Ready', 'True', 'Serving', 'serving at https://sso.example/saml/default/demo/login');
const readyFalse = c('Ready', 'False', 'SecretNotFound', 'Secret default/idp not found');
const certs = (...fps: string[]) => fps.map((fingerprint) => ({ fingerprint }));

const cases: { name: string; previous: StatusView | undefined; next: StatusView; want: TransitionEvent[] }[] = [
  {
    name: 'a new connector that is Ready',
    previous: undefined,
    next: { conditions: [readyTrue], certificates: certs(FP1) },
    want: [{ type: 'Normal', reason: 'ConnectorReady', message: readyTrue.message }],
  },
  {
    name: 'Ready False -> True',
    previous: { conditions: [readyFalse] },
    next: { conditions: [readyTrue] },
    want: [{ type: 'Normal', reason: 'ConnectorReady', message: readyTrue.message }],
  },
  {
    name: 'Ready Unknown -> True',
    previous: { conditions: [c('Ready', 'Unknown')] },
    next: { conditions: [readyTrue] },
    want: [{ type: 'Normal', reason: 'ConnectorReady', message: readyTrue.message }],
  },
  { name: 'Ready True -> True (nothing changed)', previous: { conditions: [readyTrue] }, next: { conditions: [readyTrue] }, want: [] },
  {
    name: 'Ready True -> False',
    previous: { conditions: [readyTrue] },
    next: { conditions: [readyFalse] },
    want: [{ type: 'Warning', reason: 'ConnectorInvalid', message: 'SecretNotFound: Secret default/idp not found' }],
  },
  {
    name: 'a new connector that is not Ready',
    previous: undefined,
    next: { conditions: [readyFalse] },
    want: [{ type: 'Warning', reason: 'ConnectorInvalid', message: 'SecretNotFound: Secret default/idp not found' }],
  },
  { name: 'Ready False -> False, same reason, other message', previous: { conditions: [readyFalse] }, next: { conditions: [{ ...readyFalse, message: 'x' }] }, want: [] },
  {
    name: 'Ready False -> False with a new reason',
    previous: { conditions: [readyFalse] },
    next: { conditions: [c('Ready', 'False', 'CertificateInvalid', 'bad PEM')] },
    want: [{ type: 'Warning', reason: 'ConnectorInvalid', message: 'CertificateInvalid: bad PEM' }],
  },
  { name: 'Ready True -> Unknown', previous: { conditions: [readyTrue] }, next: { conditions: [c('Ready', 'Unknown')] }, want: [] },
  {
    name: 'certificates rotated',
    previous: { conditions: [readyTrue], certificates: certs(FP1, FP2) },
    next: { conditions: [readyTrue], certificates: certs(FP2, FP3) },
    want: [{ type: 'Normal', reason: 'CertificateRotated', message: 'IdP certificates changed: added sha256:3c3c3c3c3c3c...; removed sha256:111111111111...' }],
  },
  {
    name: 'a certificate added',
    previous: { conditions: [readyTrue], certificates: certs(FP1) },
    next: { conditions: [readyTrue], certificates: certs(FP3, FP1) },
    want: [{ type: 'Normal', reason: 'CertificateRotated', message: 'IdP certificates changed: added sha256:3c3c3c3c3c3c...' }],
  },
  { name: 'same certificates in another order', previous: { certificates: certs(FP1, FP2) }, next: { certificates: certs(FP2, FP1) }, want: [] },
  { name: 'certificates appear (no rotation)', previous: { certificates: [] }, next: { certificates: certs(FP1) }, want: [] },
  { name: 'certificates vanish (no rotation)', previous: { certificates: certs(FP1) }, next: { certificates: [] }, want: [] },
  {
    name: 'CertificateExpiringSoon False -> True',
    previous: { conditions: [readyTrue, c('CertificateExpiringSoon', 'False')] },
    next: { conditions: [readyTrue, c('CertificateExpiringSoon', 'True', 'CertificateExpiringSoon', 'expires at 2026-04-01T00:00:00.000Z')] },
    want: [{ type: 'Warning', reason: 'CertificateExpiringSoon', message: 'expires at 2026-04-01T00:00:00.000Z' }],
  },
  {
    name: 'CertificateExpiringSoon stays True',
    previous: { conditions: [readyTrue, c('CertificateExpiringSoon', 'True')] },
    next: { conditions: [readyTrue, c('CertificateExpiringSoon', 'True')] },
    want: [],
  },
  {
    name: 'reference conflict: one event, not also ConnectorInvalid',
    previous: { conditions: [readyTrue, c('ReferenceUnique', 'True')] },
    next: {
      conditions: [
        c('Ready', 'False', 'ReferenceConflict', 'reference r is already used by a, created earlier'),
        c('ReferenceUnique', 'False', 'ReferenceConflict', 'reference r is already used by a, created earlier'),
      ],
    },
    want: [{ type: 'Warning', reason: 'ReferenceConflict', message: 'reference r is already used by a, created earlier' }],
  },
  {
    name: 'several at once, in a fixed order',
    previous: { conditions: [readyFalse, c('CertificateExpiringSoon', 'Unknown')], certificates: certs(FP1) },
    next: { conditions: [readyTrue, c('CertificateExpiringSoon', 'True', 'CertificateExpiringSoon', 'soon')], certificates: certs(FP2) },
    want: [
      { type: 'Normal', reason: 'ConnectorReady', message: readyTrue.message },
      { type: 'Normal', reason: 'CertificateRotated', message: 'IdP certificates changed: added sha256:a2a2a2a2a2a2...; removed sha256:111111111111...' },
      { type: 'Warning', reason: 'CertificateExpiringSoon', message: 'soon' },
    ],
  },
  {
    name: 'binding becomes Active',
    previous: { phase: 'PendingApproval', conditions: [c('Ready', 'False')] },
    next: { phase: 'Active', conditions: [c('Ready', 'True', 'Active', 'the user may sign in')] },
    want: [{ type: 'Normal', reason: 'BindingActive', message: 'the user may sign in' }],
  },
  {
    name: 'new binding that is Active from the start: no Event',
    previous: undefined,
    next: { phase: 'Active', conditions: [c('Ready', 'True', 'Active', 'the user may sign in')] },
    want: [],
  },
  {
    name: 'new pending binding',
    previous: undefined,
    next: { phase: 'PendingApproval', conditions: [c('Ready', 'False', 'PendingApproval', 'waiting for an administrator to approve')] },
    want: [{ type: 'Normal', reason: 'BindingPending', message: 'waiting for an administrator to approve' }],
  },
  {
    name: 'binding denied',
    previous: { phase: 'Active' },
    next: { phase: 'Denied', conditions: [c('Ready', 'False', 'Denied', 'access was denied by an administrator')] },
    want: [{ type: 'Normal', reason: 'BindingDenied', message: 'access was denied by an administrator' }],
  },
  {
    name: 'binding invalid',
    previous: { phase: 'Active' },
    next: { phase: 'Invalid', conditions: [c('Ready', 'False', 'ConnectorNotFound', 'no connector named x in default')] },
    want: [{ type: 'Warning', reason: 'BindingInvalid', message: 'no connector named x in default' }],
  },
  { name: 'binding phase unchanged', previous: { phase: 'Active' }, next: { phase: 'Active', conditions: [c('Ready', 'True')] }, want: [] },
];

describe('transitionEvents', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      assert.deepEqual(transitionEvents(tc.previous, tc.next), tc.want);
    });
  }
});

describe('EventRecorder (recording transport)', () => {
  function recorder(leader = true) {
    const sent: KubeRequest[] = [];
    let t = Date.parse('2026-03-01T12:00:00.000Z');
    let status = 201;
    const r = new EventRecorder({
      kubeConfig: new KubeConfig(),
      isLeader: () => leader,
      logger: { warn() {} },
      reportingInstance: 'pod-1',
      now: () => new Date(t),
      request: async (req): Promise<KubeResponse> => {
        sent.push(req);
        return { status: req.method === 'POST' ? status : 200, body: {}, text: '' };
      },
    });
    return { r, sent, advance: (ms: number) => void (t += ms), setStatus: (s: number) => void (status = s) };
  }
  const obj = { kind: 'SsoConnector', namespace: 'team-a', name: 'okta', uid: 'u-1' };

  it('creates an events.k8s.io/v1 Event regarding the object', async () => {
    const { r, sent } = recorder();
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'SecretNotFound: x');
    assert.equal(sent.length, 1);
    const req = sent[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/apis/events.k8s.io/v1/namespaces/team-a/events');
    const ev = req.body as Record<string, any>;
    assert.equal(ev.reportingController, 'sso.operator.dev/sso-operator');
    assert.equal(ev.reportingInstance, 'pod-1');
    assert.equal(ev.action, 'Reconcile');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.reason, 'ConnectorInvalid');
    assert.equal(ev.note, 'SecretNotFound: x');
    assert.equal(ev.eventTime, '2026-03-01T12:00:00.000000Z');
    assert.deepEqual(ev.regarding, { apiVersion: 'sso.operator.dev/v1alpha1', kind: 'SsoConnector', namespace: 'team-a', name: 'okta', uid: 'u-1' });
    assert.match(ev.metadata.name, /^okta\.[0-9a-f]+$/);
  });

  it('turns a repeat within 10 minutes into a series, and a later one into a new Event', async () => {
    const { r, sent, advance } = recorder();
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'm');
    advance(9 * 60_000);
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'm');
    advance(9 * 60_000);
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'm');
    assert.deepEqual(sent.map((s) => s.method), ['POST', 'PATCH', 'PATCH']);
    const name = (sent[0]!.body as any).metadata.name;
    assert.ok(sent[1]!.path.endsWith(`/events/${name}`));
    assert.deepEqual(sent[2]!.body, { series: { count: 3, lastObservedTime: '2026-03-01T12:18:00.000000Z' } });
    advance(10 * 60_000 + 1);
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'm');
    assert.equal(sent[3]!.method, 'POST');
    // Another message is another Event.
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'other');
    assert.equal(sent[4]!.method, 'POST');
  });

  it('does not create two Events for two identical records in a row', async () => {
    const { r, sent } = recorder();
    await Promise.all([r.record(obj, 'Normal', 'ConnectorReady', 'm'), r.record(obj, 'Normal', 'ConnectorReady', 'm')]);
    assert.deepEqual(sent.map((s) => s.method), ['POST', 'PATCH']);
  });

  it('records nothing when not leader', async () => {
    const { r, sent } = recorder(false);
    await r.record(obj, 'Normal', 'ConnectorReady', 'm');
    assert.equal(sent.length, 0);
  });

  it('never rejects, and retries creation after a failure', async () => {
    const { r, sent, setStatus } = recorder();
    setStatus(500);
    await r.record(obj, 'Normal', 'ConnectorReady', 'm');
    setStatus(201);
    await r.record(obj, 'Normal', 'ConnectorReady', 'm');
    assert.deepEqual(sent.map((s) => s.method), ['POST', 'POST']);
    assert.equal(r.created, 1);
  });

  it('cuts a note longer than the 1 KiB the apiserver allows', async () => {
    const { r, sent } = recorder();
    await r.record(obj, 'Warning', 'ConnectorInvalid', 'é'.repeat(2000));
    const note = (sent[0]!.body as any).note as string;
    assert.ok(Buffer.byteLength(note) <= 1024);
    assert.ok(note.endsWith('...'));
  });
});
