// What the HTTP layer is given. It reads the registry and never the store.

import type { Logger } from 'pino';
import type { RegistryReader } from '../controller/registry.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ReplayCache } from '../saml/types.ts';
import type { AccessRequestStore } from '../access/requests.ts';
import type { AccessTokenBroker } from '../session/access-tokens.ts';
import type { RevocationList } from '../session/revocation.ts';
import type { SessionTokens } from '../session/tokens.ts';
import type { RateLimitConfig, RateLimiter } from './rate-limit.ts';

export interface ServerConfig {
  /** Externally visible base URL, no trailing slash. */
  publicURL: string;
  cookieDomain?: string;
  allowedRedirectHosts: string[];
  trustProxy: boolean;
  /** Rate limits on the sign-in endpoints (rate-limit.ts); absent or zero: none. */
  rateLimit?: RateLimitConfig;
  /** How long a client may take to send a whole request, headers and body (default REQUEST_TIMEOUT_MS in public-app.ts; tests set less). */
  requestTimeoutMs?: number;
}

export interface PublicContext {
  registry: RegistryReader;
  sessions: SessionTokens;
  /** HMAC key of the login-state cookie; a getter so keys can rotate live. */
  stateKey: () => Uint8Array;
  replay: ReplayCache;
  /**
   * Sessions ended by logout; forward-auth answers 503 when it cannot be read.
   * Optional only for callers outside the operator (test/bench); absent means
   * a MemoryRevocationList of this app. serve() requires it, so production
   * wiring cannot forget the shared list.
   */
  revocations: RevocationList;
  /** Provider tokens of sessions whose connector has session.passAccessToken (shared through Redis like revocations). */
  accessTokens: AccessTokenBroker;
  /** Where access requests go (spec.access.requests: Enabled); without it, connectors answer BindingNotActive as before. */
  accessRequests?: AccessRequestStore;
  metrics: Metrics;
  logger: Logger;
  config: ServerConfig;
  /** Built by buildPublicApp from config.rateLimit when a limit is set. */
  rateLimiter?: RateLimiter;
  now?: () => Date;
  /**
   * True once the operator began to stop (before the app closes): from then
   * on the listener leaves every request to fastify, whose answers close
   * their connections (operator.ts, onSend).
   */
  stopping?: () => boolean;
}
