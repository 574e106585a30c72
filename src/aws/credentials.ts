/**
 * Where AWS credentials come from: the SDK's default chain (environment,
 * shared profiles, SSO, container and instance roles), then the original
 * manage.py's AWS_ACCESS_KEY / AWS_SECRET_KEY variables.
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { ArgosError } from '../errors.js';

/** The original tool's variable names, read at the CLI boundary. */
export interface LegacyCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * One memoised provider for every client: tries the default chain, then the
 * legacy variables, and otherwise fails with a message that says what to set.
 */
export function createCredentialProvider(legacy: LegacyCredentials | undefined): AwsCredentialIdentityProvider {
  const chain = defaultProvider();
  let pending: Promise<AwsCredentialIdentity> | undefined;
  const resolve = async (): Promise<AwsCredentialIdentity> => {
    try {
      return await chain();
    } catch (error) {
      if (legacy) return { accessKeyId: legacy.accessKeyId, secretAccessKey: legacy.secretAccessKey };
      throw new ArgosError(
        'CREDENTIALS',
        'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ' +
          '(a profile in ~/.aws, e.g. after aws sso login), or the original AWS_ACCESS_KEY and AWS_SECRET_KEY',
        { cause: error },
      );
    }
  };
  return async () => {
    pending ??= resolve();
    const credentials = await pending.catch((error: unknown) => {
      pending = undefined; // let a later call try again
      throw error;
    });
    // Refresh temporary credentials (SSO, roles) a few minutes before they expire.
    if (credentials.expiration && credentials.expiration.getTime() - Date.now() < 5 * 60_000) {
      pending = undefined;
    }
    return credentials;
  };
}
