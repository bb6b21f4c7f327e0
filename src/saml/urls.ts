// URL helpers: query appending that respects an existing query string, and
// the ACS comparison rule shared by Destination and Recipient checks.
import type { SamlConnectorConfig } from './types.ts';

/** Appends `name=value` pairs with `?` or `&` as the URL needs (before any #fragment). */
export function appendQuery(url: string, params: ReadonlyArray<readonly [string, string]>): string {
  if (params.length === 0) return url;
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const fragment = hash >= 0 ? url.slice(hash) : '';
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${query}${fragment}`;
}

/**
 * True when `value` names this connector's ACS: exactly `acsURL`, or, with
 * acsParameterStyle Query, `acsURL` plus the single `s=<state>` parameter the
 * SP itself added to the AuthnRequest. Nothing else (no other parameters, no
 * prefix or case games) is accepted.
 */
export function matchesAcsURL(cfg: SamlConnectorConfig, value: string): boolean {
  if (value === cfg.acsURL) return true;
  if (cfg.acsParameterStyle !== 'Query') return false;
  const sep = !cfg.acsURL.includes('?') ? '?' : cfg.acsURL.endsWith('?') || cfg.acsURL.endsWith('&') ? '' : '&';
  const prefix = `${cfg.acsURL}${sep}s=`;
  return value.startsWith(prefix) && /^[^&#?]*$/.test(value.slice(prefix.length));
}
