/**
 * Whose a resource is. argos finds the load balancer, the autoscaling group,
 * the database and its subnet group by name, and names are not proof: another
 * app (or a person) may hold a resource of that name. Everything found by
 * name is checked here against the tags argos puts on what it creates
 * (`App`, `Env`, `Group`, `ManagedBy=argos`) before it is reported, changed or
 * deleted; a resource with a foreign or missing tag is a conflict, left alone.
 */
import { ArgosError } from './errors.js';
import { MANAGED_BY, type TagScope } from './names.js';

/** Tags as EC2, autoscaling, ELB and RDS return them (every field optional). */
export type TagList = readonly { Key?: string | undefined; Value?: string | undefined }[] | undefined;

/** A resource found by name that is not this environment's: what it is and why not. */
export interface Conflict {
  /** What kind of resource, in words: `autoscaling group`, `load balancer`, … */
  what: string;
  name: string;
  /** Its tags as found (the argos ones), for the message. */
  tags: Record<string, string>;
  /** Which tag differs or is missing, e.g. `App is argos-x, not argos`. */
  reason: string;
}

/** A lookup by name: nothing, ours, or someone else's under our name. */
export type Lookup<T> =
  | { kind: 'missing' }
  | { kind: 'owned'; resource: T }
  | { kind: 'conflict'; resource: T; conflict: Conflict };

/** The tags argos compares, in the order messages show them. */
const CHECKED_KEYS = ['ManagedBy', 'App', 'Env', 'Group'] as const;

/** `tags` as a plain record (keys and values as given). */
function toTagRecord(tags: TagList): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

/**
 * Why the resource carrying `tags` is not the one argos made for `scope`, or
 * `undefined` when it is: `ManagedBy=argos`, `App`, `Env` (when the scope has
 * one) and `Group` must all be exactly the expected values.
 */
export function findOwnershipProblem(tags: TagList, scope: TagScope): string | undefined {
  const have = toTagRecord(tags);
  const want: Record<(typeof CHECKED_KEYS)[number], string | undefined> = { ManagedBy: MANAGED_BY, App: scope.app, Env: scope.env, Group: scope.group };
  const problems: string[] = [];
  for (const key of CHECKED_KEYS) {
    const expected = want[key];
    if (expected === undefined) continue;
    const actual = have[key];
    if (actual === undefined) problems.push(`no ${key} tag (expected ${expected})`);
    else if (actual !== expected) problems.push(`${key} is ${actual}, not ${expected}`);
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

/** Classifies a resource found by name (or not found: `resource` undefined) by its tags. */
export function classify<T>(resource: T | undefined, found: { what: string; name: string; tags: TagList }, scope: TagScope): Lookup<T> {
  if (resource === undefined) return { kind: 'missing' };
  const reason = findOwnershipProblem(found.tags, scope);
  if (reason === undefined) return { kind: 'owned', resource };
  const all = toTagRecord(found.tags);
  const tags = Object.fromEntries(CHECKED_KEYS.filter((key) => all[key] !== undefined).map((key) => [key, all[key] ?? '']));
  return { kind: 'conflict', resource, conflict: { what: found.what, name: found.name, tags, reason } };
}

/** `the load balancer argos-x-y-elb (tagged App=argos-x, Env=y) is not argos x-y's: App is argos-x, not argos`. */
export function describeConflict(conflict: Conflict, scope: Pick<TagScope, 'app' | 'env'>): string {
  const tags = Object.entries(conflict.tags).map(([key, value]) => `${key}=${value}`).join(', ');
  const owner = scope.env === undefined ? `app ${scope.app}'s` : `${scope.app} ${scope.env}'s`;
  return `the ${conflict.what} ${conflict.name} (${tags ? `tagged ${tags}` : 'without argos tags'}) is not ${owner}: ${conflict.reason}`;
}

/** The CONFLICT error (exit 1) for a command that would change or adopt a resource that is not its own. */
function conflictError(conflict: Conflict, scope: Pick<TagScope, 'app' | 'env'>): ArgosError {
  return new ArgosError(
    'CONFLICT',
    `${describeConflict(conflict, scope)}. argos leaves it alone: it may belong to another app whose names collide with this one ` +
      `(names are <app>-<env>-<group>). Use another environment name, or, if it is yours, tag it App=${scope.app}` +
      `${scope.env === undefined ? '' : `, Env=${scope.env}`}, Group and ManagedBy=${MANAGED_BY}`,
  );
}

/** The resource when it is ours, `undefined` when missing; throws {@link conflictError} on a conflict. */
export function ownedOrThrow<T>(lookup: Lookup<T>, scope: Pick<TagScope, 'app' | 'env'>): T | undefined {
  if (lookup.kind === 'conflict') throw conflictError(lookup.conflict, scope);
  return lookup.kind === 'owned' ? lookup.resource : undefined;
}

/** The resource when it is ours; `undefined` when missing or someone else's. */
export function ownedOnly<T>(lookup: Lookup<T>): T | undefined {
  return lookup.kind === 'owned' ? lookup.resource : undefined;
}
