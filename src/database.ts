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
  DeleteDBSnapshotCommand,
  DeleteDBSubnetGroupCommand,
  DescribeDBEngineVersionsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  DescribeDBSubnetGroupsCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  type DBInstance,
  type RDSClient,
} from '@aws-sdk/client-rds';
import { RDS_ERRORS } from './aws/error-codes.js';
import { ArgosError } from './errors.js';
import { makeTags, resourceName, type EnvNames } from './names.js';
import { classify, ownedOrThrow, type Lookup } from './ownership.js';
import type { Secret } from './secret.js';
import { catchCodes, errorCode, hasErrorCode, waitFor, type Progress, type WaitOptions } from './wait.js';

/** Bound for the database to become available or to be deleted (safety.md: at least 40 minutes). */
export const DATABASE_TIMEOUT_MS = 45 * 60_000;

/** The database as argos needs it. */
export interface DatabaseInfo {
  identifier: string;
  status: string;
  address: string | undefined;
  port: number | undefined;
  deletionProtection: boolean;
  instanceClass: string;
  /** The class a modification waits to apply in the next maintenance window, if any. */
  pendingInstanceClass: string | undefined;
}

/** What {@link ensureDatabase} creates. */
export interface DatabaseSpec {
  names: EnvNames;
  subnetIds: string[];
  securityGroupId: string;
  user: string;
  password: Secret;
  /** The class a new database is created with. */
  instanceClass: string;
  /** The class asked for (`--db-instance-type`); on an existing database `undefined` keeps its class. */
  requestedClass: string | undefined;
  /** Apply a change of class at once rather than in the next maintenance window (`--apply-now`). */
  applyNow: boolean;
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
  /** What this run changed on an existing database, e.g. its instance class; empty when nothing. */
  changes: string[];
}

function toInfo(instance: DBInstance): DatabaseInfo {
  return {
    identifier: instance.DBInstanceIdentifier ?? '',
    status: instance.DBInstanceStatus ?? 'unknown',
    address: instance.Endpoint?.Address,
    port: instance.Endpoint?.Port,
    deletionProtection: instance.DeletionProtection ?? false,
    instanceClass: instance.DBInstanceClass ?? 'unknown',
    pendingInstanceClass: instance.PendingModifiedValues?.DBInstanceClass,
  };
}

/** A change of instance class on an existing database, as the plan and the step say it. */
export interface InstanceClassChange {
  /** E.g. `instance class db.t3.micro → db.t3.small (applied in the next maintenance window)`. */
  description: string;
  /** Whether ModifyDBInstance must be called (false: the same change is already pending). */
  modify: boolean;
}

/**
 * How an existing database's class differs from the one asked for (no call);
 * `undefined` when nothing was asked or it already has it. RDS applies a
 * class change in the next maintenance window unless ApplyImmediately is set,
 * and the change causes an outage (ModifyDBInstance, DBInstanceClass); until
 * then it shows as PendingModifiedValues.DBInstanceClass.
 */
export function diffInstanceClass(info: DatabaseInfo, spec: Pick<DatabaseSpec, 'requestedClass' | 'applyNow'>): InstanceClassChange | undefined {
  const wanted = spec.requestedClass;
  if (wanted === undefined || (wanted === info.instanceClass && info.pendingInstanceClass === undefined)) return undefined;
  const from = `instance class ${info.instanceClass}${info.pendingInstanceClass ? ` (${info.pendingInstanceClass} pending)` : ''} → ${wanted}`;
  if (wanted === info.pendingInstanceClass && !spec.applyNow) {
    return { description: `${from} (already pending for the next maintenance window; --apply-now applies it now)`, modify: false };
  }
  return { description: `${from} (${spec.applyNow ? 'applied now: the database restarts' : 'applied in the next maintenance window'})`, modify: true };
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
 * Whether RDS offers PostgreSQL `version` for a new database: a problem to
 * report, naming the versions it offers, or none. A major version ("16") is
 * offered when any minor of it is: CreateDBInstance then uses the major's
 * default minor. DescribeDBEngineVersions lists only versions that can be
 * created unless IncludeAll is set, so a retired minor (16.4) is not found.
 */
export async function checkEngineVersion(rds: RDSClient, version: string, region: string): Promise<string[]> {
  const major = !version.includes('.');
  const matching = await listEngineVersions(rds, major ? { DBParameterGroupFamily: `postgres${version}` } : { EngineVersion: version });
  if (matching.length > 0) return [];
  const offered = summariseVersions(await listEngineVersions(rds, {}));
  return [
    `db_engine_version "${version}": RDS in ${region} does not offer PostgreSQL ${version}; set it to a major version such as "${offered[0]?.major ?? '16'}" ` +
      `(RDS picks its current minor) or to one it offers: ${offered.map(({ major: m, latest }) => `${m} (${latest.join(', ')})`).join('; ')}`,
  ];
}

/** Every PostgreSQL version RDS offers for new databases that matches `filter`, following the pages. */
async function listEngineVersions(rds: RDSClient, filter: { EngineVersion?: string; DBParameterGroupFamily?: string }): Promise<string[]> {
  const versions: string[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(new DescribeDBEngineVersionsCommand({ Engine: 'postgres', ...filter, Marker: marker, MaxRecords: 100 }));
    versions.push(...(page.DBEngineVersions ?? []).flatMap((entry) => (entry.EngineVersion ? [entry.EngineVersion] : [])));
    marker = page.Marker;
  } while (marker);
  return versions;
}

/** The versions by major, newest major first, each with its latest three minors (for a short message). */
function summariseVersions(versions: readonly string[]): { major: string; latest: string[] }[] {
  const parts = (version: string) => version.split('.').map(Number);
  const byMajor = new Map<string, string[]>();
  for (const version of versions) {
    const major = version.split('.')[0] ?? version;
    byMajor.set(major, [...(byMajor.get(major) ?? []), version]);
  }
  const newestFirst = (a: string, b: string): number => {
    const [x, y] = [parts(a), parts(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i += 1) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
    return 0;
  };
  return [...byMajor.entries()]
    .sort(([a], [b]) => newestFirst(a, b))
    .map(([major, list]) => ({ major, latest: [...list].sort(newestFirst).slice(0, 3).reverse() }));
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
  let available = await waitForDatabase(rds, identifier, wait);
  const changes: string[] = [];
  // Only once available: RDS refuses ModifyDBInstance while the instance is creating or modifying.
  const change = created ? undefined : diffInstanceClass(available, spec);
  if (change) changes.push(change.description);
  if (change?.modify && spec.requestedClass !== undefined) {
    available = await modifyInstanceClass(rds, identifier, spec.requestedClass, spec.applyNow, wait);
  }
  if (!available.address || available.port === undefined) {
    throw new ArgosError('FAILED', `the database ${identifier} is available but has no endpoint yet: run the command again in a minute`);
  }
  return { identifier, address: available.address, port: available.port, created, waited, changes };
}

/**
 * Changes the instance class: in the next maintenance window, or now (then
 * waits until RDS reports the new class and the instance available again: the
 * status may read `available` for a moment before it turns `modifying`).
 */
async function modifyInstanceClass(rds: RDSClient, identifier: string, instanceClass: string, applyNow: boolean, wait: Progress): Promise<DatabaseInfo> {
  wait.onProgress?.(`changing the instance class to ${instanceClass}${applyNow ? ' now' : ' in the next maintenance window'}`);
  await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: identifier, DBInstanceClass: instanceClass, ApplyImmediately: applyNow }));
  const current = await findDatabase(rds, identifier);
  if (!current) throw new ArgosError('FAILED', `the database ${identifier} disappeared while argos changed its class: run the command again`);
  if (!applyNow) return current;
  return waitFor(
    async () => {
      const info = await findDatabase(rds, identifier);
      if (!info) throw new ArgosError('FAILED', `the database ${identifier} disappeared while argos changed its class: run the command again`);
      return info.status === 'available' && info.instanceClass === instanceClass ? { done: true, value: info } : { done: false, state: `${info.status}, class ${info.instanceClass}` };
    },
    databaseWait(`the database ${identifier} to run as ${instanceClass}`, wait),
  );
}

/**
 * The bound and pace of every database wait (safety.md: RDS at least 40 minutes).
 * Every 10 s, not backing off: a new environment's app servers are ready long
 * before its database (commission configures them meanwhile), so every second
 * the database is noticed late is a second later serving. Six Describe calls a
 * minute, where the AWS CLI's `rds wait db-instance-available` makes two.
 */
function databaseWait(what: string, wait: Progress): WaitOptions {
  return { what, timeoutMs: DATABASE_TIMEOUT_MS, intervalMs: 10_000, maxIntervalMs: 10_000, signal: wait.signal, clock: wait.clock, onPoll: wait.onProgress };
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
    databaseWait(`the database ${identifier} to be available`, wait),
  );
}

/** `<identifier>-final-YYYYMMDD-HHMMSS` (UTC): the final snapshot's name. */
export function finalSnapshotName(identifier: string, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, '').replaceAll('-', '').replaceAll(':', '').replace('T', '-');
  return `${identifier}-final-${stamp}`;
}

/** A final snapshot kept of an environment's database: it costs snapshot storage until deleted. */
export interface FinalSnapshot {
  identifier: string;
  env: string;
  status: string;
  /** The database's allocated storage when the snapshot was taken (AllocatedStorage, GiB). */
  sizeGiB: number;
  created: Date | undefined;
}

/**
 * The app's final snapshots (of environment `env` only, when given), newest
 * first: manual DB snapshots named `<app>-<env>-database-final-…` that carry
 * the app's `App` and that `Env` tag (copied from the database: CopyTagsToSnapshot).
 * A snapshot under such a name with other tags is another app's: left out.
 */
export async function findFinalSnapshots(rds: RDSClient, app: string, env?: string): Promise<FinalSnapshot[]> {
  const found: FinalSnapshot[] = [];
  let marker: string | undefined;
  do {
    const page = await rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual', Marker: marker }));
    for (const snapshot of page.DBSnapshots ?? []) {
      const tags = new Map((snapshot.TagList ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
      const tagEnv = tags.get('Env');
      if (tags.get('App') !== app || tagEnv === undefined || (env !== undefined && tagEnv !== env)) continue;
      const identifier = snapshot.DBSnapshotIdentifier ?? '';
      if (!identifier.startsWith(`${resourceName(app, tagEnv, 'database')}-final-`)) continue;
      found.push({ identifier, env: tagEnv, status: snapshot.Status ?? 'unknown', sizeGiB: snapshot.AllocatedStorage ?? 0, created: snapshot.SnapshotCreateTime });
    }
    marker = page.Marker;
  } while (marker);
  return found.sort((a, b) => (b.created?.getTime() ?? 0) - (a.created?.getTime() ?? 0));
}

/** `20 GiB, taken 2026-01-02 03:04 UTC`. */
export function describeSnapshotSize(snapshot: FinalSnapshot): string {
  return `${snapshot.sizeGiB} GiB${snapshot.created ? `, taken ${snapshot.created.toISOString().slice(0, 16).replace('T', ' ')} UTC` : ''}`;
}

/** Deletes a final snapshot; succeeds when it is gone already. */
export async function deleteFinalSnapshot(rds: RDSClient, identifier: string): Promise<void> {
  await catchCodes(() => rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: identifier })), RDS_ERRORS.dbSnapshotNotFound, undefined);
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
    const gone = await startDeletion(rds, spec, wait);
    if (gone) return true;
  }
  await waitFor(async () => {
    const current = await findDatabase(rds, spec.identifier);
    return current ? { done: false, state: current.status } : { done: true, value: undefined };
  }, databaseWait(`the database ${spec.identifier} to be deleted`, wait));
  return true;
}

/**
 * States in which RDS accepts DeleteDBInstance. In any other (creating,
 * backing-up, modifying, upgrading, rebooting, starting, stopping, …) it
 * answers InvalidDBInstanceState, so argos waits for one of these first.
 */
const DELETABLE_STATES = ['available', 'stopped', 'storage-full', 'failed', 'incompatible-restore', 'incompatible-network', 'incompatible-parameters', 'incompatible-option-group', 'inaccessible-encryption-credentials'];
/**
 * States in which RDS deletes only without a final snapshot (DeleteDBInstance:
 * "when a DB instance is in a failure state and has a status of failed,
 * incompatible-restore, or incompatible-network, RDS can delete the instance
 * only if you enable SkipFinalSnapshot").
 */
const NO_SNAPSHOT_STATES = ['failed', 'incompatible-restore', 'incompatible-network'];

/**
 * Waits (bounded, abortable, shown) until the database is in a state RDS can
 * delete it from, then asks for the deletion. Only a deletion already under
 * way (status `deleting`) counts as asked: any other InvalidDBInstanceState
 * means "not now", and the wait goes on. Returns true when it is already gone.
 */
async function startDeletion(rds: RDSClient, spec: DeleteDatabaseSpec, wait: Progress): Promise<boolean> {
  return waitFor(async () => {
    const current = await findDatabase(rds, spec.identifier);
    if (!current) return { done: true, value: true };
    if (current.status === 'deleting') return { done: true, value: false };
    if (spec.finalSnapshot !== undefined && NO_SNAPSHOT_STATES.includes(current.status)) {
      throw new ArgosError(
        'FAILED',
        `the database ${spec.identifier} is ${current.status}: RDS can delete it only without a final snapshot. ` +
          `Take what data you can from its automated backups, then decommission with --skip-final-snapshot (automated backups are kept)`,
      );
    }
    if (!DELETABLE_STATES.includes(current.status)) return { done: false, state: `${current.status}: RDS deletes it once that has finished` };
    try {
      await rds.send(
        new DeleteDBInstanceCommand({
          DBInstanceIdentifier: spec.identifier,
          ...(spec.finalSnapshot === undefined ? { SkipFinalSnapshot: true } : { SkipFinalSnapshot: false, FinalDBSnapshotIdentifier: spec.finalSnapshot }),
          DeleteAutomatedBackups: false,
        }),
      );
      return { done: true, value: false };
    } catch (error) {
      if (hasErrorCode(error, RDS_ERRORS.dbInstanceNotFound)) return { done: true, value: true };
      // Its state changed between the lookup and the call (or a deletion began): look again.
      if (hasErrorCode(error, RDS_ERRORS.dbInstanceInvalidState)) return { done: false, state: `not deletable yet (${(error as Error).message})` };
      throw error;
    }
  }, databaseWait(`the database ${spec.identifier} to reach a state in which it can be deleted`, wait));
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
