/**
 * Failure paths moto cannot produce: DependencyViolation while AWS releases a
 * group, a database that never becomes available, an AWS error carrying the password.
 */
import {
  DeleteSecurityGroupCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateDBInstanceCommand,
  CreateDBSubnetGroupCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSubnetGroupsCommand,
  ModifyDBInstanceCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { beforeEach, describe, expect, it } from 'vitest';
import { deleteDatabase, ensureDatabase, type DatabaseSpec } from '../../src/database.js';
import { makeNames, makeTags } from '../../src/names.js';
import { Secret } from '../../src/secret.js';
import { deleteSecurityGroups } from '../../src/security.js';
import { VirtualClock } from '../support/virtual-clock.js';

const names = makeNames('argos', 'staging');
/** The tags argos gives the environment's database: what the ownership check expects. */
const OWN_TAGS = makeTags({ app: names.app, env: names.env, group: 'database' }, names.database);
const CANARY = 'canary-Secret-9f3b2c';
const ec2Mock = mockClient(EC2Client);
const rdsMock = mockClient(RDSClient);

beforeEach(() => {
  ec2Mock.reset();
  rdsMock.reset();
});

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

describe('deleteSecurityGroups', () => {
  it('retries DependencyViolation, naming what holds the group, then deletes', async () => {
    // GIVEN the database group referenced by nothing, held twice by an RDS network interface
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-db', GroupName: 'argos-staging-database', Tags: makeTags({ app: 'argos', env: 'staging', group: 'database' }, 'argos-staging-database'), IpPermissions: [] }],
    });
    ec2Mock
      .on(DeleteSecurityGroupCommand)
      .rejectsOnce(awsError('DependencyViolation', 'resource sg-db has a dependent object'))
      .rejectsOnce(awsError('DependencyViolation', 'resource sg-db has a dependent object'))
      .resolves({});
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', Description: 'RDSNetworkInterface' }] });
    const notes: string[] = [];
    const clock = new VirtualClock();
    // WHEN deleting
    const deleted = await deleteSecurityGroups(new EC2Client({}), names, 'vpc-1', { signal: new AbortController().signal, clock, onProgress: (n) => notes.push(n) });
    // THEN it retried twice, said who held it, and deleted it
    expect(deleted).toEqual(['argos-staging-database']);
    expect(ec2Mock).toHaveReceivedCommandTimes(DeleteSecurityGroupCommand, 3);
    expect(notes[0]).toBe('argos-staging-database is still in use by eni-1 (RDSNetworkInterface); retrying');
    expect(clock.sleeps.length).toBe(2);
  });

  it('revokes rules naming another argos group before deleting any group', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        { GroupId: 'sg-app', GroupName: 'argos-staging-app', Tags: makeTags({ app: 'argos', env: 'staging', group: 'app' }, 'argos-staging-app'), IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8000, ToPort: 8000, UserIdGroupPairs: [{ GroupId: 'sg-elb' }] }] },
        { GroupId: 'sg-elb', GroupName: 'argos-staging-elb', Tags: makeTags({ app: 'argos', env: 'staging', group: 'elb' }, 'argos-staging-elb'), IpPermissions: [] },
      ],
    });
    ec2Mock.on(RevokeSecurityGroupIngressCommand).resolves({});
    ec2Mock.on(DeleteSecurityGroupCommand).resolves({});
    await deleteSecurityGroups(new EC2Client({}), names, 'vpc-1', { signal: new AbortController().signal });
    const order = ec2Mock.calls().map((call) => call.args[0].constructor.name);
    expect(order).toEqual(['DescribeSecurityGroupsCommand', 'RevokeSecurityGroupIngressCommand', 'DeleteSecurityGroupCommand', 'DeleteSecurityGroupCommand']);
    expect(ec2Mock).toHaveReceivedCommandWith(RevokeSecurityGroupIngressCommand, { GroupId: 'sg-app' });
  });

  it('gives up after the bound with an error naming the group', async () => {
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [{ GroupId: 'sg-db', GroupName: 'argos-staging-database', Tags: makeTags({ app: 'argos', env: 'staging', group: 'database' }, 'argos-staging-database') }],
    });
    ec2Mock.on(DeleteSecurityGroupCommand).rejects(awsError('DependencyViolation'));
    ec2Mock.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    const clock = new VirtualClock();
    await expect(deleteSecurityGroups(new EC2Client({}), names, 'vpc-1', { signal: new AbortController().signal, clock })).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringContaining('security group argos-staging-database (sg-db) to be free to delete'),
    });
    expect(clock.now() - Date.parse('2026-11-25T10:00:00Z')).toBe(15 * 60_000);
  });
});

describe('ensureDatabase', () => {
  const spec = (): DatabaseSpec => ({
    names,
    subnetIds: ['subnet-a', 'subnet-b'],
    securityGroupId: 'sg-db',
    user: 'argos',
    password: new Secret(CANARY),
    instanceClass: 'db.t3.micro',
    requestedClass: undefined,
    applyNow: false,
    allocatedStorage: 20,
    engineVersion: '16.4',
    multiAz: false,
    deletionProtection: true,
  });

  it('times out with a clear error when the database stays creating past the bound', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: names.database, DBInstanceStatus: 'creating', TagList: makeTags({ app: names.app, env: names.env, group: 'database' }, names.database) }] });
    const clock = new VirtualClock();
    const notes: string[] = [];
    await expect(ensureDatabase(new RDSClient({}), spec(), { signal: new AbortController().signal, clock, onProgress: (n) => notes.push(n) })).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringMatching(/^timed out after 45m00s waiting for the database argos-staging-database to be available \(last state: creating\); .*run the command again/),
    });
    expect(notes.every((note) => note === 'creating')).toBe(true);
    expect(rdsMock).not.toHaveReceivedCommand(CreateDBInstanceCommand);
  });

  it('passes the password only to CreateDBInstance and masks it in errors', async () => {
    rdsMock.on(DescribeDBInstancesCommand).rejects(awsError('DBInstanceNotFoundFault'));
    rdsMock.on(DescribeDBSubnetGroupsCommand).rejects(awsError('DBSubnetGroupNotFoundFault'));
    rdsMock.on(CreateDBSubnetGroupCommand).resolves({});
    // An AWS error that (hypothetically) quotes the request.
    rdsMock.on(CreateDBInstanceCommand).rejects(awsError('InvalidParameterValue', `MasterUserPassword ${CANARY} is not valid`));
    const error = (await ensureDatabase(new RDSClient({}), spec(), { signal: new AbortController().signal }).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('could not create the database argos-staging-database: MasterUserPassword *** is not valid');
    expect(JSON.stringify(error)).not.toContain(CANARY);
    expect(rdsMock).toHaveReceivedCommandWith(CreateDBInstanceCommand, { MasterUserPassword: CANARY, StorageEncrypted: true, PubliclyAccessible: false });
  });
});

describe('ensureDatabase on an existing database with --db-instance-type', () => {
  const existing = (extra: object = {}) => ({
    DBInstances: [{ DBInstanceIdentifier: names.database, DBInstanceStatus: 'available', DBInstanceClass: 'db.t3.micro', Endpoint: { Address: 'db.example', Port: 5432 }, TagList: OWN_TAGS, ...extra }],
  });
  const spec = (overrides: Partial<DatabaseSpec>): DatabaseSpec => ({
    names, subnetIds: [], securityGroupId: 'sg-db', user: 'argos', password: new Secret(CANARY), instanceClass: 'db.t3.micro',
    requestedClass: undefined, applyNow: false, allocatedStorage: 20, engineVersion: '16', multiAz: false, deletionProtection: true, ...overrides,
  });
  const progress = () => ({ signal: new AbortController().signal, clock: new VirtualClock() });

  it('modifies the class in the next maintenance window and says so', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves(existing());
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    const result = await ensureDatabase(new RDSClient({}), spec({ requestedClass: 'db.t3.small' }), progress());
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBInstanceCommand, { DBInstanceIdentifier: names.database, DBInstanceClass: 'db.t3.small', ApplyImmediately: false });
    expect(result.changes).toEqual(['instance class db.t3.micro → db.t3.small (applied in the next maintenance window)']);
  });

  it('does not ask again for a change already pending, and leaves the class alone when none is asked for', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves(existing({ PendingModifiedValues: { DBInstanceClass: 'db.t3.small' } }));
    const pending = await ensureDatabase(new RDSClient({}), spec({ requestedClass: 'db.t3.small' }), progress());
    const plain = await ensureDatabase(new RDSClient({}), spec({}), progress());
    expect(rdsMock).not.toHaveReceivedCommand(ModifyDBInstanceCommand);
    expect(pending.changes[0]).toMatch(/already pending for the next maintenance window; --apply-now applies it now/);
    expect(plain.changes).toEqual([]);
  });

  it('with --apply-now applies at once and waits until RDS runs the new class', async () => {
    rdsMock
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(existing())
      .resolvesOnce(existing())
      .resolvesOnce(existing({ PendingModifiedValues: { DBInstanceClass: 'db.t3.small' } }))
      .resolvesOnce(existing({ DBInstanceStatus: 'modifying' }))
      .resolves(existing({ DBInstanceClass: 'db.t3.small' }));
    rdsMock.on(ModifyDBInstanceCommand).resolves({});
    const result = await ensureDatabase(new RDSClient({}), spec({ requestedClass: 'db.t3.small', applyNow: true }), progress());
    expect(rdsMock).toHaveReceivedCommandWith(ModifyDBInstanceCommand, { DBInstanceClass: 'db.t3.small', ApplyImmediately: true });
    expect(rdsMock).toHaveReceivedCommandTimes(DescribeDBInstancesCommand, 5);
    expect(result.changes).toEqual(['instance class db.t3.micro → db.t3.small (applied now: the database restarts)']);
  });
});

describe('deleteDatabase', () => {
  /** A database that is `status` until the third lookup, then available; RDS refuses its deletion until then. */
  function databaseBusyUntilThirdLookup(status: string): { deleteCalls: () => number } {
    let current = status;
    let lookups = 0;
    let deletes = 0;
    rdsMock.on(DescribeDBInstancesCommand).callsFake(() => {
      lookups += 1;
      if (lookups === 3 && current === status) current = 'available';
      if (current === 'gone') throw awsError('DBInstanceNotFoundFault');
      const shown = current;
      if (current === 'deleting') current = 'gone';
      return { DBInstances: [{ DBInstanceIdentifier: names.database, DBInstanceStatus: shown, TagList: OWN_TAGS }] };
    });
    rdsMock.on(DeleteDBInstanceCommand).callsFake(() => {
      deletes += 1;
      // AWS: InvalidDBInstanceState unless the instance is in a deletable state.
      if (current !== 'available') throw awsError('InvalidDBInstanceStateFault', `Instance ${names.database} is not in available state.`);
      current = 'deleting';
      return {};
    });
    return { deleteCalls: () => deletes };
  }

  it.each(['backing-up', 'modifying', 'creating'])('waits while the database is %s, then deletes it with its final snapshot', async (status) => {
    const busy = databaseBusyUntilThirdLookup(status);
    const notes: string[] = [];
    const existed = await deleteDatabase(
      new RDSClient({}),
      { identifier: names.database, finalSnapshot: 'argos-staging-database-final-20260101-000000', liftDeletionProtection: false, owner: names },
      { signal: new AbortController().signal, clock: new VirtualClock(), onProgress: (n) => notes.push(n) },
    );
    expect(existed).toBe(true);
    expect(notes).toContain(`${status}: RDS deletes it once that has finished`);
    expect(busy.deleteCalls()).toBe(1);
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: 'argos-staging-database-final-20260101-000000' });
  });

  it('refuses a final snapshot RDS cannot take from a failed database, deleting nothing', async () => {
    rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: names.database, DBInstanceStatus: 'failed', TagList: OWN_TAGS }] });
    await expect(
      deleteDatabase(new RDSClient({}), { identifier: names.database, finalSnapshot: 'snap', liftDeletionProtection: false, owner: names }, { signal: new AbortController().signal, clock: new VirtualClock() }),
    ).rejects.toThrow(/is failed: RDS can delete it only without a final snapshot.*--skip-final-snapshot/);
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
  });

  it('counts a database deleted between the lookup and the delete as deleted, with the SDK\'s real error shape', async () => {
    // GIVEN a database found once, then gone: the SDK throws `DBInstanceNotFoundFault` carrying the wire code `DBInstanceNotFound`
    rdsMock.on(DescribeDBInstancesCommand).resolvesOnce({ DBInstances: [{ DBInstanceIdentifier: names.database, DBInstanceStatus: 'available', TagList: makeTags({ app: names.app, env: names.env, group: 'database' }, names.database) }] });
    rdsMock.on(DeleteDBInstanceCommand).rejects(Object.assign(awsError('DBInstanceNotFoundFault'), { Code: 'DBInstanceNotFound' }));
    // WHEN deleting it
    const existed = await deleteDatabase(
      new RDSClient({}),
      { identifier: names.database, finalSnapshot: undefined, liftDeletionProtection: false, owner: names },
      { signal: new AbortController().signal, clock: new VirtualClock() },
    );
    // THEN the delete succeeds: it existed when looked up
    expect(existed).toBe(true);
  });
});
