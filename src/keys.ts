/**
 * The SSH key pair: the private key file argos and Ansible log in with, and the
 * EC2 key pair of the same name. Both are checked before anything is created.
 */
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { DescribeKeyPairsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ArgosError } from './errors.js';
import { EC2_ERRORS } from './aws/error-codes.js';
import { hasErrorCode } from './wait.js';

/**
 * Checks that `keys/<key_name>.pem` exists and is readable by its owner only
 * (OpenSSH ignores a key others can read, and the failure would surface later
 * as a baffling "Permission denied (publickey)"). Returns problems, empty if none.
 */
export async function checkKeyFile(keyFile: string, root: string): Promise<string[]> {
  const shown = relative(root, keyFile);
  try {
    const info = await stat(keyFile);
    if (!info.isFile()) return [`${shown} is not a file: put the private key of the key pair there`];
    if ((info.mode & 0o077) !== 0) {
      return [`${shown} can be read by other users (mode ${(info.mode & 0o777).toString(8)}), so ssh would refuse it: run chmod 600 ${shown}`];
    }
    return [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [`private key ${shown} not found: save the private key of the EC2 key pair there and run chmod 600 ${shown}`];
    }
    throw error;
  }
}

/** Checks that the EC2 key pair exists in the region. Returns problems, empty if none. */
export async function checkKeyPair(ec2: EC2Client, keyName: string, region: string): Promise<string[]> {
  try {
    const response = await ec2.send(new DescribeKeyPairsCommand({ KeyNames: [keyName] }));
    return response.KeyPairs?.length ? [] : [`EC2 key pair '${keyName}' not found in ${region}: create or import it (aws ec2 import-key-pair --key-name ${keyName} ...), or fix key_name`];
  } catch (error) {
    if (hasErrorCode(error, EC2_ERRORS.keyPairNotFound)) {
      return [`EC2 key pair '${keyName}' not found in ${region}: create or import it (aws ec2 import-key-pair --key-name ${keyName} ...), or fix key_name`];
    }
    throw error;
  }
}

/** Runs both checks and throws one error listing every problem. */
export async function assertKeysReady(ec2: EC2Client, keyFile: string, keyName: string, region: string, root: string): Promise<void> {
  const problems = [...(await checkKeyFile(keyFile, root)), ...(await checkKeyPair(ec2, keyName, region))];
  if (problems.length > 0) throw new ArgosError('CONFIG', problems.join('; '));
}
