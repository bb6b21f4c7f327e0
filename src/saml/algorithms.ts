// XML-DSig algorithm identifiers and the small signature-algorithm classes
// this project plugs into xml-crypto: RSA PKCS#1 v1.5 and ECDSA (raw r||s as
// XML-DSig requires), for signing (demo IdP, tests) and verifying (SP).
import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyLike } from 'node:crypto';
import type { SignatureAlgorithm } from 'xml-crypto';

export const C14N_EXC = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const TRANSFORM_ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

export const SIG = {
  rsaSha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  rsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  rsaSha512: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  ecdsaSha1: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1',
  ecdsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256',
  ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  ecdsaSha512: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512',
} as const;

export const DIGEST = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha512: 'http://www.w3.org/2001/04/xmlenc#sha512',
} as const;

interface SigAlgInfo {
  hash: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  ec: boolean;
}

/** Signature methods this project understands, with their hash and key type. */
export const SIGNATURE_METHODS: Readonly<Record<string, SigAlgInfo>> = {
  [SIG.rsaSha1]: { hash: 'sha1', ec: false },
  [SIG.rsaSha256]: { hash: 'sha256', ec: false },
  [SIG.rsaSha384]: { hash: 'sha384', ec: false },
  [SIG.rsaSha512]: { hash: 'sha512', ec: false },
  [SIG.ecdsaSha1]: { hash: 'sha1', ec: true },
  [SIG.ecdsaSha256]: { hash: 'sha256', ec: true },
  [SIG.ecdsaSha384]: { hash: 'sha384', ec: true },
  [SIG.ecdsaSha512]: { hash: 'sha512', ec: true },
};

/**
 * The entry for a SignatureMethod URI, own properties only: a message naming
 * "constructor" or "__proto__" must not find Object.prototype's members (Node's
 * verify() would then quietly pick a default hash).
 */
export function signatureMethod(uri: string): SigAlgInfo | undefined {
  return Object.hasOwn(SIGNATURE_METHODS, uri) ? SIGNATURE_METHODS[uri] : undefined;
}

/** Digest methods understood by xml-crypto. */
export const DIGEST_METHODS: ReadonlySet<string> = new Set<string>([DIGEST.sha1, DIGEST.sha256, DIGEST.sha512]);

export function isSha1Signature(uri: string): boolean {
  return signatureMethod(uri)?.hash === 'sha1';
}
export function isSha1Digest(uri: string): boolean {
  return uri === DIGEST.sha1;
}

function signWith(info: SigAlgInfo, data: string | Buffer, privateKey: KeyLike): string {
  const key = privateKey instanceof KeyObject ? privateKey : createPrivateKey(privateKey);
  return sign(info.hash, Buffer.from(data), info.ec ? { key, dsaEncoding: 'ieee-p1363' } : key).toString('base64');
}

function verifyWith(info: SigAlgInfo, data: string, key: KeyObject, signatureValue: string): boolean {
  try {
    const sig = Buffer.from(signatureValue, 'base64');
    return verify(info.hash, Buffer.from(data), info.ec ? { key, dsaEncoding: 'ieee-p1363' } : key, sig);
  } catch {
    // Wrong key type for the algorithm, malformed signature: simply not a match.
    return false;
  }
}

/** A signing-only xml-crypto algorithm for `uri` (demo IdP and tests). */
export function signingAlgorithm(uri: string): new () => SignatureAlgorithm {
  const info = signatureMethod(uri);
  if (!info) throw new Error(`unsupported signature algorithm ${uri}`);
  return class implements SignatureAlgorithm {
    getSignature(signedInfo: string | Buffer, privateKey: KeyLike): string;
    getSignature(signedInfo: string | Buffer, privateKey: KeyLike, callback?: (err: Error | null, v?: string) => void): void;
    getSignature(signedInfo: string | Buffer, privateKey: KeyLike, callback?: (err: Error | null, v?: string) => void): string | void {
      const value = signWith(info, signedInfo, privateKey);
      if (callback) return callback(null, value);
      return value;
    }
    verifySignature(): boolean {
      throw new Error('signing-only algorithm');
    }
    getAlgorithmName(): string {
      return uri;
    }
  } as unknown as new () => SignatureAlgorithm;
}

/** Which configured key verified a signature (index into the key list), set by the verifier. */
export interface KeyMatch {
  index: number;
}

/**
 * A verifying xml-crypto algorithm for `uri` that ignores the key xml-crypto
 * passes and tries each configured key in turn: one canonicalisation, N cheap
 * public-key checks, and the message can never supply the key.
 */
export function multiKeyVerifier(uri: string, keys: readonly KeyObject[], match: KeyMatch): new () => SignatureAlgorithm {
  const info = signatureMethod(uri);
  if (!info) throw new Error(`unsupported signature algorithm ${uri}`);
  return class implements SignatureAlgorithm {
    getSignature(): string {
      throw new Error('verification-only algorithm');
    }
    verifySignature(material: string, _key: KeyLike, signatureValue: string, callback?: (err: Error | null, ok?: boolean) => void): boolean {
      let ok = false;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (key && verifyWith(info, material, key, signatureValue)) {
          match.index = i;
          ok = true;
          break;
        }
      }
      if (callback) callback(null, ok);
      return ok;
    }
    getAlgorithmName(): string {
      return uri;
    }
  } as unknown as new () => SignatureAlgorithm;
}

const keyCache = new WeakMap<object, KeyObject>();

/** The public key of a certificate PEM, cached per certificate object. */
export function publicKeyOf(cert: { pem: string }): KeyObject {
  let key = keyCache.get(cert);
  if (!key) {
    key = createPublicKey(cert.pem);
    keyCache.set(cert, key);
  }
  return key;
}
