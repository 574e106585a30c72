/**
 * The base image `<app>-image`: found and reused, waited for while another run
 * bakes it, baked from a temporary instance that Ansible provisions, deleted by
 * `clean`. A bake leaves nothing behind: whatever it created is removed in
 * reverse order on failure and on Ctrl-C, and leftovers of a killed run are
 * removed before a new bake starts.
 */
import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSecurityGroupsCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  type EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import { retryWhileNotVisible } from './aws/consistency.js';
import { EC2_ERRORS } from './aws/error-codes.js';
import { findInstances, launchInstance, terminateInstances, waitForInstancesRunning } from './aws/instances.js';
import { ArgosError } from './errors.js';
import { makeTags, toTagFilters, toTagSpecifications, type EnvNames, type Tag } from './names.js';
import { openSsh } from './security.js';
import { catchCodes, retryOnCodes, waitFor, type Progress } from './wait.js';

/** Bound for an AMI to become available (safety.md: at least 40 minutes). */
export const IMAGE_TIMEOUT_MS = 45 * 60_000;
/** Bound for cleanup after a failed or interrupted bake (it must not hang either). */
const CLEANUP_TIMEOUT_MS = 15 * 60_000;

/** The base image as argos needs it. */
export interface ImageInfo {
  imageId: string;
  name: string;
  state: string;
  snapshotIds: string[];
}

function toImageInfo(image: Image): ImageInfo {
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
  };
}

/** The account's own `<app>-image`, or `undefined`. (One Describe call: owner self + name filter.) */
export async function findImage(ec2: EC2Client, names: EnvNames): Promise<ImageInfo | undefined> {
  const response = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [names.image] }] }));
  const images = (response.Images ?? []).filter((image) => image.State !== 'deregistered');
  return images[0] ? toImageInfo(images[0]) : undefined;
}

/** Waits until the image is available; a failed image is an error that says to clean. */
export async function waitForImage(ec2: EC2Client, imageName: string, imageId: string, wait: Progress): Promise<ImageInfo> {
  return waitFor(
    async () => {
      const response = await retryWhileNotVisible(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), EC2_ERRORS.imageNotFound, `image ${imageId}`, wait);
      const image = response.Images?.[0];
      if (!image) return { done: false, state: 'not visible yet' };
      if (image.State === 'available') return { done: true, value: toImageInfo(image) };
      if (image.State === 'failed' || image.State === 'error' || image.State === 'invalid') {
        throw new ArgosError('FAILED', `image ${imageName} (${imageId}) is ${image.State}: run argos <env> clean, then commission again`);
      }
      return { done: false, state: image.State ?? 'pending' };
    },
    { what: `image ${imageName} (${imageId}) to be available`, timeoutMs: IMAGE_TIMEOUT_MS, intervalMs: 15_000, signal: wait.signal, clock: wait.clock, onPoll: wait.onProgress },
  );
}

/** The temporary resources of a bake, found by tags (also those of a killed run). */
export interface BakeLeftovers {
  instanceIds: string[];
  securityGroupIds: string[];
}

/**
 * Finds bake instances (Group=image, no Env) and the bake security group; with
 * `release`, those of the environment's release builds (Group=release, Env).
 */
export async function findBakeLeftovers(ec2: EC2Client, names: EnvNames, kind: 'image' | 'release' = 'image'): Promise<BakeLeftovers> {
  const scope = kind === 'image' ? { app: names.app, group: 'image' as const } : { app: names.app, env: names.env, group: 'release' as const };
  const groupName = kind === 'image' ? names.imageSecurityGroup : names.releaseSecurityGroup;
  const instances = await findInstances(ec2, toTagFilters(scope));
  const groups = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [...toTagFilters(scope), { Name: 'group-name', Values: [groupName] }] }));
  return {
    instanceIds: instances.map((instance) => instance.instanceId),
    securityGroupIds: (groups.SecurityGroups ?? []).flatMap((group) => (group.GroupId ? [group.GroupId] : [])),
  };
}

/**
 * Terminates bake instances, then deletes the bake security group (it is held until they are gone).
 * `justCreated`: this run created them (a failed bake's undo), so a not-found
 * answer may be EC2's eventual consistency, not "gone": it is retried, bounded.
 */
export async function removeBakeLeftovers(ec2: EC2Client, leftovers: BakeLeftovers, wait: Progress, options: { justCreated?: boolean } = {}): Promise<void> {
  await terminateInstances(ec2, leftovers.instanceIds, wait, { justLaunched: options.justCreated });
  for (const groupId of leftovers.securityGroupIds) await deleteGroup(ec2, groupId, wait, options.justCreated ?? false);
}

async function deleteGroup(ec2: EC2Client, groupId: string, wait: Progress, justCreated: boolean): Promise<void> {
  const remove = () => ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
  await retryOnCodes(
    () =>
      justCreated
        ? retryWhileNotVisible(remove, EC2_ERRORS.securityGroupNotFound, `security group ${groupId} (created by this run)`, wait)
        : catchCodes(remove, EC2_ERRORS.securityGroupNotFound, undefined),
    EC2_ERRORS.dependencyViolation,
    { what: `security group ${groupId} to be free to delete`, timeoutMs: CLEANUP_TIMEOUT_MS, intervalMs: 5_000, signal: wait.signal, clock: wait.clock },
  );
}

/** Everything a bake needs, injected so tests can drive each stage. */
export interface BakeSpec {
  names: EnvNames;
  vpcId: string;
  subnetId: string | undefined;
  baseAmi: string;
  instanceType: string;
  keyName: string;
  rootVolumeSize: number;
  /** The caller's CIDR: SSH is opened to it alone. */
  sshCidr: string;
  /** Waits until SSH answers on the host (and records its host key under the instance id). */
  waitForSsh: (host: string, instanceId: string) => Promise<void>;
  /** Runs playbooks/image.yml against the one host (its key checked under the instance id). */
  provision: (host: string, instanceId: string) => Promise<void>;
}

/** What a bake did. */
export interface BakeResult {
  image: ImageInfo;
  instanceId: string;
  /**
   * The removal of the bake instance and its group, under way: the image is
   * ready, so the caller goes on (the app servers need only the image) and
   * awaits this before it finishes. It runs on its own bounded signal, so a
   * Ctrl-C does not stop it half-way.
   */
  cleanup: Promise<void>;
}

/**
 * What an image made on a temporary instance is: its name, description and
 * tags, the temporary security group's name and tags, and any security groups
 * the instance joins besides it. The base image and release images
 * (release.ts) differ only in these.
 */
export interface ImageRecipe {
  imageName: string;
  /** The playbook that provisions the instance, as progress names it (`image.yml`, `site.yml`). */
  playbook: string;
  description: string;
  /** Tags of the instance, its volume, the image and its snapshots. */
  tags: Tag[];
  /** Tags of the image and its snapshots besides `tags` (e.g. the git ref of a release). */
  imageTags?: Tag[] | undefined;
  securityGroupName: string;
  securityGroupDescription: string;
  securityGroupTags: Tag[];
  /** Groups the instance joins besides its own (a release build joins the app servers' to reach the database). */
  extraSecurityGroupIds?: string[] | undefined;
  /** What the build is called in messages: `the bake`, `the release build`. */
  buildName: string;
  /** Said when removing what a failed build created fails too. */
  leftoverAdvice: string;
}

/** The recipe of the base image `<app>-image` (environment-agnostic). */
export function baseImageRecipe(names: EnvNames): ImageRecipe {
  return {
    imageName: names.image,
    playbook: 'image.yml',
    description: `argos base image of ${names.app} (environment-agnostic)`,
    tags: makeTags({ app: names.app, group: 'image' }, names.image),
    securityGroupName: names.imageSecurityGroup,
    securityGroupDescription: 'argos: temporary group of the image bake (SSH from the caller only)',
    securityGroupTags: makeTags({ app: names.app, group: 'image' }, names.imageSecurityGroup),
    buildName: 'the bake',
    leftoverAdvice: `run argos ${names.env} clean to remove them`,
  };
}

/**
 * Makes an image on a temporary instance (by default the base image
 * `<app>-image`, from `spec.baseAmi`): security group (SSH from the caller
 * only), instance, SSH, Ansible, CreateImage, wait, then removes the instance
 * and the group. On any failure or interruption, removes in reverse order
 * whatever this build created (a half-made image, the instance, the group) and
 * rethrows.
 */
export async function bakeImage(ec2: EC2Client, spec: BakeSpec, wait: Progress, recipe: ImageRecipe = baseImageRecipe(spec.names)): Promise<BakeResult> {
  const { tags } = recipe;
  const created: { groupId?: string; instanceId?: string; imageId?: string } = {};
  try {
    wait.onProgress?.('creating the temporary security group');
    const group = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: recipe.securityGroupName,
        Description: recipe.securityGroupDescription,
        VpcId: spec.vpcId,
        TagSpecifications: toTagSpecifications(['security-group'] as const, recipe.securityGroupTags),
      }),
    );
    created.groupId = group.GroupId ?? '';
    // The group was created a moment ago: until EC2 sees it, calls naming it answer not found.
    await openSsh(ec2, created.groupId, spec.sshCidr, { justCreated: wait });

    wait.onProgress?.(`launching the temporary instance from ${spec.baseAmi}`);
    const instance = await launchInstance(ec2, {
      imageId: spec.baseAmi,
      instanceType: spec.instanceType,
      keyName: spec.keyName,
      securityGroupIds: [created.groupId, ...(recipe.extraSecurityGroupIds ?? [])],
      subnetId: spec.subnetId,
      rootVolumeSize: spec.rootVolumeSize,
      tags,
    }, { groupsJustCreated: wait });
    created.instanceId = instance.instanceId;
    const [running] = await waitForInstancesRunning(ec2, [instance.instanceId], wait);
    const host = running?.publicDnsName ?? running?.publicIpAddress;
    if (!host) throw new ArgosError('FAILED', `the temporary instance ${instance.instanceId} has no public address: the default VPC's subnets must assign public IPs`);

    wait.onProgress?.(`waiting for SSH on ${host}`);
    await spec.waitForSsh(host, instance.instanceId);
    wait.onProgress?.(`running playbooks/${recipe.playbook}`);
    await spec.provision(host, instance.instanceId);

    wait.onProgress?.(`creating the image ${recipe.imageName}`);
    const imageTags = [...tags, ...(recipe.imageTags ?? [])];
    const image = await ec2.send(
      new CreateImageCommand({
        InstanceId: instance.instanceId,
        Name: recipe.imageName,
        Description: recipe.description,
        // Only the image is tagged on create: moto rejects a snapshot entry here; snapshots are tagged once the image exists.
        TagSpecifications: toTagSpecifications(['image'] as const, imageTags),
      }),
    );
    created.imageId = image.ImageId ?? '';
    const available = await waitForImage(ec2, recipe.imageName, created.imageId, wait);
    if (available.snapshotIds.length > 0) {
      await ec2.send(new CreateTagsCommand({ Resources: available.snapshotIds, Tags: imageTags }));
    }

    const cleanup = removeBakeLeftovers(
      ec2,
      { instanceIds: [instance.instanceId], securityGroupIds: [created.groupId] },
      { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS), clock: wait.clock },
    );
    // Whoever awaits `cleanup` sees its failure; until then it must not count as unhandled.
    cleanup.catch(() => undefined);
    return { image: available, instanceId: instance.instanceId, cleanup };
  } catch (error) {
    try {
      await undoBake(ec2, created, wait);
    } catch (cleanupError) {
      // The user must learn what is left, not only why the build stopped.
      const left = [created.instanceId && `instance ${created.instanceId}`, created.groupId && `security group ${created.groupId}`, created.imageId && `image ${created.imageId}`].filter(Boolean);
      throw new ArgosError(
        'FAILED',
        `${(error as Error).message}; removing what ${recipe.buildName} created then failed too (${(cleanupError as Error).message}): ` +
          `left ${left.join(', ')}: ${recipe.leftoverAdvice}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Removes what a failed bake created, newest first. Runs with its own bounded
 * signal: the run's signal may be the Ctrl-C that caused the failure.
 */
async function undoBake(ec2: EC2Client, created: { groupId?: string; instanceId?: string; imageId?: string }, wait: Progress): Promise<void> {
  const cleanup: Progress = { signal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS), onProgress: wait.onProgress, clock: wait.clock };
  cleanup.onProgress?.('bake failed: removing what it created');
  if (created.imageId) await deleteImageById(ec2, created.imageId);
  await removeBakeLeftovers(
    ec2,
    { instanceIds: created.instanceId ? [created.instanceId] : [], securityGroupIds: created.groupId ? [created.groupId] : [] },
    cleanup,
    // Possibly seconds after their create: a not-found there is not proof they are gone.
    { justCreated: true },
  );
}

/** Deregisters an image and deletes its own snapshots (none other). Returns the snapshot ids deleted. */
export async function deleteImageById(ec2: EC2Client, imageId: string): Promise<string[]> {
  const response = await catchCodes(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), EC2_ERRORS.imageNotFound, undefined);
  const image: Image | undefined = response?.Images?.[0];
  if (!image) return [];
  const snapshotIds = toImageInfo(image).snapshotIds;
  await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
  // A snapshot stays "in use" until its image is deregistered: delete them only now.
  for (const snapshotId of snapshotIds) {
    await catchCodes(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), EC2_ERRORS.snapshotNotFound, undefined);
  }
  return snapshotIds;
}

/** What {@link deleteImage} removed. */
export interface DeleteImageResult {
  image: ImageInfo | undefined;
  snapshotIds: string[];
  leftovers: BakeLeftovers;
}

/**
 * `clean`: removes leftover bake instances and the bake group, deregisters
 * `<app>-image` and deletes its snapshots. Nothing there is fine.
 */
export async function deleteImage(ec2: EC2Client, names: EnvNames, wait: Progress): Promise<DeleteImageResult> {
  const leftovers = await findBakeLeftovers(ec2, names);
  await removeBakeLeftovers(ec2, leftovers, wait);
  const image = await findImage(ec2, names);
  const snapshotIds = image ? await deleteImageById(ec2, image.imageId) : [];
  return { image, snapshotIds, leftovers };
}

/** What {@link ensureImage} did. */
export interface EnsureImageResult {
  image: ImageInfo;
  outcome: 'reused' | 'waited' | 'baked';
  /** Leftovers of an earlier killed bake that were removed first. */
  removedLeftovers: BakeLeftovers;
  /** The bake's own cleanup, still under way (see {@link BakeResult.cleanup}); resolved when nothing was baked. */
  cleanup: Promise<void>;
}

/**
 * Returns an available `<app>-image`: reuses it, waits for one being baked,
 * or removes leftovers of an earlier killed bake and bakes a new one.
 * `prepareBake` runs only when a bake is needed (key checks, SSH CIDR lookup)
 * and before anything is created.
 */
export async function ensureImage(
  ec2: EC2Client,
  names: EnvNames,
  prepareBake: () => Promise<BakeSpec>,
  wait: Progress,
): Promise<EnsureImageResult> {
  const none = { instanceIds: [], securityGroupIds: [] };
  const existing = await findImage(ec2, names);
  const done = Promise.resolve();
  if (existing?.state === 'available') return { image: existing, outcome: 'reused', removedLeftovers: none, cleanup: done };
  if (existing?.state === 'pending') {
    wait.onProgress?.(`image ${existing.imageId} is being created: waiting for it`);
    return { image: await waitForImage(ec2, names.image, existing.imageId, wait), outcome: 'waited', removedLeftovers: none, cleanup: done };
  }
  if (existing) {
    throw new ArgosError('FAILED', `image ${names.image} (${existing.imageId}) is ${existing.state}: run argos <env> clean, then commission again`);
  }
  const spec = await prepareBake();
  const leftovers = await findBakeLeftovers(ec2, names);
  if (leftovers.instanceIds.length + leftovers.securityGroupIds.length > 0) {
    wait.onProgress?.(`removing leftovers of an earlier bake: ${[...leftovers.instanceIds, ...leftovers.securityGroupIds].join(', ')}`);
    await removeBakeLeftovers(ec2, leftovers, wait);
  }
  const baked = await bakeImage(ec2, spec, wait);
  return { image: baked.image, outcome: 'baked', removedLeftovers: leftovers, cleanup: baked.cleanup };
}
