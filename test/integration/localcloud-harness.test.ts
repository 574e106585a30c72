/**
 * The local cloud harness (issue 14, points 1–3, 7 and 10 through moto's API): real
 * SDK clients talk to the harness's proxy in front of a moto started here on
 * 127.0.0.1, and what they do shows up in real machines (systemd-nspawn) and a
 * real PostgreSQL. Skips without root/nspawn; fails under ARGOS_REQUIRE_LOCAL_TARGET=1.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateImageCommand, CreateKeyPairCommand, CreateLaunchTemplateCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeInstancesCommand,
  DescribeSubnetsCommand, EC2Client, ImportKeyPairCommand, RebootInstancesCommand, RunInstancesCommand, StartInstancesCommand,
  StopInstancesCommand, TerminateInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { AutoScalingClient, CreateAutoScalingGroupCommand, DeleteAutoScalingGroupCommand, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateDBInstanceCommand, DeleteDBInstanceCommand, DescribeDBInstancesCommand, ModifyDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { attachCloud, leftovers } from '../../localcloud/cloud.js';
import { namespaceProcs } from '../../localcloud/sweep.js';
import { databaseInstanceId } from '../../localcloud/database.js';
import { startHarness, type Harness } from '../../localcloud/harness.js';
import { processStartTime, waitFor } from '../../localcloud/proc.js';
import { localCloudOrSkip } from '../support/local-cloud.js';
import { startMotoServer, type MotoServer } from '../support/moto.js';

const capability = localCloudOrSkip();

/** The tests' `base_ami` (a moto preloaded image): not made by the harness, so it is the base root. */
const BASE_AMI = 'ami-04681a1dbd79675a5';
const USER_DATA = '#!/bin/sh\necho "ran on $(hostname)" >> /var/tmp/user-data-ran\n';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe.skipIf(!capability.ok)(`local cloud harness${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let moto: MotoServer;
  let harness: Harness;
  let keyDir: string;
  let ec2: EC2Client;
  let subnetId: string;
  const log: string[] = [];
  /** A plane plugged in as the load balancers will be: when it stopped, whether the cloud was still there. */
  const plane = { started: false, stoppedWithCloud: undefined as boolean | undefined };

  const ssh = async (host: string, command: string): Promise<string> =>
    (await execa('ssh', ['-F', harness.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', host, command])).stdout.trim();
  const canSsh = async (host: string): Promise<boolean> =>
    (await execa('ssh', ['-F', harness.sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', host, 'true'], { reject: false })).exitCode === 0;
  const describe1 = async (id: string): Promise<Instance> =>
    (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0] as Instance;
  const waitForSsh = async (host: string, timeoutMs = 60_000): Promise<void> => { await waitFor(`ssh ${host}`, () => canSsh(host), timeoutMs, 250); };
  const runInstance = async (extra: { ImageId?: string; UserData?: string } = {}): Promise<Instance> => {
    const answer = await ec2.send(new RunInstancesCommand({
      ImageId: BASE_AMI, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', KeyName: 'lc-key', SubnetId: subnetId, ...extra,
    }));
    return answer.Instances?.[0] as Instance;
  };
  const clientConfig = (): { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string }; maxAttempts: number } => ({
    endpoint: harness.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1,
  });

  beforeAll(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'argos-lch-'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    moto = await startMotoServer();
    harness = await startHarness({
      motoEndpoint: moto.url, name: 'ct', identityFile: join(keyDir, 'id_ed25519'), log: (l) => log.push(l),
      binds: [{ source: keyDir, target: '/srv/lc-bind' }],
      planes: [async ({ cloud }) => {
        plane.started = true;
        return { async stop() { plane.stoppedWithCloud = existsSync(`/run/netns/${cloud.netns}`); } };
      }],
    });
    ec2 = new EC2Client(clientConfig());
    // GIVEN the key pair imported through the proxy, as argos does
    const publicKey = await readFile(join(keyDir, 'id_ed25519.pub'));
    await ec2.send(new ImportKeyPairCommand({ KeyName: 'lc-key', PublicKeyMaterial: publicKey }));
    const subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
    subnetId = subnets.find((s) => s.DefaultForAz && s.CidrBlock?.startsWith('172.31.'))?.SubnetId as string;
  }, 240_000);

  afterAll(async () => {
    try {
      await harness?.stop();
    } finally {
      await moto?.stop();
      if (keyDir) await rm(keyDir, { recursive: true, force: true });
      if (log.length > 0) process.stdout.write(`harness log:\n  ${log.join('\n  ')}\n`);
    }
  }, 120_000);

  let a: Instance;

  it('boots an instance launched with RunInstances: systemd, ssh under its public DNS name with the key pair\'s key', async () => {
    a = await runInstance({ UserData: b64(USER_DATA) });
    const host = a.PublicDnsName as string;
    await waitForSsh(host);
    const [init, hostname, user] = (await ssh(host, 'ps -p 1 -o comm=; hostname; id -un')).split('\n');
    expect(init).toBe('systemd');
    expect(hostname).toBe(`ip-${(a.PrivateIpAddress as string).replaceAll('.', '-')}`);
    expect(user).toBe('ubuntu');
    // the only authorised key is the key pair's (ImportKeyPair's public key)
    expect(await ssh(host, 'cat ~/.ssh/authorized_keys')).toBe((await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim());
    // the cloud's read-only binds (the tests' git fixture) are there, and read-only
    expect(await ssh(host, 'sudo cat /srv/lc-bind/id_ed25519.pub')).toBe((await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim());
    expect(await ssh(host, 'sudo touch /srv/lc-bind/x 2>&1 || echo refused')).toMatch(/Read-only file system[\s\S]*refused/);
  }, 90_000);

  it('authorises the public key of a key pair made with CreateKeyPair (derived from the private key moto returns)', async () => {
    const created = await ec2.send(new CreateKeyPairCommand({ KeyName: 'lc-created' }));
    await writeFile(join(keyDir, 'created.pem'), `${created.KeyMaterial ?? ''}\n`, { mode: 0o600 });
    const b = (await ec2.send(new RunInstancesCommand({
      ImageId: BASE_AMI, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', KeyName: 'lc-created', SubnetId: subnetId,
    }))).Instances?.[0] as Instance;
    const login = (): Promise<boolean> => execa('ssh', ['-F', harness.sshConfigPath, '-i', join(keyDir, 'created.pem'), '-o', 'BatchMode=yes',
      b.PublicDnsName as string, 'true'], { reject: false }).then((r) => r.exitCode === 0);
    await waitFor('login with the created key', login, 60_000, 250);
    // and not with the imported key pair's key (the ssh_config's)
    expect(await canSsh(b.PublicDnsName as string)).toBe(false);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [b.InstanceId as string] }));
    await waitFor('the machine to go', () => harness.cloud.machine(b.InstanceId as string) === undefined, 30_000, 100);
  }, 90_000);

  it('runs user data once: not again after RebootInstances or StopInstances/StartInstances', async () => {
    const host = a.PublicDnsName as string;
    await waitFor('user data', async () => (await ssh(host, 'cat /var/tmp/user-data-ran 2>/dev/null || true')) !== '', 30_000, 250);
    const boot1 = await ssh(host, 'cat /proc/sys/kernel/random/boot_id');
    await ec2.send(new RebootInstancesCommand({ InstanceIds: [a.InstanceId as string] }));
    // THEN the machine really reboots (a new boot id) although moto's state never changes
    await waitFor('a new boot', async () => (await canSsh(host)) && (await ssh(host, 'cat /proc/sys/kernel/random/boot_id')) !== boot1, 60_000, 300);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [a.InstanceId as string] }));
    await waitFor('the machine to stop', () => harness.cloud.machineState(a.InstanceId as string) === 'stopped', 30_000, 100);
    expect(await canSsh(host)).toBe(false);
    await ec2.send(new StartInstancesCommand({ InstanceIds: [a.InstanceId as string] }));
    await waitForSsh(host);
    expect(await ssh(host, 'cat /var/tmp/user-data-ran')).toBe(`ran on ip-${(a.PrivateIpAddress as string).replaceAll('.', '-')}`);
    expect((await describe1(a.InstanceId as string)).State?.Name).toBe('running');
  }, 180_000);

  it('shows a poweroff inside the machine in moto (stopped)', async () => {
    await ssh(a.PublicDnsName as string, 'sudo systemctl --no-block poweroff');
    await waitFor('moto to say stopped', async () => (await describe1(a.InstanceId as string)).State?.Name === 'stopped', 30_000, 250);
    expect(harness.cloud.machineState(a.InstanceId as string)).toBe('stopped');
    // and it stays stopped (the sync does not start it again)
    await new Promise((r) => setTimeout(r, 1000));
    expect(harness.cloud.machineState(a.InstanceId as string)).toBe('stopped');
    await ec2.send(new StartInstancesCommand({ InstanceIds: [a.InstanceId as string] }));
    await waitForSsh(a.PublicDnsName as string);
  }, 90_000);

  it('records an image with CreateImage (pending, then available) that instances launch from; DeregisterImage frees it', async () => {
    const host = a.PublicDnsName as string;
    await ssh(host, 'echo before | sudo tee /etc/lc-before >/dev/null');
    const imageId = (await ec2.send(new CreateImageCommand({ InstanceId: a.InstanceId as string, Name: 'lc-image' }))).ImageId as string;
    const states: string[] = [];
    await waitFor('the image to be available', async () => {
      const state = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.State ?? '';
      if (states.at(-1) !== state) states.push(state);
      return state === 'available';
    }, 60_000, 100);
    expect(states).toEqual(['pending', 'available']);
    // without NoReboot the instance was shut down for the image and started again, as on AWS
    await waitForSsh(host);
    await ssh(host, 'echo after | sudo tee /etc/lc-after >/dev/null');
    const c = await runInstance({ ImageId: imageId });
    await waitForSsh(c.PublicDnsName as string);
    expect(await ssh(c.PublicDnsName as string, 'cat /etc/lc-before; test -e /etc/lc-after && echo after-present || echo after-absent'))
      .toBe('before\nafter-absent');
    // AWS lets an instance run on after its AMI is deregistered: the layer is freed when it terminates
    await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    expect(harness.cloud.hasImage(imageId)).toBe(true);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [c.InstanceId as string] }));
    await waitFor('the layer to be freed', () => !harness.cloud.hasImage(imageId), 30_000, 100);
    expect(harness.cloud.machine(c.InstanceId as string)).toBeUndefined();
  }, 180_000);

  it('with NoReboot, images the running instance without rebooting it', async () => {
    const host = a.PublicDnsName as string;
    const boot = await ssh(host, 'cat /proc/sys/kernel/random/boot_id');
    const imageId = (await ec2.send(new CreateImageCommand({ InstanceId: a.InstanceId as string, Name: 'lc-live', NoReboot: true }))).ImageId as string;
    await waitFor('the live image', async () => (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0]?.State === 'available', 60_000, 100);
    expect(harness.cloud.hasImage(imageId)).toBe(true);
    expect(await ssh(host, 'cat /proc/sys/kernel/random/boot_id')).toBe(boot);
    await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    await waitFor('the live image to be freed', () => !harness.cloud.hasImage(imageId), 10_000, 100);
  }, 90_000);

  it('boots the instance an autoscaling group launches from its launch template, with the template\'s user data', async () => {
    const asg = new AutoScalingClient(clientConfig());
    await ec2.send(new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'lc-template',
      LaunchTemplateData: { ImageId: BASE_AMI, InstanceType: 't3.micro', KeyName: 'lc-key', UserData: b64('#!/bin/sh\necho from-template > /var/tmp/template-ran\n') },
    }));
    await asg.send(new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: 'lc-group', LaunchTemplate: { LaunchTemplateName: 'lc-template', Version: '1' },
      MinSize: 1, MaxSize: 1, DesiredCapacity: 1, VPCZoneIdentifier: subnetId,
    }));
    const id = (await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['lc-group'] })))
      .AutoScalingGroups?.[0]?.Instances?.[0]?.InstanceId as string;
    const host = (await describe1(id)).PublicDnsName as string;
    await waitForSsh(host);
    await waitFor('template user data', async () => (await ssh(host, 'cat /var/tmp/template-ran 2>/dev/null || true')) === 'from-template', 30_000, 250);
    // TerminateInstances follows: the machine goes with the group
    await asg.send(new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: 'lc-group', ForceDelete: true }));
    await waitFor('the group\'s machine to go', () => harness.cloud.machine(id) === undefined, 30_000, 100);
    expect(await canSsh(host)).toBe(false);
  }, 120_000);

  it('gives an RDS instance a PostgreSQL at its endpoint, with the master password (and no other)', async () => {
    const rds = new RDSClient(clientConfig());
    await rds.send(new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'lc-db', Engine: 'postgres', EngineVersion: '15.4', DBInstanceClass: 'db.t3.micro', AllocatedStorage: 20,
      MasterUsername: 'appmaster', MasterUserPassword: "s3cret'pw", DBName: 'appdb',
    }));
    const statuses: string[] = [];
    const db = await waitFor('the database to be available', async () => {
      const d = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'lc-db' }))).DBInstances?.[0];
      if (statuses.at(-1) !== d?.DBInstanceStatus) statuses.push(d?.DBInstanceStatus ?? '');
      return d?.DBInstanceStatus === 'available' ? d : undefined;
    }, 120_000, 250);
    expect(statuses).toEqual(['creating', 'available']);
    const endpoint = db.Endpoint?.Address as string;
    const host = a.PublicDnsName as string;
    await ssh(host, 'sudo apt-get update -qq >/dev/null 2>&1; sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null 2>&1; command -v psql');
    const psql = (password: string): Promise<{ exitCode?: number; stdout: string; stderr: string }> => execa('ssh',
      ['-F', harness.sshConfigPath, '-o', 'BatchMode=yes', host,
        `PGPASSWORD='${password.replaceAll("'", "'\\''")}' psql -h ${endpoint} -p ${String(db.Endpoint?.Port)} -U appmaster -d appdb -tAc 'select 1'`],
      { reject: false });
    const good = await psql("s3cret'pw");
    expect(good.stdout.trim()).toBe('1');
    const bad = await psql('wrong');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/password authentication failed for user "appmaster"/);
    // ModifyDBInstance's new master password replaces the old one
    await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'lc-db', MasterUserPassword: 'n3w-pw', ApplyImmediately: true }));
    await waitFor('the new password', async () => (await psql('n3w-pw')).stdout.trim() === '1', 30_000, 250);
    expect((await psql("s3cret'pw")).exitCode).not.toBe(0);
    await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'lc-db', SkipFinalSnapshot: true }));
    await waitFor('the database machine to go', () => harness.cloud.machine(databaseInstanceId('lc-db')) === undefined, 30_000, 100);
    expect(await ssh(host, `getent hosts ${endpoint} || echo gone`)).toBe('gone');
  }, 240_000);

  it('boots 10 machines from one RunInstances (MinCount=10) to SSH, and measures time and memory', async () => {
    const answer = await ec2.send(new RunInstancesCommand({
      ImageId: BASE_AMI, MinCount: 10, MaxCount: 10, InstanceType: 't3.micro', KeyName: 'lc-key', SubnetId: subnetId,
    }));
    const answeredAt = Date.now();
    const instances = answer.Instances ?? [];
    expect(instances).toHaveLength(10);
    const times = await Promise.all(instances.map(async (i) => {
      const full = await waitFor(`${i.InstanceId ?? ''} public name`, async () => {
        const d = await describe1(i.InstanceId as string);
        return d.PublicDnsName ? d : undefined;
      }, 10_000, 100);
      // sshd's banner first (the sync sees it from inside the namespace, no extra load), then a real login
      await waitFor(`${i.InstanceId ?? ''} sshd`, () => harness.sync.timings().some((t) => t.instanceId === i.InstanceId && t.sshAt), 90_000, 50);
      await waitFor(`ssh ${full.PublicDnsName ?? ''}`, () => canSsh(full.PublicDnsName as string), 30_000, 100);
      return (Date.now() - answeredAt) / 1000;
    }));
    // PSS of every process of the 10 machines (container, nspawn, wrapper), from their cgroups
    let pssKb = 0;
    for (const i of instances) {
      const m = harness.cloud.machine(i.InstanceId as string);
      const cg = join('/sys/fs/cgroup/unified/localcloud', harness.cloud.name, m?.name ?? 'none');
      const pids: string[] = [];
      const walk = (d: string): void => {
        if (!existsSync(d)) return;
        pids.push(...readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      };
      walk(cg);
      for (const pid of pids) {
        try { pssKb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0); } catch { /* exited */ }
      }
    }
    const sorted = [...times].sort((x, y) => x - y);
    const syncTimes = harness.sync.timings().filter((t) => instances.some((i) => i.InstanceId === t.instanceId) && t.sshAt && t.answeredAt)
      .map((t) => ((t.sshAt as number) - (t.answeredAt as number)) / 1000).sort((x, y) => x - y);
    process.stdout.write(`10 machines: RunInstances answer → ssh login ${sorted.map((t) => t.toFixed(1)).join(' ')} s; ` +
      `→ sshd banner (sync) ${syncTimes.map((t) => t.toFixed(1)).join(' ')} s; PSS total ${(pssKb / 1024).toFixed(0)} MiB\n`);
    expect(pssKb).toBeGreaterThan(0);
    // Every machine answers SSH; the goal is 5 s each (see localcloud/README.md for what was measured on
    // this 2-core machine), the bound here only catches a machine that hangs.
    expect(sorted.at(-1)).toBeLessThan(30);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: instances.map((i) => i.InstanceId as string) }));
    await waitFor('the 10 machines to go', () => instances.every((i) => harness.cloud.machine(i.InstanceId as string) === undefined), 60_000, 200);
  }, 240_000);

  it('TerminateInstances removes the machine; after stop() nothing is left', async () => {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId as string] }));
    await waitFor('the machine to go', () => harness.cloud.machine(a.InstanceId as string) === undefined, 30_000, 100);
    const { stateDir, netns, name } = harness.cloud;
    const endpoint = harness.endpoint;
    await harness.stop();
    expect(plane).toEqual({ started: true, stoppedWithCloud: true });
    expect(await leftovers(stateDir, netns, name)).toEqual([]);
    await expect(fetch(endpoint)).rejects.toThrow();
  }, 90_000);
});

describe.skipIf(!capability.ok)(`local cloud harness, killed${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  it('leaves after kill -9 only what the next start sweeps (cli.ts up --moto, then down)', async () => {
    const moto = await startMotoServer();
    const cli = ['--import', 'tsx', fileURLToPath(new URL('../../localcloud/cli.ts', import.meta.url))];
    const up = execa(process.execPath, [...cli, 'up', '--moto', moto.url, '--name', 'cu'], { reject: false, buffer: false });
    try {
      let output = '';
      up.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
      const endpoint = await waitFor('up to print its endpoint', () => /^AWS_ENDPOINT_URL=(\S+)$/m.exec(output)?.[1], 180_000, 100);
      const ec2 = new EC2Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 });
      const subnetId = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets?.find((s) => s.DefaultForAz)?.SubnetId as string;
      const id = (await ec2.send(new RunInstancesCommand({ ImageId: BASE_AMI, MinCount: 1, MaxCount: 1, SubnetId: subnetId }))).Instances?.[0]?.InstanceId as string;
      const cloud = attachCloud({ name: 'cu' });
      await waitFor('the machine', () => cloud.machine(id) !== undefined && cloud.machineState(id) === 'running', 60_000, 100);
      // WHEN the harness is killed: its machine runs on (its wrapper is detached) …
      up.kill('SIGKILL');
      await up;
      expect(cloud.machineState(id)).toBe('running');
      await expect(fetch(endpoint)).rejects.toThrow();
      // … THEN `down` (as the next `up` does first) sweeps it all, including what ran in the namespace
      const inNamespace = namespaceProcs(cloud.netns);
      expect(inNamespace.length).toBeGreaterThan(0); // at least the apt relay
      const down = await execa(process.execPath, [...cli, 'down', '--name', 'cu'], { reject: false });
      expect(down.stdout).toContain('down, nothing left');
      expect(down.exitCode).toBe(0);
      expect(await leftovers(cloud.stateDir, cloud.netns, 'cu')).toEqual([]);
      expect(inNamespace.filter((pid) => processStartTime(pid) !== undefined)).toEqual([]); // gone, or a zombie not yet reaped
    } finally {
      up.kill('SIGKILL');
      await execa(process.execPath, [...cli, 'down', '--name', 'cu'], { reject: false });
      await moto.stop();
    }
  }, 300_000);
});
