/**
 * What an environment keeps and costs after it is gone: final DB snapshots
 * shown by status and decommission, and deleted by clean only when asked
 * (`--final-snapshots <days>`), against moto.
 */
import { CreateDBInstanceCommand, CreateDBSnapshotCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { makeTags } from '../../src/names.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';

let clients: AwsClients;
let project: string;

/** A database of `env` and a final snapshot of it (moto dates it now), tagged as CopyTagsToSnapshot tags it. */
async function makeDatabase(app: string, env: string, storage: number): Promise<void> {
  await clients.rds.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: `${app}-${env}-database`,
      Engine: 'postgres',
      EngineVersion: '16.3',
      DBInstanceClass: 'db.t3.micro',
      AllocatedStorage: storage,
      MasterUsername: 'argos',
      MasterUserPassword: 'not-the-canary-1',
      CopyTagsToSnapshot: true,
      Tags: makeTags({ app, env, group: 'database' }, `${app}-${env}-database`),
    }),
  );
}
const snapshot = (app: string, env: string, stamp: string, tagApp = app) =>
  clients.rds.send(
    new CreateDBSnapshotCommand({
      DBInstanceIdentifier: `${app}-${env}-database`,
      DBSnapshotIdentifier: `${app}-${env}-database-final-${stamp}`,
      // Given tags replace the copied ones: how a foreign app's snapshot under this app's names looks.
      ...(tagApp === app ? {} : { Tags: makeTags({ app: tagApp, env, group: 'database' }, 'foreign') }),
    }),
  );
const snapshotIds = async () => ((await clients.rds.send(new DescribeDBSnapshotsCommand({ SnapshotType: 'manual' }))).DBSnapshots ?? []).map((s) => s.DBSnapshotIdentifier).sort();

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  await makeDatabase('argos', 'staging', 20);
  await makeDatabase('argos', 'prod', 50);
  await snapshot('argos', 'staging', '20260101-000000');
  // Taken a moment later: the newest of staging.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await snapshot('argos', 'staging', '20260201-000000');
  await snapshot('argos', 'prod', '20260101-000000');
  await snapshot('argos', 'staging', '20250101-000000', 'someone-else');
});
afterAll(() => clients.destroy());

const argos = (env: string, ...args: string[]) => runCli([env, ...args], { cwd: project, env: fakeAwsEnvironment, timeout: 60_000 });

describe('status', () => {
  it("lists the environment's final snapshots with their sizes and the total", async () => {
    const result = await argos('staging', 'status');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/final snapshot +argos-staging-database +argos-staging-database-final-20260101-000000 +available +20 GiB, taken \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(result.stdout).toMatch(/final snapshot +argos-staging-database +argos-staging-database-final-20260201-000000 +available +20 GiB/);
    expect(result.stdout).toContain('kept: 2 final snapshots, 40 GiB in total, billed as snapshot storage until deleted (argos staging clean --final-snapshots <days> deletes old ones)');
    // prod's and another app's are not staging's.
    expect(result.stdout).not.toContain('argos-prod-database-final');
    expect(result.stdout).not.toContain('20250101');
  });

  it('--json carries them too', async () => {
    const result = await argos('prod', 'status', '--json');
    const status = JSON.parse(result.stdout) as EnvironmentStatus;
    expect(status.kept).toEqual({ finalSnapshots: 1, totalGiB: 50 });
    expect(status.resources.filter((row) => row.kind === 'final snapshot').map((row) => row.id)).toEqual(['argos-prod-database-final-20260101-000000']);
  });
});

describe('decommission', () => {
  it('says which final snapshots it keeps, old and new, with their sizes', async () => {
    const result = await argos('staging', 'decommission', '--dry-run');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(
      /will keep:\n\s+- final snapshot argos-staging-database-final-\d{8}-\d{6}\n\s+- final snapshot argos-staging-database-final-20260201-000000 \(20 GiB, taken [^)]+\)\n\s+- final snapshot argos-staging-database-final-20260101-000000 \(20 GiB, taken [^)]+\)/,
    );
  });
});

describe('clean --final-snapshots <days>', () => {
  const all = ['argos-prod-database-final-20260101-000000', 'argos-staging-database-final-20250101-000000', 'argos-staging-database-final-20260101-000000', 'argos-staging-database-final-20260201-000000'];

  it('lists what it would delete and keep, and deletes nothing without --yes', async () => {
    const result = await argos('staging', 'clean', '--final-snapshots', '0');
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toMatch(/will delete:\n\s+- final snapshot argos-staging-database-final-20260101-000000 of staging \(20 GiB, taken [^)]+\)\nwill keep:\n/);
    expect(result.stdout).toMatch(/- final snapshot argos-staging-database-final-20260201-000000 of staging/);
    expect(result.stdout).toMatch(/- final snapshot argos-prod-database-final-20260101-000000 of prod \(50 GiB/);
    expect(result.stdout).not.toContain('argos-image');
    expect(await snapshotIds()).toEqual(all);
  });

  it('deletes nothing younger than <days> days', async () => {
    const result = await argos('staging', 'clean', '--final-snapshots', '30', '--yes');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('nothing to delete: no final snapshot of argos is older than 30 days but the newest of its environment');
    expect(await snapshotIds()).toEqual(all);
  });

  it('with --yes deletes the old ones but the newest of each environment, and never another app\'s', async () => {
    const result = await argos('staging', 'clean', '--final-snapshots', '0', '--yes');
    expect(result.exitCode).toBe(0);
    expect(await snapshotIds()).toEqual(all.filter((id) => id !== 'argos-staging-database-final-20260101-000000'));
  });
});
