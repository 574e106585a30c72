/**
 * Wires a release image build to one run's Context: the bake's checks and
 * spec (prepare-bake.ts), launched from the environment's base image, and a
 * provision that gives the temporary instance what an app server gets at
 * deploy — `site.yml` with the instance as the inventory's only app server,
 * the environment's database and broker in its vars, the database password
 * through the 0600 vars file (withPlaybookVars) — and what a worker gets, its
 * unit installed but neither started nor enabled (`worker_start=false`): a
 * worker running on the build instance would take tasks from the broker and
 * be cut off by the image's reboot. One image serves both tiers; a worker's
 * user data enables the worker at its first boot (launch-template.ts).
 */
import { join } from 'node:path';
import { progressOf, type Context } from '../context.js';
import { discoverInventory, hostKeyAlias, renderInventory } from '../hosts.js';
import type { ReleaseBuild } from '../release.js';
import { sshSettings, withPlaybookVars } from './connection.js';
import { prepareBake, runOnTemporaryHost } from './prepare-bake.js';

/** The known_hosts file of release build instances (removed after each build: the instance is gone). */
export function releaseKnownHostsFile(ctx: Context): string {
  return join(ctx.paths.root, 'hosts', `known_hosts_release_${ctx.env}`);
}

/**
 * Checks keys and Ansible, finds the caller's CIDR, and returns the build of
 * a release from `baseImageId`. Throws before anything is created.
 */
export async function prepareRelease(ctx: Context, target: { baseImageId: string; appSecurityGroupId: string }): Promise<ReleaseBuild> {
  const bake = await prepareBake(ctx);
  const knownHostsFile = releaseKnownHostsFile(ctx);
  const ssh = sshSettings(ctx, knownHostsFile);
  return {
    appSecurityGroupId: target.appSecurityGroupId,
    gitRef: ctx.config.gitRef,
    at: new Date(ctx.runtime.clock.now()),
    spec: {
      ...bake,
      baseAmi: target.baseImageId,
      waitForSsh: (host, instanceId) => ctx.runtime.waitForSsh(host, ssh, progressOf(ctx), { hostKeyAlias: hostKeyAlias({ instanceId }), openedFrom: bake.sshCidr }),
      provision: async (host, instanceId) => {
        // The environment's vars (database endpoint, broker), with this one instance as its app servers.
        const discovered = await discoverInventory(ctx.clients, ctx.names, { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile });
        const releaseHost = { address: host, instanceId, privateDnsName: undefined, privateIpAddress: undefined, securityGroupIds: [] };
        const inventory = `${renderInventory({ groups: { appservers: [releaseHost], brokers: [], workers: [releaseHost] }, vars: discovered.vars })}\n[workers:vars]\nworker_start=false\n`;
        await withPlaybookVars(ctx, (varsFiles) => runOnTemporaryHost(ctx, { playbook: 'site.yml', inventory, ssh, varsFiles, limit: host, host }));
      },
    },
  };
}
