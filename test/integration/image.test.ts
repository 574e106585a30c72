/**
 * The base image against moto: bake once, reuse, clean; nothing left behind
 * after a failure; leftovers of a killed bake removed first; SSH only from the
 * caller's /32. (The real playbook on a real target: image-bake.test.ts.)
 */
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc, type DefaultVpc } from '../../src/aws/vpc.js';
import { deleteImage, ensureImage, findBakeLeftovers, findImage, type BakeSpec } from '../../src/image.js';
import { makeNames, makeTags, toTagSpecifications } from '../../src/names.js';
import { TEMPORARY_SSH_DESCRIPTION } from '../../src/security.js';
import { resetMoto } from '../support/moto.js';

const names = makeNames('argos', 'staging');
const BASE_AMI = 'ami-04681a1dbd79675a5';
const signal = new AbortController().signal;
let clients: AwsClients;
let vpc: DefaultVpc;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
});
afterAll(() => clients.destroy());

async function freshAccount(): Promise<void> {
  await resetMoto(process.env['AWS_ENDPOINT_URL'] ?? '');
  vpc = await findDefaultVpc(clients.ec2, 'us-east-1');
  await clients.ec2.send(new CreateKeyPairCommand({ KeyName: 'argos-test' }));
}

interface Observed {
  sshHosts: string[];
  provisioned: string[];
  sshRules: string[];
}

function bakeSpec(observed: Observed, provision?: (host: string) => Promise<void>): BakeSpec {
  return {
    names,
    vpcId: vpc.vpcId,
    subnetId: vpc.subnets[0]?.subnetId,
    baseAmi: BASE_AMI,
    instanceType: 't3.small',
    keyName: 'argos-test',
    rootVolumeSize: 16,
    sshCidr: '203.0.113.7/32',
    waitForSsh: async (host) => {
      observed.sshHosts.push(host);
    },
    provision: async (host) => {
      // While the playbook would run: what SSH access exists?
      const groups = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [names.imageSecurityGroup] }] }));
      for (const permission of groups.SecurityGroups?.[0]?.IpPermissions ?? []) {
        for (const range of permission.IpRanges ?? []) observed.sshRules.push(`${permission.FromPort} ${range.CidrIp} ${range.Description}`);
      }
      observed.provisioned.push(host);
      await provision?.(host);
    },
  };
}

async function liveInstances(): Promise<string[]> {
  const response = await clients.ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }),
  );
  return (response.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId ?? ''));
}

async function ownImages(): Promise<string[]> {
  const response = await clients.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return (response.Images ?? []).map((i) => i.ImageId ?? '');
}

describe('ensureImage', () => {
  beforeAll(freshAccount);
  const observed: Observed = { sshHosts: [], provisioned: [], sshRules: [] };

  it('bakes exactly one available image and leaves no bake instance or group', async () => {
    const result = await ensureImage(clients.ec2, names, async () => bakeSpec(observed), { signal });
    expect(result.outcome).toBe('baked');
    expect(result.image.state).toBe('available');
    await result.cleanup;
    expect(await ownImages()).toEqual([result.image.imageId]);
    expect(observed.provisioned).toHaveLength(1);
    expect(observed.provisioned[0]).toMatch(/amazonaws\.com$/);
    expect(observed.sshHosts).toEqual(observed.provisioned);
    expect(await liveInstances()).toEqual([]);
    expect(await findBakeLeftovers(clients.ec2, names)).toEqual({ instanceIds: [], securityGroupIds: [] });
  });

  it('opened SSH to the caller /32 alone, marked temporary', () => {
    expect(observed.sshRules).toEqual([`22 203.0.113.7/32 ${TEMPORARY_SSH_DESCRIPTION}`]);
  });

  it('tags the image and its snapshots', async () => {
    const image = await findImage(clients.ec2, names);
    const described = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [image?.imageId ?? ''] }));
    const expected = { Name: 'argos-image', App: 'argos', Group: 'image', ManagedBy: 'argos' };
    expect(Object.fromEntries((described.Images?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual(expected);
    expect(image?.snapshotIds.length).toBeGreaterThan(0);
    const snapshots = await clients.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: image?.snapshotIds }));
    for (const snapshot of snapshots.Snapshots ?? []) {
      expect(Object.fromEntries((snapshot.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual(expected);
    }
  });

  it('reuses the image on a second call and launches nothing', async () => {
    let prepared = false;
    const result = await ensureImage(clients.ec2, names, async () => {
      prepared = true;
      return bakeSpec(observed);
    }, { signal });
    expect(result.outcome).toBe('reused');
    expect(prepared).toBe(false);
    const all = await clients.ec2.send(new DescribeInstancesCommand({}));
    expect((all.Reservations ?? []).flatMap((r) => r.Instances ?? [])).toHaveLength(1); // the one terminated bake instance
  });

  it('clean removes the image and its snapshots, and the second clean finds nothing', async () => {
    const image = await findImage(clients.ec2, names);
    const result = await deleteImage(clients.ec2, names, { signal });
    expect(result.image?.imageId).toBe(image?.imageId);
    expect(result.snapshotIds).toEqual(image?.snapshotIds);
    expect(await ownImages()).toEqual([]);
    const snapshots = await clients.ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }] }));
    expect(snapshots.Snapshots).toEqual([]);
    expect(await deleteImage(clients.ec2, names, { signal })).toEqual({ image: undefined, snapshotIds: [], leftovers: { instanceIds: [], securityGroupIds: [] } });
  });
});

describe('a failed bake', () => {
  beforeEach(freshAccount);

  it('leaves no instance, security group or image when the playbook fails', async () => {
    const observed: Observed = { sshHosts: [], provisioned: [], sshRules: [] };
    const failing = bakeSpec(observed, async () => {
      throw new Error('ansible-playbook playbooks/image.yml failed');
    });
    await expect(ensureImage(clients.ec2, names, async () => failing, { signal })).rejects.toThrow('image.yml failed');
    expect(observed.provisioned).toHaveLength(1);
    expect(await liveInstances()).toEqual([]);
    expect(await ownImages()).toEqual([]);
    expect(await findBakeLeftovers(clients.ec2, names)).toEqual({ instanceIds: [], securityGroupIds: [] });
  });

  it('removes a killed run’s tagged bake instance and group before baking', async () => {
    // GIVEN what a killed bake leaves: the tagged group and a running tagged instance
    const tags = makeTags({ app: 'argos', group: 'image' }, 'argos-image');
    const group = await clients.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: names.imageSecurityGroup,
        Description: 'left over',
        VpcId: vpc.vpcId,
        TagSpecifications: toTagSpecifications(['security-group'] as const, tags),
      }),
    );
    const orphan = await clients.ec2.send(
      new RunInstancesCommand({ ImageId: BASE_AMI, MinCount: 1, MaxCount: 1, KeyName: 'argos-test', SecurityGroupIds: [group.GroupId ?? ''], TagSpecifications: toTagSpecifications(['instance'] as const, tags) }),
    );
    const orphanId = orphan.Instances?.[0]?.InstanceId ?? '';
    // WHEN ensuring the image
    const observed: Observed = { sshHosts: [], provisioned: [], sshRules: [] };
    const result = await ensureImage(clients.ec2, names, async () => bakeSpec(observed), { signal });
    await result.cleanup;
    // THEN the leftovers were removed first, and only the new image remains
    expect(result.removedLeftovers).toEqual({ instanceIds: [orphanId], securityGroupIds: [group.GroupId] });
    expect(result.outcome).toBe('baked');
    expect(await liveInstances()).toEqual([]);
    expect(await ownImages()).toEqual([result.image.imageId]);
    expect(await findBakeLeftovers(clients.ec2, names)).toEqual({ instanceIds: [], securityGroupIds: [] });
  });
});
