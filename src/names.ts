/**
 * The one place that knows how argos names and tags what it creates.
 * Every command finds resources again through these names and tags, so a
 * re-run after a failure picks up what an earlier run made.
 */
import { COMMANDS } from './command-names.js';
import { usageError } from './errors.js';

/** The parts of an environment; each becomes `<app>-<env>-<group>`. */
export type Group = 'app' | 'database' | 'broker' | 'worker' | 'elb';

/**
 * Groups plus `image`, the environment-agnostic base image and its bake, and
 * `release`: an environment's release images and the temporary instance (and
 * security group) each is made on.
 */
export type TagGroup = Group | 'image' | 'release';

/** A tag as EC2, RDS and classic ELB take it. */
export interface Tag {
  Key: string;
  Value: string;
}

/** The value of the `ManagedBy` tag on everything argos creates. */
export const MANAGED_BY = 'argos';

/** Lowercase letters, digits and single hyphens; starts with a letter; no trailing hyphen. */
const NAME_PATTERN = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/** AWS limits that names derived from `<app>` and `<env>` must fit. */
const LIMITS = [
  // Classic load balancer names: at most 32 characters.
  { what: 'load balancer name', max: 32, derive: (app: string, env: string) => `${app}-${env}-elb` },
  // RDS instance identifiers: at most 63 characters.
  { what: 'RDS instance identifier', max: 63, derive: (app: string, env: string) => `${app}-${env}-database` },
  // PostgreSQL identifiers (the database name): at most 63 bytes.
  { what: 'database name', max: 63, derive: (app: string, env: string) => databaseName(app, env) },
] as const;

/** Whether `name` is a valid app or environment name (syntax only). */
export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/**
 * Checks an environment name's syntax; throws a usage error that says what to type.
 * Derived-name lengths need the app name: see {@link checkDerivedNames}.
 */
export function checkEnvName(env: string): void {
  if (RESERVED_ENV_NAMES.has(env)) {
    // `argos status status` reads as a missing environment: the word is taken by the command line itself.
    throw usageError(`'${env}' cannot name an environment: it is ${env === 'help' ? 'argos help' : 'the name of a command'}; choose another name (for example: staging)`);
  }
  if (!isValidName(env)) {
    throw usageError(
      `invalid environment name '${env}': use lowercase letters, digits and single hyphens, ` +
        `starting with a letter and not ending with a hyphen (for example: staging, prod2; a new environment takes no hyphen)`,
    );
  }
}

/** Words the command line takes for itself, so no environment can be called by them. */
const RESERVED_ENV_NAMES: ReadonlySet<string> = new Set([...COMMANDS, 'help']);

/**
 * Why `env` may not name a NEW environment of `app`, or `undefined` when it may.
 * Names are `<app>-<env>-<group>` and app names may hold hyphens, so an env name
 * with a hyphen makes two (app, env) pairs share every name: app `argos-x` env
 * `y` and app `argos` env `x-y` both give `argos-x-y-app`. An env name without
 * hyphens makes the split unique (the group is the last part, the env the one
 * before it). Existing environments whose name has a hyphen keep working: the
 * caller accepts such a name when the environment's resources carry exactly
 * that `Env` tag (see README, "Names and tags").
 */
export function findNewEnvNameProblem(app: string, env: string): string | undefined {
  if (!env.includes('-')) return undefined;
  const [head, ...rest] = env.split('-');
  return (
    `the environment name '${env}' has a hyphen, and no environment ${env} of ${app} exists: a new environment name must be ` +
    `letters and digits only (for example ${env.replaceAll('-', '')}), because names are <app>-<env>-<group> and app '${app}' env '${env}' ` +
    `would share every name with app '${app}-${head}' env '${rest.join('-')}'`
  );
}

/**
 * Throws a usage error naming the first AWS name limit that `<app>` + `<env>`
 * would break: blaming the app name when even a one-letter environment would not fit.
 */
export function checkDerivedNames(app: string, env: string): void {
  for (const limit of LIMITS) {
    const name = limit.derive(app, env);
    if (name.length > limit.max) {
      const allowed = limit.max - (name.length - env.length);
      if (allowed < 1) {
        const shortest = limit.derive(app, 'x');
        throw usageError(
          `app_name '${app}' is too long: even with a one-letter environment the ${limit.what} '${shortest}' would have ` +
            `${shortest.length} characters and AWS allows ${limit.max}; use an app_name of at most ${limit.max - (shortest.length - app.length)} characters`,
        );
      }
      throw usageError(
        `environment name '${env}' is too long: the ${limit.what} '${name}' would have ` +
          `${name.length} characters and AWS allows ${limit.max}; with app '${app}' use an ` +
          `environment name of at most ${Math.max(allowed, 0)} characters`,
      );
    }
  }
}

/** `<app>-<env>-<group>`: the name of a resource of one environment. */
export function resourceName(app: string, env: string, group: Group): string {
  return `${app}-${env}-${group}`;
}

/** `<app>-image`: the base image, shared by every environment of the app. */
export function imageName(app: string): string {
  return `${app}-image`;
}

/** `<app>_<env>`: the PostgreSQL database name (PostgreSQL identifiers take no hyphens). */
export function databaseName(app: string, env: string): string {
  return `${app}_${env}`.replaceAll('-', '_');
}

/** Every name of one environment, computed once. */
export interface EnvNames {
  app: string;
  env: string;
  image: string;
  appServers: string;
  database: string;
  databaseName: string;
  databaseSubnetGroup: string;
  broker: string;
  worker: string;
  loadBalancer: string;
  securityGroup: (group: Group) => string;
  imageSecurityGroup: string;
  /** `<app>-<env>-release-`: the start of every release image's name (a UTC time follows). */
  releasePrefix: string;
  /** `<app>-<env>-release`: the temporary security group of a release build (SSH from the caller only). */
  releaseSecurityGroup: string;
  /** The lock of one environment's runs (a security group, see lock.ts). */
  environmentLock: string;
  /** The lock of the shared image (bake, delete). `.lock`, not `-lock`: no env name can make it. */
  imageLock: string;
}

/** Builds every resource name of `<app>` / `<env>`. Call after {@link checkDerivedNames}. */
export function makeNames(app: string, env: string): EnvNames {
  return {
    app,
    env,
    image: imageName(app),
    appServers: resourceName(app, env, 'app'),
    database: resourceName(app, env, 'database'),
    databaseName: databaseName(app, env),
    databaseSubnetGroup: resourceName(app, env, 'database'),
    broker: resourceName(app, env, 'broker'),
    worker: resourceName(app, env, 'worker'),
    loadBalancer: resourceName(app, env, 'elb'),
    securityGroup: (group) => resourceName(app, env, group),
    // The bake's temporary group is environment-agnostic, like the image.
    imageSecurityGroup: `${imageName(app)}-bake`,
    releasePrefix: `${app}-${env}-release-`,
    releaseSecurityGroup: `${app}-${env}-release`,
    environmentLock: `${app}-${env}-lock`,
    imageLock: `${imageName(app)}.lock`,
  };
}

/**
 * `<app>-<env>-release-20261126T120507Z`: the name of the release image made
 * at `at` (UTC, to the second, so two releases of one minute do not collide;
 * names sort by time).
 */
export function releaseImageName(names: Pick<EnvNames, 'releasePrefix'>, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${names.releasePrefix}${stamp}`;
}

/** What a set of tags describes: the app, optionally one environment, one group. */
export interface TagScope {
  app: string;
  /** Omitted for the environment-agnostic image and its bake. */
  env?: string;
  group: TagGroup;
}

/** The standard tags: `Name`, `App`, `Env` (when scoped to one), `Group`, `ManagedBy=argos`. */
export function makeTags(scope: TagScope, name: string): Tag[] {
  const tags: Tag[] = [
    { Key: 'Name', Value: name },
    { Key: 'App', Value: scope.app },
  ];
  if (scope.env !== undefined) tags.push({ Key: 'Env', Value: scope.env });
  tags.push({ Key: 'Group', Value: scope.group }, { Key: 'ManagedBy', Value: MANAGED_BY });
  return tags;
}

/** EC2 `TagSpecifications` that tag each of `resourceTypes` on create. */
export function toTagSpecifications<T extends string>(
  resourceTypes: readonly T[],
  tags: Tag[],
): { ResourceType: T; Tags: Tag[] }[] {
  return resourceTypes.map((ResourceType) => ({ ResourceType, Tags: tags }));
}

/** Autoscaling group tags, propagated to the instances the group launches. */
export function toAutoScalingTags(
  groupName: string,
  tags: Tag[],
): { ResourceId: string; ResourceType: 'auto-scaling-group'; Key: string; Value: string; PropagateAtLaunch: boolean }[] {
  return tags.map((tag) => ({
    ResourceId: groupName,
    ResourceType: 'auto-scaling-group',
    Key: tag.Key,
    Value: tag.Value,
    PropagateAtLaunch: true,
  }));
}

/**
 * EC2 Describe filters that match what argos made for a scope. Leave out `group`
 * to match every group of the environment; leave out `env` for every environment.
 */
export function toTagFilters(scope: Partial<TagScope> & { app: string }): { Name: string; Values: string[] }[] {
  const filters = [
    { Name: 'tag:ManagedBy', Values: [MANAGED_BY] },
    { Name: 'tag:App', Values: [scope.app] },
  ];
  if (scope.env !== undefined) filters.push({ Name: 'tag:Env', Values: [scope.env] });
  if (scope.group !== undefined) filters.push({ Name: 'tag:Group', Values: [scope.group] });
  return filters;
}
