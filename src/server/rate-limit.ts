// Rate limits on the sign-in endpoints (SAML login and ACS, OIDC/OAuth2
// login and callback), per client address and per connector: token buckets,
// N requests per second with bursts up to 2N, off unless switched on
// (--rate-limit-per-address, --rate-limit-per-connector).
//
// What this defends against, and how it stays safe itself:
// - a client (or a few) hammering the sign-in endpoints: its address gets
//   429 with Retry-After, others go on;
// - a flood spread over many addresses at one connector: the connector's
//   bucket caps what reaches its IdP round trips and its validation;
// - keys an attacker could vary freely: the address is the socket's peer,
//   or with --trust-proxy the last X-Forwarded-For entry (the one the
//   nearest proxy, our ingress, appended: entries before it are whatever
//   the client sent). Without --trust-proxy the header is ignored. IPv6
//   addresses count per /64 (one host usually holds a whole /64). Connector
//   keys are only ever known connectors: unknown ones are refused (404)
//   before any bucket is touched, so a scanner cannot mint keys from URLs;
// - memory: each table holds at most `maxKeys` buckets; when full, the
//   oldest-created bucket goes (a client evicted that way starts again with
//   a full bucket, which only ever loosens the limit for it).

import { isIPv6 } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PublicContext } from './context.ts';
import { sendError } from './html.ts';

export interface RateLimitConfig {
  /** Requests per second per client address; 0 or absent: no limit. */
  perAddress?: number;
  /** Requests per second per connector; 0 or absent: no limit. */
  perConnector?: number;
}

/** Buckets kept per table at most (about 100 bytes each). */
export const MAX_KEYS = 50_000;

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
}

/** A bounded table of token buckets, `rate` tokens per second, `2 * rate` at most. */
export class BucketTable {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly capacity: number;
  private readonly maxKeys: number;

  constructor(rate: number, maxKeys = MAX_KEYS) {
    this.rate = rate;
    this.capacity = Math.max(1, 2 * rate);
    this.maxKeys = maxKeys;
  }

  /** Takes one token for `key`: 0 when allowed, else the seconds until one is available (at least 1). */
  take(key: string, nowMs: number): number {
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
      }
      b = { tokens: this.capacity, at: nowMs };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.capacity, b.tokens + ((nowMs - b.at) / 1000) * this.rate);
      b.at = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }

  get size(): number {
    return this.buckets.size;
  }
}

export interface Limited {
  scope: 'address' | 'connector';
  retryAfterSeconds: number;
}

export class RateLimiter {
  readonly byAddress: BucketTable | undefined;
  readonly byConnector: BucketTable | undefined;
  private readonly trustProxy: boolean;
  private readonly now: () => number;

  constructor(config: RateLimitConfig, trustProxy: boolean, now: () => number = Date.now, maxKeys = MAX_KEYS) {
    this.trustProxy = trustProxy;
    this.now = now;
    this.byAddress = config.perAddress ? new BucketTable(config.perAddress, maxKeys) : undefined;
    this.byConnector = config.perConnector ? new BucketTable(config.perConnector, maxKeys) : undefined;
  }

  /** Counts one sign-in request of a known connector; what limited it, if anything. */
  check(req: FastifyRequest, connectorKey: string): Limited | undefined {
    const t = this.now();
    if (this.byAddress) {
      const wait = this.byAddress.take(addressKey(clientAddress(req, this.trustProxy)), t);
      if (wait > 0) return { scope: 'address', retryAfterSeconds: wait };
    }
    if (this.byConnector) {
      const wait = this.byConnector.take(connectorKey, t);
      if (wait > 0) return { scope: 'connector', retryAfterSeconds: wait };
    }
    return undefined;
  }
}

/**
 * The client's address: the TCP peer, or with trustProxy the last
 * X-Forwarded-For entry (added by the proxy in front of us; anything left of
 * it came from the client and is not trusted).
 */
export function clientAddress(req: FastifyRequest, trustProxy: boolean): string {
  const peer = req.raw.socket.remoteAddress ?? '';
  if (!trustProxy) return peer;
  const header = req.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header[header.length - 1] : header;
  if (!value) return peer;
  const last = value.slice(value.lastIndexOf(',') + 1).trim();
  return last || peer;
}

/** IPv4 (and IPv4-mapped) addresses as they are; IPv6 by their /64. */
export function addressKey(address: string): string {
  if (address.startsWith('::ffff:') && !address.slice(7).includes(':')) return address.slice(7);
  if (!isIPv6(address)) return address;
  return expandIPv6(address).slice(0, 4).join(':') + '::/64';
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = tail === undefined ? [] : Array(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...missing, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

/**
 * Counts a sign-in request of a known connector against ctx.rateLimiter:
 * undefined to go on, or the reply sent (429 RateLimited with Retry-After,
 * counted in sso_rate_limited_total).
 */
export function refuseIfLimited(ctx: PublicContext, req: FastifyRequest, reply: FastifyReply, connectorKey: string, endpoint: 'login' | 'acs' | 'callback'): FastifyReply | undefined {
  const limited = ctx.rateLimiter?.check(req, connectorKey);
  if (limited === undefined) return undefined;
  ctx.metrics.rateLimited.inc({ scope: limited.scope, endpoint });
  return sendError(reply.header('retry-after', String(limited.retryAfterSeconds)), 429, 'RateLimited', req.id);
}
