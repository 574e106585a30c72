/**
 * Wires an image bake to one run's Context: the checks that must pass before
 * anything is created, the caller's CIDR, and SSH + Ansible against the one
 * temporary host. Used by commission (and the image tests).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findDefaultVpc, findOfferedSubnets } from '../aws/vpc.js';
import type { Fetch } from '../caller.js';
import { progressOf, type Context } from '../context.js';
import type { BakeSpec } from '../image.js';
import { configVarsFiles, runWithInventory, sshSettings, type InventoryRun } from './connection.js';
import { hostKeyAlias } from '../hosts.js';
import { assertKeysReady } from '../keys.js';

/** The known_hosts file of bake instances (removed after each bake: the instance is gone). */
export function bakeKnownHostsFile(ctx: Context): string {
  return join(ctx.paths.root, 'hosts', 'known_hosts_image');
}

/**
 * Checks keys and Ansible, finds the default VPC and the caller's CIDR, and
 * returns the bake's spec. Throws before anything is created.
 */
export async function prepareBake(ctx: Context, options: { fetch?: Fetch } = {}): Promise<BakeSpec> {
  const { ec2 } = ctx.clients;
  await assertKeysReady(ec2, ctx.paths.keyFile, ctx.config.keyName, ctx.region, ctx.paths.root);
  await ctx.runtime.findAnsiblePlaybook();
  const sshCidr = await ctx.runtime.resolveSshCidr(ctx.sshCidr, { fetch: options.fetch, signal: ctx.signal });
  const vpc = await findDefaultVpc(ec2, ctx.region);
  // The bake instance goes to a zone that offers its type.
  const [subnet] = await findOfferedSubnets(ec2, vpc, ctx.config.imageInstanceType, ctx.region, 'image_instance_type');
  const ssh = sshSettings(ctx, bakeKnownHostsFile(ctx));
  return {
    names: ctx.names,
    vpcId: vpc.vpcId,
    subnetId: subnet?.subnetId,
    baseAmi: ctx.config.baseAmi,
    instanceType: ctx.config.imageInstanceType,
    keyName: ctx.config.keyName,
    rootVolumeSize: ctx.config.rootVolumeSize,
    sshCidr,
    waitForSsh: (host, instanceId) => ctx.runtime.waitForSsh(host, ssh, progressOf(ctx), { hostKeyAlias: hostKeyAlias({ instanceId }), openedFrom: sshCidr }),
    provision: (host, instanceId) =>
      runOnTemporaryHost(ctx, {
        playbook: 'image.yml',
        // The same host-key alias as waitForSsh used, so Ansible checks the key recorded there.
        inventory: `[image]\n${host} ansible_ssh_extra_args="-o HostKeyAlias=${hostKeyAlias({ instanceId })}"\n`,
        ssh,
        varsFiles: configVarsFiles(ctx),
        host,
      }),
  };
}

/** One playbook run on a temporary instance (a bake's, a release build's). */
export interface TemporaryHostRun extends Omit<InventoryRun, 'forks'> {
  /** The instance's address: its kept SSH connection is closed after the run. */
  host: string;
}

/**
 * Runs one playbook on a temporary instance, then closes the kept SSH
 * connection to it and removes the instance's known_hosts file (the inventory
 * goes with the run): the instance is about to be imaged (a reboot) and
 * terminated, so neither its connection nor its host key may linger.
 */
export async function runOnTemporaryHost(ctx: Context, run: TemporaryHostRun): Promise<void> {
  try {
    await runWithInventory(ctx, { ...run, forks: 1 });
  } finally {
    await ctx.runtime.closeSshMasters([run.host], run.ssh);
    await rm(run.ssh.knownHostsFile, { force: true });
  }
}
