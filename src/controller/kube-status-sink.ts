// Status in cluster mode: the status subresource of SsoConnector / UserBinding,
// written with server-side apply under one field manager. When, how often
// and whether at all is the StatusWriter's decision (status-writer.ts): only
// the leader writes, only what changed, within the configured QPS.
//
// Why server-side apply: the applied object is the whole status this operator
// owns, so a field it stops sending (loginURL of a connector whose manifest
// became invalid, a certificate that was removed) is removed by the apiserver,
// while fields other managers own are left alone; and it needs no
// resourceVersion, so a status write never races a spec edit.

import type { KubeAccess } from '../store/kube-access.ts';
import { KubeApiError, kubeRequest, type KubeRequest, type KubeResponse } from './kube-client.ts';
import type { StatusKind } from './status-sink.ts';
import type { StatusTarget } from './status-writer.ts';

const GROUP_VERSION = 'sso.operator.dev/v1alpha1';
const PLURAL: Record<StatusKind, string> = { SsoConnector: 'ssoconnectors', UserBinding: 'userbindings' };

export interface KubeStatusSinkOptions {
  kubeConfig: KubeAccess;
  /** Field manager of the apply; the same for every replica, so a new leader takes over the fields. */
  fieldManager?: string;
  /** Transport, replaceable in tests; default kubeRequest with kubeConfig. */
  request?: (req: KubeRequest) => Promise<KubeResponse>;
}

export class KubeStatusSink implements StatusTarget {
  readonly #request: (req: KubeRequest) => Promise<KubeResponse>;
  readonly #fieldManager: string;

  constructor(options: KubeStatusSinkOptions) {
    this.#request = options.request ?? ((req) => kubeRequest(options.kubeConfig, req));
    this.#fieldManager = options.fieldManager ?? 'sso-operator';
  }

  async write(kind: StatusKind, namespace: string, name: string, status: Record<string, unknown>): Promise<'written' | 'gone'> {
    const path =
      `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL[kind]}/${encodeURIComponent(name)}/status` +
      `?fieldManager=${encodeURIComponent(this.#fieldManager)}&force=true`;
    const res = await this.#request({
      method: 'PATCH',
      path,
      // JSON is YAML, and apply-patch+yaml is the only apply type every apiserver accepts.
      contentType: 'application/apply-patch+yaml',
      body: { apiVersion: GROUP_VERSION, kind, metadata: { name, namespace }, status },
    });
    // Deleted meanwhile: not an error, and nothing to remember.
    if (res.status === 404) return 'gone';
    // 409 (should not happen with force, but an apiserver may still say so), 422
    // (status rejected by the schema) and 5xx are retried with backoff by the writer.
    if (res.status < 200 || res.status > 299) throw new KubeApiError(`apply status of ${kind}/${namespace}/${name}`, res);
    return 'written';
  }
}
