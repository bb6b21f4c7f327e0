// One JSON request to the apiserver with the credentials of the kubeconfig
// (KubeAccess, kube-access.ts). The status sink, the event recorder, the
// leader elector and the session key store use this instead of
// client-node's typed APIs because, in client-node 2.x:
// - the typed patch calls pick `application/json-patch+json` and need a
//   header middleware to send a server-side apply;
// - MicroTime fields (Lease renewTime, Event eventTime) are typed `Date` but
//   come back as strings, and are written with milliseconds padded;
// - failures are ApiExceptions whose body is text to parse again;
// - importing them costs 74 MB of RSS (kube-access.ts).
// Here every caller sees the HTTP status and the parsed body, and decides
// per status (404 = gone, 409 = lost a race) instead of matching exceptions.
//
// applyToHTTPSOptions gives the TLS material, the bearer token (re-read for
// in-cluster rotating tokens) and the agent, so node:https needs no second
// copy of undici.

import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KubeAccess } from '../store/kube-access.ts';
import { keepAliveAgent } from '../store/kube-agent.ts';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with query, e.g. `/apis/coordination.k8s.io/v1/namespaces/ns/leases/name`. */
  path: string;
  body?: unknown;
  /** Default `application/json`; a patch names its type here. */
  contentType?: string;
  /** Abort the request after this long. Default 10 s: a hung connection must not stall a caller forever. */
  timeoutMs?: number;
}

export interface KubeResponse<T = unknown> {
  status: number;
  /** Parsed JSON, or undefined when the answer was not JSON. */
  body: T | undefined;
  text: string;
}

/** A non-2xx answer, thrown by callers that do not handle the status themselves. */
export class KubeApiError extends Error {
  readonly status: number;
  /** metav1.Status reason (`Conflict`, `NotFound`, `Invalid`, ...) when the apiserver sent one. */
  readonly reason: string | undefined;

  constructor(what: string, res: KubeResponse) {
    const st = res.body as { reason?: string; message?: string } | undefined;
    super(`${what}: HTTP ${res.status}${st?.reason ? ` ${st.reason}` : ''}: ${st?.message ?? res.text.slice(0, 300)}`);
    this.name = 'KubeApiError';
    this.status = res.status;
    this.reason = st?.reason;
  }
}

/** Sends one request; resolves with any HTTP status, rejects only on transport failures and timeouts. */
export async function kubeRequest<T = unknown>(kubeConfig: KubeAccess, req: KubeRequest): Promise<KubeResponse<T>> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  const opts: RequestOptions = { method: req.method, headers: {} };
  await kubeConfig.applyToHTTPSOptions(opts);
  opts.agent = keepAliveAgent(opts.agent);
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers: Record<string, string | number> = {
    ...(opts.headers as Record<string, string>),
    accept: 'application/json',
  };
  if (payload !== undefined) {
    headers['content-type'] = req.contentType ?? 'application/json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const timeoutMs = req.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const r = send(url, { ...opts, headers, method: req.method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        clearTimeout(timer);
        let body: T | undefined;
        if (/json/.test(String(res.headers['content-type'] ?? ''))) {
          try {
            body = JSON.parse(text) as T;
          } catch {
            body = undefined;
          }
        }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    // A whole-request deadline, not an idle timeout: the leader elector counts on
    // every call ending before its renew deadline.
    const timer = setTimeout(() => r.destroy(new Error(`${req.method} ${req.path}: no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    r.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/** `2006-01-02T15:04:05.000000Z`: metav1.MicroTime, which the apiserver parses with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}
