// `run`: the operator itself, standalone on a folder of manifests or in a
// cluster (flags in src/config.ts). Returns 'running' once started: the
// process then lives until SIGTERM or SIGINT.

import { parseRunArgs } from '../config.ts';
import { EXIT, type CliIO } from './io.ts';

export async function runCommand(argv: string[], io: CliIO): Promise<number | 'help' | 'running'> {
  const config = parseRunArgs(argv, io.env);
  if (config === 'help') return 'help';
  // The operator's modules (fastify, the IdP libraries, ...) only once it is to run.
  const [{ clusterAvailable, startCluster }, { createLogger, startStandalone }] = await Promise.all([import('../cluster.ts'), import('../operator.ts')]);
  if (config.manifests === undefined && !clusterAvailable(config, io.env)) {
    io.stderr(
      `${io.prog}: nothing to watch. Give --manifests DIR to run standalone on a folder of manifests ` +
        `(try: ${io.prog} run --manifests examples --demo-idp), or --kubeconfig FILE (inside a pod the in-cluster config is used) for cluster mode.\n`,
    );
    return EXIT.usage;
  }
  if (config.demoIdp && config.manifests === undefined) {
    io.stderr(`${io.prog}: --demo-idp is for standalone mode only (with --manifests)\n`);
    return EXIT.usage;
  }
  const logger = createLogger(config.logLevel);
  const operator =
    config.manifests !== undefined ? await startStandalone({ ...config, manifests: config.manifests }, logger) : await startCluster(config, logger);
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    operator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return 'running';
}
