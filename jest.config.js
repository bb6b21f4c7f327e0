// Jest 30 runs the TypeScript sources as ES modules: @swc/jest strips the
// types (no type-check here: `npm run typecheck` does that), and Node is
// started with --experimental-vm-modules (see package.json) because Jest's
// ESM support needs vm modules.
//
// Projects, each a quick subset with `npm run test:<name>` or
// `npx jest --selectProjects <name>`:
//   unit         in-process, fakes allowed, no network beyond loopback
//   integration  a real kube-apiserver and etcd, helm, Redis, the operator as a process
//   interop      a real SimpleSAMLphp IdP
//   e2e          headless Chromium
//   scale        20,000 objects, timing bounds: run alone (`npm run test:scale`)
// The projects that start real components share one global set-up that
// builds or installs them once, before any test starts.

const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } }];

const common = {
  testEnvironment: '<rootDir>/test/support/jest-environment.ts',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  transform: { '^.+\\.ts$': swc },
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
};

const withRealComponents = { ...common, globalSetup: '<rootDir>/test/support/jest-global-setup.ts' };

/** @type {import('jest').Config} */
export default {
  // 2 cores: two test files at once, as before with node:test.
  maxWorkers: 2,
  // Every test with its duration, as node:test's spec reporter printed them.
  verbose: true,
  // A test that needs longer says so (jest.setTimeout in its file, or a third argument).
  testTimeout: 30_000,
  coverageProvider: 'v8',
  collectCoverageFrom: ['src/**/*.ts'],
  coverageReporters: ['json-summary', 'text-summary'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...withRealComponents, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...withRealComponents, displayName: 'interop', testMatch: ['<rootDir>/test/interop/**/*.test.ts'] },
    { ...withRealComponents, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...withRealComponents, displayName: 'scale', testMatch: ['<rootDir>/test/scale/**/*.scale.ts'] },
  ],
};
