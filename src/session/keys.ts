// Session signing keys: an Ed25519 key pair (current, and the previous one
// after a rotation so sessions issued just before it keep verifying) plus the
// HMAC key of the login-state cookie.
//
// Persisted form (a file in standalone mode, a Secret in cluster mode):
//   { "current": <private JWK>, "previous"?: <private JWK>, "stateKey": "<base64url>" }
//
// Security notes:
// - The file holds private keys: it is written with mode 0600 in a folder
//   created 0700, atomically (temp file + link/rename) so a crash never
//   leaves a half-written key file behind.
// - A file that exists but cannot be read or validated is an error and is
//   never replaced: silently generating new keys would log everyone out and
//   hide tampering or a wrong path.
// - The kid is always recomputed from the public key (RFC 7638 thumbprint),
//   never trusted from the file, and the private part must match the public
//   part, so a crafted file cannot publish one key and sign with another.
// - Key generation uses node:crypto (the same Ed25519 keys jose's
//   generateKeyPair('EdDSA') makes) so that rotate() can stay synchronous.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import type { JWK } from 'jose';

export const SESSION_ALG = 'EdDSA';
const STATE_KEY_BYTES = 32;

/** A public Ed25519 key as published in the JWKS. */
export interface PublicSessionJwk extends JWK {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SessionKey {
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key. */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicSessionJwk;
}

export interface SessionKeySet {
  current: SessionKey;
  previous?: SessionKey;
  /** HMAC-SHA256 key of the login-state cookie. */
  stateKey: Uint8Array;
}

/** The JSON written to the key file or the Secret. */
export interface PersistedKeySet {
  current: JWK;
  previous?: JWK;
  stateKey: string;
}

export class KeyFileError extends Error {
  override name = 'KeyFileError';
}

/** RFC 7638 thumbprint of an Ed25519 public key (members crv, kty, x in lexicographic order). */
export function ed25519Thumbprint(x: string): string {
  const canonical = JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x });
  return createHash('sha256').update(canonical).digest('base64url');
}

function keyFromPrivate(privateKey: KeyObject): SessionKey {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new KeyFileError('session key must be an Ed25519 private key');
  }
  const publicKey = createPublicKey(privateKey);
  const pub = publicKey.export({ format: 'jwk' });
  if (pub.kty !== 'OKP' || pub.crv !== 'Ed25519' || typeof pub.x !== 'string') {
    throw new KeyFileError('session key must be an Ed25519 private key');
  }
  const kid = ed25519Thumbprint(pub.x);
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: pub.x, kid, alg: SESSION_ALG, use: 'sig' },
  };
}

/** A fresh Ed25519 session key. */
export function generateSessionKey(): SessionKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return keyFromPrivate(privateKey);
}

/** A fresh key set: new signing key, no previous key, new state-cookie key. */
export function generateKeySet(): SessionKeySet {
  return { current: generateSessionKey(), stateKey: new Uint8Array(randomBytes(STATE_KEY_BYTES)) };
}

/**
 * New signing key; the old current key becomes the previous one (tokens it
 * signed verify until they expire) and the older previous key is dropped.
 * The state-cookie key is kept so logins in flight are not broken.
 */
export function rotate(set: SessionKeySet): SessionKeySet {
  return { current: generateSessionKey(), previous: set.current, stateKey: set.stateKey };
}

function privateJwk(key: SessionKey): JWK {
  const jwk = key.privateKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid: key.kid, alg: SESSION_ALG, use: 'sig' };
}

/** The plain JSON object persisted in the key file or a Secret. */
export function toPersisted(set: SessionKeySet): PersistedKeySet {
  const out: PersistedKeySet = {
    current: privateJwk(set.current),
    stateKey: Buffer.from(set.stateKey).toString('base64url'),
  };
  if (set.previous) out.previous = privateJwk(set.previous);
  return out;
}

export function serializeKeySet(set: SessionKeySet): string {
  return JSON.stringify(toPersisted(set), null, 2) + '\n';
}

const B64URL = /^[A-Za-z0-9_-]+$/;

function parseKey(value: unknown, field: string): SessionKey {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyFileError(`${field}: expected a JWK object`);
  }
  const jwk = value as Record<string, unknown>;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
    throw new KeyFileError(`${field}: expected an Ed25519 key (kty OKP, crv Ed25519)`);
  }
  if (typeof jwk.d !== 'string' || !B64URL.test(jwk.d) || typeof jwk.x !== 'string' || !B64URL.test(jwk.x)) {
    throw new KeyFileError(`${field}: private key members "d" and "x" must be base64url strings`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x }, format: 'jwk' });
  } catch (err) {
    throw new KeyFileError(`${field}: not a valid Ed25519 private key (${(err as Error).message})`);
  }
  const key = keyFromPrivate(privateKey);
  // The public part is derived from "d"; a stored "x" that differs means the
  // file was edited by hand or tampered with.
  if (key.publicJwk.x !== jwk.x) {
    throw new KeyFileError(`${field}: public key "x" does not match private key "d"`);
  }
  if (jwk.kid !== undefined && jwk.kid !== key.kid) {
    throw new KeyFileError(`${field}: "kid" is not the thumbprint of the key`);
  }
  return key;
}

/** Validates the persisted JSON (already parsed) and builds the key set. Throws KeyFileError. */
export function parseKeySet(value: unknown): SessionKeySet {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeyFileError('expected a JSON object with "current" and "stateKey"');
  }
  const obj = value as Record<string, unknown>;
  const current = parseKey(obj.current, 'current');
  const previous = obj.previous === undefined ? undefined : parseKey(obj.previous, 'previous');
  if (typeof obj.stateKey !== 'string' || !B64URL.test(obj.stateKey)) {
    throw new KeyFileError('stateKey: expected a base64url string');
  }
  const stateKey = new Uint8Array(Buffer.from(obj.stateKey, 'base64url'));
  if (stateKey.length < STATE_KEY_BYTES) {
    throw new KeyFileError(`stateKey: must be at least ${STATE_KEY_BYTES} bytes`);
  }
  const set: SessionKeySet = { current, stateKey };
  if (previous && previous.kid !== current.kid) set.previous = previous;
  return set;
}

/** Parses the persisted JSON text. Throws KeyFileError. */
export function parseKeySetJSON(text: string): SessionKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which here is key material.
    throw new KeyFileError('not valid JSON');
  }
  return parseKeySet(value);
}

async function writeTemp(path: string, text: string): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': never follow or reuse an existing file at the temp path.
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Writes (replaces) the key file atomically with mode 0600, e.g. after rotate(). */
export async function writeKeyFile(path: string, set: SessionKeySet): Promise<void> {
  const tmp = await writeTemp(path, serializeKeySet(set));
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

async function loadKeyFile(path: string): Promise<SessionKeySet | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyFileError(`session key file ${path}: cannot be read (${(err as Error).message})`);
  }
  try {
    return parseKeySetJSON(text);
  } catch (err) {
    throw new KeyFileError(
      `session key file ${path} is invalid: ${(err as Error).message}; fix or remove it (removing it logs every user out)`,
    );
  }
}

/**
 * Standalone mode: loads the key file, or creates it when missing. A corrupt
 * file is an error, never overwritten. Creation uses link(2), which fails if
 * the file appeared meanwhile (another process starting at the same time):
 * then that process's file is loaded, so both share one key set.
 */
export async function loadOrCreateKeyFile(path: string): Promise<SessionKeySet> {
  const existing = await loadKeyFile(path);
  if (existing) return existing;
  const set = generateKeySet();
  const tmp = await writeTemp(path, serializeKeySet(set));
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const raced = await loadKeyFile(path);
    if (!raced) throw new KeyFileError(`session key file ${path} vanished while being created`);
    return raced;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return set;
}
