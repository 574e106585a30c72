/**
 * Wires an image bake to one run's Context: the checks that must pass before
 * anything is created, the caller's CIDR, and SSH + Ansible against the one
 * temporary host. Used by commission (and the image tests).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultVpc, findOfferedSubnets } from '../aws/vpc.js';
import type { Fetch } from '../caller.js';
import { progressOf, type Context } from '../context.js';
import type { BakeSpec } from '../image.js';
import { configVarsFiles, sshSettings } from './connection.js';
import { hostKeyAlias } from '../hosts.js';
import { assertKeysReady } from '../keys.js';
import type { SshSettings } from '../ssh.js';

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
export interface TemporaryHostRun {
  /** The playbook's file name in playbooks/. */
  playbook: string;
  /** The inventory's text (written to a private temporary file). */
  inventory: string;
  ssh: SshSettings;
  varsFiles: string[];
  limit?: string | undefined;
  /** The instance's address: its kept SSH connection is closed after the run. */
  host: string;
}

/**
 * Runs one playbook on a temporary instance, then closes the kept SSH
 * connection to it and removes the inventory and the instance's known_hosts
 * file: the instance is about to be imaged (a reboot) and terminated, so
 * neither its connection nor its host key may linger.
 */
export async function runOnTemporaryHost(ctx: Context, run: TemporaryHostRun): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'argos-temporary-'));
  try {
    const inventory = join(dir, 'hosts');
    await writeFile(inventory, run.inventory, { mode: 0o600 });
    await ctx.runtime.runPlaybook({
      playbooks: [join(ctx.paths.playbooks, run.playbook)],
      inventory,
      ssh: run.ssh,
      varsFiles: run.varsFiles,
      limit: run.limit,
      forks: 1,
      verbose: ctx.options.verbose,
      signal: ctx.signal,
      onLine: (line) => ctx.reporter.detail(line),
    });
  } finally {
    await ctx.runtime.closeSshMasters([run.host], run.ssh);
    await rm(dir, { recursive: true, force: true });
    await rm(run.ssh.knownHostsFile, { force: true });
  }
}
