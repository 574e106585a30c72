import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          include: ['test/unit/**/*.test.ts'],
          globalSetup: ['test/support/run-tmpdir.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/run-tmpdir.ts', 'test/support/global-setup.ts'],
          setupFiles: ['test/support/aws-env.ts'],
          // One moto server holds all state and each file resets it: run files one at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
