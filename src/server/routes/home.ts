// The landing page: every enabled connector with its sign-in link, and the
// current session if there is one.

import type { FastifyInstance } from 'fastify';
import type { PublicContext } from '../context.ts';
import { escapeHtml, sendPage } from '../html.ts';

export async function homeRoutes(app: FastifyInstance, ctx: PublicContext, extraLinks: { href: string; text: string }[] = []): Promise<void> {
  app.get('/', async (_req, reply) => {
    const connectors = [...ctx.registry.current().connectors.values()]
      .filter((c) => c.enabled)
      .sort((a, b) => a.key.localeCompare(b.key));
    const rows = connectors
      .map((c) => {
        const login = new URL(c.loginURL);
        const href = `${login.pathname}?rd=${encodeURIComponent('/auth/whoami')}`;
        const action = c.ready ? `<a class="button" href="${escapeHtml(href)}">Sign in</a>` : `<span class="muted">not ready (${escapeHtml(c.notReadyReason ?? '')})</span>`;
        return `<tr><td><strong>${escapeHtml(c.displayName ?? c.name)}</strong><br><span class="muted">${escapeHtml(c.key)}${c.reference ? ` · ${escapeHtml(c.reference)}` : ''}</span></td><td>${action}</td></tr>`;
      })
      .join('');
    const list = connectors.length ? `<table>${rows}</table>` : '<p>No connector is configured yet.</p>';
    const extra = extraLinks.map((l) => `<p class="muted"><a href="${escapeHtml(l.href)}">${escapeHtml(l.text)}</a></p>`).join('');
    return sendPage(reply, 200, 'sso-operator', `<h1>sso-operator</h1><h2>Connectors</h2>${list}<p><a href="/auth/whoami">Who am I?</a></p>${extra}`);
  });
}
