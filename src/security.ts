/**
 * Security groups of one environment, with least-privilege rules: the load
 * balancer takes HTTP from anywhere; everything else only from the group in
 * front of it. Temporary SSH is opened for one CIDR, marked, and closed again.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { retryWhileNotVisible } from './aws/consistency.js';
import { EC2_ERRORS } from './aws/error-codes.js';
import { makeTags, toTagFilters, toTagSpecifications, type EnvNames, type Group, type TagGroup } from './names.js';
import { classify, ownedOrThrow } from './ownership.js';
import { catchCodes, hasErrorCode, retryOnCodes, type Progress } from './wait.js';

/** The description that marks argos's temporary SSH rules (how close finds them). */
export const TEMPORARY_SSH_DESCRIPTION = 'argos temporary SSH, removed when the run ends';

/** Ports of the services the rules open. */
export const PORTS = { http: 80, https: 443, postgres: 5432, rabbitmq: 5672, redis: 6379, ssh: 22 } as const;

/** How long a group held by something (an ENI of a deleted ELB, RDS, instance) is retried. */
export const DEPENDENCY_TIMEOUT_MS = 15 * 60_000;

/** Security group ids of one environment. */
export interface SecurityGroupIds {
  elb: string;
  app: string;
  database: string;
  broker: string;
  /** The workers' group, when the environment has (or this run makes) workers. */
  worker?: string | undefined;
}

/** One ingress rule as argos wants it. */
interface Rule {
  port: number;
  from: { cidr: string } | { groupId: string };
}

/** What ensuring the groups did. */
export interface EnsureSecurityGroupsResult {
  ids: SecurityGroupIds;
  created: string[];
  /** Rules added or revoked, for the user ("app: allowed 8000 from sg-…"). */
  changes: string[];
}

/** Inputs to {@link ensureSecurityGroups}. */
export interface SecurityGroupsSpec {
  names: EnvNames;
  vpcId: string;
  appPort: number;
  /** The load balancer serves HTTPS (config `certificate_arn`): its group admits 443 from anywhere too. */
  https?: boolean;
  /** Worker servers are wanted: their group is created too (an existing one is kept either way). */
  workers?: boolean;
}

const GROUPS = ['elb', 'app', 'database', 'broker'] as const satisfies readonly Group[];

/** The groups of an environment with workers; the workers' is made only when they are wanted. */
type EnvGroup = (typeof GROUPS)[number] | 'worker';

const DESCRIPTIONS: Record<EnvGroup, string> = {
  elb: 'argos load balancer: HTTP from anywhere',
  app: 'argos app servers: app port from the load balancer',
  database: 'argos database: PostgreSQL from the app servers',
  broker: 'argos broker: RabbitMQ and Redis from the app servers',
  worker: 'argos workers: no inbound traffic (temporary SSH only)',
};

/** The groups this run wants: the four, and the workers' when wanted or already there. */
function wantedGroups(spec: SecurityGroupsSpec, existing: Map<TagGroup, SecurityGroup>): EnvGroup[] {
  return spec.workers || existing.has('worker') ? [...GROUPS, 'worker'] : [...GROUPS];
}

/**
 * Finds or creates the four groups, and the workers' (tagged on create), and converges their
 * ingress to exactly the wanted rules: missing rules are added, any other rule
 * is revoked, argos's temporary SSH rules are left to {@link closeSsh}.
 * Running it twice changes nothing the second time.
 */
export async function ensureSecurityGroups(ec2: EC2Client, spec: SecurityGroupsSpec, wait: Progress): Promise<EnsureSecurityGroupsResult> {
  const existing = await findSecurityGroups(ec2, spec.names, spec.vpcId);
  const created: string[] = [];
  const ids = {} as SecurityGroupIds;
  for (const group of wantedGroups(spec, existing)) {
    const found = existing.get(group);
    if (found?.GroupId) {
      ids[group] = found.GroupId;
      continue;
    }
    ids[group] = await createSecurityGroup(ec2, spec.names, group, spec.vpcId);
    created.push(spec.names.securityGroup(group));
  }
  // A group created a moment ago may be missing from this Describe (eventual
  // consistency): then it counts as having no rules, which a new group has.
  const refreshed = created.length > 0 ? await findSecurityGroups(ec2, spec.names, spec.vpcId) : existing;
  // Each rule names its group or another one that may have just been created.
  const justCreated = created.length > 0 ? wait : undefined;
  const changes: string[] = [];
  for (const { group, groupId, missing, extra } of diffRules(refreshed, ids, spec)) {
    if (missing.length > 0) {
      await authorize(ec2, groupId, missing, `argos: ${group} rule`, justCreated);
      changes.push(...missing.map((rule) => `${group}: allowed ${describeRule(rule)}`));
    }
    if (extra.length > 0) {
      await revoke(ec2, groupId, extra);
      changes.push(...extra.map((rule) => `${group}: revoked ${describeRule(rule)} (${whyRevoked(group, rule)})`));
    }
  }
  return { ids, created, changes };
}

/** What {@link planSecurityGroups} found: the ids of the groups that exist, and what ensuring would do. */
export interface SecurityGroupsPlan {
  /** Ids of the groups that exist; a missing group's id is empty. */
  ids: SecurityGroupIds;
  actions: string[];
}

/** What {@link ensureSecurityGroups} would create or change, from one Describe call. */
export async function planSecurityGroups(ec2: EC2Client, spec: SecurityGroupsSpec): Promise<SecurityGroupsPlan> {
  const existing = await findSecurityGroups(ec2, spec.names, spec.vpcId);
  const ids = {} as SecurityGroupIds;
  const actions: string[] = [];
  for (const group of wantedGroups(spec, existing)) {
    ids[group] = existing.get(group)?.GroupId ?? '';
    if (!ids[group]) actions.push(`create ${spec.names.securityGroup(group)}`);
  }
  for (const { group, missing, extra } of diffRules(existing, ids, spec)) {
    // A new group's rules are part of creating it.
    if (!ids[group]) continue;
    // A rule from a group still to be created comes with that group.
    const allowed = missing.filter((rule) => !('groupId' in rule.from) || rule.from.groupId !== '');
    actions.push(...allowed.map((rule) => `${group}: allow ${describeRule(rule)}`));
    actions.push(...extra.map((rule) => `${group}: revoke ${describeRule(rule)} (not an argos rule)`));
  }
  return { ids, actions };
}

/**
 * Each group's rules that are missing and those that should not be there.
 * Argos's temporary SSH rules are never "extra": {@link closeSsh} owns them.
 */
function diffRules(
  existing: Map<TagGroup, SecurityGroup>,
  ids: SecurityGroupIds,
  spec: SecurityGroupsSpec,
): { group: EnvGroup; groupId: string; missing: Rule[]; extra: Rule[] }[] {
  // Workers reach the database and the broker as app servers do; their group (just made or found) admits nothing.
  const worker = ids.worker ?? existing.get('worker')?.GroupId;
  const clients = worker ? [ids.app, worker] : [ids.app];
  const wanted: Record<EnvGroup, Rule[]> = {
    elb: [{ port: PORTS.http, from: { cidr: '0.0.0.0/0' } }, ...(spec.https ? [{ port: PORTS.https, from: { cidr: '0.0.0.0/0' } }] : [])],
    app: [{ port: spec.appPort, from: { groupId: ids.elb } }],
    database: clients.map((groupId) => ({ port: PORTS.postgres, from: { groupId } })),
    broker: clients.flatMap((groupId) => [
      { port: PORTS.rabbitmq, from: { groupId } },
      { port: PORTS.redis, from: { groupId } },
    ]),
    worker: [],
  };
  const groups: EnvGroup[] = worker !== undefined ? [...GROUPS, 'worker'] : [...GROUPS];
  return groups.map((group) => {
    const current = rulesOf(existing.get(group));
    const desired = wanted[group];
    return {
      group,
      groupId: (group === 'worker' ? worker : ids[group]) ?? '',
      missing: desired.filter((rule) => !current.some((have) => sameRule(have, rule))),
      extra: current.filter((have) => !have.temporary && !desired.some((rule) => sameRule(have, rule))),
    };
  });
}

/** Whether any security group in the region carries the environment's tags (`App`, `Env`, `ManagedBy`): commission makes them first, decommission deletes them last. */
export async function hasEnvironmentSecurityGroups(ec2: EC2Client, names: EnvNames): Promise<boolean> {
  const response = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: toTagFilters({ app: names.app, env: names.env }) }));
  return (response.SecurityGroups ?? []).length > 0;
}

/** The environment's groups by their Group tag (one Describe call). */
export async function findSecurityGroups(ec2: EC2Client, names: EnvNames, vpcId: string): Promise<Map<TagGroup, SecurityGroup>> {
  const response = await ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [...toTagFilters({ app: names.app, env: names.env }), { Name: 'vpc-id', Values: [vpcId] }],
    }),
  );
  const byGroup = new Map<TagGroup, SecurityGroup>();
  for (const group of response.SecurityGroups ?? []) {
    const tag = group.Tags?.find((t) => t.Key === 'Group')?.Value as TagGroup | undefined;
    // Trust the tag only when the name agrees: a hand-tagged stranger is not ours.
    if (tag && group.GroupName === names.securityGroup(tag as Group)) byGroup.set(tag, group);
  }
  return byGroup;
}

async function createSecurityGroup(ec2: EC2Client, names: EnvNames, group: EnvGroup, vpcId: string): Promise<string> {
  const name = names.securityGroup(group);
  try {
    const response = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: DESCRIPTIONS[group],
        VpcId: vpcId,
        TagSpecifications: toTagSpecifications(['security-group'] as const, makeTags({ app: names.app, env: names.env, group }, name)),
      }),
    );
    return response.GroupId ?? '';
  } catch (error) {
    // Created meanwhile by a concurrent run: use it. One of that name tagged for
    // another app or environment (or not by argos) is a conflict, never adopted.
    if (!hasErrorCode(error, EC2_ERRORS.securityGroupDuplicate)) throw error;
    const response = await ec2.send(
      new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }, { Name: 'vpc-id', Values: [vpcId] }] }),
    );
    const found = response.SecurityGroups?.[0];
    const id = ownedOrThrow(classify(found?.GroupId, { what: 'security group', name, tags: found?.Tags }, { app: names.app, env: names.env, group }), names);
    if (!id) throw error;
    return id;
  }
}

interface CurrentRule extends Rule {
  protocol: string;
  toPort: number;
  temporary: boolean;
  /** Sent back on revoke: moto matches rules with their description. */
  description: string | undefined;
}

function rulesOf(group: SecurityGroup | undefined): CurrentRule[] {
  const rules: CurrentRule[] = [];
  for (const permission of group?.IpPermissions ?? []) {
    const protocol = permission.IpProtocol ?? '-1';
    const port = permission.FromPort ?? -1;
    const toPort = permission.ToPort ?? -1;
    for (const range of permission.IpRanges ?? []) {
      if (range.CidrIp) {
        const description = range.Description;
        rules.push({ port, toPort, protocol, from: { cidr: range.CidrIp }, temporary: description === TEMPORARY_SSH_DESCRIPTION, description });
      }
    }
    for (const pair of permission.UserIdGroupPairs ?? []) {
      if (pair.GroupId) rules.push({ port, toPort, protocol, from: { groupId: pair.GroupId }, temporary: false, description: pair.Description });
    }
  }
  return rules;
}

function sameRule(have: CurrentRule, want: Rule): boolean {
  if (have.protocol !== 'tcp' || have.port !== want.port || have.toPort !== want.port) return false;
  const wanted = want.from;
  return 'cidr' in wanted
    ? 'cidr' in have.from && have.from.cidr === wanted.cidr
    : 'groupId' in have.from && have.from.groupId === wanted.groupId;
}

/** Why an extra rule goes: the HTTPS rule argos itself made, once `certificate_arn` is gone, or a rule argos never makes. */
function whyRevoked(group: EnvGroup, rule: Rule): string {
  return group === 'elb' && rule.port === PORTS.https && 'cidr' in rule.from && rule.from.cidr === '0.0.0.0/0' ? 'HTTPS is off: no certificate_arn' : 'not an argos rule';
}

function describeRule(rule: Rule | CurrentRule): string {
  const protocol = 'protocol' in rule && rule.protocol !== 'tcp' ? `${rule.protocol} ` : '';
  return `${protocol}${rule.port} from ${'cidr' in rule.from ? rule.from.cidr : rule.from.groupId}`;
}

function toPermission(rule: Rule | CurrentRule, description?: string): IpPermission {
  const protocol = 'protocol' in rule ? rule.protocol : 'tcp';
  const toPort = 'toPort' in rule ? rule.toPort : rule.port;
  return {
    IpProtocol: protocol,
    FromPort: protocol === '-1' ? undefined : rule.port,
    ToPort: protocol === '-1' ? undefined : toPort,
    ...('cidr' in rule.from
      ? { IpRanges: [{ CidrIp: rule.from.cidr, Description: description }] }
      : { UserIdGroupPairs: [{ GroupId: rule.from.groupId, Description: description }] }),
  };
}

/**
 * Adds rules; one added meanwhile is the state we wanted. `justCreated`: the
 * group (or a group a rule names) was created by this run a moment ago, so
 * `InvalidGroup.NotFound` is EC2's eventual consistency and is retried, bounded.
 */
async function authorize(ec2: EC2Client, groupId: string, rules: Rule[], description: string, justCreated?: Progress): Promise<void> {
  const call = () =>
    catchCodes(
      () => ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: rules.map((rule) => toPermission(rule, description)) })),
      EC2_ERRORS.ruleDuplicate,
      undefined,
    );
  await (justCreated ? retryWhileNotVisible(call, EC2_ERRORS.securityGroupNotFound, `security group ${groupId}`, justCreated) : call());
}

/** Revokes rules; one already gone is the state we wanted. */
async function revoke(ec2: EC2Client, groupId: string, rules: (Rule | CurrentRule)[]): Promise<void> {
  await catchCodes(
    () =>
      ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: rules.map((rule) => toPermission(rule, 'description' in rule ? rule.description : undefined)),
        }),
      ),
    EC2_ERRORS.ruleNotFound,
    undefined,
  );
}

/**
 * Opens SSH (22/tcp) on `groupId` for `cidr` only, with the description that
 * marks it temporary. Already open: nothing to do. Callers close it in a `finally`.
 * `justCreated`: the caller created the group a moment ago (not-found is retried, bounded).
 */
export async function openSsh(ec2: EC2Client, groupId: string, cidr: string, options: { justCreated?: Progress } = {}): Promise<void> {
  await authorize(ec2, groupId, [{ port: PORTS.ssh, from: { cidr } }], TEMPORARY_SSH_DESCRIPTION, options.justCreated);
}

/**
 * The sources of the temporary SSH rules on `group` (by their description):
 * none once a run has ended, unless a run was killed before it closed them.
 */
export function temporarySshSources(group: SecurityGroup): string[] {
  return rulesOf(group).flatMap((rule) => (rule.temporary && 'cidr' in rule.from ? [rule.from.cidr] : []));
}

/**
 * Revokes every temporary SSH rule argos opened on `groupId` (whatever its
 * CIDR: also one left by a killed run). Returns how many it removed; a group
 * already gone counts as closed.
 */
export async function closeSsh(ec2: EC2Client, groupId: string): Promise<number> {
  const response = await catchCodes(() => ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] })), EC2_ERRORS.securityGroupNotFound, undefined);
  const group: SecurityGroup | undefined = response?.SecurityGroups?.[0];
  const temporary = rulesOf(group).filter((rule) => rule.temporary);
  if (temporary.length > 0) await revoke(ec2, groupId, temporary);
  return temporary.length;
}

/**
 * Deletes the environment's security groups: first revokes the rules that
 * reference one another (a group named in another's rule cannot be deleted),
 * then deletes each, retrying `DependencyViolation` for up to 15 minutes while
 * naming what still holds it. Returns the names deleted; none is fine.
 */
export async function deleteSecurityGroups(ec2: EC2Client, names: EnvNames, vpcId: string, wait: Progress): Promise<string[]> {
  const groups = [...(await findSecurityGroups(ec2, names, vpcId)).values()];
  const ids = new Set(groups.map((group) => group.GroupId));
  for (const group of groups) {
    const references = rulesOf(group).filter((rule) => 'groupId' in rule.from && ids.has(rule.from.groupId));
    if (references.length > 0 && group.GroupId) await revoke(ec2, group.GroupId, references);
  }
  const deleted: string[] = [];
  for (const group of groups) {
    if (!group.GroupId) continue;
    const groupId = group.GroupId;
    await retryOnCodes(
      async () => {
        try {
          await ec2.send(new DeleteSecurityGroupCommand({ GroupId: groupId }));
        } catch (error) {
          if (hasErrorCode(error, EC2_ERRORS.securityGroupNotFound)) return;
          if (hasErrorCode(error, EC2_ERRORS.dependencyViolation)) {
            wait.onProgress?.(`${group.GroupName} is still in use by ${await describeHolders(ec2, groupId)}; retrying`);
          }
          throw error;
        }
      },
      EC2_ERRORS.dependencyViolation,
      { what: `security group ${group.GroupName} (${groupId}) to be free to delete`, timeoutMs: DEPENDENCY_TIMEOUT_MS, intervalMs: 10_000, signal: wait.signal, clock: wait.clock },
    );
    deleted.push(group.GroupName ?? groupId);
  }
  return deleted;
}

/** Names the network interfaces that keep a group in use (an ELB, RDS, an instance). */
async function describeHolders(ec2: EC2Client, groupId: string): Promise<string> {
  try {
    const response = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
    const holders = (response.NetworkInterfaces ?? []).map(
      (eni) => `${eni.NetworkInterfaceId}${eni.Description ? ` (${eni.Description})` : ''}${eni.Attachment?.InstanceId ? ` on ${eni.Attachment.InstanceId}` : ''}`,
    );
    return holders.length > 0 ? holders.join(', ') : 'a resource AWS has not released yet';
  } catch {
    return 'a resource AWS has not released yet';
  }
}
