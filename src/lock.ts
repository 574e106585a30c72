/**
 * One run at a time: commission, deploy and decommission take their
 * environment's lock, and whoever may bake or delete the shared image
 * (commission when the image is missing, decommission --delete-image, clean)
 * takes the image's lock. Without them, a second commission started while the
 * first bakes would take the first's live bake instance for a leftover and
 * terminate it.
 *
 * A lock is an empty security group named `<app>-<env>-lock` (or
 * `<app>-image.lock`) in the default VPC, tagged with who holds it, since when
 * and for which command. It lives in AWS, so it holds across machines, and
 * taking it is atomic: a group name is unique within a VPC, and a second
 * CreateSecurityGroup of the same name fails with `InvalidGroup.Duplicate`
 * (EC2 API reference, CreateSecurityGroup: "You can't have two security groups
 * for the same VPC with the same name"). A second run refuses at once, saying
 * who holds the lock; `--force-unlock` removes a lock that a killed run left.
 */
import { hostname, userInfo } from 'node:os';
import { CreateSecurityGroupCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { EC2_ERRORS } from './aws/error-codes.js';
import { findDefaultVpc } from './aws/vpc.js';
import type { CommandName } from './command-names.js';
import type { Context } from './context.js';
import { findImage } from './image.js';
import { ArgosError } from './errors.js';
import { MANAGED_BY, toTagSpecifications, type Tag } from './names.js';
import { catchCodes, hasErrorCode } from './wait.js';

/** Tag keys of a lock (the lock is not tagged App/Env: no environment lookup may mistake it for one of its groups). */
const LOCK_TAG = 'ArgosLock';

/** The running process, as run.ts knows it (only run.ts touches the process). */
export interface LockRunner {
  pid: number;
  /** Whether a process of this host with this id is running (a lock of a killed run is not). */
  isAlive: (pid: number) => boolean;
}

/** One lock to take. */
export interface LockTarget {
  /** The security group's name: `EnvNames.environmentLock` or `imageLock`. */
  name: string;
  /** What it guards, in messages: `staging`, `the image argos-image`. */
  what: string;
}

/** Who holds a lock, from its tags. */
interface LockHolder {
  groupId: string;
  holder: string;
  host: string | undefined;
  pid: number | undefined;
  since: string;
  command: string;
  /** Tagged ArgosLock for this target: made by argos as this lock. */
  ours: boolean;
}

/** A lock this run holds. */
export interface HeldLock {
  target: LockTarget;
  groupId: string;
}

/** What a run's locks need. */
export interface LockContext {
  ec2: EC2Client;
  vpcId: string;
  runner: LockRunner;
  /** `argos staging commission`: recorded on the lock, and the command a refusal says to re-run. */
  command: string;
  forceUnlock: boolean;
  /** Says that a lock was broken (the reporter's info). */
  say: (message: string) => void;
  /** Now, as an ISO time. */
  now: () => string;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (some containers): the host and pid still say who.
    return 'unknown';
  }
}

function tagsOf(target: LockTarget, context: LockContext): Tag[] {
  const host = hostname();
  return [
    { Key: 'Name', Value: target.name },
    { Key: 'ManagedBy', Value: MANAGED_BY },
    { Key: LOCK_TAG, Value: target.name },
    { Key: 'Holder', Value: `${currentUser()}@${host} pid ${context.runner.pid}` },
    { Key: 'HolderHost', Value: host },
    { Key: 'HolderPid', Value: String(context.runner.pid) },
    { Key: 'Since', Value: context.now() },
    { Key: 'Command', Value: context.command },
  ];
}

async function findHolder(ec2: EC2Client, vpcId: string, target: LockTarget): Promise<LockHolder | undefined> {
  const response = await ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [target.name] }, { Name: 'vpc-id', Values: [vpcId] }] }),
  );
  const group = response.SecurityGroups?.[0];
  if (!group?.GroupId) return undefined;
  const tag = (key: string) => group.Tags?.find((t) => t.Key === key)?.Value;
  const pid = Number(tag('HolderPid'));
  return {
    groupId: group.GroupId,
    holder: tag('Holder') ?? 'an unknown holder',
    host: tag('HolderHost'),
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    since: tag('Since') ?? 'an unknown time',
    command: tag('Command') ?? 'an unknown command',
    ours: tag(LOCK_TAG) === target.name,
  };
}

/** "staging is locked by ann@laptop pid 4242 since … (argos staging commission)". */
function describeHolder(target: LockTarget, holder: LockHolder): string {
  return `${target.what} is locked by ${holder.holder} since ${holder.since} (${holder.command})`;
}

/** Whether the holder was a process of this host that is no longer running. */
function isDeadHere(holder: LockHolder, runner: LockRunner): boolean {
  return holder.host === hostname() && holder.pid !== undefined && !runner.isAlive(holder.pid);
}

async function tryCreate(target: LockTarget, context: LockContext): Promise<string | undefined> {
  try {
    const response = await context.ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: target.name,
        Description: `argos lock of ${target.what}: held while a run changes it`,
        VpcId: context.vpcId,
        TagSpecifications: toTagSpecifications(['security-group'] as const, tagsOf(target, context)),
      }),
    );
    return response.GroupId;
  } catch (error) {
    if (hasErrorCode(error, EC2_ERRORS.securityGroupDuplicate)) return undefined;
    throw error;
  }
}

/**
 * Takes one lock, or refuses (exit 1) naming who holds it since when and how
 * to break it; with `forceUnlock`, removes the holder's lock first, saying whose it was.
 */
async function acquireLock(target: LockTarget, context: LockContext): Promise<HeldLock> {
  const created = await tryCreate(target, context);
  if (created) return { target, groupId: created };
  const holder = await findHolder(context.ec2, context.vpcId, target);
  // Released between the create and the lookup: try once more.
  if (!holder) return retake(target, context);
  if (!holder.ours) {
    throw new ArgosError(
      'FAILED',
      `a security group named ${target.name} (${holder.groupId}) exists that argos did not make as a lock: argos uses that name to lock ${target.what}; rename or delete that group`,
    );
  }
  if (context.forceUnlock) {
    context.say(`breaking the lock: ${describeHolder(target, holder)}`);
    await catchCodes(() => context.ec2.send(new DeleteSecurityGroupCommand({ GroupId: holder.groupId })), EC2_ERRORS.securityGroupNotFound, undefined);
    return retake(target, context);
  }
  const dead = isDeadHere(holder, context.runner)
    ? ` That run is no longer running (no process ${holder.pid} on this host): it was killed.`
    : '';
  throw new ArgosError(
    'FAILED',
    `${describeHolder(target, holder)}; wait for it, or if that run is dead: ${context.command} --force-unlock.${dead}`,
  );
}

async function retake(target: LockTarget, context: LockContext): Promise<HeldLock> {
  const created = await tryCreate(target, context);
  if (created) return { target, groupId: created };
  // Another run took it in between: refuse as for any held lock.
  return acquireLock(target, { ...context, forceUnlock: false });
}

/** Releases a lock this run holds; already gone (broken by another run) is fine. */
async function releaseLock(ec2: EC2Client, lock: HeldLock): Promise<void> {
  await catchCodes(() => ec2.send(new DeleteSecurityGroupCommand({ GroupId: lock.groupId })), EC2_ERRORS.securityGroupNotFound, undefined);
}

/**
 * Runs `body` holding `targets` (taken in order; on a refusal the ones taken
 * are released), and releases them afterwards, on success, failure and
 * interruption alike. `body` returns only once its cleanup steps have ended,
 * so the release never races them. A failed release is said, not thrown over
 * the run's own outcome.
 */
async function withLocks<T>(targets: readonly LockTarget[], context: LockContext, body: () => Promise<T>): Promise<T> {
  const held: HeldLock[] = [];
  try {
    for (const target of targets) held.push(await acquireLock(target, context));
    return await body();
  } finally {
    for (const lock of held.reverse()) {
      try {
        await releaseLock(context.ec2, lock);
      } catch (error) {
        context.say(`could not release the lock of ${lock.target.what} (${lock.groupId}): ${(error as Error).message}; the next run removes it with --force-unlock`);
      }
    }
  }
}

/**
 * The locks `argos <env> <command>` takes: none for status and dry runs (they
 * change nothing); the environment's for commission, deploy, rollback, decommission; the
 * image's for clean, decommission --delete-image, and commission when the image
 * is missing (it will bake; an image being created or available is only waited
 * for or reused, which another run's bake does not disturb).
 */
async function locksOf(ctx: Context, command: CommandName): Promise<LockTarget[]> {
  const options = ctx.options as Partial<Record<'dryRun' | 'deleteImage', boolean>>;
  if (command === 'status' || options.dryRun) return [];
  const { names } = ctx;
  const environment: LockTarget = { name: names.environmentLock, what: ctx.env };
  const image: LockTarget = { name: names.imageLock, what: `the image ${names.image}` };
  if (command === 'clean') return [image];
  if (command === 'decommission' && options.deleteImage) return [environment, image];
  if (command === 'commission' && !(await findImage(ctx.clients.ec2, names))) return [environment, image];
  return [environment];
}

/** Runs `body` (the command) holding the locks of {@link locksOf}; see {@link withLocks}. */
export async function runLocked(ctx: Context, command: CommandName, runner: LockRunner, body: () => Promise<void>): Promise<void> {
  const targets = await locksOf(ctx, command);
  if (targets.length === 0) return body();
  const vpc = await findDefaultVpc(ctx.clients.ec2, ctx.region);
  const forceUnlock = (ctx.options as { forceUnlock?: boolean }).forceUnlock === true;
  return withLocks(
    targets,
    {
      ec2: ctx.clients.ec2,
      vpcId: vpc.vpcId,
      runner,
      command: `argos ${ctx.env} ${command}`,
      forceUnlock,
      say: (message) => ctx.reporter.info(message),
      now: () => new Date(ctx.runtime.clock.now()).toISOString(),
    },
    body,
  );
}
