// GET requests and watch streams to the apiserver, authenticated from the
// kubeconfig (KubeAccess, kube-access.ts). Hand-written rather than
// client-node's ListWatch/Watch because those cannot send an Accept header:
// the store lists and watches Secrets as PartialObjectMetadata so that the
// data of unreferenced Secrets never reaches this process.
// applyToHTTPSOptions gives the TLS material, the Authorization header
// (re-evaluated per request, so rotated tokens and exec plugins work) and a
// cached agent (proxy-aware when client-node stands in) for node:https.

import http from 'node:http';
import https from 'node:https';
import type { KubeAccess } from './kube-access.ts';
import { keepAliveAgent } from './kube-agent.ts';

/** A non-2xx answer, or an ERROR event inside a watch stream. */
export class KubeHttpError extends Error {
  readonly status: number;
  /** The Status `reason` (e.g. `Expired`, `NotFound`) when the body had one. */
  readonly reason: string | undefined;

  constructor(status: number, reason: string | undefined, message: string) {
    super(message);
    this.name = 'KubeHttpError';
    this.status = status;
    this.reason = reason;
  }
}

export interface RequestOptions {
  accept: string;
  signal: AbortSignal;
  /** Abort when no answer (headers) arrived within this many ms. */
  timeoutMs?: number;
}

export interface WatchOptions extends RequestOptions {
  /** Called once the server accepted the watch (200), before any event. */
  onOpen?: () => void;
}

export interface KubeTransport {
  /** GET `path` (with its query) and parse the JSON body; throws KubeHttpError on a non-2xx status. */
  getJSON(path: string, options: RequestOptions): Promise<unknown>;
  /**
   * GET a watch and yield each event line, parsed. Throws KubeHttpError when
   * the answer is not 200; ends when the server closes the stream.
   */
  watch(path: string, options: WatchOptions): AsyncIterable<unknown>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A body larger than this is refused: a list page of 500 objects stays far below. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export function kubeTransport(kubeConfig: KubeAccess): KubeTransport {
  return {
    async getJSON(path, options) {
      const res = await open(kubeConfig, path, options, true);
      const text = await readBody(res);
      if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) throw statusError(res.statusCode ?? 0, text);
      return parseJSON(text);
    },
    async *watch(path, options) {
      const res = await open(kubeConfig, path, options);
      if (res.statusCode !== 200) throw statusError(res.statusCode ?? 0, await readBody(res));
      options.onOpen?.();
      res.setEncoding('utf8');
      let buffered = '';
      // Readable's async iterator rethrows stream errors (a reset connection),
      // which readline's iterator does not reliably do.
      for await (const chunk of res as AsyncIterable<string>) {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line !== '') yield parseJSON(line);
          newline = buffered.indexOf('\n');
        }
      }
      if (buffered.trim() !== '') yield parseJSON(buffered);
    },
  };
}

/** `keepAlive`: for a request that ends (not a watch), reuse a connection. */
async function open(kubeConfig: KubeAccess, path: string, options: RequestOptions, keepAlive = false): Promise<http.IncomingMessage> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  const requestOptions: https.RequestOptions = { method: 'GET', headers: { Accept: options.accept } };
  await kubeConfig.applyToHTTPSOptions(requestOptions);
  if (keepAlive) requestOptions.agent = keepAliveAgent(requestOptions.agent);
  options.signal.throwIfAborted();
  const send = url.protocol === 'http:' ? http.request : https.request;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...requestOptions, signal: options.signal }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer from the apiserver within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/**
 * The body as text, decoded chunk by chunk into strings (V8's heap) rather
 * than gathered as Buffers and concatenated: with pages of 5,000 bindings
 * (~4 MB each) the Buffers grew glibc's malloc heap to 124-168 MiB after
 * the first list, freed but never given back to the system; decoded as they
 * come it stays at 40 MiB (16 MiB for an operator with nothing listed).
 */
async function readBody(res: http.IncomingMessage): Promise<string> {
  const parts: string[] = [];
  let size = 0;
  res.setEncoding('utf8');
  for await (const chunk of res as AsyncIterable<string>) {
    // Characters rather than bytes: the bound is the same within a factor of 3.
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      res.destroy();
      throw new Error(`the apiserver's answer exceeds ${MAX_BODY_BYTES} bytes`);
    }
    parts.push(chunk);
  }
  return parts.join('');
}

/**
 * JSON.parse with an error that quotes nothing: V8's message shows a few
 * characters of the input, which may be Secret data, and watch errors are
 * logged.
 */
function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`the apiserver's answer is not JSON (${text.length} characters)`);
  }
}

/** Builds the error from a Status body when there is one (never from object data). */
export function statusError(status: number, body: string): KubeHttpError {
  let reason: string | undefined;
  let message = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; reason?: unknown; message?: unknown };
    if (parsed.kind === 'Status') {
      if (typeof parsed.reason === 'string' && parsed.reason !== '') reason = parsed.reason;
      if (typeof parsed.message === 'string' && parsed.message !== '') message = `HTTP ${status}: ${parsed.message}`;
    }
  } catch {
    // Not JSON (a proxy's error page): the status code says enough.
  }
  return new KubeHttpError(status, reason, message);
}
