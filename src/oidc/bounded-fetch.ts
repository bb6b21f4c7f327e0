// Every request to an OpenID Provider (discovery, token, JWKS, UserInfo) goes
// through this fetch, which openid-client takes as its customFetch. What it
// defends against: a provider (or whatever answers at a URL an admin typed)
// sending an endless or huge body, which openid-client would read whole with
// response.json() and so exhaust the memory of an operator that serves every
// connector. Bodies over 1 MiB are refused, by Content-Length before reading
// and by counting while reading; the time limit is openid-client's (10 s).

import type { CustomFetch } from 'openid-client';

export const MAX_PROVIDER_RESPONSE_BYTES = 1024 * 1024;

export class ProviderResponseTooLarge extends Error {
  constructor(url: string) {
    super(`the answer of ${new URL(url).origin} is over ${MAX_PROVIDER_RESPONSE_BYTES} bytes`);
    this.name = 'ProviderResponseTooLarge';
  }
}

export const boundedFetch: CustomFetch = async (url, options) => {
  const res = await fetch(url, options as RequestInit);
  if (!res.body || [204, 205, 304].includes(res.status)) return res;
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_PROVIDER_RESPONSE_BYTES) {
    await res.body.cancel().catch(() => undefined);
    throw new ProviderResponseTooLarge(url);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_PROVIDER_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new ProviderResponseTooLarge(url);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers });
};
