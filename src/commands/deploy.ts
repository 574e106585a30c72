/**
 * `argos <env> deploy`: refresh `hosts/hosts_<env>` from what runs on AWS, open
 * SSH to the caller for the hosts' groups, run the playbooks in one
 * `ansible-playbook`, and close SSH again whatever happens.
 */
import { join } from 'node:path';
import type { Context } from '../context.js';
import { ArgosError } from '../errors.js';
import { allHosts, discoverInventory, pruneKnownHosts, renderInventory, summarizeInventory, writeFileAtomic, type Inventory, type InventoryGroup } from '../hosts.js';
import { checkKeyFile } from '../keys.js';
import type { DeployOptions } from '../options.js';
import { closeSsh, openSsh } from '../security.js';
import { ROLES, type RoleName } from '../command-names.js';
import { configVarsFiles, sshSettings } from './connection.js';

/** Which inventory group each role's playbook runs on. */
const ROLE_GROUPS: Record<RoleName, InventoryGroup> = { app: 'appservers', database: 'appservers', broker: 'brokers', worker: 'workers' };

/** The order of playbooks/site.yml: the broker first, then app servers, the database (from an app server), workers. */
const SITE_ORDER: readonly RoleName[] = ['broker', 'app', 'database', 'worker'];

/** Runs `argos <env> deploy`. */
export async function deploy(ctx: Context<DeployOptions>): Promise<void> {
  await deployEnvironment(ctx, ctx.options.roles);
}

/** Finds the hosts and writes `hosts/hosts_<env>`; returns the inventory. */
export async function refreshHostsFile(ctx: Context): Promise<Inventory> {
  return ctx.reporter.step(`find the hosts of ${ctx.env} and write hosts/hosts_${ctx.env}`, async (step) => {
    const inventory = await discoverInventory(ctx.clients, ctx.names, { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile });
    await writeFileAtomic(ctx.paths.hostsFile, renderInventory(inventory));
    step.note(summarizeInventory(inventory));
    return inventory;
  });
}

/** The roles to run: those asked for (each must have hosts), else every role that has hosts. */
export function selectRoles(inventory: Inventory, requested: readonly RoleName[] | undefined, env: string): RoleName[] {
  const hasHosts = (role: RoleName) =>
    inventory.groups[ROLE_GROUPS[role]].length > 0 && (role !== 'database' || inventory.vars.db_host !== undefined);
  if (requested === undefined) return SITE_ORDER.filter(hasHosts);
  const empty = requested.filter((role) => !hasHosts(role));
  if (empty.length > 0) {
    throw new ArgosError(
      'FAILED',
      `no hosts for role ${empty.join(', ')} in ${env} (${summarizeInventory(inventory)}): commission it first${empty.includes('broker') ? ' (with --with-broker)' : ''}, or leave it out of --roles`,
    );
  }
  return SITE_ORDER.filter((role) => requested.includes(role));
}

/**
 * Deploys `roles` (default: every role that has hosts) to the environment.
 * Temporary SSH ingress is closed in a `finally`: on success, failure and Ctrl-C.
 */
export async function deployEnvironment(ctx: Context, requested: readonly RoleName[] | undefined): Promise<void> {
  const { reporter, clients } = ctx;
  const inventory = await refreshHostsFile(ctx);
  const hosts = allHosts(inventory);
  if (hosts.length === 0) {
    throw new ArgosError('FAILED', `no instances found for ${ctx.env}: run \`argos ${ctx.env} commission\` first`);
  }
  reporter.info(`hosts: ${summarizeInventory(inventory)}`);
  const roles = selectRoles(inventory, requested, ctx.env);
  const targets = [...new Set(roles.map((role) => ROLE_GROUPS[role]))].flatMap((group) => inventory.groups[group]);
  const problems = await checkKeyFile(ctx.paths.keyFile, ctx.paths.root);
  if (problems.length > 0) throw new ArgosError('CONFIG', problems.join('; '));
  await ctx.runtime.findAnsiblePlaybook();
  const cidr = await ctx.runtime.resolveSshCidr(ctx.sshCidr, { signal: ctx.signal });
  const groupIds = [...new Set(targets.flatMap((host) => host.securityGroupIds))].sort();
  const ssh = sshSettings(ctx);
  try {
    await reporter.step(`open SSH from ${cidr} on ${groupIds.join(', ')}`, async () => {
      for (const groupId of groupIds) await openSsh(clients.ec2, groupId, cidr);
    });
    const dropped = await pruneKnownHosts(ctx.paths.knownHostsFile, hosts.map((host) => host.address));
    if (dropped.length > 0) reporter.info(`forgot the host keys of hosts no longer in ${ctx.env}: ${dropped.join(', ')}`);
    await reporter.step(`wait for SSH on ${targets.length} host${targets.length === 1 ? '' : 's'}`, async (step) => {
      await Promise.all(targets.map((host) => ctx.runtime.waitForSsh(host.address, ssh, { signal: ctx.signal, clock: ctx.runtime.clock, onProgress: (note) => step.note(`${host.address}: ${note}`) })));
    });
    const everything = ROLES.every((role) => roles.includes(role)) || requested === undefined;
    const playbooks = everything ? ['site.yml'] : roles.map((role) => `${role}.yml`);
    await reporter.step(`run ${playbooks.join(' ')} (${roles.join(', ')})`, async () => {
      await ctx.runtime.runPlaybook({
        playbooks: playbooks.map((name) => join(ctx.paths.playbooks, name)),
        inventory: ctx.paths.hostsFile,
        ssh,
        varsFiles: configVarsFiles(ctx),
        forks: Math.max(5, hosts.length),
        verbose: ctx.options.verbose,
        signal: ctx.signal,
        onLine: (line) => reporter.detail(line),
      });
    });
  } finally {
    // Closed even when the run failed or was interrupted: the rule must not outlive the run.
    await reporter.step('close temporary SSH access', async () => {
      for (const groupId of groupIds) await closeSsh(clients.ec2, groupId);
    });
  }
}
