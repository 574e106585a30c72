import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, MAX_CONFIG_BYTES, parseConfig } from '../../src/config.js';
import { Secret } from '../../src/secret.js';
import { readSampleConfig, sampleConfig } from '../support/cli.js';

const CANARY = 'canary-Secret-9f3b2c';
const FILE = 'playbooks/group_vars/all.yml';

function yaml(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join('\n');
}

function errorOf(run: () => unknown): Error & { code?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('parseConfig', () => {
  it('accepts the committed sample and fills the documented defaults', async () => {
    const config = parseConfig(await readSampleConfig(), 'all-sample.yml');
    expect(config).toMatchObject({
      appName: 'argos',
      dbEngineVersion: '16',
      appPort: 8000,
      brokerEnabled: false,
      dbDeletionProtection: true,
      sshCidr: undefined,
      sshConfig: undefined,
    });
  });

  it('fills defaults for optional keys left out', () => {
    const config = parseConfig(yaml(sampleConfig()), FILE);
    expect(config).toMatchObject({
      appInstanceType: 't3.small',
      dbInstanceType: 'db.t3.micro',
      // A major version: RDS picks its current minor (a pinned minor such as 16.4 stops being offered).
      dbEngineVersion: '16',
      dbAllocatedStorage: 20,
      rootVolumeSize: 16,
      healthCheckPath: '/',
      scalingTargetCpu: 60,
    });
  });

  it('gives each key its camelCase field, with no mapping written for it', () => {
    // GIVEN every key the CLI reads set to a non-default value
    const given = {
      app_instance_type: 't3.large',
      image_instance_type: 'c5.xlarge',
      broker_instance_type: 't3.micro',
      worker_instance_type: 'c5.large',
      db_instance_type: 'db.r6g.large',
      db_allocated_storage: 50,
      db_engine_version: '15.7',
      db_multi_az: true,
      db_deletion_protection: false,
      app_port: 8080,
      health_check_path: '/health',
      certificate_arn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
      redirect_http: true,
      broker_enabled: true,
      workers_enabled: true,
      ssh_cidr: '198.51.100.0/24',
      ssh_config: 'ssh/config',
      root_volume_size: 30,
      scaling_target_cpu: 45,
      release_images_kept: 5,
      git_ref: 'v1.2.0',
    };
    // WHEN the config is parsed
    const config = parseConfig(yaml(sampleConfig(given)), FILE);
    // THEN each value sits under the key's camelCase name, and nothing else is there
    expect(config).toEqual({
      file: FILE,
      appName: 'argos',
      region: 'us-east-1',
      baseAmi: 'ami-04681a1dbd79675a5',
      keyName: 'argos-test',
      remoteUser: 'ubuntu',
      deprecations: [],
      dbUser: 'argos',
      dbPassword: expect.any(Secret),
      appInstanceType: 't3.large',
      imageInstanceType: 'c5.xlarge',
      brokerInstanceType: 't3.micro',
      workerInstanceType: 'c5.large',
      dbInstanceType: 'db.r6g.large',
      dbAllocatedStorage: 50,
      dbEngineVersion: '15.7',
      dbMultiAz: true,
      dbDeletionProtection: false,
      appPort: 8080,
      healthCheckPath: '/health',
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
      redirectHttp: true,
      brokerEnabled: true,
      workersEnabled: true,
      sshCidr: '198.51.100.0/24',
      sshConfig: 'ssh/config',
      rootVolumeSize: 30,
      scalingTargetCpu: 45,
      releaseImagesKept: 5,
      gitRef: 'v1.2.0',
    });
    expect(config.dbPassword.reveal()).toBe(CANARY);
  });

  it('keeps unknown keys out of the way (they are Ansible variables)', () => {
    expect(() => parseConfig(yaml(sampleConfig({ git_repo: 'x', nginx_workers: 4 })), FILE)).not.toThrow();
  });

  it('reads the login user from login_user, the Debian AMIs\' admin too', () => {
    expect(parseConfig(yaml(sampleConfig({ login_user: 'admin' })), FILE)).toMatchObject({ remoteUser: 'admin', deprecations: [] });
  });

  it('still reads the old remote_user key, with a deprecation that says what to rename', () => {
    const { login_user: _new, ...old } = sampleConfig({ remote_user: 'admin' });
    const config = parseConfig(yaml(old), FILE);
    expect(config.remoteUser).toBe('admin');
    expect(config.deprecations).toEqual([
      `rename remote_user to login_user in ${FILE} (Ansible reserves the name remote_user and warns about it on every run); argos still reads it for now`,
    ]);
  });

  it('prefers login_user when both keys are there and says the old one is ignored', () => {
    const config = parseConfig(yaml(sampleConfig({ login_user: 'ubuntu', remote_user: 'admin' })), FILE);
    expect(config.remoteUser).toBe('ubuntu');
    expect(config.deprecations).toEqual([`remote_user in ${FILE} is ignored (login_user is set): remove it`]);
  });

  it('names login_user when neither key is there', () => {
    const { login_user: _omitted, ...rest } = sampleConfig();
    const error = errorOf(() => parseConfig(yaml(rest), FILE));
    expect(error.code).toBe('CONFIG');
    expect(error.message).toBe(`config file ${FILE}: missing key 'login_user' (the login user of base_ami: ubuntu for Ubuntu AMIs, admin for Debian's)`);
  });

  it('names the missing key, the file and the expected type', () => {
    const { base_ami: _omitted, ...rest } = sampleConfig();
    const error = errorOf(() => parseConfig(yaml(rest), FILE));
    expect(error.code).toBe('CONFIG');
    expect(error.message).toBe(`config file ${FILE}: missing key 'base_ami' (expected string)`);
  });

  it('names a mistyped key with the expected and the found type', () => {
    const error = errorOf(() => parseConfig(yaml(sampleConfig({ app_port: 'eighty' })), FILE));
    expect(error.message).toContain("key 'app_port' must be a number, not a string");
  });

  it('tells to quote an engine version YAML read as a number', () => {
    const error = errorOf(() => parseConfig(`${yaml(sampleConfig())}\ndb_engine_version: 16.4`, FILE));
    expect(error.message).toContain("key 'db_engine_version' must be a string, not a number: quote it");
  });

  it('takes ACM and IAM server certificate ARNs for HTTPS and refuses anything else, saying what it expects', () => {
    const arnOf = (value: string) => parseConfig(yaml(sampleConfig({ certificate_arn: value })), FILE).certificateArn;
    expect(arnOf('arn:aws:iam::123456789012:server-certificate/shop-2026')).toBe('arn:aws:iam::123456789012:server-certificate/shop-2026');
    expect(arnOf('arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/abc-123')).toBe('arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/abc-123');
    for (const wrong of ['shop.example.com', 'arn:aws:acm:us-east-1:123456789012:key/abc', 'arn:aws:elasticloadbalancing:us-east-1:123456789012:certificate/abc']) {
      const error = errorOf(() => parseConfig(yaml(sampleConfig({ certificate_arn: wrong })), FILE));
      expect(error.message).toContain("key 'certificate_arn' must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>) or an IAM server certificate ARN");
    }
    const plain = parseConfig(yaml(sampleConfig()), FILE);
    expect(plain.certificateArn).toBeUndefined();
    expect(plain.redirectHttp).toBe(false);
  });

  it('reports every problem at once', () => {
    const error = errorOf(() => parseConfig(yaml(sampleConfig({ region: 'Mars', key_name: '' })), FILE));
    expect(error.message).toMatch(/key 'region' must be an AWS region.*; key 'key_name' must not be empty/);
  });

  it('says to copy nothing but to fix the syntax for broken YAML, without quoting the line', () => {
    const text = `${yaml(sampleConfig())}\ndb_pass: "${CANARY}\n  broken: [`;
    const error = errorOf(() => parseConfig(text, FILE));
    expect(error.message).toMatch(/is not valid YAML at line \d+, column \d+/);
    expect(error.message).not.toContain(CANARY);
  });

  it('takes the password from ARGOS_DB_PASSWORD over the file, and hides it', () => {
    const config = parseConfig(yaml(sampleConfig()), FILE, { dbPassword: 'from-the-environment' });
    expect(config.dbPassword.reveal()).toBe('from-the-environment');
    expect(`${config.dbPassword}`).toBe('***');
    expect(JSON.stringify(config)).not.toContain('from-the-environment');
  });

  it('asks for a password when neither the file nor the environment has one', () => {
    const { db_pass: _omitted, ...rest } = sampleConfig();
    expect(() => parseConfig(yaml(rest), FILE)).toThrowError(
      `no database password: set db_pass in ${FILE} or the ARGOS_DB_PASSWORD environment variable`,
    );
  });

  it.each([
    ['too short', 'short'],
    ['with a slash', 'abc/defgh-canary'],
    ['with a space', 'abc defgh-canary'],
  ])('rejects a password %s without showing it', (_what, password) => {
    const error = errorOf(() => parseConfig(yaml(sampleConfig({ db_pass: password })), FILE));
    expect(error.message).toContain("does not meet RDS's rules");
    expect(error.message).not.toContain(password);
  });

  it('never echoes the password in a type error either', () => {
    const error = errorOf(() => parseConfig(yaml(sampleConfig({ db_pass: { nested: CANARY } })), FILE));
    expect(error.message).toContain("key 'db_pass' must be a string, not a mapping");
    expect(error.message).not.toContain(CANARY);
  });
});

describe("config messages in argos's words", () => {
  it.each([
    [{ root_volume_size: 4 }, "key 'root_volume_size' must be at least 8"],
    [{ db_allocated_storage: 70000 }, "key 'db_allocated_storage' must be at most 65536"],
    [{ scaling_target_cpu: 0 }, "key 'scaling_target_cpu' must be at least 1"],
  ])('says %j is out of range without zod wording', (values, message) => {
    const error = errorOf(() => parseConfig(yaml(sampleConfig(values)), FILE));
    expect(error.message).toBe(`config file ${FILE}: ${message}`);
    expect(error.message).not.toMatch(/Too (small|big)|expected number/);
  });

  it('tells to quote a numeric password, without echoing it', () => {
    const { db_pass: _omitted, ...rest } = sampleConfig();
    const error = errorOf(() => parseConfig(`${yaml(rest)}\ndb_pass: 12345678`, FILE));
    expect(error.message).toBe(`config file ${FILE}: key 'db_pass' must be a string, not a number: quote it, for example db_pass: "…" around the password`);
    expect(error.message).not.toContain('12345678');
  });
});

describe('loadConfig', () => {
  it('refuses a named pipe at once instead of waiting on it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-config-'));
    const fifo = join(dir, 'all.yml');
    execFileSync('mkfifo', [fifo]);
    await expect(loadConfig(fifo, { shownAs: 'all.yml' })).rejects.toThrow('config file all.yml is not a regular file (a named pipe): pass the path of a YAML file with --config');
  });

  it('refuses a folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-config-'));
    await mkdir(join(dir, 'all.yml'));
    await expect(loadConfig(join(dir, 'all.yml'), { shownAs: 'all.yml' })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('(a folder)') });
  });

  it('refuses a file far larger than a config without reading it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'argos-config-'));
    const file = join(dir, 'all.yml');
    await writeFile(file, '');
    await truncate(file, 58 * 1024 * 1024);
    const started = Date.now();
    await expect(loadConfig(file, { shownAs: 'all.yml' })).rejects.toThrow(`config file all.yml has ${58 * 1024 * 1024} bytes, more than a config can hold (${MAX_CONFIG_BYTES})`);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('lets a command that needs no password run without one, and fails only where it is used', () => {
    const { db_pass: _omitted, ...rest } = sampleConfig();
    const config = parseConfig(yaml(rest), FILE, { requirePassword: false });
    expect(config.dbPassword.isSet).toBe(false);
    expect(() => config.dbPassword.reveal()).toThrow(`no database password: set db_pass in ${FILE} or the ARGOS_DB_PASSWORD environment variable`);
  });
});

