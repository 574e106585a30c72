import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectRoles } from '../../src/commands/deploy.js';
import { allHosts, hostKeyAlias, pruneKnownHosts, renderInventory, summarizeInventory, type Inventory, type InventoryHost } from '../../src/hosts.js';
import { REPO_ROOT } from '../support/cli.js';

const golden = (name: string) => readFile(join(REPO_ROOT, 'test', 'fixtures', 'inventory', name), 'utf8');

function host(n: number, overrides: Partial<InventoryHost> = {}): InventoryHost {
  return {
    address: `ec2-198-51-100-${n}.compute-1.amazonaws.com`,
    instanceId: `i-0000000000000000${n}`,
    privateDnsName: `ip-10-0-0-${n}.ec2.internal`,
    privateIpAddress: `10.0.0.${n}`,
    securityGroupIds: ['sg-app'],
    ...overrides,
  };
}

function inventory(groups: Partial<Inventory['groups']>, vars: Partial<Inventory['vars']> = {}): Inventory {
  return {
    groups: { appservers: [], brokers: [], workers: [], ...groups },
    vars: {
      env_name: 'staging',
      app_name: 'argos',
      db_host: 'argos-staging-database.abc.us-east-1.rds.amazonaws.com',
      db_port: 5432,
      db_name: 'argos_staging',
      broker_host: undefined,
      ansible_user: 'ubuntu',
      ansible_ssh_private_key_file: '/srv/argos/keys/argos.pem',
      ...vars,
    },
  };
}

describe('renderInventory (golden files)', () => {
  it('writes empty groups and the variables of an environment with no hosts yet', async () => {
    expect(renderInventory(inventory({}, { db_host: undefined, db_port: undefined }))).toBe(await golden('empty.ini'));
  });

  it('lists several app hosts and a broker, with the broker private name as broker_host', async () => {
    const broker = host(9, { securityGroupIds: ['sg-broker'] });
    const rendered = renderInventory(inventory({ appservers: [host(1), host(2)], brokers: [broker] }, { broker_host: broker.privateDnsName }));
    expect(rendered).toBe(await golden('app-and-broker.ini'));
  });

  it('lists a host with only a private address by that address (reached through ssh_config)', async () => {
    const privateOnly = host(3, { address: 'ip-10-0-0-3.ec2.internal' });
    expect(renderInventory(inventory({ appservers: [privateOnly] }))).toBe(await golden('private-only.ini'));
  });

  it('summarises hosts per group', () => {
    expect(summarizeInventory(inventory({ appservers: [host(1), host(2)], brokers: [host(9)] }))).toBe('appservers: 2, brokers: 1, workers: 0');
  });
});

describe('selectRoles', () => {
  it('defaults to every role that has hosts, in site.yml order', () => {
    expect(selectRoles(inventory({ appservers: [host(1)] }), undefined, 'staging')).toEqual(['app', 'database']);
    expect(selectRoles(inventory({ appservers: [host(1)], brokers: [host(9)] }), undefined, 'staging')).toEqual(['broker', 'app', 'database']);
  });

  it('refuses a role that has no hosts, saying how to get them', () => {
    expect(() => selectRoles(inventory({ appservers: [host(1)] }), ['app', 'broker'], 'staging')).toThrowError(
      'no hosts for role broker in staging (appservers: 1, brokers: 0, workers: 0): commission it first (with --with-broker), or leave it out of --roles',
    );
  });
});

describe('pruneKnownHosts', () => {
  it('keeps current hosts, comments and hashed lines, and drops the rest', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'argos-kh-')), 'known_hosts');
    await writeFile(
      file,
      [
        '# argos',
        'ec2-198-51-100-1.compute-1.amazonaws.com ssh-ed25519 AAAA1',
        'ec2-198-51-100-7.compute-1.amazonaws.com ssh-ed25519 AAAA7',
        '[ec2-198-51-100-8.compute-1.amazonaws.com]:2222 ssh-ed25519 AAAA8',
        '|1|hashed= ssh-ed25519 AAAAH',
        '',
      ].join('\n'),
    );
    const dropped = await pruneKnownHosts(file, ['ec2-198-51-100-1.compute-1.amazonaws.com']);
    expect(dropped).toEqual(['ec2-198-51-100-7.compute-1.amazonaws.com', 'ec2-198-51-100-8.compute-1.amazonaws.com']);
    expect(await readFile(file, 'utf8')).toBe('# argos\nec2-198-51-100-1.compute-1.amazonaws.com ssh-ed25519 AAAA1\n|1|hashed= ssh-ed25519 AAAAH\n');
  });

  it('leaves no old key in the way of a new instance on a reused address (keys are recorded by instance id)', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'argos-kh-')), 'known_hosts');
    const aliasIn = (rendered: string) => /HostKeyAlias=([^"\s]+)/.exec(rendered)?.[1] ?? '';
    // GIVEN the host key of instance i-0old, recorded under the alias the inventory gave it
    const old = host(1, { instanceId: 'i-0old' });
    await writeFile(file, `${aliasIn(renderInventory(inventory({ appservers: [old] })))} ssh-ed25519 AAAAold\n`);
    // WHEN EC2 gives its public address to a new instance (another host key) and deploy prunes the file
    const reused = inventory({ appservers: [host(1, { instanceId: 'i-0new' })] });
    const dropped = await pruneKnownHosts(file, allHosts(reused).map(hostKeyAlias));
    // THEN the new host's key is checked under a name the file holds no (old, different) key for
    const alias = aliasIn(renderInventory(reused));
    expect(alias).toBe('i-0new');
    const text = await readFile(file, 'utf8');
    expect(text.split('\n').filter((line) => line.split(/\s+/)[0]?.split(',').includes(alias))).toEqual([]);
    // and the gone instance's entry is forgotten
    expect(dropped).toEqual(['i-0old']);
    expect(text).not.toContain('AAAAold');
  });

  it('does nothing when there is no file yet', async () => {
    expect(await pruneKnownHosts('/nonexistent/known_hosts', ['x'])).toEqual([]);
  });
});
