/**
 * API calls: how many AWS calls each command makes against moto, counted by
 * an SDK middleware on the real clients, first in an account holding only
 * argos's prerequisites, then in one that also holds 2,000 unrelated instances
 * and 200 unrelated security groups. Lookups that filter on the server (tags,
 * ids, names) make the same calls however big the account is; a lookup that
 * described everything and filtered on the client, or that called once per
 * resource, would not.
 *
 * The commands run in this process with the Context the CLI builds
 * (src/context.ts createContext, real clients from src/aws/clients.ts), so
 * the clients can carry the counting middleware. `deploy` runs with
 * Ansible and the SSH wait stubbed out (the runtime seam src/runtime.ts
 * offers): its AWS calls are real, its playbook run is not.
 */
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { RunInstancesCommand, CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import type { InitializeMiddleware, MetadataBearer, MiddlewareStack } from '@aws-sdk/types';
import type { AwsClients } from '../src/aws/clients.js';
import { findDefaultVpc } from '../src/aws/vpc.js';
import { clean } from '../src/commands/clean.js';
import { commission } from '../src/commands/commission.js';
import { decommission } from '../src/commands/decommission.js';
import { rollback } from '../src/commands/rollback.js';
import { deploy } from '../src/commands/deploy.js';
import type { CommandName } from '../src/command-names.js';
import { status } from '../src/commands/status.js';
import { createContext, type Context } from '../src/context.js';
import { parseOptions, type OptionsByCommand } from '../src/options.js';
import { TerminalReporter, type Reporter } from '../src/reporter.js';
import { localProcesses } from '../src/run.js';
import { MOTO_AMI } from '../test/support/aws-fixtures.js';
import { makeProject } from '../test/support/cli.js';
import type { BenchAccount } from './aws-account.js';

/** How many unrelated instances the busy account gets: more than a page of DescribeInstances (1,000), so pagination shows. */
export const UNRELATED_INSTANCES = 2_000;
/** How many unrelated security groups it gets. */
export const UNRELATED_SECURITY_GROUPS = 200;

/** The commands counted, in lifecycle order, with the options given (as the CLI's flags). */
const LIFECYCLE: readonly { name: CommandName; label: string; options: Record<string, unknown>; env?: string; clockAheadMs?: number }[] = [
  { name: 'commission', label: 'commission --no-deploy --yes', options: { minSize: '1', maxSize: '4', deploy: false } },
  { name: 'status', label: 'status', options: {} },
  { name: 'deploy', label: 'deploy (Ansible stubbed)', options: {} },
  // A second release, so that rollback has one to go back to.
  // Its clock a minute ahead: release images are named by the UTC second, and two in one second would share a name.
  { name: 'deploy', label: 'deploy again (Ansible stubbed)', options: {}, clockAheadMs: 60_000 },
  { name: 'rollback', label: 'rollback --yes', options: {} },
  { name: 'decommission', label: 'decommission --yes', options: {} },
  // With the broker and the Celery workers' group (issue 18): commission, its re-run (nothing created), status,
  // decommission. Another environment: moto names a new database's automated snapshot by the minute, so
  // re-creating bench's database within the minute would collide.
  { name: 'commission', label: 'commission --no-deploy --with-broker --with-workers --yes', options: { minSize: '1', maxSize: '4', deploy: false, withBroker: true, withWorkers: true }, env: 'benchw' },
  { name: 'commission', label: 'commission (re-run) --no-deploy --with-broker --with-workers --yes', options: { deploy: false, withBroker: true, withWorkers: true }, env: 'benchw' },
  { name: 'status', label: 'status (with broker and workers)', options: {}, env: 'benchw' },
  { name: 'decommission', label: 'decommission --yes (with broker and workers)', options: {}, env: 'benchw' },
  { name: 'clean', label: 'clean --yes', options: {} },
];

/** Counts of one command in both accounts. */
export interface CallCount {
  command: string;
  empty: number;
  busy: number;
  /** `Service:Operation ×n` where the two accounts differ (empty when they do not). */
  differences: string[];
  /** Calls by operation in the empty account, e.g. `EC2:DescribeInstances ×2`. */
  operations: string[];
}

/** The command functions, as src/run.ts loads them. */
const COMMANDS: { [C in CommandName]: (ctx: Context<OptionsByCommand[C]>) => Promise<void> } = { commission, deploy, rollback, decommission, clean, status };

/** A stream that drops what it is given (the commands' screen output). */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** What the counter needs of a client: its middleware stack, whatever its input and output types. */
type CountableClient = { middlewareStack: MiddlewareStack<object, MetadataBearer> };

/** Adds a middleware to every client that records `Service:Operation` once per call (retries not counted). */
function countCalls(clients: AwsClients, calls: string[]): void {
  const counter: InitializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    calls.push(`${(context.clientName ?? '?').replace(/Client$/, '')}:${(context.commandName ?? '?').replace(/Command$/, '')}`);
    return next(args);
  };
  const all = [clients.ec2, clients.rds, clients.autoScaling, clients.elb] as unknown as CountableClient[];
  for (const client of all) client.middlewareStack.add(counter, { step: 'initialize', name: 'argosBenchCallCounter' });
}

/** Runs `argos bench <name>` in this process, as src/run.ts does, and returns the calls it made. */
async function runCounted<C extends CommandName>(
  root: string,
  name: C,
  options: Record<string, unknown>,
  { env = 'bench', clockAheadMs = 0 }: { env?: string | undefined; clockAheadMs?: number | undefined } = {},
): Promise<string[]> {
  const calls: string[] = [];
  const parsed = parseOptions(name, { yes: true, config: 'playbooks/group_vars/all.yml', sshCidr: '203.0.113.7/32', ...options });
  let reporter: Reporter | undefined;
  const ctx = await createContext({
    env,
    options: parsed,
    environment: { AWS_REGION: process.env['AWS_REGION'] },
    root,
    signal: new AbortController().signal,
    processes: localProcesses,
    createReporter: (logFile, secrets) => (reporter = new TerminalReporter({ stream: discard(), interactive: false, verbose: false, logFile, secrets })),
  });
  // Ansible and SSH are not what is counted: deploy's playbook run and SSH wait do nothing.
  const counted = {
    ...ctx,
    runtime: {
      ...ctx.runtime,
      clock: { now: () => ctx.runtime.clock.now() + clockAheadMs, sleep: ctx.runtime.clock.sleep },
      runPlaybook: async () => undefined, waitForSsh: async () => undefined, findAnsiblePlaybook: async () => 'ansible-playbook (stubbed)' },
  };
  countCalls(counted.clients, calls);
  try {
    await COMMANDS[name](counted);
    return calls;
  } finally {
    counted.clients.destroy();
    reporter?.close();
  }
}

/** Adds {@link UNRELATED_INSTANCES} instances (in batches of 50) and {@link UNRELATED_SECURITY_GROUPS} security groups that belong to no argos environment. */
async function addUnrelatedResources(clients: AwsClients): Promise<void> {
  const tags = [{ Key: 'App', Value: 'someone-else' }, { Key: 'Env', Value: 'other' }];
  for (let launched = 0; launched < UNRELATED_INSTANCES; launched += 50) {
    // moto launches MinCount instances (it ignores MaxCount).
    await clients.ec2.send(
      new RunInstancesCommand({ ImageId: MOTO_AMI, InstanceType: 't3.micro', MinCount: 50, MaxCount: 50, TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] }),
    );
  }
  const { vpcId } = await findDefaultVpc(clients.ec2, 'us-east-1');
  for (let index = 0; index < UNRELATED_SECURITY_GROUPS; index += 1) {
    await clients.ec2.send(
      new CreateSecurityGroupCommand({ GroupName: `unrelated-${index}`, Description: 'not argos', VpcId: vpcId, TagSpecifications: [{ ResourceType: 'security-group', Tags: tags }] }),
    );
  }
}

/** Runs the lifecycle in a fresh project and returns each command's calls. */
async function countLifecycle(): Promise<string[][]> {
  const root = await makeProject();
  try {
    const counts: string[][] = [];
    for (const step of LIFECYCLE) counts.push(await runCounted(root, step.name, step.options, { env: step.env, clockAheadMs: step.clockAheadMs }));
    return counts;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** `["EC2:DescribeInstances ×2", …]`, sorted. */
function byOperation(calls: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of calls) counts.set(call, (counts.get(call) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

/** Where the operation counts of two runs differ: `EC2:DescribeInstances 2 → 3`. */
function differences(empty: readonly string[], busy: readonly string[]): string[] {
  const a = byOperation(empty);
  const b = byOperation(busy);
  return [...new Set([...a.keys(), ...b.keys()])].sort().flatMap((operation) => {
    const before = a.get(operation) ?? 0;
    const after = b.get(operation) ?? 0;
    return before === after ? [] : [`${operation} ${before} → ${after}`];
  });
}

/** Counts every command's calls in the empty account, then in the busy one. */
export async function measureApiCalls(account: BenchAccount, log: (line: string) => void): Promise<CallCount[]> {
  await account.reset();
  const empty = await countLifecycle();
  log('api calls: empty account done');
  await account.reset();
  await addUnrelatedResources(account.clients);
  const busy = await countLifecycle();
  log(`api calls: account with ${UNRELATED_INSTANCES} unrelated instances and ${UNRELATED_SECURITY_GROUPS} security groups done`);
  return LIFECYCLE.map((step, index) => {
    const a = empty[index] ?? [];
    const b = busy[index] ?? [];
    return {
      command: step.label,
      empty: a.length,
      busy: b.length,
      differences: differences(a, b),
      operations: [...byOperation(a)].map(([operation, count]) => `${operation} ×${count}`),
    };
  });
}
