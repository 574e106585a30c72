/**
 * Release images: `<app>-<env>-release-<UTC time>`, one per deploy, so that an
 * instance the group launches (scale-out, replacement, rebalancing, surge)
 * serves the current release from boot with no Ansible run.
 *
 * A release image is made on a temporary instance launched from the base
 * image and given the app role with the environment's configuration, never
 * from a serving app server: CreateImage without `NoReboot` shuts the
 * instance down and reboots it (an outage with one app server), and with
 * `NoReboot` "Amazon EC2 can't guarantee the file system integrity of the
 * created image" (AWS, CreateImage API reference, `NoReboot`). A temporary
 * instance can be rebooted freely, so its image is file-system consistent.
 *
 * The image holds the app's configuration, database password included: it is
 * private (CreateImage makes private AMIs; argos never shares them) and its
 * snapshots are encrypted (the instance's root volume is, see launchInstance).
 */
import { DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { LIVE_STATES } from './aws/instance-states.js';
import { findInstances } from './aws/instances.js';
import { findAppServerLaunchData } from './autoscaling/app-servers.js';
import { bakeImage, deleteImageById, findBakeLeftovers, removeBakeLeftovers, waitForImage, type BakeSpec, type ImageRecipe } from './image.js';
import { makeTags, releaseImageName, toTagFilters, type EnvNames, type Tag } from './names.js';
import type { Progress } from './wait.js';

/** Bound for removing a killed build's leftovers in the background. */
const CLEANUP_TIMEOUT_MS = 15 * 60_000;

/** The tag holding the git ref a release image was made from. */
export const GIT_REF_TAG = 'argos:git-ref';
/** The tag holding the release's name (also on its snapshots). */
export const RELEASE_TAG = 'argos:release';
/**
 * The tag listing the services a release image carries, `app,worker`: every
 * release build installs the app (enabled) and the Celery worker (disabled,
 * for a worker's user data to enable). Images made before workers existed
 * lack it, so workers never launch from them (see ensureReleaseImage).
 */
export const SERVICES_TAG = 'argos:services';
/** {@link SERVICES_TAG}'s value on the release images argos builds now. */
const RELEASE_SERVICES = 'app,worker';

/** One release image of the environment. */
export interface ReleaseImage {
  imageId: string;
  name: string;
  state: string;
  /** The git ref it was made from (`argos:git-ref`), or `unknown`. */
  gitRef: string;
  /** When it was created (ISO 8601), from EC2's CreationDate, else ''. */
  created: string;
  snapshotIds: string[];
  /** Whether it carries the worker service (its {@link SERVICES_TAG}): worker servers can launch from it. */
  hasWorker: boolean;
}

function toReleaseImage(image: Image): ReleaseImage {
  const tag = (key: string) => image.Tags?.find((t) => t.Key === key)?.Value;
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    gitRef: tag(GIT_REF_TAG) ?? 'unknown',
    created: image.CreationDate ?? '',
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
    hasWorker: (tag(SERVICES_TAG) ?? '').split(',').includes('worker'),
  };
}

/**
 * The environment's release images (this account's, tagged Group=release for
 * the environment and named with its prefix), newest first. Deregistered ones
 * are left out. One Describe call.
 */
export async function findReleaseImages(ec2: EC2Client, names: EnvNames): Promise<ReleaseImage[]> {
  const response = await ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: toTagFilters({ app: names.app, env: names.env, group: 'release' }) }),
  );
  return (response.Images ?? [])
    .filter((image) => image.State !== 'deregistered' && (image.Name ?? '').startsWith(names.releasePrefix))
    .map(toReleaseImage)
    // The name ends with the UTC time: newest first.
    .sort((a, b) => b.name.localeCompare(a.name));
}

/** What a release build needs besides the bake's own spec. */
export interface ReleaseBuild {
  /** The bake spec, its `baseAmi` the environment's base image and its `provision` the app role. */
  spec: BakeSpec;
  /** The app servers' security group: the temporary instance joins it to reach the database and the broker. */
  appSecurityGroupId: string;
  gitRef: string;
  /** When the release is made (its name). */
  at: Date;
}

/** The recipe of one release image. */
function releaseRecipe(names: EnvNames, build: ReleaseBuild): ImageRecipe {
  const imageName = releaseImageName(names, build.at);
  const scope = { app: names.app, env: names.env, group: 'release' as const };
  const extra: Tag[] = [
    { Key: GIT_REF_TAG, Value: build.gitRef },
    { Key: RELEASE_TAG, Value: imageName },
    { Key: SERVICES_TAG, Value: RELEASE_SERVICES },
  ];
  return {
    imageName,
    playbook: 'site.yml',
    description: `argos release of ${names.app} ${names.env} (git ref ${build.gitRef})`,
    tags: makeTags(scope, imageName),
    imageTags: extra,
    securityGroupName: names.releaseSecurityGroup,
    securityGroupDescription: 'argos: temporary group of a release image build (SSH from the caller only)',
    securityGroupTags: makeTags(scope, names.releaseSecurityGroup),
    extraSecurityGroupIds: [build.appSecurityGroupId],
    buildName: `the release build of ${imageName}`,
    leftoverAdvice: `run argos ${names.env} deploy again: it removes them before building the next release`,
  };
}

/** What {@link buildReleaseImage} made. */
export interface BuildReleaseResult {
  release: ReleaseImage;
  /** The temporary instance's removal, under way (see BakeResult.cleanup). */
  cleanup: Promise<void>;
  /** Leftovers of an earlier killed build, removed first. */
  removedLeftovers: string[];
}

/**
 * Makes a new release image: first removes the leftovers of an earlier
 * killed build (its temporary instance and group) and deletes failed release
 * images, then builds on a temporary instance (image.ts's bake: a failure or
 * Ctrl-C removes what it made, a half-made image included).
 */
export async function buildReleaseImage(ec2: EC2Client, names: EnvNames, build: ReleaseBuild, wait: Progress): Promise<BuildReleaseResult> {
  const leftovers = await findBakeLeftovers(ec2, names, 'release');
  const removed = [...leftovers.instanceIds, ...leftovers.securityGroupIds];
  if (removed.length > 0) {
    wait.onProgress?.(`removing leftovers of an earlier release build: ${removed.join(', ')}`);
    await removeBakeLeftovers(ec2, leftovers, wait);
  }
  for (const failed of (await findReleaseImages(ec2, names)).filter((release) => ['failed', 'error', 'invalid'].includes(release.state))) {
    wait.onProgress?.(`deleting the ${failed.state} release image ${failed.name}`);
    await deleteImageById(ec2, failed.imageId);
    removed.push(failed.imageId);
  }
  const recipe = releaseRecipe(names, build);
  const result = await bakeImage(ec2, build.spec, wait, recipe);
  const release = toReleaseImage({
    ImageId: result.image.imageId,
    Name: result.image.name,
    State: result.image.state as Image['State'],
    CreationDate: build.at.toISOString(),
    Tags: [...recipe.tags, ...(recipe.imageTags ?? [])],
    BlockDeviceMappings: result.image.snapshotIds.map((SnapshotId) => ({ Ebs: { SnapshotId } })),
  });
  return { release, cleanup: result.cleanup, removedLeftovers: removed };
}

/** What {@link ensureReleaseImage} did. */
export interface EnsureReleaseResult {
  /** Undefined when there is none and none was built (`commission --no-deploy` of a new environment). */
  release: ReleaseImage | undefined;
  outcome: 'reused' | 'waited' | 'built' | 'none';
  cleanup: Promise<void>;
}

/**
 * The release image commission launches the app servers from: the live one
 * (the group's template launches from it) when it is available, else the
 * newest available, else one being created (a killed run's, adopted: its
 * playbooks had finished before CreateImage), else a new one when `build` is
 * given. With `needsWorker`, only releases that carry the worker service count.
 */
export async function ensureReleaseImage(
  ec2: EC2Client,
  names: EnvNames,
  options: {
    liveImageId: string | undefined;
    build: (() => Promise<ReleaseBuild>) | undefined;
    /** Worker servers launch from it: only a release carrying the worker service will do. */
    needsWorker?: boolean | undefined;
  },
  wait: Progress,
): Promise<EnsureReleaseResult> {
  const releases = (await findReleaseImages(ec2, names)).filter((release) => !options.needsWorker || release.hasWorker);
  const available = releases.filter((release) => release.state === 'available');
  const pending = releases.find((release) => release.state === 'pending');
  const reuse = available.find((release) => release.imageId === options.liveImageId) ?? available[0];
  // A killed build's instance and group go once no image is being made from them (the run holds the
  // environment's lock, so no other build is under way); in the background, like a bake's cleanup.
  const removeLeftovers = async (): Promise<void> => {
    const leftovers = await findBakeLeftovers(ec2, names, 'release');
    if (leftovers.instanceIds.length + leftovers.securityGroupIds.length === 0) return;
    await removeBakeLeftovers(ec2, leftovers, { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS), clock: wait.clock });
  };
  const background = (work: Promise<void>): Promise<void> => {
    work.catch(() => undefined);
    return work;
  };
  if (reuse) return { release: reuse, outcome: 'reused', cleanup: pending ? Promise.resolve() : background(removeLeftovers()) };
  if (pending) {
    wait.onProgress?.(`release image ${pending.name} (${pending.imageId}) is being created by an earlier run: waiting for it`);
    const image = await waitForImage(ec2, pending.name, pending.imageId, wait);
    return { release: { ...pending, state: image.state, snapshotIds: image.snapshotIds }, outcome: 'waited', cleanup: background(removeLeftovers()) };
  }
  if (!options.build) return { release: undefined, outcome: 'none', cleanup: Promise.resolve() };
  const built = await buildReleaseImage(ec2, names, await options.build(), wait);
  return { release: built.release, outcome: 'built', cleanup: built.cleanup };
}

/** The image the app servers' group launches from now, or `undefined` (no group, or its template gone). */
export async function findLiveImageId(clients: { ec2: EC2Client; autoScaling: AutoScalingClient }, names: EnvNames): Promise<string | undefined> {
  return (await findAppServerLaunchData(clients, names))?.ImageId;
}

/** The images the environment's app servers and workers run from now, by instance id. */
export async function findInstanceImages(ec2: EC2Client, names: EnvNames): Promise<Map<string, string>> {
  const tiers = await Promise.all((['app', 'worker'] as const).map((group) => findInstances(ec2, toTagFilters({ app: names.app, env: names.env, group }), LIVE_STATES)));
  const instances = tiers.flat();
  return new Map(instances.flatMap((instance) => (instance.imageId ? [[instance.instanceId, instance.imageId] as const] : [])));
}

/**
 * Which release images retention deletes: the available ones beyond the
 * newest `kept`, except the live one and any an instance still runs from.
 * Pending ones (a build under way) are never chosen.
 */
export function selectExpiredReleases(releases: readonly ReleaseImage[], kept: number, protectedImageIds: ReadonlySet<string>): ReleaseImage[] {
  const available = releases.filter((release) => release.state === 'available');
  return available.slice(kept).filter((release) => !protectedImageIds.has(release.imageId));
}

/**
 * Keeps the newest `kept` release images (and the live one, and any an
 * instance runs from) and deregisters the others with their snapshots.
 * Returns the names deleted.
 */
export async function pruneReleaseImages(
  clients: { ec2: EC2Client; autoScaling: AutoScalingClient },
  names: EnvNames,
  kept: number,
): Promise<string[]> {
  const [releases, live, running] = await Promise.all([findReleaseImages(clients.ec2, names), findLiveImageId(clients, names), findInstanceImages(clients.ec2, names)]);
  const protectedIds = new Set([...running.values(), ...(live ? [live] : [])]);
  const expired = selectExpiredReleases(releases, kept, protectedIds);
  for (const release of expired) await deleteImageById(clients.ec2, release.imageId);
  return expired.map((release) => release.name);
}

/** What {@link deleteReleaseImages} removed. */
export interface DeleteReleasesResult {
  releases: string[];
  snapshotIds: string[];
  leftovers: string[];
}

/**
 * `decommission`: removes the leftovers of release builds, then deregisters
 * every release image of the environment and deletes its snapshots. Call once
 * the group is gone (no instance runs from them). Nothing there is fine.
 */
export async function deleteReleaseImages(ec2: EC2Client, names: EnvNames, wait: Progress): Promise<DeleteReleasesResult> {
  const leftovers = await findBakeLeftovers(ec2, names, 'release');
  await removeBakeLeftovers(ec2, leftovers, wait);
  const releases = await findReleaseImages(ec2, names);
  const snapshotIds: string[] = [];
  for (const release of releases) snapshotIds.push(...(await deleteImageById(ec2, release.imageId)));
  return { releases: releases.map((release) => release.name), snapshotIds, leftovers: [...leftovers.instanceIds, ...leftovers.securityGroupIds] };
}
