import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
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
      db_instance_type: 'db.r6g.large',
      db_allocated_storage: 50,
      db_engine_version: '15.7',
      db_multi_az: true,
      db_deletion_protection: false,
      app_port: 8080,
      health_check_path: '/health',
      broker_enabled: true,
      ssh_cidr: '198.51.100.0/24',
      ssh_config: 'ssh/config',
      root_volume_size: 30,
      scaling_target_cpu: 45,
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
      dbUser: 'argos',
      dbPassword: expect.any(Secret),
      appInstanceType: 't3.large',
      imageInstanceType: 'c5.xlarge',
      brokerInstanceType: 't3.micro',
      dbInstanceType: 'db.r6g.large',
      dbAllocatedStorage: 50,
      dbEngineVersion: '15.7',
      dbMultiAz: true,
      dbDeletionProtection: false,
      appPort: 8080,
      healthCheckPath: '/health',
      brokerEnabled: true,
      sshCidr: '198.51.100.0/24',
      sshConfig: 'ssh/config',
      rootVolumeSize: 30,
      scalingTargetCpu: 45,
    });
    expect(config.dbPassword.reveal()).toBe(CANARY);
  });

  it('keeps unknown keys out of the way (they are Ansible variables)', () => {
    expect(() => parseConfig(yaml(sampleConfig({ git_repo: 'x', nginx_workers: 4 })), FILE)).not.toThrow();
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
