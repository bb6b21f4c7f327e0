// Jest global set-up of the projects that start real components: runs once,
// before any worker starts, so that no test's own timeout has to cover a cold
// build or an apt-get install. Everything here is idempotent and cached
// outside the repository: on a warm machine it takes well under a second.
//
// - kube-apiserver and etcd (tools/kube/build.sh; cold about 9-15 minutes on 2 cores)
// - helm (tools/helm/build.sh; cold about 2 minutes)
// - the SAML peers outside Node (tools/peers/build.sh; cold 1 to 3 minutes)
// - Debian packages: SimpleSAMLphp and PHP, Redis, Chromium, openssl, lua5.1

import { ensureHelm } from './helm.ts';
import { ensureControlPlaneBinaries } from './kube.ts';
import { ensurePeer } from './saml-peers.ts';
import { SIMPLESAMLPHP_PACKAGES } from './simplesamlphp.ts';
import { ensureDebianPackages } from './system-deps.ts';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const installed = await ensureDebianPackages([...SIMPLESAMLPHP_PACKAGES, 'openssl', 'redis-server', 'chromium', 'lua5.1']);
  ensureControlPlaneBinaries();
  ensureHelm();
  for (const program of ['python', 'go'] as const) {
    const peer = ensurePeer(program);
    if (!peer.ok) throw new Error(peer.reason);
  }
  const seconds = (Date.now() - started) / 1000;
  if (installed.length > 0 || seconds > 5) console.log(`\n[setup] test prerequisites ready in ${seconds.toFixed(1)} s${installed.length ? `; installed ${installed.join(' ')}` : ''}`);
}
