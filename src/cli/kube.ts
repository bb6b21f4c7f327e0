// The cluster reads of the admin CLI: a kubeconfig as kubectl finds it, and
// GETs of SsoConnectors with the operator's own request function
// (controller/kube-client.ts: client-node's credentials, a 10 s bound per
// request). client-node is loaded only when a command reads a cluster.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SsoConnector } from '../api/index.ts';
import { GROUP_VERSION } from '../api/index.ts';
import { KubeApiError, kubeRequest } from '../controller/kube-client.ts';
import { UsageError } from './io.ts';

/** The cluster could not be read: exit 1 with this message. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

export interface Cluster {
  kubeConfig: KubeConfig;
  /** The context's namespace, or `default`. */
  namespace: string;
}

export const REQUEST_TIMEOUT_MS = 10_000;

/** --kubeconfig, else KUBECONFIG (merged, as kubectl does), else ~/.kube/config, else the in-cluster config. */
export async function loadCluster(o: { kubeconfig?: string; context?: string }, env: NodeJS.ProcessEnv): Promise<Cluster> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const home = env.HOME ?? env.USERPROFILE;
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  try {
    if (o.kubeconfig !== undefined) kc.loadFromFile(o.kubeconfig);
    else if (fromEnv.length > 0) {
      kc.loadFromFile(fromEnv[0]!);
      for (const file of fromEnv.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more);
      }
    } else if (home !== undefined && existsSync(path.join(home, '.kube', 'config'))) kc.loadFromFile(path.join(home, '.kube', 'config'));
    else if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) kc.loadFromCluster();
    else throw new UsageError('no cluster to read: give --kubeconfig FILE (or set KUBECONFIG), or --manifests DIR');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new ClusterError(`cannot load the kubeconfig: ${(err as Error).message}`);
  }
  if (o.context !== undefined) {
    if (!kc.getContextObject(o.context)) throw new UsageError(`the kubeconfig has no context ${JSON.stringify(o.context)}`);
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentCluster()) throw new ClusterError('the kubeconfig has no current cluster (set a context with --context)');
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  return { kubeConfig: kc, namespace };
}

/** An SsoConnector as the apiserver has it, status included. */
export type ClusterConnector = SsoConnector & { status?: Record<string, unknown> };

const RESOURCE = 'ssoconnectors';

async function get(cluster: Cluster, apiPath: string, what: string) {
  let res;
  try {
    res = await kubeRequest(cluster.kubeConfig, { method: 'GET', path: apiPath, timeoutMs: REQUEST_TIMEOUT_MS });
  } catch (err) {
    throw new ClusterError(`${what}: ${(err as Error).message}`);
  }
  return res;
}

function failure(what: string, res: Awaited<ReturnType<typeof get>>): ClusterError {
  const message = new KubeApiError(what, res).message;
  if (res.status === 404 && (res.body as { details?: { name?: string } } | undefined)?.details?.name === undefined) {
    return new ClusterError(`${message}\nthe apiserver serves no ${RESOURCE}.${GROUP_VERSION.split('/')[0]}: are the CRDs installed? (sso-operator crds | kubectl apply --server-side -f -)`);
  }
  return new ClusterError(message);
}

/** One connector, or undefined when it does not exist. */
export async function getConnector(cluster: Cluster, namespace: string, name: string): Promise<ClusterConnector | undefined> {
  const what = `get SsoConnector ${namespace}/${name}`;
  const res = await get(cluster, `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${RESOURCE}/${encodeURIComponent(name)}`, what);
  if (res.status === 404) {
    // 404 for the object, or for the whole resource (no CRD): a list tells them apart.
    const list = await get(cluster, `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${RESOURCE}?limit=1`, what);
    if (list.status === 404) throw failure(what, list);
    return undefined;
  }
  if (res.status !== 200) throw failure(what, res);
  return res.body as ClusterConnector;
}

/** Every connector of a namespace (all namespaces when undefined), page by page. */
export async function listConnectors(cluster: Cluster, namespace: string | undefined): Promise<ClusterConnector[]> {
  const what = `list SsoConnectors ${namespace === undefined ? 'in all namespaces' : `in ${namespace}`}`;
  const base = `/apis/${GROUP_VERSION}/${namespace === undefined ? '' : `namespaces/${encodeURIComponent(namespace)}/`}${RESOURCE}?limit=500`;
  const items: ClusterConnector[] = [];
  let next: string | undefined;
  do {
    const res = await get(cluster, next ? `${base}&continue=${encodeURIComponent(next)}` : base, what);
    if (res.status !== 200) throw failure(what, res);
    const body = res.body as { items?: ClusterConnector[]; metadata?: { continue?: string } };
    items.push(...(body.items ?? []));
    next = body.metadata?.continue || undefined;
  } while (next);
  return items;
}
