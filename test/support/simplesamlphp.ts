// SimpleSAMLphp (Debian package, 1.19.x) as a real SAML 2.0 IdP for interop tests.
//
// startSimpleSamlPhp() installs the Debian packages if needed, writes a complete
// configuration into a fresh temp dir, runs `php -S` on a free loopback port and
// waits until the IdP answers. See /work/shared/notes/simplesamlphp.md for the
// facts this is built on; quirks found while building it are noted inline.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rename, rm, mkdir, symlink, readFile } from 'node:fs/promises';
import { rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFormWithField, parseForms, type BrowserClient, type BrowserResponse, type ParsedForm } from './browser-client.ts';
import { ensureDebianPackages, freePort } from './system-deps.ts';

export const SIMPLESAMLPHP_PACKAGES = ['simplesamlphp', 'php-cli', 'php-xml', 'php-mbstring'];
const SSP_ROOT = '/usr/share/simplesamlphp';
const DEBIAN_CONFIG = '/etc/simplesamlphp/config.php';

export const NAMEID_FORMATS = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

export type NameIDFormatName = keyof typeof NAMEID_FORMATS;

const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** A PHP literal value, as written into the generated config files. */
export type PhpValue = string | number | boolean | null | PhpValue[] | { [key: string]: PhpValue };

export interface SpRegistration {
  entityID: string;
  acsURL: string;
  sloURL?: string;
  /** Sign the Assertion (saml20.sign.assertion). Default true. */
  signAssertion?: boolean;
  /** Sign the Response (saml20.sign.response). Default true. */
  signResponse?: boolean;
  /** Default 'email'. */
  nameIDFormat?: NameIDFormatName;
  /**
   * User attribute whose first value becomes the NameID (saml:AttributeNameID filter).
   * Defaults: email → 'email'; unspecified → 'uid' if every user has one, else 'email';
   * persistent → opaque hash of that same attribute (saml:PersistentNameID);
   * transient → random (attribute ignored).
   */
  nameIDAttribute?: string;
  /** Raw saml20-sp-remote metadata options merged last (e.g. 'assertion.encryption', 'sign.logout'). */
  extraMetadata?: Record<string, PhpValue>;
}

export interface SimpleSamlPhpUser {
  password: string;
  attributes: Record<string, string[]>;
}

export interface SimpleSamlPhpOptions {
  users: Record<string, SimpleSamlPhpUser>;
  serviceProviders: SpRegistration[];
  signing: { keyPem: string; certPem: string };
  /** SimpleSAMLphp log level (stderr, kept in memory). Default 'info'. */
  logLevel?: 'error' | 'warning' | 'notice' | 'info' | 'debug';
  /** Max ms to wait for the server to answer. Default 20000. */
  startTimeoutMs?: number;
}

/**
 * The content-encryption algorithm of encrypted assertions. SimpleSAMLphp
 * 2.x chooses it by configuration; Debian's 1.19.7 hard-codes AES-128-CBC
 * when it encrypts to an SP certificate (SAML2\EncryptedAssertion::
 * setAssertion). BLOCK_CIPHER_SHIM, prepended to every request, swaps in the
 * algorithm written by setBlockCipher(), by defining that one class from
 * SimpleSAMLphp's own source with the one constant replaced; the encryption
 * itself stays xmlseclibs' (which implements AES-GCM). Without a choice the
 * class is SimpleSAMLphp's, untouched.
 */
export type BlockCipher = 'aes128-cbc' | 'aes256-cbc' | 'aes128-gcm' | 'aes256-gcm';
const BLOCK_CIPHER_URI: Record<BlockCipher, string> = {
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
};
const BLOCK_CIPHER_SHIM = `<?php
// Test shim of sso-operator (test/support/simplesamlphp.ts): see BlockCipher there.
(function () {
    $choice = @file_get_contents(__DIR__ . '/block-cipher');
    if ($choice === false || trim($choice) === '') return;
    $file = '/usr/share/simplesamlphp/vendor/simplesamlphp/saml2/src/SAML2/EncryptedAssertion.php';
    $src = file_get_contents($file);
    $src = preg_replace('/^<\\?php\\s*declare\\(strict_types=1\\);/', '', $src, 1, $declared);
    $src = str_replace('new XMLSecurityKey(XMLSecurityKey::AES128_CBC)', 'new XMLSecurityKey(' . var_export(trim($choice), true) . ')', $src, $swapped);
    if ($declared !== 1 || $swapped !== 1) throw new \\Exception('sso-operator test shim: ' . $file . ' is not the expected source');
    eval($src);
})();
`;

export interface SimpleSamlPhp {
  /** http://127.0.0.1:PORT/ */
  baseURL: string;
  /** IdP entity ID: `${baseURL}saml2/idp/metadata.php` */
  entityID: string;
  /** SingleSignOnService (HTTP-Redirect and HTTP-POST). */
  ssoURL: string;
  /** SingleLogoutService (HTTP-Redirect and HTTP-POST). */
  sloURL: string;
  metadataURL: string;
  /** Current signing certificate (PEM). */
  readonly certPem: string;
  /**
   * Key rotation: rewrites the hosted IdP metadata; following responses are
   * signed with the new key. `nextCertPem`: the next key's certificate,
   * announced in the IdP's metadata (new_certificate) before the switch.
   */
  setSigningKey(keyPem: string, certPem: string, nextCertPem?: string): Promise<void>;
  /** Replaces the SP registrations (saml20-sp-remote.php); effective for the next request. */
  setServiceProviders(sps: SpRegistration[]): Promise<void>;
  /** The content-encryption algorithm of encrypted assertions from the next request on (see BlockCipher). */
  setBlockCipher(cipher: BlockCipher): Promise<void>;
  /** URL that starts an IdP-initiated (unsolicited) sign-in to the given SP. */
  idpInitiatedURL(spEntityID: string, relayState?: string): string;
  /** Everything the php server wrote to stderr/stdout (SimpleSAMLphp log + access log). */
  logs(): string;
  /** The generated configuration directory (for debugging). */
  configDir: string;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Key pairs

export interface TestKeyPair {
  keyPem: string;
  certPem: string;
}

/** A fresh RSA-2048 key and self-signed certificate (30 days) made with openssl. */
export async function makeTestKeyPair(cn: string): Promise<TestKeyPair> {
  await ensureDebianPackages(['openssl']);
  const dir = await mkdtemp(join(tmpdir(), 'sso-testkey-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', `/CN=${cn.replace(/[/\\]/g, '_')}`, '-keyout', keyFile, '-out', certFile],
        (err, _stdout, stderr) => (err ? reject(new Error(`openssl req failed: ${err.message}\n${stderr}`)) : resolve()),
      );
    });
    return { keyPem: await readFile(keyFile, 'utf8'), certPem: await readFile(certFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The base64 body of a PEM certificate, without header/footer/whitespace (as in ds:X509Certificate). */
export function pemBody(pem: string): string {
  return pem
    .replace(/-----BEGIN [^-]+-----/, '')
    .replace(/-----END [^-]+-----[\s\S]*$/, '')
    .replace(/\s+/g, '');
}

// ---------------------------------------------------------------------------
// PHP literal generation

function phpString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function phpLiteral(v: PhpValue, indent = ''): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return phpString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as PHP`);
    return String(v);
  }
  const inner = indent + '    ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + phpLiteral(x, inner)).join(',\n')},\n${indent}]`;
  }
  const entries = Object.entries(v);
  if (entries.length === 0) return '[]';
  const key = (k: string): string => (/^(0|[1-9][0-9]{0,8})$/.test(k) ? k : phpString(k));
  return `[\n${entries.map(([k, x]) => `${inner}${key(k)} => ${phpLiteral(x, inner)}`).join(',\n')},\n${indent}]`;
}

const LOG_LEVELS = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

// ---------------------------------------------------------------------------
// Generated files

interface Layout {
  root: string;
  configDir: string;
  metadataDir: string;
  certDir: string;
}

function configPhp(layout: Layout, baseURL: string, port: number, logLevel: number, secretSalt: string): string {
  const overrides: Record<string, PhpValue> = {
    baseurlpath: baseURL,
    certdir: layout.certDir + '/',
    loggingdir: join(layout.root, 'log') + '/',
    datadir: join(layout.root, 'data') + '/',
    tempdir: join(layout.root, 'tmp'),
    metadatadir: layout.metadataDir + '/',
    attributenamemapdir: join(layout.configDir, 'attributemap') + '/',
    secretsalt: secretSalt,
    'auth.adminpassword': 'test-admin-' + secretSalt.slice(0, 8),
    technicalcontact_name: 'sso-operator tests',
    technicalcontact_email: 'na@example.org',
    timezone: 'UTC',
    'enable.saml20-idp': true,
    'enable.shib13-idp': false,
    'module.enable': { exampleauth: true, core: true, saml: true, admin: true },
    'logging.handler': 'stderr',
    'logging.level': logLevel,
    'logging.processname': `simplesamlphp:${port}`,
    debug: { saml: false, backtraces: true, validatexml: false },
    showerrors: true,
    errorreporting: false,
    // Plain HTTP on loopback: the IdP refuses to run with secure cookies.
    'session.cookie.secure': false,
    'session.cookie.samesite': null,
    'language.cookie.secure': false,
    'language.cookie.samesite': null,
    // Cookies do not isolate by port: give every instance its own cookie names so
    // two IdPs (or an IdP and the SP) on 127.0.0.1 never see each other's sessions.
    'session.cookie.name': `SSPSession${port}`,
    'session.phpsession.cookiename': `SSPPHPSESSID${port}`,
    'session.authtoken.cookiename': `SSPAuthToken${port}`,
    'session.phpsession.savepath': join(layout.root, 'sessions'),
    'store.type': 'phpsession',
    'metadata.sources': [{ type: 'flatfile', directory: layout.metadataDir + '/' }],
    // Debian's defaults add statistics/language filters; keep the chain empty and predictable.
    'authproc.idp': {},
    'authproc.sp': {},
  };
  const lines = Object.entries(overrides).map(([k, v]) => `$config[${phpString(k)}] = ${phpLiteral(v)};`);
  return `<?php
// Generated by test/support/simplesamlphp.ts: the Debian configuration plus test overrides.
require ${phpString(DEBIAN_CONFIG)};
${lines.join('\n')}
`;
}

function authsourcesPhp(users: Record<string, SimpleSamlPhpUser>): string {
  const source: Record<string, PhpValue> = { 0: 'exampleauth:UserPass' };
  for (const [name, u] of Object.entries(users)) {
    if (name.includes(':')) throw new Error(`SimpleSAMLphp user names cannot contain ':' (${name})`);
    if (/^[0-9]+$/.test(`${name}:${u.password}`)) throw new Error('numeric user:password keys are not supported');
    source[`${name}:${u.password}`] = u.attributes;
  }
  const config: Record<string, PhpValue> = {
    admin: ['core:AdminPassword'],
    'test-userpass': source,
  };
  return `<?php\n// Generated by test/support/simplesamlphp.ts\n$config = ${phpLiteral(config)};\n`;
}

function idpHostedPhp(entityID: string, keyFile: string, certFile: string, nextCertFile?: string): string {
  const md: Record<string, PhpValue> = {
    host: '__DEFAULT__',
    privatekey: keyFile,
    certificate: certFile,
    // The next key of a rollover: published in the IdP's metadata beside the current one.
    ...(nextCertFile !== undefined ? { new_certificate: nextCertFile } : {}),
    auth: 'test-userpass',
    'signature.algorithm': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    SingleSignOnServiceBinding: [BINDING_REDIRECT, BINDING_POST],
    SingleLogoutServiceBinding: [BINDING_REDIRECT, BINDING_POST],
    NameIDFormat: NAMEID_FORMATS.transient,
  };
  return `<?php\n// Generated by test/support/simplesamlphp.ts\n$metadata[${phpString(entityID)}] = ${phpLiteral(md)};\n`;
}

function defaultIdentifyingAttribute(users: Record<string, SimpleSamlPhpUser>): string {
  const all = Object.values(users);
  return all.length > 0 && all.every((u) => (u.attributes['uid']?.length ?? 0) > 0) ? 'uid' : 'email';
}

function spRemotePhp(sps: SpRegistration[], users: Record<string, SimpleSamlPhpUser>): string {
  const blocks: string[] = [];
  const seen = new Set<string>();
  for (const sp of sps) {
    if (seen.has(sp.entityID)) throw new Error(`duplicate SP entity ID ${sp.entityID}`);
    seen.add(sp.entityID);
    const formatName = sp.nameIDFormat ?? 'email';
    const format = NAMEID_FORMATS[formatName];
    const md: Record<string, PhpValue> = {
      AssertionConsumerService: [{ Binding: BINDING_POST, Location: sp.acsURL, index: 0 }],
      'saml20.sign.assertion': sp.signAssertion ?? true,
      'saml20.sign.response': sp.signResponse ?? true,
      NameIDFormat: format,
      'validate.authnrequest': false,
    };
    if (sp.sloURL) {
      md['SingleLogoutService'] = [
        { Binding: BINDING_REDIRECT, Location: sp.sloURL },
        { Binding: BINDING_POST, Location: sp.sloURL },
      ];
    }
    const attr = sp.nameIDAttribute ?? (formatName === 'email' ? 'email' : defaultIdentifyingAttribute(users));
    if (formatName === 'email' || formatName === 'unspecified') {
      // Note: the option is 'attribute' (not 'identifyingAttribute').
      md['authproc'] = { 10: { class: 'saml:AttributeNameID', attribute: attr, Format: format } };
    } else if (formatName === 'persistent') {
      md['authproc'] = sp.nameIDAttribute
        ? { 10: { class: 'saml:AttributeNameID', attribute: attr, Format: format } }
        : { 10: { class: 'saml:PersistentNameID', attribute: attr } };
    }
    Object.assign(md, sp.extraMetadata ?? {});
    blocks.push(`$metadata[${phpString(sp.entityID)}] = ${phpLiteral(md)};`);
  }
  return `<?php\n// Generated by test/support/simplesamlphp.ts\n${blocks.join('\n\n')}\n`;
}

/** Write via a temp file + rename so a concurrent PHP request never reads a half-written file. */
async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, file);
}

// ---------------------------------------------------------------------------
// Process lifecycle

const live = new Set<{ child: ChildProcess; root: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const l of live) {
      killNow(l.child);
      try {
        rmSync(l.root, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

const WRAPPER = `
exec 3<&0
php "$@" </dev/null &
p=$!
echo "[harness] php pid $p" >&2
( read _ <&3; kill $p 2>/dev/null ) &
w=$!
exec 3<&-
wait $p
code=$?
kill $w 2>/dev/null
exit $code
`;

function phpPid(logs: string): number | undefined {
  const m = /\[harness\] php pid (\d+)/.exec(logs);
  return m ? Number(m[1]) : undefined;
}

const pidOf = new WeakMap<ChildProcess, () => number | undefined>();

/** Synchronous hard kill (process exit hook). */
function killNow(child: ChildProcess): void {
  const pid = pidOf.get(child)?.();
  for (const kill of [() => pid !== undefined && process.kill(pid, 'SIGKILL'), () => child.kill('SIGKILL')]) {
    try {
      kill();
    } catch {
      /* already gone */
    }
  }
}

/** Graceful stop: close the wrapper's pipe (it kills php), escalate to SIGKILL after 3 s. */
async function terminate(child: ChildProcess, exited: Promise<void>, logs: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.destroy();
  const timer = setTimeout(() => {
    const pid = phpPid(logs);
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    child.kill('SIGKILL');
  }, 3000);
  await exited;
  clearTimeout(timer);
}

const MAX_LOG = 4 * 1024 * 1024;

async function waitUntilAnswering(url: string, child: ChildProcess, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`php -S exited (${child.exitCode ?? child.signalCode}) before answering:\n${logs()}`);
    }
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      body = await res.text();
    } catch (err) {
      lastErr = String(err); // not listening yet
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    if (res.status === 200 && body.includes('EntityDescriptor')) return;
    // Quirk: SimpleSAMLphp error pages ("Error loading metadata", ...) answer HTTP 200.
    throw new Error(
      `SimpleSAMLphp answered ${url} with HTTP ${res.status} but no metadata: ${htmlToText(body).slice(0, 1500)}` +
        `\n--- php log ---\n${logs().slice(-20000)}`,
    );
  }
  throw new Error(`SimpleSAMLphp did not answer ${url} within ${timeoutMs} ms (${lastErr})\n--- php log ---\n${logs().slice(-20000)}`);
}

/** Rough text of an HTML page (for error messages): the title and body without markup. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1>/gi, (m) => (/^<head/i.test(m) ? (/<title>([\s\S]*?)<\/title>/i.exec(m)?.[1] ?? '') + '. ' : ''))
    .replace(/<div id="languagebar">[\s\S]*?<\/div>/i, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z]+;|&#[0-9]+;/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

export async function startSimpleSamlPhp(opts: SimpleSamlPhpOptions): Promise<SimpleSamlPhp> {
  await ensureDebianPackages(SIMPLESAMLPHP_PACKAGES);
  if (!existsSync(DEBIAN_CONFIG)) throw new Error(`${DEBIAN_CONFIG} is missing although simplesamlphp is installed`);
  installExitHook();

  const root = await mkdtemp(join(tmpdir(), 'sso-simplesamlphp-'));
  const layout: Layout = {
    root,
    configDir: join(root, 'config'),
    metadataDir: join(root, 'metadata'),
    certDir: join(root, 'cert'),
  };
  for (const d of [layout.configDir, layout.metadataDir, layout.certDir, ...['log', 'data', 'tmp', 'sessions'].map((x) => join(root, x))]) {
    await mkdir(d, { recursive: true });
  }
  await symlink('/etc/simplesamlphp/attributemap', join(layout.configDir, 'attributemap'));

  const logLevel = LOG_LEVELS[opts.logLevel ?? 'info'];
  const secretSalt = randomHex(16);
  // `users` is fixed for the lifetime of the server (authsources.php).
  const users = structuredClone(opts.users);
  const sps = opts.serviceProviders;
  let keyGeneration = 0;
  let currentCert = opts.signing.certPem;

  const writeKey = async (keyPem: string, certPem: string, entityID: string, nextCertPem?: string): Promise<void> => {
    keyGeneration += 1;
    const keyFile = join(layout.certDir, `idp-key-${keyGeneration}.pem`);
    const certFile = join(layout.certDir, `idp-cert-${keyGeneration}.pem`);
    const nextFile = nextCertPem !== undefined ? join(layout.certDir, `idp-next-cert-${keyGeneration}.pem`) : undefined;
    await writeFile(keyFile, keyPem, { mode: 0o600 });
    await writeFile(certFile, certPem, { mode: 0o600 });
    if (nextFile !== undefined) await writeFile(nextFile, nextCertPem!, { mode: 0o600 });
    await writeAtomic(join(layout.metadataDir, 'saml20-idp-hosted.php'), idpHostedPhp(entityID, keyFile, certFile, nextFile));
    currentCert = certPem;
  };

  let logBuf = '';
  const appendLog = (chunk: Buffer | string): void => {
    logBuf += chunk.toString();
    if (logBuf.length > MAX_LOG) logBuf = logBuf.slice(-MAX_LOG / 2);
  };

  // The port comes from freePort(); another process may grab it before php binds,
  // so retry a few times with a new port (the config embeds the port).
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const baseURL = `http://127.0.0.1:${port}/`;
    const entityID = `${baseURL}saml2/idp/metadata.php`;
    await writeAtomic(join(layout.configDir, 'config.php'), configPhp(layout, baseURL, port, logLevel, secretSalt));
    await writeAtomic(join(layout.configDir, 'authsources.php'), authsourcesPhp(users));
    await writeAtomic(join(layout.metadataDir, 'saml20-sp-remote.php'), spRemotePhp(sps, users));
    await writeKey(opts.signing.keyPem, opts.signing.certPem, entityID);
    await writeAtomic(join(root, 'block-cipher-shim.php'), BLOCK_CIPHER_SHIM);

    logBuf = '';
    // php runs under a small sh wrapper that holds a pipe from this process: when
    // the pipe closes (stop(), or this process dies in any way, even SIGKILL) the
    // wrapper kills php, so no php server outlives the tests.
    const phpArgs = [
      // OPcache stays on under `php -S` unless opcache.enable is off too; with it
      // on, rewritten metadata (key rotation within the same second) can be
      // ignored for seconds. Both off: every request re-reads the config.
      '-d', 'opcache.enable=0',
      '-d', 'opcache.enable_cli=0',
      '-d', 'display_errors=stderr',
      '-d', 'log_errors=0',
      '-d', `auto_prepend_file=${join(root, 'block-cipher-shim.php')}`,
      '-S', `127.0.0.1:${port}`,
      '-t', join(SSP_ROOT, 'www'),
    ];
    const child = spawn('sh', ['-c', WRAPPER, 'simplesamlphp-wrapper', ...phpArgs], {
      cwd: root,
      env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: layout.configDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const entry = { child, root };
    pidOf.set(child, () => phpPid(logBuf));
    live.add(entry);
    child.stdout?.on('data', appendLog);
    child.stderr?.on('data', appendLog);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => live.delete(entry));
    child.once('error', (err) => appendLog(`\n[spawn error] ${err.message}\n`));
    // Do not keep the test process alive just for this server (the exit hook kills it).
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }

    try {
      await waitUntilAnswering(`${entityID}`, child, opts.startTimeoutMs ?? 20000, () => logBuf);
    } catch (err) {
      lastError = err;
      await terminate(child, exited, logBuf);
      if (/Address already in use/i.test(logBuf)) continue;
      await rm(root, { recursive: true, force: true });
      throw err;
    }

    const ssoURL = `${baseURL}saml2/idp/SSOService.php`;
    let stopped = false;
    const idp: SimpleSamlPhp = {
      baseURL,
      entityID,
      ssoURL,
      sloURL: `${baseURL}saml2/idp/SingleLogoutService.php`,
      metadataURL: entityID,
      configDir: layout.configDir,
      get certPem() {
        return currentCert;
      },
      async setSigningKey(keyPem: string, certPem: string, nextCertPem?: string) {
        await writeKey(keyPem, certPem, entityID, nextCertPem);
      },
      async setBlockCipher(cipher: BlockCipher) {
        await writeAtomic(join(root, 'block-cipher'), BLOCK_CIPHER_URI[cipher]);
      },
      async setServiceProviders(next: SpRegistration[]) {
        await writeAtomic(join(layout.metadataDir, 'saml20-sp-remote.php'), spRemotePhp(next, users));
      },
      idpInitiatedURL(spEntityID: string, relayState?: string) {
        const q = new URLSearchParams({ spentityid: spEntityID });
        if (relayState !== undefined) q.set('RelayState', relayState);
        return `${ssoURL}?${q.toString()}`;
      },
      logs() {
        return logBuf;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await terminate(child, exited, logBuf);
        live.delete(entry);
        await rm(root, { recursive: true, force: true });
      },
    };
    return idp;
  }
  await rm(root, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * From a page of a sign-in (the IdP's login form, or its answer when the
 * browser already has an IdP session) to SimpleSAMLphp's auto-submit form
 * carrying the SAMLResponse: fills the login form with `user` when it is
 * shown. Throws with the page when no SAMLResponse comes.
 */
export async function samlResponseForm(browser: BrowserClient, start: BrowserResponse, user: { name: string; password: string }): Promise<ParsedForm> {
  let page = start;
  const loginForm = parseForms(page.body, page.url).find((f) => 'AuthState' in f.fields && 'password' in f.fields);
  if (loginForm) page = await browser.submit(loginForm, { username: user.name, password: user.password });
  const form = findFormWithField(page, 'SAMLResponse');
  if (!form) throw new Error(`no SAMLResponse at ${page.url} (${page.status}):\n${page.body.slice(0, 1500)}`);
  return form;
}
