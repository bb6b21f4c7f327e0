// `requests list|approve|deny`: the access requests users made (connectors
// with spec.access.requests: Enabled), which are UserBindings with approval:
// Pending, named access-<connector>-<hash> (access/requests.ts
// requestBindingName) and labelled sso.operator.dev/access-request=true.
//
// Cluster mode: listed by label selector; approve and deny send a JSON merge
// patch of spec.approval and spec.reason (with the resourceVersion read, so a
// binding replaced meanwhile is not changed blindly), and only to bindings
// that carry the label: a binding declared in Git is never changed here.
//
// Standalone mode: a request is the manifest <requests-dir>/<ns>/<name>.yaml
// (DirectoryAccessRequestStore) and takes effect only once it is in the
// manifests folder the operator watches; until then the user sees "Pending
// approval" whatever the file says. approve and deny rewrite the file (its
// comments kept), check it with the operator's own admission, and move it to
// <manifests>/<ns>/<name>.yaml, never over an existing file or beside another
// definition of the same binding.

import { constants as fsConstants, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ACCESS_REQUEST_LABEL, requestBindingName } from '../access/requests.ts';
import { admit } from '../api/index.ts';
import { EXIT, outputFormat, parseFlags, UsageError, type CliIO } from './io.ts';
import { getUserBinding, listUserBindings, loadCluster, mergePatchUserBinding, type Cluster, type ClusterBinding } from './kube.ts';
import { readManifests } from './manifests.ts';
import { cellText, formatTable } from './table.ts';

const FLAGS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  all: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  'requests-dir': { type: 'string' },
  'state-dir': { type: 'string' },
  manifests: { type: 'string' },
  reason: { type: 'string' },
  user: { type: 'string', multiple: true },
  connector: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flag = keyof typeof FLAGS;
type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

const SUBCOMMANDS = ['list', 'approve', 'deny'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** The flags each subcommand takes (besides --help). */
const ALLOWED: Record<Subcommand, readonly Flag[]> = {
  list: ['kubeconfig', 'context', 'namespace', 'all-namespaces', 'all', 'output', 'requests-dir', 'state-dir', 'manifests'],
  approve: ['kubeconfig', 'context', 'namespace', 'reason', 'user', 'connector', 'requests-dir', 'state-dir', 'manifests'],
  deny: ['kubeconfig', 'context', 'namespace', 'reason', 'user', 'connector', 'requests-dir', 'state-dir', 'manifests'],
};

export const REQUESTED_AT_ANNOTATION = 'sso.operator.dev/requested-at';
/** The field manager of the CLI's patches (metadata.managedFields names who changed the approval). */
export const CLI_FIELD_MANAGER = 'sso-operator-cli';
const DEFAULT_STATE_DIR = '.sso-operator';
const MAX_REASON = 1024;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** One request as listed. */
export interface RequestEntry {
  namespace: string;
  name: string;
  user: string;
  connectors: string[];
  approval: string;
  requestedAt?: string;
  reason?: string;
  /** Cluster: status.phase the operator wrote. */
  phase?: string;
  /** Standalone: the file, as the user gave its folder. */
  file?: string;
  /** Standalone: still in the requests folder (not in effect yet). */
  waiting?: boolean;
}

// ---------------------------------------------------------------------------------
// Command line

export async function requestsCommand(argv: string[], io: CliIO): Promise<number | 'help'> {
  const { values: v, positionals } = parseFlags(argv, FLAGS, true);
  if (v.help) return 'help';
  const [sub, ...args] = positionals;
  if (sub === undefined) throw new UsageError('give a subcommand: list, approve or deny');
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: expected list, approve or deny`);
  const command = sub as Subcommand;
  for (const flag of Object.keys(v) as Flag[]) {
    if (flag !== 'help' && v[flag] !== undefined && !ALLOWED[command].includes(flag)) throw new UsageError(`--${flag} does not apply to ${command}`);
  }
  const standalone = v['requests-dir'] !== undefined || v['state-dir'] !== undefined || v.manifests !== undefined;
  if (standalone) {
    for (const flag of ['kubeconfig', 'context'] as const) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} reads a cluster and cannot be combined with --requests-dir, --state-dir or --manifests`);
    }
  }
  if (v.namespace !== undefined && !NAME.test(v.namespace)) throw new UsageError(`${JSON.stringify(v.namespace)} is not a namespace name`);
  if (command === 'list') {
    if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
    if (v.namespace !== undefined && v['all-namespaces']) throw new UsageError('give -n NAMESPACE or -A, not both');
    const format = outputFormat(v.output, ['json', 'yaml'] as const);
    return standalone ? listFolder(v, format, io) : listCluster(v, format, io);
  }
  const reason = v.reason;
  if (reason !== undefined && reason.trim() === '') throw new UsageError('--reason must not be empty');
  if (reason !== undefined && reason.length > MAX_REASON) throw new UsageError(`--reason is longer than ${MAX_REASON} characters`);
  if (command === 'deny' && reason === undefined) throw new UsageError('deny needs --reason TEXT (shown in the binding, for the next admin)');
  const targets = requestTargets(args, v);
  const decision: Decision = { approval: command === 'approve' ? 'Approved' : 'Denied', ...(reason !== undefined ? { reason } : {}) };
  if (standalone) {
    if (v.manifests === undefined) throw new UsageError(`${command} in standalone mode needs --manifests DIR: a request takes effect once it is in the folder the operator watches`);
    return decideInFolder(targets, decision, v, io);
  }
  return decideInCluster(targets, decision, v, io);
}

/** A binding to approve or deny; namespace undefined: the default (cluster) or wherever it is (standalone). */
export interface Target {
  namespace: string | undefined;
  name: string;
  /** Named by --user and --connector: for messages. */
  user?: string;
  connector?: string;
}

/** `NAME`, `NAMESPACE/NAME`, a user with --connector (positional when it has an @), --user with --connector. */
export function requestTargets(args: readonly string[], v: Pick<Values, 'namespace' | 'user' | 'connector'>): Target[] {
  const users = [...(v.user ?? [])];
  const names: string[] = [];
  for (const arg of args) (arg.includes('@') ? users : names).push(arg);
  let connector: { namespace: string | undefined; name: string } | undefined;
  if (v.connector !== undefined) {
    connector = splitRef(v.connector, v.namespace, '--connector');
    if (users.length === 0) throw new UsageError('--connector goes with --user USER (or a user email as argument)');
  }
  if (users.length > 0 && connector === undefined) {
    throw new UsageError(`${JSON.stringify(users[0])} is a user: give --connector NAME too (the request's name is computed from both)`);
  }
  const targets: Target[] = names.map((arg) => splitRef(arg, v.namespace, 'NAME'));
  for (const user of users) {
    if (user === '') throw new UsageError('--user must not be empty');
    targets.push({ namespace: connector!.namespace, name: requestBindingName(connector!.name, user), user, connector: connector!.name });
  }
  if (targets.length === 0) throw new UsageError('give the request: NAME... (as requests list shows it), or --user USER --connector NAME');
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.namespace ?? ''}/${t.name}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function splitRef(arg: string, namespaceFlag: string | undefined, what: string): { namespace: string | undefined; name: string } {
  const slash = arg.indexOf('/');
  const name = slash >= 0 ? arg.slice(slash + 1) : arg;
  const namespace = slash >= 0 ? arg.slice(0, slash) : namespaceFlag;
  if (slash >= 0 && namespaceFlag !== undefined && namespaceFlag !== namespace) throw new UsageError(`${arg} names namespace ${namespace}, -n says ${namespaceFlag}`);
  if (!NAME.test(name) || (namespace !== undefined && !NAME.test(namespace))) throw new UsageError(`${JSON.stringify(arg)} is not ${what === 'NAME' ? 'a UserBinding NAME or NAMESPACE/NAME' : `a connector NAME or NAMESPACE/NAME (${what})`}`);
  return { namespace, name };
}

// ---------------------------------------------------------------------------------
// Listing

const isRequest = (metadata: { labels?: Record<string, string> | undefined } | undefined) => metadata?.labels?.[ACCESS_REQUEST_LABEL] === 'true';

function entryOf(b: ClusterBinding | Record<string, any>): RequestEntry {
  const o = b as { metadata: Record<string, any>; spec?: Record<string, any>; status?: Record<string, any> };
  const requestedAt = o.metadata.annotations?.[REQUESTED_AT_ANNOTATION] ?? o.metadata.creationTimestamp;
  return {
    namespace: o.metadata.namespace ?? 'default',
    name: o.metadata.name,
    user: String(o.spec?.user ?? ''),
    connectors: Array.isArray(o.spec?.connectors) ? o.spec.connectors.map(String) : [],
    approval: String(o.spec?.approval ?? 'Approved'),
    ...(typeof requestedAt === 'string' ? { requestedAt } : {}),
    ...(typeof o.spec?.reason === 'string' ? { reason: o.spec.reason } : {}),
    ...(typeof o.status?.phase === 'string' ? { phase: o.status.phase } : {}),
  };
}

const byNamespaceAndName = (a: RequestEntry, b: RequestEntry) =>
  a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.name !== b.name ? (a.name < b.name ? -1 : 1) : (a.file ?? '') < (b.file ?? '') ? -1 : 1;

/** json / yaml: one object per request. */
export function requestsDocument(entries: readonly RequestEntry[]): Record<string, unknown>[] {
  return entries.map((e) => {
    const doc: Record<string, unknown> = { namespace: e.namespace, name: e.name, user: e.user, connectors: e.connectors, approval: e.approval };
    if (e.requestedAt !== undefined) doc.requestedAt = e.requestedAt;
    if (e.reason !== undefined) doc.reason = e.reason;
    if (e.phase !== undefined) doc.phase = e.phase;
    if (e.file !== undefined) {
      doc.file = e.file;
      doc.inEffect = !e.waiting;
    }
    return doc;
  });
}

/** NAMESPACE NAME USER CONNECTOR APPROVAL REQUESTED REASON, and FILE for a folder. */
export function requestsTable(entries: readonly RequestEntry[], o: { files: boolean; now: Date }): string {
  const header = ['NAMESPACE', 'NAME', 'USER', 'CONNECTOR', 'APPROVAL', 'REQUESTED', 'REASON', ...(o.files ? ['FILE'] : [])];
  const rows = entries.map((e) => [
    e.namespace,
    e.name,
    e.user,
    e.connectors.join(',') || '<none>',
    e.approval,
    cellText({ type: 'date' }, e.requestedAt, o.now),
    cellText({ type: 'string' }, e.reason?.replace(/\s+/g, ' '), o.now),
    ...(o.files ? [e.file ?? ''] : []),
  ]);
  return formatTable(header, rows);
}

function print(entries: RequestEntry[], format: 'json' | 'yaml' | undefined, o: { files: boolean; empty: string }, io: CliIO): void {
  entries.sort(byNamespaceAndName);
  if (format === 'json') io.stdout(`${JSON.stringify(requestsDocument(entries), null, 2)}\n`);
  else if (format === 'yaml') io.stdout(entries.length === 0 ? '[]\n' : stringify(requestsDocument(entries), { lineWidth: 0 }));
  else if (entries.length === 0) io.stderr(`${o.empty}\n`);
  else io.stdout(requestsTable(entries, { files: o.files, now: io.now?.() ?? new Date() }));
}

async function clusterOf(v: Values, env: NodeJS.ProcessEnv): Promise<Cluster> {
  return loadCluster({ ...(v.kubeconfig !== undefined ? { kubeconfig: v.kubeconfig } : {}), ...(v.context !== undefined ? { context: v.context } : {}) }, env);
}

async function listCluster(v: Values, format: 'json' | 'yaml' | undefined, io: CliIO): Promise<number> {
  const cluster = await clusterOf(v, io.env);
  const namespace = v['all-namespaces'] ? undefined : (v.namespace ?? cluster.namespace);
  const all = (await listUserBindings(cluster, namespace, `${ACCESS_REQUEST_LABEL}=true`)).map(entryOf);
  const entries = v.all ? all : all.filter((e) => e.approval === 'Pending');
  const where = namespace === undefined ? 'in any namespace' : `in ${namespace} namespace`;
  print(entries, format, { files: false, empty: `No ${v.all ? '' : 'pending '}access requests ${where}.${!v.all && all.length > 0 ? ` (${all.length} decided: --all lists them)` : ''}` }, io);
  return EXIT.ok;
}

/** The operator's requests folder: --requests-dir, else STATE-DIR/requests (as run computes it). */
function requestsDirOf(v: Values): string {
  return v['requests-dir'] ?? path.join(v['state-dir'] ?? DEFAULT_STATE_DIR, 'requests');
}

async function isDirectory(absolute: string): Promise<boolean> {
  return (await fsp.stat(absolute).catch(() => undefined))?.isDirectory() ?? false;
}

async function listFolder(v: Values, format: 'json' | 'yaml' | undefined, io: CliIO): Promise<number> {
  const requestsDir = requestsDirOf(v);
  const entries: RequestEntry[] = [];
  let code: number = EXIT.ok;
  if (await isDirectory(path.resolve(io.cwd, requestsDir))) {
    const set = await readManifests([requestsDir], io.cwd);
    for (const o of set.objects) {
      if (o.object.kind !== 'UserBinding' || !isRequest(o.object.metadata)) continue;
      entries.push({ ...entryOf(o.object), file: o.file, waiting: true });
    }
    // The operator wrote these files: one it cannot read is worth an exit 1.
    for (const p of set.problems) {
      io.stderr(`${io.prog}: ${p.file} document ${p.documentIndex}: ${p.path}: ${p.message}\n`);
      code = EXIT.problems;
    }
  } else if (v['requests-dir'] !== undefined || v['state-dir'] !== undefined) {
    io.stderr(`note: ${requestsDir} does not exist: no access request was made yet (the operator creates it with the first)\n`);
  }
  if (v.manifests !== undefined) {
    if (!(await isDirectory(path.resolve(io.cwd, v.manifests)))) {
      io.stderr(`${io.prog}: the manifests folder ${v.manifests} does not exist\n`);
      return EXIT.problems;
    }
    const set = await readManifests([v.manifests], io.cwd);
    for (const o of set.objects) {
      if (o.object.kind !== 'UserBinding' || !isRequest(o.object.metadata)) continue;
      entries.push({ ...entryOf(o.object), file: o.file, waiting: false });
    }
  }
  const inNamespace = v.namespace === undefined ? entries : entries.filter((e) => e.namespace === v.namespace);
  // Still in the requests folder: pending whatever the file says (nothing takes effect before it is moved).
  const shown = v.all ? inNamespace : inNamespace.filter((e) => e.waiting || e.approval === 'Pending');
  const where = v.namespace === undefined ? '' : ` in ${v.namespace} namespace`;
  print(shown, format, { files: true, empty: `No ${v.all ? '' : 'pending '}access requests${where}.${!v.all && inNamespace.length > 0 ? ` (${inNamespace.length} decided: --all lists them)` : ''}` }, io);
  return code;
}

// ---------------------------------------------------------------------------------
// Approving and denying

export interface Decision {
  approval: 'Approved' | 'Denied';
  reason?: string;
}

/** ` (the request of USER at connector NAME)` for a target named by --user. */
const requestOf = (t: Target) => (t.user === undefined ? '' : ` (the request of ${t.user} at connector ${t.connector})`);

const verb = (d: Decision) => (d.approval === 'Approved' ? 'approved' : 'denied');

function describeRequest(b: { spec?: { user?: unknown; connectors?: unknown } }): string {
  const connectors = Array.isArray(b.spec?.connectors) ? b.spec.connectors.join(',') : '?';
  return `user ${String(b.spec?.user ?? '?')}, connector ${connectors}`;
}

async function decideInCluster(targets: readonly Target[], decision: Decision, v: Values, io: CliIO): Promise<number> {
  const cluster = await clusterOf(v, io.env);
  let failed = 0;
  const fail = (message: string) => {
    io.stderr(`${io.prog}: ${message}\n`);
    failed++;
  };
  for (const t of targets) {
    const namespace = t.namespace ?? cluster.namespace;
    const ref = `${namespace}/${t.name}`;
    const binding = await getUserBinding(cluster, namespace, t.name);
    if (!binding) {
      fail(`UserBinding ${ref} not found${requestOf(t)}`);
      continue;
    }
    if (!isRequest(binding.metadata)) {
      fail(`UserBinding ${ref} is not an access request (no label ${ACCESS_REQUEST_LABEL}=true): refused; a binding declared in Git is never changed by this command, edit its manifest instead`);
      continue;
    }
    if (binding.spec.approval === decision.approval && binding.spec.reason === decision.reason) {
      io.stdout(`UserBinding ${ref} ${verb(decision)} (no change; ${describeRequest(binding)})\n`);
      continue;
    }
    // resourceVersion: a binding deleted and created again (or relabelled) meanwhile answers 409 instead of being changed.
    const patch = {
      metadata: { resourceVersion: binding.metadata.resourceVersion },
      spec: { approval: decision.approval, reason: decision.reason ?? null },
    };
    const res = await mergePatchUserBinding(cluster, namespace, t.name, patch, CLI_FIELD_MANAGER);
    if (res === 'conflict') fail(`UserBinding ${ref} changed while it was being ${verb(decision)}: nothing done; run the command again`);
    else if (res === 'gone') fail(`UserBinding ${ref} was deleted meanwhile: nothing done`);
    else io.stdout(`UserBinding ${ref} ${verb(decision)} (${describeRequest(res)})\n`);
  }
  return failed > 0 ? EXIT.problems : EXIT.ok;
}

/** `dir` + a relative path, as the user would type it. */
const under = (dir: string, ...parts: string[]) => path.join(dir, ...parts).split(path.sep).join('/');

/** The namespaces of the requests folder holding `<name>.yaml`. */
async function namespacesHolding(absoluteDir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  const dirs = await fsp.readdir(absoluteDir, { withFileTypes: true }).catch(() => []);
  for (const d of dirs) {
    if (!d.isDirectory() || d.name.startsWith('.')) continue;
    if (await fsp.stat(path.join(absoluteDir, d.name, `${name}.yaml`)).then((s) => s.isFile(), () => false)) out.push(d.name);
  }
  return out.sort();
}

/** Where a binding is defined in the manifests folder, as readManifests names files. */
interface Defined {
  file: string;
  approval?: string;
  request: boolean;
}

async function decideInFolder(targets: readonly Target[], decision: Decision, v: Values, io: CliIO): Promise<number> {
  const requestsDir = requestsDirOf(v);
  const manifests = v.manifests!;
  const requestsAbs = path.resolve(io.cwd, requestsDir);
  const manifestsAbs = path.resolve(io.cwd, manifests);
  if (!(await isDirectory(manifestsAbs))) {
    io.stderr(`${io.prog}: the manifests folder ${manifests} does not exist (give the folder the operator runs with --manifests)\n`);
    return EXIT.problems;
  }
  // What the manifests folder defines: a request already moved there, or another definition of the same binding.
  const defined = new Map<string, Defined>();
  const set = await readManifests([manifests], io.cwd);
  for (const o of set.objects) {
    if (o.object.kind !== 'UserBinding') continue;
    const spec = o.object.spec as { approval?: string };
    defined.set(`${o.object.metadata.namespace}/${o.object.metadata.name}`, { file: o.file, request: isRequest(o.object.metadata), ...(spec.approval ? { approval: spec.approval } : {}) });
  }
  for (const p of set.problems) {
    if (p.object?.kind === 'UserBinding' && p.object.name && !defined.has(`${p.object.namespace ?? 'default'}/${p.object.name}`)) {
      defined.set(`${p.object.namespace ?? 'default'}/${p.object.name}`, { file: p.file, request: false });
    }
  }

  let failed = 0;
  const fail = (message: string) => {
    io.stderr(`${io.prog}: ${message}\n`);
    failed++;
  };
  for (const t of targets) {
    let namespace = t.namespace;
    if (namespace === undefined) {
      const found = await namespacesHolding(requestsAbs, t.name);
      if (found.length > 1) {
        fail(`${t.name} is a request in several namespaces (${found.join(', ')}): give -n NAMESPACE or NAMESPACE/NAME`);
        continue;
      }
      namespace = found[0];
    }
    const source = namespace === undefined ? undefined : path.join(requestsAbs, namespace, `${t.name}.yaml`);
    const text = source === undefined ? undefined : await fsp.readFile(source, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (text === undefined) {
      const there = [...defined.entries()].find(([key]) => (namespace === undefined ? key.endsWith(`/${t.name}`) : key === `${namespace}/${t.name}`));
      if (there) {
        const [key, d] = there;
        fail(
          d.request
            ? `UserBinding ${key} is already in the manifests folder (${d.file}, approval ${d.approval ?? 'Approved'}): edit it there`
            : `UserBinding ${key} is not an access request (no label ${ACCESS_REQUEST_LABEL}=true, ${d.file}): refused; a binding declared in Git is never changed by this command`,
        );
      } else {
        fail(`no access request ${namespace === undefined ? t.name : `${namespace}/${t.name}`}${requestOf(t)} in ${requestsDir}`);
      }
      continue;
    }
    const ref = `${namespace}/${t.name}`;
    const sourceShown = under(requestsDir, namespace!, `${t.name}.yaml`);
    const rewritten = rewriteRequest(text, { namespace: namespace!, name: t.name }, decision);
    if (typeof rewritten !== 'object') {
      fail(`${sourceShown}: ${rewritten}`);
      continue;
    }
    const other = defined.get(ref);
    if (other) {
      fail(`UserBinding ${ref} is already defined in the manifests folder (${other.file}): ${sourceShown} is left where it is`);
      continue;
    }
    const targetShown = under(manifests, namespace!, `${t.name}.yaml`);
    const moved = await moveRewritten(source!, path.join(manifestsAbs, namespace!, `${t.name}.yaml`), rewritten.text);
    if (moved === 'exists') {
      fail(`${targetShown} exists already: not overwritten; ${sourceShown} is left where it is`);
      continue;
    }
    if (moved !== 'moved') {
      fail(`${sourceShown} ${verb(decision)} and written to ${targetShown}, but not removed: ${moved}; delete it`);
      continue;
    }
    defined.set(ref, { file: targetShown, request: true, approval: decision.approval });
    io.stdout(`UserBinding ${ref} ${verb(decision)} (${describeRequest(rewritten.object)}): ${sourceShown} moved to ${targetShown}\n`);
  }
  return failed > 0 ? EXIT.problems : EXIT.ok;
}

/**
 * The request file with spec.approval and spec.reason set (comments and
 * layout kept; a reason not given removes an earlier one), or why it cannot
 * be: not one UserBinding of that name with the request label, or refused by
 * the operator's admission.
 */
export function rewriteRequest(text: string, want: { namespace: string; name: string }, decision: Decision): { text: string; object: Record<string, any> } | string {
  const docs = parseAllDocuments(text).filter((d) => !(d.contents === null && d.errors.length === 0));
  if (docs.length !== 1) return `holds ${docs.length} documents, expected one UserBinding`;
  const doc = docs[0]!;
  if (doc.errors.length > 0) return `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`;
  const before = doc.toJS() as Record<string, any> | null;
  if (before?.kind !== 'UserBinding') return `is not a UserBinding (kind ${JSON.stringify(before?.kind)})`;
  if (!isRequest(before.metadata)) return `is not an access request (no label ${ACCESS_REQUEST_LABEL}=true): refused`;
  if (before.metadata?.name !== want.name || (before.metadata?.namespace ?? 'default') !== want.namespace) {
    return `names UserBinding ${before.metadata?.namespace ?? 'default'}/${before.metadata?.name}, not ${want.namespace}/${want.name}: refused`;
  }
  doc.setIn(['spec', 'approval'], decision.approval);
  if (decision.reason !== undefined) doc.setIn(['spec', 'reason'], decision.reason);
  else doc.deleteIn(['spec', 'reason']);
  const out = doc.toString({ lineWidth: 0 });
  const admitted = admit(parseAllDocuments(out)[0]!.toJS());
  if (!admitted.ok) return `refused by admission: ${admitted.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
  return { text: out, object: admitted.object as unknown as Record<string, any> };
}

/**
 * Writes `text` to `target` without ever replacing a file there (a hidden
 * temporary file linked into place, so the operator never reads half a
 * file), then removes `source`. 'exists' when `target` is there already
 * (nothing changed), else 'moved', or why `source` could not be removed.
 */
async function moveRewritten(source: string, target: string, text: string): Promise<'moved' | 'exists' | string> {
  const mode = ((await fsp.stat(source)).mode & 0o777) | 0o400;
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  await fsp.writeFile(temp, text, { flag: 'wx', mode });
  try {
    await fsp.link(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await fsp.rm(temp, { force: true });
      return 'exists';
    }
    // A filesystem without hard links: an exclusive create, which never replaces either.
    try {
      await fsp.copyFile(temp, target, fsConstants.COPYFILE_EXCL);
    } catch (copyErr) {
      await fsp.rm(temp, { force: true });
      if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw copyErr;
    }
  }
  await fsp.rm(temp, { force: true });
  try {
    await fsp.unlink(source);
  } catch (err) {
    return (err as Error).message;
  }
  return 'moved';
}
