/**
 * Runs in every integration test file before its tests: points the AWS SDK at
 * the moto server with fake credentials, and wipes moto's state so each file
 * starts from an empty account.
 */
import { beforeAll, inject } from 'vitest';
import { assertLoopback, resetMoto, useEmulator } from './moto.js';

const motoUrl = inject('motoUrl');
assertLoopback(motoUrl);

/** The environment every integration test (and every CLI it spawns) runs with. */
export const fakeAwsEnvironment: Record<string, string> = useEmulator(motoUrl);

beforeAll(async () => {
  await resetMoto(motoUrl);
});
