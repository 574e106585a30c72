/**
 * The environment's RDS PostgreSQL database and its subnet group. The data in
 * it is the one thing argos must never lose: it is encrypted, private, copies
 * its tags to snapshots, and is deleted only after a final snapshot unless the
 * user explicitly skipped it.
 */
import {
  CreateDBInstanceCommand,
  CreateDBSubnetGroupCommand,
  DeleteDBInstanceCommand,
  DeleteDBSubnetGroupCommand,
  DescribeDBInstancesCommand,
  DescribeDBSubnetGroupsCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { RDS_ERRORS } from './aws/error-codes.js';
import { ArgosError } from './errors.js';
import { makeTags, type EnvNames } from './names.js';
import { classify, ownedOrThrow, type Lookup } from './ownership.js';
import type { Secret } from './secret.js';
import { catchCodes, errorCode, hasErrorCode, waitFor, type Progress } from './wait.js';

/** Bound for the database to become available or to be deleted (safety.md: at least 40 minutes). */
export const DATABASE_TIMEOUT_MS = 45 * 60_000;

/** The database as argos needs it. */
export interface DatabaseInfo {
  identifier: string;
  status: string;
  address: string | undefined;
  port: number | undefined;
  deletionProtection: boolean;
}

/** What {@link ensureDatabase} creates. */
export interface DatabaseSpec {
  names: EnvNames;
  subnetIds: string[];
  securityGroupId: string;
  user: string;
  password: Secret;
  instanceClass: string;
  allocatedStorage: number;
  engineVersion: string;
  multiAz: boolean;
  deletionProtection: boolean;
}

/** The endpoint of an available database and whether this run created it. */
export interface EnsureDatabaseResult {
  identifier: string;
  address: string;
  port: number;
  created: boolean;
  /** Whether it already existed but was still being created (this run waited for it). */
  waited: boolean;
}

function toInfo(instance: DBInstance): DatabaseInfo {
  return {
    identifier: instance.DBInstanceIdentifier ?? '',
    status: instance.DBInstanceStatus ?? 'unknown',
    address: instance.Endpoint?.Address,
    port: instance.Endpoint?.Port,
    deletionProtection: instance.DeletionProtection ?? false,
  };
}

async function describeDatabase(rds: RDSClient, identifier: string): Promise<DBInstance | undefined> {
  const response = await catchCodes(
    () => rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier })),
    RDS_ERRORS.dbInstanceNotFound,
    undefined,
  );
  return response?.DBInstances?.[0];
}

/** The database, or `undefined` when there is none (whoever owns it: see {@link lookupDatabase}). */
export async function findDatabase(rds: RDSClient, identifier: string): Promise<DatabaseInfo | undefined> {
  const instance = await describeDatabase(rds, identifier);
  return instance ? toInfo(instance) : undefined;
}

/**
 * The database `identifier` of `owner`'s environment, checked by its tags
 * (`TagList` of DescribeDBInstances): one of that identifier made for another
 * app or environment is a conflict, never ours.
 */
export async function lookupDatabase(rds: RDSClient, identifier: string, owner: Pick<EnvNames, 'app' | 'env'>): Promise<Lookup<DatabaseInfo>> {
  const instance = await describeDatabase(rds, identifier);
  return classify(instance && toInfo(instance), { what: 'database', name: identifier, tags: instance?.TagList }, { app: owner.app, env: owner.env, group: 'database' });
}

/**
 * The environment's DB subnet group (its ARN), checked by its tags (ListTagsForResource:
 * DescribeDBSubnetGroups does not return them).
 */
export async function lookupDatabaseSubnetGroup(rds: RDSClient, names: EnvNames): Promise<Lookup<string>> {
  const name = names.databaseSubnetGroup;
  const response = await catchCodes(() => rds.send(new DescribeDBSubnetGroupsCommand({ DBSubnetGroupName: name })), RDS_ERRORS.dbSubnetGroupNotFound, undefined);
  const arn = response?.DBSubnetGroups?.[0]?.DBSubnetGroupArn;
  const tags = arn ? (await rds.send(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList : undefined;
  return classify(arn, { what: 'DB subnet group', name, tags }, { app: names.app, env: names.env, group: 'database' });
}

/** Creates the DB subnet group over the default VPC's subnets, unless it exists. Returns whether it created it. */
export async function ensureDatabaseSubnetGroup(rds: RDSClient, names: EnvNames, subnetIds: string[]): Promise<boolean> {
  if (ownedOrThrow(await lookupDatabaseSubnetGroup(rds, names), names)) return false;
  try {
    await rds.send(
      new CreateDBSubnetGroupCommand({
        DBSubnetGroupName: names.databaseSubnetGroup,
        DBSubnetGroupDescription: `argos: subnets of the ${names.env} database`,
        SubnetIds: subnetIds,
        Tags: makeTags({ app: names.app, env: names.env, group: 'database' }, names.databaseSubnetGroup),
      }),
    );
    return true;
  } catch (error) {
    if (hasErrorCode(error, RDS_ERRORS.dbSubnetGroupAlreadyExists)) return false;
    throw error;
  }
}

/**
 * Returns the database's endpoint once it is available: reuses an existing
 * instance (waiting if it is still being created) or creates one (encrypted,
 * private, tagged, in its subnet group and security group) and waits for it.
 */
export async function ensureDatabase(rds: RDSClient, spec: DatabaseSpec, wait: Progress): Promise<EnsureDatabaseResult> {
  const identifier = spec.names.database;
  // Another app's database of the same identifier is refused, never adopted.
  const existing = ownedOrThrow(await lookupDatabase(rds, identifier, spec.names), spec.names);
  if (existing?.status === 'deleting') {
    throw new ArgosError('FAILED', `the database ${identifier} is being deleted: wait until it is gone (argos ${spec.names.env} status) and run the command again`);
  }
  let created = false;
  if (!existing) {
    await ensureDatabaseSubnetGroup(rds, spec.names, spec.subnetIds);
    created = await createDatabase(rds, spec);
  }
  const waited = !created && existing?.status !== 'available';
  const available = await waitForDatabase(rds, identifier, wait);
  if (!available.address || available.port === undefined) {
    throw new ArgosError('FAILED', `the database ${identifier} is available but has no endpoint yet: run the command again in a minute`);
  }
  return { identifier, address: available.address, port: available.port, created, waited };
}

/** Returns true when it created the instance, false when one appeared meanwhile. */
async function createDatabase(rds: RDSClient, spec: DatabaseSpec): Promise<boolean> {
  const { names } = spec;
  try {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: names.database,
        DBName: names.databaseName,
        Engine: 'postgres',
        // RDS (and moto) need an explicit version for postgres; it comes from config.
        EngineVersion: spec.engineVersion,
        DBInstanceClass: spec.instanceClass,
        AllocatedStorage: spec.allocatedStorage,
        MasterUsername: spec.user,
        MasterUserPassword: spec.password.reveal(),
        MultiAZ: spec.multiAz,
        StorageEncrypted: true,
        PubliclyAccessible: false,
        CopyTagsToSnapshot: true,
        DeletionProtection: spec.deletionProtection,
        DBSubnetGroupName: names.databaseSubnetGroup,
        VpcSecurityGroupIds: [spec.securityGroupId],
        BackupRetentionPeriod: 7,
        Tags: makeTags({ app: names.app, env: names.env, group: 'database' }, names.database),
      }),
    );
    return true;
  } catch (error) {
    if (hasErrorCode(error, RDS_ERRORS.dbInstanceAlreadyExists)) return false;
    // AWS does not echo the password, but mask it anyway before the message travels on.
    const message = ((error as Error).message ?? '').replaceAll(spec.password.reveal(), '***');
    throw new ArgosError('FAILED', `could not create the database ${names.database}: ${message}`, { cause: errorCode(error) });
  }
}

/** Waits until the database is available (bounded, abortable). */
export async function waitForDatabase(rds: RDSClient, identifier: string, wait: Progress): Promise<DatabaseInfo> {
  return waitFor(
    async () => {
      const info = await findDatabase(rds, identifier);
      if (!info) throw new ArgosError('FAILED', `the database ${identifier} disappeared while argos waited for it: run the command again`);
      if (info.status === 'available') return { done: true, value: info };
      if (['failed', 'incompatible-parameters', 'incompatible-restore', 'storage-full', 'inaccessible-encryption-credentials'].includes(info.status)) {
        throw new ArgosError('FAILED', `the database ${identifier} is ${info.status}: see the RDS console for why`);
      }
      return { done: false, state: info.status };
    },
    {
      what: `the database ${identifier} to be available`,
      timeoutMs: DATABASE_TIMEOUT_MS,
      intervalMs: 15_000,
      maxIntervalMs: 30_000,
      signal: wait.signal,
      clock: wait.clock,
      onPoll: wait.onProgress,
    },
  );
}

/** `<identifier>-final-YYYYMMDD-HHMMSS` (UTC): the final snapshot's name. */
export function finalSnapshotName(identifier: string, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, '').replaceAll('-', '').replaceAll(':', '').replace('T', '-');
  return `${identifier}-final-${stamp}`;
}

/** How to delete. */
export interface DeleteDatabaseSpec {
  identifier: string;
  /** Name of the final snapshot; `undefined` only when the user asked to skip it. */
  finalSnapshot: string | undefined;
  /** Lift deletion protection: only after a confirmation that said so. */
  liftDeletionProtection: boolean;
  /** Whose it must be (by its tags): another app's database of that identifier is refused. */
  owner: Pick<EnvNames, 'app' | 'env'>;
}

/**
 * Deletes the database (after a final snapshot unless skipped) and waits until
 * it is gone. Returns whether it existed. Keeps automated backups: with the
 * final snapshot skipped, they are the last copy of the data.
 */
export async function deleteDatabase(rds: RDSClient, spec: DeleteDatabaseSpec, wait: Progress): Promise<boolean> {
  const info = ownedOrThrow(await lookupDatabase(rds, spec.identifier, spec.owner), spec.owner);
  if (!info) return false;
  if (info.status !== 'deleting') {
    if (info.deletionProtection) {
      if (!spec.liftDeletionProtection) {
        throw new ArgosError(
          'FAILED',
          `the database ${spec.identifier} has deletion protection on: confirm a decommission that lifts it, or turn it off in the RDS console`,
        );
      }
      await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: spec.identifier, DeletionProtection: false, ApplyImmediately: true }));
    }
    try {
      await rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: spec.identifier,
          ...(spec.finalSnapshot === undefined ? { SkipFinalSnapshot: true } : { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: spec.finalSnapshot }),
          DeleteAutomatedBackups: false,
        }),
      );
    } catch (error) {
      if (hasErrorCode(error, RDS_ERRORS.dbInstanceNotFound)) return true;
      // Deletion already under way (a concurrent or interrupted run): wait for it below.
      if (!hasErrorCode(error, RDS_ERRORS.dbInstanceInvalidState)) throw error;
    }
  }
  await waitFor(
    async () => {
      const current = await findDatabase(rds, spec.identifier);
      return current ? { done: false, state: current.status } : { done: true, value: undefined };
    },
    {
      what: `the database ${spec.identifier} to be deleted`,
      timeoutMs: DATABASE_TIMEOUT_MS,
      intervalMs: 15_000,
      maxIntervalMs: 30_000,
      signal: wait.signal,
      clock: wait.clock,
      onPoll: wait.onProgress,
    },
  );
  return true;
}

/** Deletes the DB subnet group; returns whether it existed. Refuses one that is not the environment's. */
export async function deleteDatabaseSubnetGroup(rds: RDSClient, names: EnvNames): Promise<boolean> {
  ownedOrThrow(await lookupDatabaseSubnetGroup(rds, names), names);
  return catchCodes(
    async () => {
      await rds.send(new DeleteDBSubnetGroupCommand({ DBSubnetGroupName: names.databaseSubnetGroup }));
      return true;
    },
    RDS_ERRORS.dbSubnetGroupNotFound,
    false,
  );
}
