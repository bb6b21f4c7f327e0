// The cluster reads of the admin CLI: a kubeconfig as kubectl finds it, and
// GETs of SsoConnectors and UserBindings (and the merge patch of `requests
// approve|deny`) with the operator's own request function
// (controller/kube-client.ts: client-node's credentials, a 10 s bound per
// request). client-node is loaded only when a command reads a cluster.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { SsoConnector, UserBinding } from '../api/index.ts';
import { GROUP_VERSION } from '../api/index.ts';
import { KubeApiError, kubeRequest, type KubeRequest } from '../controller/kube-client.ts';
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

/** A UserBinding as the apiserver has it, status included. */
export type ClusterBinding = UserBinding & { status?: Record<string, unknown> };

const CONNECTORS = 'ssoconnectors';
const BINDINGS = 'userbindings';

async function send(cluster: Cluster, req: KubeRequest, what: string) {
  let res;
  try {
    res = await kubeRequest(cluster.kubeConfig, { timeoutMs: REQUEST_TIMEOUT_MS, ...req });
  } catch (err) {
    throw new ClusterError(`${what}: ${(err as Error).message}`);
  }
  return res;
}

const get = (cluster: Cluster, apiPath: string, what: string) => send(cluster, { method: 'GET', path: apiPath }, what);

function failure(what: string, res: Awaited<ReturnType<typeof get>>, resource: string): ClusterError {
  const message = new KubeApiError(what, res).message;
  if (res.status === 404 && (res.body as { details?: { name?: string } } | undefined)?.details?.name === undefined) {
    return new ClusterError(`${message}\nthe apiserver serves no ${resource}.${GROUP_VERSION.split('/')[0]}: are the CRDs installed? (sso-operator crds | kubectl apply --server-side -f -)`);
  }
  return new ClusterError(message);
}

const objectPath = (resource: string, namespace: string, name?: string) =>
  `/apis/${GROUP_VERSION}/namespaces/${encodeURIComponent(namespace)}/${resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

/** One object, or undefined when it does not exist. */
async function getOne<T>(cluster: Cluster, resource: string, kind: string, namespace: string, name: string): Promise<T | undefined> {
  const what = `get ${kind} ${namespace}/${name}`;
  const res = await get(cluster, objectPath(resource, namespace, name), what);
  if (res.status === 404) {
    // 404 for the object, or for the whole resource (no CRD): a list tells them apart.
    const list = await get(cluster, `${objectPath(resource, namespace)}?limit=1`, what);
    if (list.status === 404) throw failure(what, list, resource);
    return undefined;
  }
  if (res.status !== 200) throw failure(what, res, resource);
  return res.body as T;
}

/** Every object of a namespace (all namespaces when undefined), page by page. */
async function listAll<T>(cluster: Cluster, resource: string, kinds: string, namespace: string | undefined, labelSelector?: string): Promise<T[]> {
  const what = `list ${kinds} ${namespace === undefined ? 'in all namespaces' : `in ${namespace}`}`;
  const selector = labelSelector === undefined ? '' : `&labelSelector=${encodeURIComponent(labelSelector)}`;
  const base = `/apis/${GROUP_VERSION}/${namespace === undefined ? '' : `namespaces/${encodeURIComponent(namespace)}/`}${resource}?limit=500${selector}`;
  const items: T[] = [];
  let next: string | undefined;
  do {
    const res = await get(cluster, next ? `${base}&continue=${encodeURIComponent(next)}` : base, what);
    if (res.status !== 200) throw failure(what, res, resource);
    const body = res.body as { items?: T[]; metadata?: { continue?: string } };
    items.push(...(body.items ?? []));
    next = body.metadata?.continue || undefined;
  } while (next);
  return items;
}

/** One connector, or undefined when it does not exist. */
export function getConnector(cluster: Cluster, namespace: string, name: string): Promise<ClusterConnector | undefined> {
  return getOne<ClusterConnector>(cluster, CONNECTORS, 'SsoConnector', namespace, name);
}

/** Every connector of a namespace (all namespaces when undefined), page by page. */
export function listConnectors(cluster: Cluster, namespace: string | undefined): Promise<ClusterConnector[]> {
  return listAll<ClusterConnector>(cluster, CONNECTORS, 'SsoConnectors', namespace);
}

/** One binding, or undefined when it does not exist. */
export function getUserBinding(cluster: Cluster, namespace: string, name: string): Promise<ClusterBinding | undefined> {
  return getOne<ClusterBinding>(cluster, BINDINGS, 'UserBinding', namespace, name);
}

/** The bindings of a namespace (all namespaces when undefined) that match a label selector, page by page. */
export function listUserBindings(cluster: Cluster, namespace: string | undefined, labelSelector: string): Promise<ClusterBinding[]> {
  return listAll<ClusterBinding>(cluster, BINDINGS, 'UserBindings', namespace, labelSelector);
}

/**
 * A JSON merge patch of one binding (as kubectl patch --type merge). Resolves
 * with the patched object, or 'conflict' (409: its resourceVersion changed
 * meanwhile) or 'gone' (404); other refusals (422 with the CRD's message) are
 * a ClusterError.
 */
export async function mergePatchUserBinding(cluster: Cluster, namespace: string, name: string, patch: unknown, fieldManager: string): Promise<ClusterBinding | 'conflict' | 'gone'> {
  const what = `patch UserBinding ${namespace}/${name}`;
  const res = await send(
    cluster,
    { method: 'PATCH', path: `${objectPath(BINDINGS, namespace, name)}?fieldManager=${encodeURIComponent(fieldManager)}`, body: patch, contentType: 'application/merge-patch+json' },
    what,
  );
  if (res.status === 409) return 'conflict';
  if (res.status === 404) return 'gone';
  if (res.status !== 200) throw failure(what, res, BINDINGS);
  return res.body as ClusterBinding;
}
