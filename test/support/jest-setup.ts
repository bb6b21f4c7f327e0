// Loaded by Jest before each test file (setupFilesAfterEnv).
import { afterEach } from '@jest/globals';
import { runCleanups } from './cleanup.ts';

afterEach(runCleanups);
