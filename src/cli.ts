#!/usr/bin/env node
// Entry point: `sso-operator run [flags]`.

import { ConfigError, USAGE, parseRunArgs } from './config.ts';
import { clusterAvailable, startCluster } from './cluster.ts';
import { createLogger, startStandalone } from './operator.ts';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'run') {
    process.stderr.write(`sso-operator: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = parseRunArgs(rest);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sso-operator: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (config.manifests === undefined && !clusterAvailable(config)) {
    process.stderr.write(
      'sso-operator: nothing to watch. Give --manifests DIR to run standalone on a folder of manifests ' +
        '(try: sso-operator run --manifests examples --demo-idp), or --kubeconfig FILE (inside a pod the in-cluster config is used) for cluster mode.\n',
    );
    return 2;
  }
  if (config.demoIdp && config.manifests === undefined) {
    process.stderr.write('sso-operator: --demo-idp is for standalone mode only (with --manifests)\n');
    return 2;
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
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`sso-operator: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
