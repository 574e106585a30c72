/**
 * The database and the broker against moto: created once with the promised
 * settings, reused on a second run, deleted (with a final snapshot unless
 * skipped) idempotently.
 */
import { DescribeInstancesCommand, DescribeVolumesCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, DescribeDBSubnetGroupsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-rds';
import { CreateKeyPairCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc, type DefaultVpc } from '../../src/aws/vpc.js';
import { deleteBroker, ensureBroker, findBrokers } from '../../src/broker.js';
import { deleteDatabase, deleteDatabaseSubnetGroup, ensureDatabase, finalSnapshotName, findDatabase, type DatabaseSpec } from '../../src/database.js';
import { makeNames } from '../../src/names.js';
import { Secret } from '../../src/secret.js';
import { ensureSecurityGroups, type SecurityGroupIds } from '../../src/security.js';

const names = makeNames('argos', 'staging');
const signal = new AbortController().signal;
let clients: AwsClients;
let vpc: DefaultVpc;
let groups: SecurityGroupIds;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  vpc = await findDefaultVpc(clients.ec2, 'us-east-1');
  groups = (await ensureSecurityGroups(clients.ec2, { names, vpcId: vpc.vpcId, appPort: 8000 }, { signal: new AbortController().signal })).ids;
});
afterAll(() => clients.destroy());

function spec(overrides: Partial<DatabaseSpec> = {}): DatabaseSpec {
  return {
    names,
    subnetIds: vpc.subnets.map((s) => s.subnetId),
    securityGroupId: groups.database,
    user: 'argos',
    password: new Secret('canary-Secret-9f3b2c'),
    instanceClass: 'db.t3.micro',
    requestedClass: undefined,
    applyNow: false,
    allocatedStorage: 20,
    engineVersion: '16.4',
    multiAz: false,
    deletionProtection: true,
    ...overrides,
  };
}

describe('database', () => {
  it('creates an encrypted, private PostgreSQL instance in its subnet group, tagged', async () => {
    const result = await ensureDatabase(clients.rds, spec(), { signal });
    expect(result).toMatchObject({ identifier: 'argos-staging-database', created: true, port: 5432 });
    expect(result.address).toContain('argos-staging-database');
    const db = (await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'argos-staging-database' }))).DBInstances?.[0];
    expect(db).toMatchObject({
      Engine: 'postgres',
      EngineVersion: '16.4',
      DBName: 'argos_staging',
      MasterUsername: 'argos',
      StorageEncrypted: true,
      PubliclyAccessible: false,
      CopyTagsToSnapshot: true,
      DeletionProtection: true,
      MultiAZ: false,
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: 20,
    });
    expect(db?.DBSubnetGroup?.DBSubnetGroupName).toBe('argos-staging-database');
    expect(db?.VpcSecurityGroups?.map((g) => g.VpcSecurityGroupId)).toEqual([groups.database]);
    const tags = await clients.rds.send(new ListTagsForResourceCommand({ ResourceName: db?.DBInstanceArn }));
    expect(Object.fromEntries((tags.TagList ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      Name: 'argos-staging-database',
      App: 'argos',
      Env: 'staging',
      Group: 'database',
      ManagedBy: 'argos',
    });
    const subnetGroup = await clients.rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: 'argos-staging-database' }));
    expect(subnetGroup.DBSubnetGroups?.[0]?.Subnets?.map((s) => s.SubnetIdentifier).sort()).toEqual(vpc.subnets.map((s) => s.subnetId).sort());
  });

  it('reuses the existing instance on a second run', async () => {
    const again = await ensureDatabase(clients.rds, spec(), { signal });
    expect(again).toMatchObject({ created: false, waited: false });
    const all = await clients.rds.send(new DescribeDBInstancesCommand({}));
    expect(all.DBInstances).toHaveLength(1);
  });

  it('refuses to delete a protected database unless lifting was confirmed', async () => {
    await expect(
      deleteDatabase(clients.rds, { identifier: names.database, finalSnapshot: 'x-final', liftDeletionProtection: false, owner: names }, { signal }),
    ).rejects.toThrow(/has deletion protection on: confirm a decommission that lifts it/);
    expect(await findDatabase(clients.rds, names.database)).toBeDefined();
  });

  it('takes a final snapshot, deletes, and is idempotent', async () => {
    const snapshot = finalSnapshotName(names.database, new Date('2026-11-25T13:04:05Z'));
    expect(snapshot).toBe('argos-staging-database-final-20261125-130405');
    expect(await deleteDatabase(clients.rds, { identifier: names.database, finalSnapshot: snapshot, liftDeletionProtection: true, owner: names }, { signal })).toBe(true);
    expect(await findDatabase(clients.rds, names.database)).toBeUndefined();
    const snapshots = await clients.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshot }));
    expect(snapshots.DBSnapshots?.[0]?.DBInstanceIdentifier).toBe(names.database);
    expect(await deleteDatabase(clients.rds, { identifier: names.database, finalSnapshot: snapshot, liftDeletionProtection: true, owner: names }, { signal })).toBe(false);
    expect(await deleteDatabaseSubnetGroup(clients.rds, names)).toBe(true);
    expect(await deleteDatabaseSubnetGroup(clients.rds, names)).toBe(false);
  });

  it('leaves no final snapshot when the user skipped it', async () => {
    // Another environment: moto names automated snapshots by the minute, so re-creating
    // the same identifier within a minute collides with the kept automated backup.
    const qa = makeNames('argos', 'qa');
    await ensureDatabase(clients.rds, spec({ names: qa, deletionProtection: false }), { signal });
    await deleteDatabase(clients.rds, { identifier: qa.database, finalSnapshot: undefined, liftDeletionProtection: false, owner: qa }, { signal });
    expect(await findDatabase(clients.rds, qa.database)).toBeUndefined();
    const snapshots = await clients.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: qa.database, SnapshotType: 'manual' }));
    expect(snapshots.DBSnapshots).toEqual([]);
  });
});

describe('broker', () => {
  let imageId: string;

  beforeAll(async () => {
    await clients.ec2.send(new CreateKeyPairCommand({ KeyName: 'argos-test' }));
    // Stands in for the baked image.
    const image = await clients.ec2.send(
      new RegisterImageCommand({ Name: 'argos-image', RootDeviceName: '/dev/sda1', Architecture: 'x86_64', VirtualizationType: 'hvm' }),
    );
    imageId = image.ImageId ?? '';
  });

  const brokerSpec = () => ({
    names,
    imageId,
    instanceType: 't3.small',
    keyName: 'argos-test',
    securityGroupId: groups.broker,
    subnetId: vpc.subnets[0]?.subnetId,
    rootVolumeSize: 16,
  });

  it('launches one broker, IMDSv2 required, encrypted, tagged on create', async () => {
    expect(await findBrokers(clients.ec2, names)).toEqual([]);
    const result = await ensureBroker(clients.ec2, brokerSpec(), { signal });
    expect(result.created).toBe(true);
    expect(result.privateDnsName).toMatch(/internal$/);
    const instance = (await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [result.instanceId] }))).Reservations?.[0]?.Instances?.[0];
    expect(instance?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(instance?.SecurityGroups?.map((g) => g.GroupId)).toEqual([groups.broker]);
    expect(Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({ Name: 'argos-staging-broker', Group: 'broker', Env: 'staging', ManagedBy: 'argos' });
    const volumes = await clients.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [result.instanceId] }] }));
    expect(volumes.Volumes?.map((v) => [v.Encrypted, v.Size])).toEqual([[true, 16]]);
    expect(volumes.Volumes?.[0]?.Tags?.find((t) => t.Key === 'Group')?.Value).toBe('broker');
  });

  it('reuses the running broker', async () => {
    const again = await ensureBroker(clients.ec2, brokerSpec(), { signal });
    expect(again.created).toBe(false);
    expect(await findBrokers(clients.ec2, names)).toHaveLength(1);
  });

  it('terminates it, and a second delete finds nothing', async () => {
    expect(await deleteBroker(clients.ec2, names, { signal })).toHaveLength(1);
    expect(await findBrokers(clients.ec2, names)).toEqual([]);
    expect(await deleteBroker(clients.ec2, names, { signal })).toEqual([]);
  });
});
