/**
 * Runs in every integration test file before its tests: points the AWS SDK at
 * the moto server with fake credentials, and wipes moto's state so each file
 * starts from an empty account.
 */
import { beforeAll, inject } from 'vitest';
import { assertLoopback, resetMoto } from './moto.js';

const motoUrl = inject('motoUrl');
assertLoopback(motoUrl);

/** The environment every integration test (and every CLI it spawns) runs with. */
export const fakeAwsEnvironment: Record<string, string> = {
  AWS_ENDPOINT_URL: motoUrl,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  // Never probe a real instance-metadata endpoint for credentials.
  AWS_EC2_METADATA_DISABLED: 'true',
  // Node 20 is supported by the pinned SDK; its notice about 2027 releases is noise here.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

Object.assign(process.env, fakeAwsEnvironment);
for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[name];

beforeAll(async () => {
  await resetMoto(motoUrl);
});
