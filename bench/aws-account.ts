/**
 * The emulated AWS account the startup and API-call benchmarks run against:
 * a moto server on 127.0.0.1 (test/support/moto.ts), the environment that
 * points the SDK (in this process and in spawned CLIs) at it, and the
 * account's starting state: argos's key pair and a stand-in `argos-image`, so
 * `commission --no-deploy` reuses the image instead of baking one.
 */
import { createClients, type AwsClients } from '../src/aws/clients.js';
import { createCredentialProvider } from '../src/aws/credentials.js';
import { createKeyPair, registerImage } from '../test/support/aws-fixtures.js';
import { assertLoopback, resetMoto, startMotoServer, useEmulator, type MotoServer } from '../test/support/moto.js';

/** A moto server and clients on it. */
export interface BenchAccount {
  moto: MotoServer;
  /** What a spawned CLI needs to reach the emulator (and nothing else). */
  env: Record<string, string>;
  /** Clients of this process, for setting the account up. */
  clients: AwsClients;
  /** Wipes the account and recreates the key pair and the stand-in image. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts moto, points this process's SDK at it, and returns the account (reset). */
export async function startBenchAccount(): Promise<BenchAccount> {
  const moto = await startMotoServer();
  assertLoopback(moto.url);
  const env = useEmulator(moto.url);
  const clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  const account: BenchAccount = {
    moto,
    env,
    clients,
    reset: async () => {
      await resetMoto(moto.url);
      await createKeyPair(clients.ec2, 'argos-test');
      await registerImage(clients.ec2, 'argos-image');
    },
    stop: async () => {
      clients.destroy();
      await moto.stop();
    },
  };
  await account.reset();
  return account;
}
