/**
 * The commission step that uses a new database's creation time: RDS takes
 * minutes to make a PostgreSQL instance available, and a new environment's app
 * servers, launched from the base image, run long before that. Instead of
 * waiting idle for the database and then running the whole first deploy,
 * argos runs playbooks/prepare.yml on them meanwhile (the image role and the
 * app servers' packages: what a first deploy does that names no database), so
 * the deploy that follows has only the rest to do (the configuration, which
 * names the database endpoint RDS publishes once it is available, the
 * services, the migrations).
 *
 * It has its own temporary SSH window, closed (connections, then the rule)
 * before the deploy opens its own: the deploy's `hosts` step waits for this
 * one, so the two never overlap and neither closes the other's rule.
 */
import { progressOf, type Context } from '../context.js';
import { discoverInventory, hostKeyAlias, renderInventory, type InventoryHost } from '../hosts.js';
import { closeSsh, openSsh } from '../security.js';
import type { SshSettings } from '../ssh.js';
import { configVarsFiles, runWithInventory, sshSettings } from './connection.js';
import type { StepHandle } from '../reporter.js';
import type { Step } from './steps.js';

/** What the step reads from the commission's state. */
export interface PrepareServersState {
  /** Defined when this run launched the app servers from the base image (health replacement suspended). */
  suspendedUntilServing?: string[] | undefined;
  /** Defined once the database step has ended: the database is available. */
  database?: unknown;
}

/** The step's id: the deploy's first step waits for it. */
export const PREPARE_SERVERS_STEP = 'prepare-servers';

/**
 * The step (needs the app servers): skipped when the app servers serve from
 * boot (a release image), when the database is available already (the deploy
 * configures them in one run), or without `deploy`.
 */
export function prepareServersStep<S extends PrepareServersState>(ctx: Context, options: { deploy: boolean }): Step<S> {
  return {
    id: PREPARE_SERVERS_STEP,
    title: 'configure the app servers while the database is created',
    needs: ['app-servers'],
    enabled: () => options.deploy,
    preview: async () => ({
      actions: [],
      none: 'when new app servers run before the database is available: playbooks/prepare.yml on them (packages, code, virtualenv), through its own temporary SSH',
    }),
    run: async (state, step) => {
      if (state.suspendedUntilServing === undefined) return { skip: 'the app servers serve from boot (release image)' };
      if (state.database !== undefined) return { skip: 'the database is available: the deploy configures them in one run' };
      const inventory = await discoverInventory(ctx.clients, ctx.names, { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile });
      const hosts = inventory.groups.appservers;
      if (hosts.length === 0) return { skip: 'no app server runs yet' };
      step.note(`${hosts.map((host) => host.instanceId).join(', ')}: playbooks/prepare.yml`);
      // Only the app servers and the environment's vars (no database endpoint yet, no secret).
      const text = renderInventory({ groups: { appservers: hosts, brokers: [], workers: [] }, vars: inventory.vars });
      await withTemporarySsh(ctx, hosts, step, (ssh) =>
        // The config's variables, not the database password: nothing in prepare.yml uses it.
        runWithInventory(ctx, { playbook: 'prepare.yml', inventory: text, ssh, varsFiles: configVarsFiles(ctx), forks: Math.max(5, hosts.length) }),
      );
      return {};
    },
  };
}

/**
 * Opens SSH from the caller's address on the hosts' security groups, waits
 * until every host answers, runs `work`, then closes the kept connections and
 * revokes the rules, whatever happened.
 */
async function withTemporarySsh(
  ctx: Context,
  hosts: readonly InventoryHost[],
  step: StepHandle,
  work: (ssh: SshSettings) => Promise<void>,
): Promise<void> {
  const ssh = sshSettings(ctx);
  const cidr = await ctx.runtime.resolveSshCidr(ctx.sshCidr, { signal: ctx.signal });
  const groupIds = [...new Set(hosts.flatMap((host) => host.securityGroupIds))].sort();
  try {
    for (const groupId of groupIds) await openSsh(ctx.clients.ec2, groupId, cidr);
    await Promise.all(
      hosts.map((host) => ctx.runtime.waitForSsh(host.address, ssh, progressOf(ctx, step, `${host.address}: `), { hostKeyAlias: hostKeyAlias(host), openedFrom: cidr })),
    );
    await work(ssh);
  } finally {
    // The connections first: revoking the rule would not cut them (security groups are stateful).
    await ctx.runtime.closeSshMasters(hosts.map((host) => host.address), ssh);
    for (const groupId of groupIds) await closeSsh(ctx.clients.ec2, groupId);
  }
}
