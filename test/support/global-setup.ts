/**
 * Vitest global set-up of the integration project: one moto server for the run
 * (or the one MOTO_URL names), handed to the test files through `provide`.
 */
import type { TestProject } from 'vitest/node';
import { assertLoopback, startMotoServer } from './moto.js';

declare module 'vitest' {
  export interface ProvidedContext {
    motoUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env['MOTO_URL'];
  if (given) {
    assertLoopback(given);
    project.provide('motoUrl', given);
    return undefined;
  }
  const server = await startMotoServer();
  project.provide('motoUrl', server.url);
  return () => server.stop();
}
