// The four resources the Kubernetes store watches, and their API paths.

import { GROUP_VERSION } from '../api/common.ts';
import type { Kind } from './types.ts';

export type ResourceName = 'ssoconnectors' | 'userbindings' | 'secrets' | 'configmaps';

export interface KubeResource {
  kind: Kind;
  /** Plural, as in the URL; also the `resource` label of the staleness metric. */
  plural: ResourceName;
  apiVersion: string;
  /** `/apis/<group>/<version>` or `/api/v1`. */
  base: string;
  /** Only metadata is listed and watched; data is fetched per referenced object. */
  metadataOnly: boolean;
}

export const RESOURCES: readonly KubeResource[] = [
  { kind: 'SsoConnector', plural: 'ssoconnectors', apiVersion: GROUP_VERSION, base: `/apis/${GROUP_VERSION}`, metadataOnly: false },
  { kind: 'UserBinding', plural: 'userbindings', apiVersion: GROUP_VERSION, base: `/apis/${GROUP_VERSION}`, metadataOnly: false },
  { kind: 'Secret', plural: 'secrets', apiVersion: 'v1', base: '/api/v1', metadataOnly: true },
  { kind: 'ConfigMap', plural: 'configmaps', apiVersion: 'v1', base: '/api/v1', metadataOnly: true },
];

export const RESOURCE_NAMES: readonly ResourceName[] = RESOURCES.map((r) => r.plural);

/** Accept headers that make the apiserver send PartialObjectMetadata instead of the objects. */
export const ACCEPT_JSON = 'application/json';
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
export const ACCEPT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** Collection path: cluster-wide when `namespace` is undefined. */
export function collectionPath(resource: KubeResource, namespace: string | undefined): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${resource.base}${ns}/${resource.plural}`;
}

export function objectPath(resource: KubeResource, namespace: string, name: string): string {
  return `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`;
}
