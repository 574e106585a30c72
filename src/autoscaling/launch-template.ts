/**
 * The app servers' launch templates.
 *
 * Design: templates are immutable and named by their settings,
 * `<app>-<env>-app-<hash8>` (the first 8 hex digits of the SHA-256 of the
 * template data). A change of image, instance type, key pair, security group,
 * volume size or user data gives a new name, so a new template is created with
 * CreateLaunchTemplate, the group is pointed at it with UpdateAutoScalingGroup,
 * and the templates the group no longer uses are deleted.
 *
 * Why not new versions of one template:
 * - On AWS both work, but a named template per settings makes a re-run a pure
 *   lookup (same settings, same name: nothing to compare or create), makes a
 *   half-finished run converge (the template either exists or not), and the
 *   group's `LaunchTemplateName` alone says which settings it runs.
 * - moto (the emulator the tests run against) breaks any autoscaling group that
 *   uses a version made by CreateLaunchTemplateVersion with UserData (HTTP 500);
 *   version 1 from CreateLaunchTemplate works. Every template here only ever
 *   has version 1, so the same code path runs in tests and on AWS.
 */
import { createHash } from 'node:crypto';
import {
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  type EC2Client,
  type RequestLaunchTemplateData,
  type ResponseLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import { EC2_ERRORS } from '../aws/error-codes.js';
import { ArgosError } from '../errors.js';
import { makeTags, toTagFilters, toTagSpecifications, type EnvNames } from '../names.js';
import { classify, ownedOrThrow } from '../ownership.js';
import { catchCodes, hasErrorCode } from '../wait.js';
import { tierGroupName, type AppServersSpec, type EnsureResult, type Tier } from './types.js';

/** The parts of the spec a launch template is made of. */
export type LaunchTemplateSpec = Pick<
  AppServersSpec,
  'names' | 'imageId' | 'instanceType' | 'keyName' | 'appSecurityGroupId' | 'rootVolumeSize'
> & {
  /** Whose template: the app servers' (the default) or the workers'; for workers `appSecurityGroupId` holds the workers' group. */
  tier?: Tier | undefined;
};

/** A launch template of this environment's app servers. */
export interface LaunchTemplateRef {
  name: string;
  id: string;
}

/** What {@link ensureLaunchTemplate} did. */
export interface LaunchTemplateResult extends EnsureResult {
  id: string;
}

/**
 * The user data script: writes `ARGOS_ENV` and `APP_NAME` to /etc/environment,
 * as the original's setup script did, replacing earlier values (base64, as
 * launch templates take it).
 */
export function buildUserData(app: string, env: string): string {
  return Buffer.from([...environmentLines(app, env), ''].join('\n'), 'utf8').toString('base64');
}

/** The start of every user data script: the shell, and `ARGOS_ENV` / `APP_NAME` in /etc/environment. */
function environmentLines(app: string, env: string): string[] {
  // app and env are checked names (lowercase letters, digits, hyphens): safe in single quotes.
  return [
    '#!/bin/bash',
    '# Written by argos: which app and environment this instance belongs to.',
    'set -euo pipefail',
    'touch /etc/environment',
    "sed -i -e '/^ARGOS_ENV=/d' -e '/^APP_NAME=/d' /etc/environment",
    `echo 'ARGOS_ENV=${env}' >> /etc/environment`,
    `echo 'APP_NAME=${app}' >> /etc/environment`,
  ];
}

/**
 * A worker server's user data: {@link buildUserData}'s lines, then the
 * services of a worker. The release image carries the app and the worker (the
 * release build installs the worker's unit disabled, playbooks/roles/worker
 * `worker_start: false`): at its first boot (user data runs once per instance,
 * as cloud-init's scripts-user does on EC2) a worker stops and disables the web
 * services (nothing reaches them: the workers' group admits no traffic) and
 * enables and starts `<app>-worker`, which then also starts at every later boot.
 * App servers never get this script, so their worker unit stays disabled.
 */
export function buildWorkerUserData(app: string, env: string): string {
  const worker = `${app}-worker.service`;
  const script = [
    ...environmentLines(app, env),
    '# A worker server: the Celery worker runs, the web services of the same release image do not.',
    `systemctl disable --now --no-block nginx.service '${app}-uwsgi.service' || true`,
    `if systemctl cat '${worker}' >/dev/null 2>&1; then systemctl enable --now --no-block '${worker}'; fi`,
    '',
  ].join('\n');
  return Buffer.from(script, 'utf8').toString('base64');
}

/**
 * The template data for `spec` with the image's root device: IMDSv2 required
 * (hop limit 1), an encrypted gp3 root volume, the user data, and the standard
 * tags on the instances and volumes it launches.
 */
export function buildLaunchTemplateData(spec: LaunchTemplateSpec, rootDeviceName: string): RequestLaunchTemplateData {
  const { names } = spec;
  const tier = spec.tier ?? 'app';
  const tags = makeTags({ app: names.app, env: names.env, group: tier }, tierGroupName(names, tier));
  // Property order is fixed: the template name is a hash of this object's JSON.
  return {
    ImageId: spec.imageId,
    // Checked as a type name by the config; AWS says whether it exists.
    InstanceType: spec.instanceType as RequestLaunchTemplateData['InstanceType'],
    KeyName: spec.keyName,
    SecurityGroupIds: [spec.appSecurityGroupId],
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
    BlockDeviceMappings: [
      {
        DeviceName: rootDeviceName,
        Ebs: { VolumeSize: spec.rootVolumeSize, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
    ],
    UserData: tier === 'worker' ? buildWorkerUserData(names.app, names.env) : buildUserData(names.app, names.env),
    TagSpecifications: toTagSpecifications(['instance', 'volume'] as const, tags),
  };
}

/** `<app>-<env>-app-<hash8>` (`-worker-` for workers): the name of the template holding exactly `data`. */
export function launchTemplateName(names: EnvNames, data: RequestLaunchTemplateData, tier: Tier = 'app'): string {
  const hash = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 8);
  return `${tierGroupName(names, tier)}-${hash}`;
}

/** The template `spec` needs and how it differs from `previous` (the one the group uses now), if it does. */
export interface LaunchTemplatePlan {
  name: string;
  data: RequestLaunchTemplateData;
  /** E.g. `instance type t3.small → t3.medium`; empty when `previous` is the same template or not given. */
  changes: string[];
}

/** Which template `spec` needs and what differs from `previous` (Describe calls only). */
export async function planLaunchTemplate(ec2: EC2Client, spec: LaunchTemplateSpec, previous: string | undefined): Promise<LaunchTemplatePlan> {
  const data = buildLaunchTemplateData(spec, await findRootDeviceName(ec2, spec.imageId));
  const name = launchTemplateName(spec.names, data, spec.tier);
  const changes = previous !== undefined && previous !== name ? await describeChanges(ec2, previous, data) : [];
  return { name, data, changes };
}

/**
 * Makes sure the template for `spec` exists (created with the standard tags
 * if not). With `previous` (the template the group uses now), `changes` says
 * which settings differ from it, e.g. `instance type t3.small → t3.medium`.
 */
export async function ensureLaunchTemplate(
  ec2: EC2Client,
  spec: LaunchTemplateSpec,
  options: { previous?: string | undefined } = {},
): Promise<LaunchTemplateResult> {
  const { name, data, changes } = await planLaunchTemplate(ec2, spec, options.previous);
  const { names } = spec;
  const tier = spec.tier ?? 'app';
  const existing = await findLaunchTemplate(ec2, names, name, tier);
  if (existing) return { name, id: existing.id, created: false, changes };
  try {
    const response = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        VersionDescription: `argos: ${tier === 'worker' ? 'workers' : 'app servers'} of ${names.app} ${names.env}`,
        LaunchTemplateData: data,
        TagSpecifications: toTagSpecifications(
          ['launch-template'] as const,
          makeTags({ app: names.app, env: names.env, group: tier }, name),
        ),
      }),
    );
    const id = response.LaunchTemplate?.LaunchTemplateId;
    if (!id) throw new ArgosError('FAILED', `creating the launch template ${name} returned no id: run the command again`);
    return { name, id, created: true, changes };
  } catch (error) {
    // Another run created it between the lookup and the create: same name, same settings.
    if (!hasErrorCode(error, EC2_ERRORS.launchTemplateAlreadyExists)) throw error;
    const raced = await findLaunchTemplate(ec2, names, name, tier);
    if (!raced) throw error;
    return { name, id: raced.id, created: false, changes };
  }
}

/**
 * The environment's template called `name`, or `undefined` when there is none.
 * One of that name tagged for another app or environment is a conflict (thrown):
 * launching the environment's servers from it would run someone else's settings.
 */
export async function findLaunchTemplate(ec2: EC2Client, names: EnvNames, name: string, tier: Tier = 'app'): Promise<LaunchTemplateRef | undefined> {
  const response = await catchCodes(
    () => ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] })),
    EC2_ERRORS.launchTemplateNotFound,
    undefined,
  );
  const found = response?.LaunchTemplates?.[0];
  const ref = found?.LaunchTemplateId && found.LaunchTemplateName ? { name: found.LaunchTemplateName, id: found.LaunchTemplateId } : undefined;
  return ownedOrThrow(classify(ref, { what: 'launch template', name, tags: found?.Tags }, { app: names.app, env: names.env, group: tier }), names);
}

/** Every template of the environment's tier (default: the app servers'), found by its tags (one call). */
export async function findLaunchTemplates(ec2: EC2Client, names: EnvNames, tier: Tier = 'app'): Promise<LaunchTemplateRef[]> {
  const templates: LaunchTemplateRef[] = [];
  let token: string | undefined;
  do {
    const response = await ec2.send(
      new DescribeLaunchTemplatesCommand({
        Filters: toTagFilters({ app: names.app, env: names.env, group: tier }),
        NextToken: token,
      }),
    );
    for (const template of response.LaunchTemplates ?? []) {
      if (template.LaunchTemplateId && template.LaunchTemplateName) {
        templates.push({ name: template.LaunchTemplateName, id: template.LaunchTemplateId });
      }
    }
    token = response.NextToken;
  } while (token);
  return templates.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Deletes the environment's templates of `tier` (default: the app servers')
 * except `keep`; templates already gone count as deleted. Returns the names deleted.
 */
export async function deleteLaunchTemplates(
  ec2: EC2Client,
  names: EnvNames,
  options: { keep?: string | undefined; tier?: Tier | undefined } = {},
): Promise<string[]> {
  const deleted: string[] = [];
  for (const template of await findLaunchTemplates(ec2, names, options.tier)) {
    if (template.name === options.keep) continue;
    await catchCodes(() => ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: template.id })), EC2_ERRORS.launchTemplateNotFound, undefined);
    deleted.push(template.name);
  }
  return deleted;
}

/** The image's root device name, where the encrypted root volume mapping must go. */
async function findRootDeviceName(ec2: EC2Client, imageId: string): Promise<string> {
  const response = await catchCodes(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), EC2_ERRORS.imageUnusable, undefined);
  const image = response?.Images?.[0];
  if (!image?.RootDeviceName) {
    throw new ArgosError(
      'FAILED',
      `the image ${imageId} for the app servers does not exist (or has no root device): ` +
        'bake the image again (run commission) and run the command again',
    );
  }
  return image.RootDeviceName;
}

/** The launch settings of the template called `name` (its default version), or `undefined` when it is gone. */
export async function findLaunchTemplateData(ec2: EC2Client, name: string): Promise<ResponseLaunchTemplateData | undefined> {
  const response = await catchCodes(
    () => ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Default'] })),
    EC2_ERRORS.launchTemplateNotFound,
    undefined,
  );
  return response?.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
}

/** What differs between the template `previous` and `data`, in words. */
async function describeChanges(ec2: EC2Client, previous: string, data: RequestLaunchTemplateData): Promise<string[]> {
  const old = await findLaunchTemplateData(ec2, previous);
  if (!old) return [`launch settings replaced (the previous template ${previous} is gone)`];
  const changes: string[] = [];
  const compare = (what: string, before: unknown, after: unknown): void => {
    if (String(before) !== String(after)) changes.push(`${what} ${String(before)} → ${String(after)}`);
  };
  compare('image', old.ImageId, data.ImageId);
  compare('instance type', old.InstanceType, data.InstanceType);
  compare('key pair', old.KeyName, data.KeyName);
  compare('security groups', (old.SecurityGroupIds ?? []).join(','), (data.SecurityGroupIds ?? []).join(','));
  compare('root volume size (GiB)', old.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize, data.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize);
  if (old.UserData !== data.UserData) changes.push('user data');
  if (changes.length === 0) changes.push('other launch settings (metadata options, volume type or tags)');
  return changes;
}

/** A launch template (of any app or environment, argos's or not) that launches from an image. */
export interface ImageUser extends LaunchTemplateRef {
  /** Its `App` and `Env` tags, when it has them. */
  app: string | undefined;
  env: string | undefined;
}

/**
 * Every launch template in the region whose default or latest version launches
 * from `imageId`, with its `App`/`Env` tags: an image they use must not be
 * deleted, or their groups can launch nothing. Two calls (and their pages),
 * whatever the account holds: AWS describes "all the latest or default launch
 * template versions in your account" when the template id and name are
 * omitted and `Versions` is `$Latest`/`$Default` (DescribeLaunchTemplateVersions),
 * filtered by `image-id`. moto ignores the filter, so the image id is compared here too.
 */
export async function findImageUsers(ec2: EC2Client, imageId: string): Promise<ImageUser[]> {
  const ids = new Set<string>();
  let token: string | undefined;
  do {
    const response = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ Versions: ['$Latest', '$Default'], Filters: [{ Name: 'image-id', Values: [imageId] }], NextToken: token }),
    );
    for (const version of response.LaunchTemplateVersions ?? []) {
      if (version.LaunchTemplateId && version.LaunchTemplateData?.ImageId === imageId) ids.add(version.LaunchTemplateId);
    }
    token = response.NextToken;
  } while (token);
  if (ids.size === 0) return [];
  const users: ImageUser[] = [];
  let page: string | undefined;
  do {
    const response = await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [...ids], NextToken: page }));
    for (const template of response.LaunchTemplates ?? []) {
      const tag = (key: string) => template.Tags?.find((t) => t.Key === key)?.Value;
      users.push({ name: template.LaunchTemplateName ?? '', id: template.LaunchTemplateId ?? '', app: tag('App'), env: tag('Env') });
    }
    page = response.NextToken;
  } while (page);
  return users.sort((a, b) => a.name.localeCompare(b.name));
}

/** `argos-staging-app-1a2b3c4d (lt-…, Env=staging)`: an image user, as messages name it. */
export function describeImageUser(user: ImageUser): string {
  const tags = [user.app !== undefined ? `App=${user.app}` : '', user.env !== undefined ? `Env=${user.env}` : ''].filter(Boolean).join(', ');
  return `${user.name} (${user.id}${tags ? `, ${tags}` : ', not tagged by argos'})`;
}
