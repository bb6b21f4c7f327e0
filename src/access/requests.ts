// Access requests (spec.access.requests: Enabled): a user whose sign-in was
// valid but who has no Active UserBinding for the connector may ask for
// access; the request is a UserBinding with approval: Pending, which an
// administrator approves or denies (kubectl, GitOps, the CLI).
//
// What this defends against:
// - a request for someone else: the identity comes only from a short-lived
//   cookie the sign-in itself set (`__Host-sso_access` on https), bound by an
//   HMAC with the state key to the connector and the identity the identity
//   provider verified; nothing the browser sends chooses the user;
// - cross-site requests (a page elsewhere making the user's browser request
//   access): the form carries a token derived from that cookie, the cookie is
//   SameSite=Strict, and the request must come from this site
//   (Sec-Fetch-Site / Origin);
// - floods: at most ACCESS_REQUESTS_PER_MINUTE new requests per connector and
//   minute, and one request per user and connector at all (the binding's name
//   is derived from the two, so asking twice changes nothing);
// - a request widening access: the binding is created Pending and lists this
//   one connector; it grants nothing until an administrator approves it.
//   Bindings declared in Git are never touched: requests are created with
//   their own field manager and label, and an existing object of that name is
//   left as it is.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { secretKeyOf } from '../session/secret-key.ts';
import { mkdir, readdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { userMatchKey } from '../controller/registry.ts';

export const ACCESS_REQUEST_LABEL = 'sso.operator.dev/access-request';
export const ACCESS_REQUEST_FIELD_MANAGER = 'sso-operator-access-requests';
export const ACCESS_COOKIE_TTL_SECONDS = 600;
export const ACCESS_REQUESTS_PER_MINUTE = 20;
const COOKIE_VERSION = 'v1';
const MAX_COOKIE_LENGTH = 3000;

/** The identity a request is for, as the sign-in verified it. */
export interface AccessIdentity {
  /** Connector `ns/name`. */
  c: string;
  /** The user as UserBindings name them. */
  u: string;
  /** Epoch seconds. */
  exp: number;
  /** Nonce: the CSRF token is derived from it. */
  n: string;
}

const mac = (key: Uint8Array, name: string, payload: string) => createHmac('sha256', secretKeyOf(key)).update(`sso_access.${COOKIE_VERSION}.${name}.${payload}`).digest();

/** The cookie value for a verified identity at a connector. */
export function encodeAccessCookie(key: Uint8Array, name: string, identity: Omit<AccessIdentity, 'exp' | 'n'>, now: Date): { value: string; identity: AccessIdentity } {
  const full: AccessIdentity = { ...identity, exp: Math.floor(now.getTime() / 1000) + ACCESS_COOKIE_TTL_SECONDS, n: randomBytes(16).toString('base64url') };
  const payload = Buffer.from(JSON.stringify(full), 'utf8').toString('base64url');
  return { value: `${COOKIE_VERSION}.${payload}.${mac(key, name, payload).toString('base64url')}`, identity: full };
}

/** The identity in a cookie value, when its HMAC (for this cookie name) holds and it has not expired. Never throws. */
export function decodeAccessCookie(key: Uint8Array, name: string, value: string | undefined, now: Date): AccessIdentity | undefined {
  try {
    if (!value || value.length > MAX_COOKIE_LENGTH) return undefined;
    const [v, payload, sig, ...rest] = value.split('.');
    if (v !== COOKIE_VERSION || !payload || !sig || rest.length > 0) return undefined;
    const given = Buffer.from(sig, 'base64url');
    const expected = mac(key, name, payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const o = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<AccessIdentity>;
    if (typeof o.c !== 'string' || typeof o.u !== 'string' || typeof o.exp !== 'number' || typeof o.n !== 'string') return undefined;
    if (o.exp <= Math.floor(now.getTime() / 1000)) return undefined;
    return { c: o.c, u: o.u, exp: o.exp, n: o.n };
  } catch {
    return undefined;
  }
}

/** The form token of a request page: derived from the cookie's nonce, so only a page this site rendered for that cookie has it. */
export function csrfToken(key: Uint8Array, identity: AccessIdentity): string {
  return createHmac('sha256', secretKeyOf(key)).update(`sso_access.csrf.${identity.n}`).digest('base64url');
}

export function csrfTokenValid(key: Uint8Array, identity: AccessIdentity, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const a = Buffer.from(token);
  const b = Buffer.from(csrfToken(key, identity));
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The name of the request binding of `user` at connector `name`: one per
 * user and connector (the user compared as bindings compare it), a valid
 * object name whatever the user string holds.
 */
export function requestBindingName(connectorName: string, user: string): string {
  const digest = createHash('sha256').update(`${connectorName}\0${userMatchKey(user)}`).digest('hex').slice(0, 20);
  return `access-${connectorName.slice(0, 200).replace(/\.+$/, '')}-${digest}`;
}

/** The UserBinding an access request creates. */
export function requestBinding(namespace: string, connectorName: string, user: string, now: Date) {
  return {
    apiVersion: 'sso.operator.dev/v1alpha1',
    kind: 'UserBinding',
    metadata: {
      name: requestBindingName(connectorName, user),
      namespace,
      labels: { [ACCESS_REQUEST_LABEL]: 'true' },
      annotations: { 'sso.operator.dev/requested-at': now.toISOString() },
    },
    spec: { user, connectors: [connectorName], approval: 'Pending' as const },
  };
}

export type RequestBinding = ReturnType<typeof requestBinding>;

/** Where requests go: the apiserver (cluster mode) or a folder (standalone). */
export interface AccessRequestStore {
  /** Creates the request; 'exists' when one of that name is there already. Rejects when it cannot be recorded. */
  create(binding: RequestBinding): Promise<'created' | 'exists'>;
  /** Whether a request of that name is waiting (standalone: its file; cluster mode answers from the registry instead). */
  has?(namespace: string, name: string): Promise<boolean>;
  /** Requests waiting per connector `ns/name` (standalone; cluster mode counts Pending bindings). */
  pendingCounts?(): Promise<Map<string, number>>;
}

/**
 * Standalone: each request is a manifest `<dir>/<namespace>/<name>.yaml`,
 * created exclusively (never overwritten). The admin approves by setting
 * approval: Approved and moving it into the manifests folder, or denies by
 * setting Denied (or deleting it).
 */
export class DirectoryAccessRequestStore implements AccessRequestStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #path(namespace: string, name: string): string {
    return join(this.dir, namespace, `${name}.yaml`);
  }

  async create(binding: RequestBinding): Promise<'created' | 'exists'> {
    const { namespace, name } = binding.metadata;
    await mkdir(join(this.dir, namespace), { recursive: true, mode: 0o700 });
    const text =
      `# Access request from ${binding.spec.user} for connector ${binding.spec.connectors[0]}, ${binding.metadata.annotations['sso.operator.dev/requested-at']}.\n` +
      '# Approve: set approval to Approved and move this file into the manifests folder. Deny: set Denied (or delete it).\n' +
      stringify(binding);
    try {
      await writeFile(this.#path(namespace, name), text, { flag: 'wx', mode: 0o600 });
      return 'created';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw err;
    }
  }

  async has(namespace: string, name: string): Promise<boolean> {
    try {
      await access(this.#path(namespace, name));
      return true;
    } catch {
      return false;
    }
  }

  async pendingCounts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let namespaces: string[];
    try {
      namespaces = await readdir(this.dir);
    } catch {
      return out;
    }
    for (const ns of namespaces) {
      let files: string[];
      try {
        files = await readdir(join(this.dir, ns));
      } catch {
        continue;
      }
      for (const f of files) {
        const m = /^access-(.+)-[0-9a-f]{20}\.yaml$/.exec(f);
        if (m) out.set(`${ns}/${m[1]}`, (out.get(`${ns}/${m[1]}`) ?? 0) + 1);
      }
    }
    return out;
  }
}

/** What the apiserver store needs: one POST (kube-client's kubeRequest fits). */
export type KubePost = (path: string, body: unknown) => Promise<{ status: number; text: string }>;

/** Cluster mode: the request binding is created on the apiserver (create only; the chart grants nothing more). */
export class KubeAccessRequestStore implements AccessRequestStore {
  readonly #post: KubePost;

  constructor(post: KubePost) {
    this.#post = post;
  }

  async create(binding: RequestBinding): Promise<'created' | 'exists'> {
    const path = `/apis/sso.operator.dev/v1alpha1/namespaces/${encodeURIComponent(binding.metadata.namespace)}/userbindings?fieldManager=${ACCESS_REQUEST_FIELD_MANAGER}`;
    const res = await this.#post(path, binding);
    if (res.status === 201 || res.status === 200) return 'created';
    if (res.status === 409) return 'exists';
    throw new Error(`the apiserver answered ${res.status} to the access request: ${res.text.slice(0, 200)}`);
  }
}

/** Told of each request that was new (not of one that existed already), after it is recorded. */
export type RequestAnnouncer = (binding: RequestBinding) => void;

/**
 * The store, announcing each new request: in cluster mode an Event on the
 * connector it asks for (`AccessRequested`), so an admin who watches the
 * connector sees that someone waits; the binding gets its own BindingPending
 * Event from its status. The announcer must not wait; if it throws, the
 * request stays recorded all the same.
 */
export function announcingRequests(store: AccessRequestStore, announce: RequestAnnouncer): AccessRequestStore {
  return {
    create: async (binding) => {
      const result = await store.create(binding);
      if (result === 'created') {
        try {
          announce(binding);
        } catch {
          // A lost announcement never loses the request that was recorded.
        }
      }
      return result;
    },
    ...(store.has ? { has: (namespace: string, name: string) => store.has!(namespace, name) } : {}),
    ...(store.pendingCounts ? { pendingCounts: () => store.pendingCounts!() } : {}),
  };
}

/** At most `perMinute` new requests per connector in any minute; refusals are not counted. */
export class AccessRequestLimiter {
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #recent = new Map<string, number[]>();

  constructor(perMinute = ACCESS_REQUESTS_PER_MINUTE, now: () => number = Date.now) {
    this.#perMinute = perMinute;
    this.#now = now;
  }

  take(connector: string): boolean {
    const t = this.#now();
    const list = (this.#recent.get(connector) ?? []).filter((x) => x > t - 60_000);
    if (list.length >= this.#perMinute) {
      this.#recent.set(connector, list);
      return false;
    }
    list.push(t);
    this.#recent.set(connector, list);
    return true;
  }
}
