// Headless Debian Chromium for browser tests, driven by playwright-core.
//
// The browser is Debian's `chromium` package, installed with apt-get when it
// is missing (idempotent; see system-deps.ts). Playwright's own browser
// download is never used: playwright-core only speaks CDP to /usr/bin/chromium.
// Each launch gets a fresh temporary user data dir (plain `launch` creates and
// removes one), and each `newContext()` a fresh cookie jar.

import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';
import { ensureDebianPackages } from './system-deps.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface LaunchedChromium {
  browser: Browser;
  /** A new isolated context (own cookies and storage). */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** Packages apt-get installed for this launch (empty when chromium was already there). */
  installed: string[];
  /** Milliseconds spent making sure the package is installed (includes apt-get when it ran). */
  installMs: number;
  /** Milliseconds from starting the process to a connected browser. */
  launchMs: number;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<LaunchedChromium> {
  // Keep playwright-core from ever looking for or fetching its own browsers.
  process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
  const t0 = performance.now();
  const installed = await ensureDebianPackages(['chromium']);
  const t1 = performance.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  const t2 = performance.now();
  return {
    browser,
    newContext: (options) => browser.newContext(options),
    installed,
    installMs: Math.round(t1 - t0),
    launchMs: Math.round(t2 - t1),
    async close() {
      await browser.close();
    },
  };
}
