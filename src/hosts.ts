/**
 * The environment's hosts, found by tag, and the Ansible inventory argos
 * writes for them (`hosts/hosts_<env>`): public names to connect to, private
 * names for configuration, as in the original's make_hosts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DescribeAutoScalingGroupsCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { RDSClient } from '@aws-sdk/client-rds';
import { OUT_OF_ROTATION_TAG } from './autoscaling/rotation.js';
import { RUNNING_STATES } from './aws/instance-states.js';
import { findInstances, type InstanceInfo } from './aws/instances.js';
import { lookupDatabase } from './database.js';
import { toTagFilters, type EnvNames } from './names.js';
import { classify, ownedOrThrow } from './ownership.js';

/** Inventory groups, in the order they are written. */
export const INVENTORY_GROUPS = ['appservers', 'brokers', 'workers'] as const;
/** One of {@link INVENTORY_GROUPS}. */
export type InventoryGroup = (typeof INVENTORY_GROUPS)[number];

/** One host of the inventory. */
export interface InventoryHost {
  /** What Ansible connects to: public DNS name, else public IP, else the private name (through a bastion in ssh_config). */
  address: string;
  instanceId: string;
  privateDnsName: string | undefined;
  privateIpAddress: string | undefined;
  securityGroupIds: string[];
  /** The load balancer a rolling deploy that did not finish took it out of (its `argos:out-of-rotation` tag). */
  outOfRotation?: string | undefined;
}

/** Everything the inventory holds. */
export interface Inventory {
  groups: Record<InventoryGroup, InventoryHost[]>;
  vars: {
    env_name: string;
    app_name: string;
    db_host: string | undefined;
    db_port: number | undefined;
    db_name: string;
    broker_host: string | undefined;
    ansible_user: string;
    ansible_ssh_private_key_file: string;
  };
}

function toHost(instance: InstanceInfo): InventoryHost {
  return {
    address: instance.publicDnsName ?? instance.publicIpAddress ?? instance.privateDnsName ?? instance.privateIpAddress ?? instance.instanceId,
    instanceId: instance.instanceId,
    privateDnsName: instance.privateDnsName,
    privateIpAddress: instance.privateIpAddress,
    securityGroupIds: instance.securityGroupIds,
    ...(instance.tags[OUT_OF_ROTATION_TAG] !== undefined ? { outOfRotation: instance.tags[OUT_OF_ROTATION_TAG] } : {}),
  };
}

/**
 * The name a host's key is recorded and checked under (OpenSSH `HostKeyAlias`):
 * its instance id, not its address. EC2 reuses public addresses, and a new
 * instance on an old address has a new host key: keyed by address, OpenSSH
 * would refuse it as a changed key; keyed by instance id, the two never meet.
 */
export function hostKeyAlias(host: Pick<InventoryHost, 'instanceId'>): string {
  return host.instanceId;
}

/** Sorted by address, then id: the same environment always gives the same file. */
function sortHosts(hosts: InventoryHost[]): InventoryHost[] {
  return [...hosts].sort((a, b) => a.address.localeCompare(b.address) || a.instanceId.localeCompare(b.instanceId));
}

/** Clients discovery reads with. */
export interface DiscoveryClients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  rds: RDSClient;
}

/**
 * Finds the environment's running hosts: app servers through their
 * autoscaling group, workers through theirs (should one exist), the broker by
 * its tags, and the database endpoint. Three to four Describe calls in all.
 */
export async function discoverInventory(
  clients: DiscoveryClients,
  names: EnvNames,
  access: { user: string; keyFile: string },
): Promise<Inventory> {
  const groups = await clients.autoScaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [names.appServers, names.worker] }),
  );
  // A group of these names that another app or environment owns is never deployed to.
  for (const group of groups.AutoScalingGroups ?? []) {
    const scope = { app: names.app, env: names.env, group: group.AutoScalingGroupName === names.worker ? ('worker' as const) : ('app' as const) };
    ownedOrThrow(classify(group, { what: 'autoscaling group', name: group.AutoScalingGroupName ?? '', tags: group.Tags }, scope), names);
  }
  const idsOf = (groupName: string) =>
    (groups.AutoScalingGroups ?? [])
      .filter((group) => group.AutoScalingGroupName === groupName)
      .flatMap((group) => (group.Instances ?? []).flatMap((instance) => (instance.InstanceId ? [instance.InstanceId] : [])));
  const groupIds = [...idsOf(names.appServers), ...idsOf(names.worker)];
  const [grouped, brokers, database] = await Promise.all([
    groupIds.length > 0 ? findInstances(clients.ec2, [{ Name: 'instance-id', Values: groupIds }], RUNNING_STATES) : Promise.resolve([]),
    findInstances(clients.ec2, toTagFilters({ app: names.app, env: names.env, group: 'broker' }), RUNNING_STATES),
    lookupDatabase(clients.rds, names.database, names).then((lookup) => ownedOrThrow(lookup, names)),
  ]);
  const appIds = new Set(idsOf(names.appServers));
  const broker = sortHosts(brokers.map(toHost))[0];
  return {
    groups: {
      appservers: sortHosts(grouped.filter((i) => appIds.has(i.instanceId)).map(toHost)),
      brokers: sortHosts(brokers.map(toHost)),
      workers: sortHosts(grouped.filter((i) => !appIds.has(i.instanceId)).map(toHost)),
    },
    vars: {
      env_name: names.env,
      app_name: names.app,
      db_host: database?.address,
      db_port: database?.port,
      db_name: names.databaseName,
      broker_host: broker?.privateDnsName ?? broker?.privateIpAddress,
      ansible_user: access.user,
      ansible_ssh_private_key_file: access.keyFile,
    },
  };
}

/** INI values: bare when safe, double-quoted otherwise. */
function iniValue(value: string | number): string {
  const text = String(value);
  return /^[\w@%+=:,./-]+$/.test(text) ? text : JSON.stringify(text);
}

/** Renders the inventory as Ansible INI. Empty groups are written too (plays on them just skip). */
export function renderInventory(inventory: Inventory): string {
  const lines = [
    `# Ansible inventory of the ${inventory.vars.env_name} environment, written by argos.`,
    `# Do not edit: argos ${inventory.vars.env_name} deploy rewrites it from what runs on AWS.`,
    '',
  ];
  for (const group of INVENTORY_GROUPS) {
    lines.push(`[${group}]`);
    for (const host of inventory.groups[group]) {
      const vars = [
        // Host keys are recorded under the instance id (see hostKeyAlias), also when
        // ssh_config maps the address elsewhere (a bastion, the tests' local target).
        `ansible_ssh_extra_args=${iniValue(`-o HostKeyAlias=${hostKeyAlias(host)}`)}`,
        `instance_id=${host.instanceId}`,
        ...(host.privateDnsName ? [`private_dns_name=${host.privateDnsName}`] : []),
        ...(host.privateIpAddress ? [`private_ip=${host.privateIpAddress}`] : []),
      ];
      lines.push(`${host.address} ${vars.join(' ')}`);
    }
    lines.push('');
  }
  lines.push('[all:vars]');
  for (const [key, value] of Object.entries(inventory.vars)) {
    if (value !== undefined) lines.push(`${key}=${iniValue(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** "appservers: 2, brokers: 1, workers: 0". */
export function summarizeInventory(inventory: Inventory): string {
  return INVENTORY_GROUPS.map((group) => `${group}: ${inventory.groups[group].length}`).join(', ');
}

/** Every host, each once. */
export function allHosts(inventory: Inventory): InventoryHost[] {
  return INVENTORY_GROUPS.flatMap((group) => inventory.groups[group]);
}

/** Writes a file atomically (temp file + rename), so a reader never sees half of it. */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content, { mode });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Keeps only the known_hosts entries of current hosts (by their
 * {@link hostKeyAlias}), so the file does not grow with every instance ever
 * replaced; entries of the older address-keyed layout go too (their hosts are
 * recorded again, by id, on first sight). Hashed entries cannot be matched and
 * are kept. Returns the names whose entries were dropped.
 */
export async function pruneKnownHosts(file: string, currentHosts: readonly string[]): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const keep = new Set(currentHosts.map((host) => host.toLowerCase()));
  const dropped = new Set<string>();
  const kept = text.split('\n').filter((line) => {
    const field = line.trim().split(/\s+/)[0] ?? '';
    if (field === '' || field.startsWith('#') || field.startsWith('|') || field.startsWith('@')) return true;
    // "host1,host2" or "[host]:port"
    const names = field.split(',').map((name) => name.replace(/^\[(.+)\]:\d+$/, '$1').toLowerCase());
    if (names.some((name) => keep.has(name))) return true;
    names.forEach((name) => dropped.add(name));
    return false;
  });
  if (dropped.size > 0) await writeFileAtomic(file, kept.join('\n'));
  return [...dropped].sort();
}
