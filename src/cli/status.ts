// `status`: connectors with the columns of `kubectl get ssoconnectors` (the
// CRD's printer columns, evaluated the same way) and, under the table, each
// connector's conditions that are not fine. From a cluster: the status the
// operator wrote. From a folder: compiled here as the operator would
// (cli/compile.ts), a refused manifest shown as the controller shows it
// (Ready=False, ManifestInvalid).

import { stringify } from 'yaml';
import { printerColumns } from '../api/crd.ts';
import { DEFAULT_PUBLIC_URL, parsePublicURL } from '../config.ts';
import { FETCH_TIMEOUT_MS } from './check.ts';
import { compileConnectors } from './compile.ts';
import { EXIT, outputFormat, parseFlags, UsageError, type CliIO } from './io.ts';
import { loadCluster, listConnectors } from './kube.ts';
import { demoIdpOverlay, fromManifests, readManifests } from './manifests.ts';
import { cellText, columnKey, evalJsonPath, formatTable } from './table.ts';

const FLAGS = {
  manifests: { type: 'string' },
  'public-url': { type: 'string' },
  'demo-idp': { type: 'boolean' },
  fetch: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface StatusCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

/** One connector: the object the columns are read from (metadata, spec, status). */
export interface StatusEntry {
  namespace: string;
  name: string;
  object: { metadata: Record<string, unknown>; spec?: unknown; status?: Record<string, unknown> };
}

/** Conditions whose good state is False. */
const NEGATIVE = new Set(['CertificateExpiringSoon', 'MetadataUnsigned', 'LegacyEncryptionAllowed']);

function conditionsOf(entry: StatusEntry): StatusCondition[] {
  const c = entry.object.status?.conditions;
  return Array.isArray(c) ? (c as StatusCondition[]) : [];
}

/** The conditions that are not fine: not True, or True for a condition whose good state is False; NoStatus when there is none. */
export function notFine(entry: StatusEntry): StatusCondition[] {
  if (entry.object.status === undefined) {
    return [{ type: 'Ready', status: 'Unknown', reason: 'NoStatus', message: 'no status yet: is the operator running and watching this namespace?' }];
  }
  return conditionsOf(entry).filter((c) => (NEGATIVE.has(c.type) ? c.status !== 'False' : c.status !== 'True'));
}

/** False for a connector that is not Ready (or has no status); Unknown (not fetched offline) counts as fine. */
function isReady(entry: StatusEntry): boolean {
  if (entry.object.status === undefined) return false;
  return conditionsOf(entry).find((c) => c.type === 'Ready')?.status !== 'False';
}

/** The rows of a folder: every connector compiled, and every refused connector manifest. */
export async function folderEntries(dir: string, o: { cwd: string; publicURL: string; now: Date; demoIdp?: boolean; fetchTimeoutMs?: number }): Promise<{ entries: StatusEntry[]; refused: number }> {
  const overlay = o.demoIdp ? await demoIdpOverlay(o.publicURL) : [];
  const set = await readManifests([dir], o.cwd, overlay);
  const compiled = await compileConnectors(set.objects, {
    publicURL: o.publicURL,
    now: o.now,
    ...(o.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: o.fetchTimeoutMs } : {}),
  });
  const own = new Set(fromManifests(set.objects));
  const entries: StatusEntry[] = compiled
    .filter((c) => own.has(c.loaded))
    .map(({ connector, out }) => ({
      namespace: connector.metadata.namespace!,
      name: connector.metadata.name,
      object: {
        metadata: { ...connector.metadata },
        spec: connector.spec,
        status: { conditions: out.conditions.map((c) => ({ ...c })), ...out.fields },
      },
    }));
  // A connector whose manifest is refused: what the controller publishes for it.
  const have = new Set(entries.map((e) => `${e.namespace}/${e.name}`));
  for (const p of set.problems) {
    if (p.object?.kind !== 'SsoConnector' || !p.object.name) continue;
    const namespace = p.object.namespace ?? 'default';
    if (have.has(`${namespace}/${p.object.name}`)) continue;
    have.add(`${namespace}/${p.object.name}`);
    entries.push({
      namespace,
      name: p.object.name,
      object: {
        metadata: { name: p.object.name, namespace },
        status: { conditions: [{ type: 'Ready', status: 'False', reason: 'ManifestInvalid', message: `${p.file} document ${p.documentIndex}: ${p.path}: ${p.message}` }] },
      },
    });
  }
  entries.sort((a, b) => (a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, refused: set.problems.length };
}

/** json / yaml: one object per connector, the columns by key, its login URL and the conditions that are not fine. */
export function statusDocument(entries: readonly StatusEntry[]): Record<string, unknown>[] {
  const columns = printerColumns('SsoConnector').filter((c) => c.type !== 'date');
  return entries.map((e) => {
    const doc: Record<string, unknown> = { namespace: e.namespace, name: e.name };
    for (const c of columns) {
      const v = evalJsonPath(e.object, c.jsonPath);
      if (v !== undefined) doc[columnKey(c.name)] = v;
    }
    if (typeof e.object.metadata.creationTimestamp === 'string') doc.creationTimestamp = e.object.metadata.creationTimestamp;
    if (typeof e.object.status?.loginURL === 'string') doc.loginURL = e.object.status.loginURL;
    doc.conditions = notFine(e);
    return doc;
  });
}

/** The table (and the conditions that are not fine under it), as kubectl prints `get ssoconnectors`. */
export function statusTable(entries: readonly StatusEntry[], o: { wide: boolean; namespaces: boolean; now: Date }): string {
  const columns = printerColumns('SsoConnector').filter((c) => o.wide || (c.priority ?? 0) === 0);
  const header = [...(o.namespaces ? ['NAMESPACE'] : []), 'NAME', ...columns.map((c) => c.name.toUpperCase())];
  const rows = entries.map((e) => [...(o.namespaces ? [e.namespace] : []), e.name, ...columns.map((c) => cellText(c, evalJsonPath(e.object, c.jsonPath), o.now))]);
  let text = formatTable(header, rows);
  const conditions = entries.flatMap((e) => notFine(e).map((c) => [o.namespaces ? `${e.namespace}/${e.name}` : e.name, c.type, c.status, c.reason, c.message.replace(/\s+/g, ' ')]));
  if (conditions.length > 0) text += `\n${formatTable(['CONNECTOR', 'CONDITION', 'STATUS', 'REASON', 'MESSAGE'], conditions)}`;
  return text;
}

export async function statusCommand(argv: string[], io: CliIO): Promise<number | 'help'> {
  const { values: v, positionals } = parseFlags(argv, FLAGS, true);
  if (v.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const format = outputFormat(v.output, ['wide', 'json', 'yaml'] as const);
  if (v.namespace !== undefined && v['all-namespaces']) throw new UsageError('give -n NAMESPACE or -A, not both');
  const now = io.now?.() ?? new Date();
  let entries: StatusEntry[];
  let allNamespaces: boolean;
  let note: string | undefined;
  let namespaceShown: string | undefined = v.namespace;
  if (v.manifests !== undefined) {
    for (const flag of ['kubeconfig', 'context'] as const) if (v[flag] !== undefined) throw new UsageError(`--${flag} reads a cluster and cannot be combined with --manifests`);
    const publicURL = parsePublicURL(v['public-url'] ?? io.env.SSO_PUBLIC_URL ?? DEFAULT_PUBLIC_URL).toString().replace(/\/+$/, '');
    const folder = await folderEntries(v.manifests, {
      cwd: io.cwd,
      publicURL,
      now,
      demoIdp: v['demo-idp'] === true,
      ...(v.fetch ? { fetchTimeoutMs: FETCH_TIMEOUT_MS } : {}),
    });
    allNamespaces = v.namespace === undefined;
    entries = allNamespaces ? folder.entries : folder.entries.filter((e) => e.namespace === v.namespace);
    if (folder.refused > 0) note = `${folder.refused} manifest problem(s) (refused documents, duplicates); ${io.prog} check ${v.manifests} lists them`;
  } else {
    for (const flag of ['public-url', 'demo-idp', 'fetch'] as const) if (v[flag] !== undefined) throw new UsageError(`--${flag} applies to --manifests only`);
    const cluster = await loadCluster({ ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig } : {}), ...(v.context !== undefined ? { context: v.context } : {}) }, io.env);
    allNamespaces = v['all-namespaces'] === true;
    const namespace = allNamespaces ? undefined : (v.namespace ?? cluster.namespace);
    namespaceShown = namespace;
    entries = (await listConnectors(cluster, namespace)).map((c) => ({
      namespace: c.metadata.namespace!,
      name: c.metadata.name,
      object: { metadata: c.metadata as Record<string, unknown>, spec: c.spec, ...(c.status ? { status: c.status } : {}) },
    }));
  }

  if (format === 'json') io.stdout(`${JSON.stringify(statusDocument(entries), null, 2)}\n`);
  else if (format === 'yaml') io.stdout(entries.length === 0 ? '[]\n' : stringify(statusDocument(entries), { lineWidth: 0 }));
  else if (entries.length === 0) io.stderr(allNamespaces ? 'No resources found\n' : `No resources found in ${namespaceShown} namespace.\n`);
  else io.stdout(statusTable(entries, { wide: format === 'wide', namespaces: allNamespaces, now }));
  if (note !== undefined && format !== 'json' && format !== 'yaml') io.stderr(`note: ${note}\n`);
  return entries.every(isReady) ? EXIT.ok : EXIT.problems;
}
