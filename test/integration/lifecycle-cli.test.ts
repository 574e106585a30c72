/**
 * The lifecycle as a user runs it, against moto, without Ansible:
 * commission --no-deploy → status → commission again → dry runs →
 * decommission → clean. (With real Ansible on a real target: the e2e test.)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import type { EnvironmentStatus } from '../../src/commands/status.js';
import { snapshotAccount, type AccountSnapshot } from '../support/account-snapshot.js';
import { createKeyPair, registerImage } from '../support/aws-fixtures.js';
import { fakeAwsEnvironment } from '../support/aws-env.js';
import { makeProject, runCli } from '../support/cli.js';

const CANARY = 'canary-Secret-9f3b2c';
let clients: AwsClients;
let project: string;
let imageId: string;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  project = await makeProject();
  await createKeyPair(clients.ec2, 'argos-test');
  imageId = await registerImage(clients.ec2, 'argos-image');
});
afterAll(() => clients.destroy());

const argos = (...args: string[]) => runCli(['staging', ...args], { cwd: project, env: fakeAwsEnvironment, timeout: 120_000 });

describe('commission --no-deploy', () => {
  let before: AccountSnapshot;

  it('changes nothing with --dry-run and says what it would create', async () => {
    before = await snapshotAccount(clients);
    const result = await argos('commission', '--no-deploy', '--dry-run');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('dry run: nothing was changed');
    expect(result.stdout).toMatch(/database argos-staging-database: create it \(db\.t3\.micro, 20 GiB, PostgreSQL/);
    expect(result.stdout).toMatch(/image argos-image: exists \(ami-[0-9a-f]+\), reused/);
    expect(result.stdout).toMatch(/app servers argos-staging-app: create/);
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('builds the environment, reusing the image, and prints the URL and endpoint', async () => {
    const result = await argos('commission', '--no-deploy', '--yes', '--min-size', '2');
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('staging is commissioned.');
    expect(result.stdout).toContain('app URL:     http://argos-staging-elb.us-east-1.elb.amazonaws.com');
    expect(result.stdout).toMatch(/database:\s+argos-staging-database\.\S+:5432/);
    const after = await snapshotAccount(clients);
    expect(after).toMatchObject({
      securityGroups: ['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb'],
      images: ['argos-image'],
      loadBalancers: ['argos-staging-elb'],
      autoScalingGroups: ['argos-staging-app'],
      databases: ['argos-staging-database'],
      databaseSubnetGroups: ['argos-staging-database'],
    });
    expect(after.launchTemplates).toHaveLength(1);
    expect(after.launchTemplates[0]).toMatch(/^argos-staging-app-[0-9a-f]{8}$/);
    expect(after.instances).toHaveLength(2); // min size 2, no broker unless asked for
    const hosts = await readFile(join(project, 'hosts', 'hosts_staging'), 'utf8');
    expect(hosts.match(/instance_id=/g)).toHaveLength(2);
    expect(hosts).toContain('db_name=argos_staging');
  });

  it('reports every step as existing the second time and creates nothing', async () => {
    const before = await snapshotAccount(clients);
    const result = await argos('commission', '--no-deploy', '--yes', '--min-size', '2');
    expect(result.exitCode).toBe(0);
    for (const step of ['security groups', 'image argos-image', 'database argos-staging-database', 'load balancer argos-staging-elb', 'app servers argos-staging-app']) {
      expect(result.stdout).toContain(`– ${step}: exists`);
    }
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('lists with --dry-run what a re-run would change, and changes nothing', async () => {
    const before = await snapshotAccount(clients);
    const result = await argos('commission', '--no-deploy', '--dry-run', '--min-size', '2', '--max-size', '6', '--instance-type', 't3.large');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/security groups: exist, unchanged/);
    expect(result.stdout).toMatch(/database argos-staging-database: exists \(available\)/);
    expect(result.stdout).toContain('max size 4 → 6');
    expect(result.stdout).toContain('instance type t3.small → t3.large: 2 instances replaced');
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('adds the broker only when asked for', async () => {
    const result = await argos('commission', '--no-deploy', '--yes', '--min-size', '2', '--with-broker');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/broker:\s+i-[0-9a-f]+/);
    expect((await snapshotAccount(clients)).instances).toHaveLength(3);
  });
});

describe('status', () => {
  it('shows each resource with its state, and as its only drift that the app servers have no release yet (--no-deploy)', async () => {
    const result = await argos('status');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^staging: commissioned — http:\/\/argos-staging-elb/);
    expect(result.stdout).toMatch(/database\s+argos-staging-database\s+argos-staging-database\s+available/);
    expect(result.stdout).toMatch(/app instance\s+argos-staging-app\s+i-[0-9a-f]+\s+InService\/Healthy\s+load balancer: InService; launched from base image \(no release: the app comes from a deploy\)/);
    expect(result.stdout).toMatch(/broker\s+argos-staging-broker\s+i-[0-9a-f]+\s+running/);
    // Commissioned with --no-deploy: no release image yet (issue 16), and nothing else drifted.
    expect(result.stdout).toMatch(
      /drift:\n {2}- the app servers launch from the base image, not a release image: instances launched later have no app until argos staging deploy makes one$/,
    );
  });

  it('reports a hosts file that no longer matches the running instances', async () => {
    const file = join(project, 'hosts', 'hosts_staging');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace(/instance_id=i-[0-9a-f]+/, 'instance_id=i-0123456789abcdef0'));
    try {
      const result = await argos('status');
      expect(result.stdout).toMatch(/hosts\/hosts_staging is out of date; lists gone instances i-0123456789abcdef0; misses i-[0-9a-f]+: run argos staging deploy/);
    } finally {
      await writeFile(file, original);
    }
  });

  it('prints the same as JSON for scripts', async () => {
    const result = await argos('status', '--json');
    expect(result.exitCode).toBe(0);
    const parsed = JSON.parse(result.stdout) as EnvironmentStatus;
    expect(parsed.commissioned).toBe(true);
    expect(parsed.resources.filter((r) => r.kind === 'app instance')).toHaveLength(2);
    expect(parsed.resources.find((r) => r.kind === 'image')).toMatchObject({ id: imageId, state: 'available' });
  });
});

describe('decommission', () => {
  it('changes nothing with --dry-run and lists what it would delete and keep', async () => {
    const before = await snapshotAccount(clients);
    const result = await argos('decommission', '--dry-run');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('will delete:');
    expect(result.stdout).toMatch(/database argos-staging-database \(available\), lifting its deletion protection/);
    expect(result.stdout).toMatch(/will keep:\n.*final snapshot argos-staging-database-final-\d{8}-\d{6}\n.*image argos-image \(ami-[0-9a-f]+\)/);
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('refuses without a terminal and without --yes, deleting nothing', async () => {
    const before = await snapshotAccount(clients);
    const result = await argos('decommission');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('refusing to decommission staging without confirmation');
    expect(await snapshotAccount(clients)).toEqual(before);
  });

  it('leaves nothing of the environment but the image and the final snapshot', async () => {
    const result = await argos('decommission', '--yes');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('staging is decommissioned.');
    const after = await snapshotAccount(clients);
    expect(after).toEqual({
      instances: [],
      securityGroups: [],
      images: ['argos-image'],
      launchTemplates: [],
      loadBalancers: [],
      autoScalingGroups: [],
      databases: [],
      databaseSnapshots: [expect.stringMatching(/^argos-staging-database-final-\d{8}-\d{6}$/)],
      databaseSubnetGroups: [],
    });
    await expect(readFile(join(project, 'hosts', 'hosts_staging'))).rejects.toThrow(/ENOENT/);
  });

  it('finds nothing to do the second time', async () => {
    const result = await argos('decommission', '--yes');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('nothing to decommission for staging');
  });

  it('status then says not commissioned, and exits 0', async () => {
    const result = await argos('status');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^staging: not commissioned/);
  });

  it('clean --dry-run changes nothing; clean --yes removes the image', async () => {
    const before = await snapshotAccount(clients);
    expect((await argos('clean', '--dry-run')).exitCode).toBe(0);
    expect(await snapshotAccount(clients)).toEqual(before);
    const result = await argos('clean', '--yes');
    expect(result.exitCode).toBe(0);
    expect((await snapshotAccount(clients)).images).toEqual([]);
  });

  it('never wrote the database password to the log', async () => {
    const log = await readFile(join(project, 'logs', 'argos-staging.log'), 'utf8');
    expect(log.length).toBeGreaterThan(1000);
    expect(log).not.toContain(CANARY);
  });
});
