/**
 * Prerequisites the integration tests create in moto with the SDK (security
 * groups, a key pair) and small readers of what moto reports.
 */
import {
  CreateKeyPairCommand,
  ImportKeyPairCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { execa } from 'execa';

/** The AMI moto preloads in every region (Amazon Linux 2, x86_64). */
export const MOTO_AMI = 'ami-04681a1dbd79675a5';

/** Creates a security group in `vpcId` and returns its id. */
export async function createSecurityGroup(ec2: EC2Client, vpcId: string, name: string): Promise<string> {
  const response = await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: `test group ${name}`, VpcId: vpcId }));
  if (!response.GroupId) throw new Error(`moto returned no id for the security group ${name}`);
  return response.GroupId;
}

/** Creates a key pair (moto checks key names when MOTO_ENABLE_KEYPAIR_VALIDATION is on). */
export async function createKeyPair(ec2: EC2Client, name: string): Promise<string> {
  await ec2.send(new CreateKeyPairCommand({ KeyName: name }));
  return name;
}

/**
 * Imports the public half of `privateKeyFile` as key pair `name`, as a user who
 * brought their own key does: then the key file matches the key pair's fingerprint.
 */
export async function importKeyPair(ec2: EC2Client, name: string, privateKeyFile: string): Promise<string> {
  const { stdout } = await execa('ssh-keygen', ['-y', '-f', privateKeyFile]);
  await ec2.send(new ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: new TextEncoder().encode(stdout.trim()) }));
  return name;
}

/** The instances with these ids, in one call. */
export async function describeInstances(ec2: EC2Client, ids: readonly string[]): Promise<Instance[]> {
  if (ids.length === 0) return [];
  const response = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] }));
  return (response.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []);
}

/** Tags as a plain record, for `toMatchObject`. */
export function tagRecord(tags: readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

/** Registers an image named `name` owned by this account (stands in for a baked `<app>-image`). */
export async function registerImage(ec2: EC2Client, name: string): Promise<string> {
  const { RegisterImageCommand } = await import('@aws-sdk/client-ec2');
  const response = await ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
    }),
  );
  if (!response.ImageId) throw new Error(`moto registered no image ${name}`);
  return response.ImageId;
}
