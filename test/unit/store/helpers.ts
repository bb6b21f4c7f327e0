// Temp folders, manifest snippets and event waiting for the store tests.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store, StoreEvent } from '../../../src/store/types.ts';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sso-store-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function connector(name: string, extra = '', namespace?: string): string {
  return [
    'apiVersion: sso.operator.dev/v1alpha1',
    'kind: SsoConnector',
    'metadata:',
    `  name: ${name}`,
    ...(namespace ? [`  namespace: ${namespace}`] : []),
    'spec:',
    '  protocol: SAML2',
    `  displayName: ${name}`,
    ...(extra ? [extra] : []),
    '',
  ].join('\n');
}

export function binding(name: string, user: string): string {
  return `apiVersion: sso.operator.dev/v1alpha1\nkind: UserBinding\nmetadata:\n  name: ${name}\nspec:\n  user: ${user}\n  connectors: [a]\n`;
}

/** Collects events until `done(events)` is true; rejects after timeoutMs. */
export function collectUntil(
  store: Store,
  done: (events: StoreEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<StoreEvent[]> {
  return new Promise((resolve, reject) => {
    const events: StoreEvent[] = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms; got ${JSON.stringify(events.map(describe))}`));
    }, timeoutMs);
    const off = store.onChange((event) => {
      events.push(event);
      if (done(events)) {
        clearTimeout(timer);
        off();
        resolve(events);
      }
    });
  });
}

export function describe(event: StoreEvent): string {
  const m = event.object.metadata;
  return `${event.type} ${event.object.kind} ${m.namespace}/${m.name}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function memoryLogger(): { logger: { info: Log; warn: Log; error: Log }; lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at = (level: string): Log => (obj, msg) => void lines.push({ level, obj, msg });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}
type Log = (obj: object, msg: string) => void;
