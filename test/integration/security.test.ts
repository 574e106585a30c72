/**
 * Security groups against moto: found or created by name and tags, exactly the
 * least-privilege rules, temporary SSH for one CIDR, idempotent delete.
 */
import { DescribeSecurityGroupsCommand, type IpPermission, type SecurityGroup } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';
import { findDefaultVpc } from '../../src/aws/vpc.js';
import { makeNames } from '../../src/names.js';
import {
  closeSsh,
  deleteSecurityGroups,
  ensureSecurityGroups,
  openSsh,
  TEMPORARY_SSH_DESCRIPTION,
  type SecurityGroupIds,
} from '../../src/security.js';

const names = makeNames('argos', 'staging');
let clients: AwsClients;
let vpcId: string;
const signal = new AbortController().signal;

beforeAll(async () => {
  clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  vpcId = (await findDefaultVpc(clients.ec2, 'us-east-1')).vpcId;
});
afterAll(() => clients.destroy());

async function describeGroups(ids: SecurityGroupIds): Promise<Record<keyof SecurityGroupIds, SecurityGroup>> {
  const response = await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: Object.values(ids) }));
  const byId = new Map((response.SecurityGroups ?? []).map((group) => [group.GroupId, group]));
  return Object.fromEntries(Object.entries(ids).map(([key, id]) => [key, byId.get(id)])) as Record<keyof SecurityGroupIds, SecurityGroup>;
}

/** Rules as comparable strings: "tcp 8000 from sg-…" or "tcp 80 from 0.0.0.0/0". */
function rules(permissions: IpPermission[] | undefined): string[] {
  return (permissions ?? [])
    .flatMap((p) => [
      ...(p.IpRanges ?? []).map((r) => `${p.IpProtocol} ${p.FromPort}-${p.ToPort} from ${r.CidrIp}`),
      ...(p.UserIdGroupPairs ?? []).map((g) => `${p.IpProtocol} ${p.FromPort}-${p.ToPort} from ${g.GroupId}`),
    ])
    .sort();
}

describe('ensureSecurityGroups', () => {
  let ids: SecurityGroupIds;

  it('creates the four groups, tagged, with exactly the least-privilege rules', async () => {
    const result = await ensureSecurityGroups(clients.ec2, { names, vpcId, appPort: 8000 }, { signal: new AbortController().signal });
    ids = result.ids;
    expect(result.created.sort()).toEqual(['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb']);
    const groups = await describeGroups(ids);
    expect(rules(groups.elb.IpPermissions)).toEqual(['tcp 80-80 from 0.0.0.0/0']);
    expect(rules(groups.app.IpPermissions)).toEqual([`tcp 8000-8000 from ${ids.elb}`]);
    expect(rules(groups.database.IpPermissions)).toEqual([`tcp 5432-5432 from ${ids.app}`]);
    expect(rules(groups.broker.IpPermissions)).toEqual([`tcp 5672-5672 from ${ids.app}`, `tcp 6379-6379 from ${ids.app}`]);
    for (const [group, sg] of Object.entries(groups)) {
      expect(sg.GroupName).toBe(`argos-staging-${group}`);
      expect(sg.VpcId).toBe(vpcId);
      expect(Object.fromEntries((sg.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({
        Name: `argos-staging-${group}`,
        App: 'argos',
        Env: 'staging',
        Group: group,
        ManagedBy: 'argos',
      });
    }
    // Nothing but the load balancer's HTTP is open to the world.
    const worldOpen = Object.values(groups).flatMap((g) => rules(g.IpPermissions)).filter((r) => r.includes('0.0.0.0/0'));
    expect(worldOpen).toEqual(['tcp 80-80 from 0.0.0.0/0']);
  });

  it('changes nothing when run again, and creates no second group', async () => {
    const again = await ensureSecurityGroups(clients.ec2, { names, vpcId, appPort: 8000 }, { signal: new AbortController().signal });
    expect(again).toEqual({ ids, created: [], changes: [] });
    const all = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:Env', Values: ['staging'] }] }));
    expect(all.SecurityGroups).toHaveLength(4);
  });

  it('converges a changed app port and revokes a rule argos did not make', async () => {
    const { AuthorizeSecurityGroupIngressCommand } = await import('@aws-sdk/client-ec2');
    await clients.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: ids.database, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }),
    );
    const result = await ensureSecurityGroups(clients.ec2, { names, vpcId, appPort: 9000 }, { signal: new AbortController().signal });
    expect(result.changes.sort()).toEqual([
      `app: allowed 9000 from ${ids.elb}`,
      `app: revoked 8000 from ${ids.elb} (not an argos rule)`,
      'database: revoked 5432 from 0.0.0.0/0 (not an argos rule)',
    ]);
    const groups = await describeGroups(ids);
    expect(rules(groups.app.IpPermissions)).toEqual([`tcp 9000-9000 from ${ids.elb}`]);
    expect(rules(groups.database.IpPermissions)).toEqual([`tcp 5432-5432 from ${ids.app}`]);
  });

  it('opens SSH for one CIDR with the temporary marker, idempotently, and closes it', async () => {
    await openSsh(clients.ec2, ids.app, '203.0.113.7/32');
    await openSsh(clients.ec2, ids.app, '203.0.113.7/32');
    let groups = await describeGroups(ids);
    const ssh = (groups.app.IpPermissions ?? []).filter((p) => p.FromPort === 22);
    expect(ssh).toHaveLength(1);
    expect(ssh[0]?.IpRanges).toEqual([{ CidrIp: '203.0.113.7/32', Description: TEMPORARY_SSH_DESCRIPTION }]);
    // A temporary rule is not "drift": ensuring leaves it to closeSsh.
    expect((await ensureSecurityGroups(clients.ec2, { names, vpcId, appPort: 9000 }, { signal: new AbortController().signal })).changes).toEqual([]);
    expect(await closeSsh(clients.ec2, ids.app)).toBe(1);
    expect(await closeSsh(clients.ec2, ids.app)).toBe(0);
    groups = await describeGroups(ids);
    expect(rules(groups.app.IpPermissions)).toEqual([`tcp 9000-9000 from ${ids.elb}`]);
  });

  it('deletes every group, cross-references first, and is idempotent', async () => {
    const deleted = await deleteSecurityGroups(clients.ec2, names, vpcId, { signal });
    expect(deleted.sort()).toEqual(['argos-staging-app', 'argos-staging-broker', 'argos-staging-database', 'argos-staging-elb']);
    const left = await clients.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:ManagedBy', Values: ['argos'] }] }));
    expect(left.SecurityGroups).toEqual([]);
    expect(await deleteSecurityGroups(clients.ec2, names, vpcId, { signal })).toEqual([]);
    expect(await closeSsh(clients.ec2, ids.app)).toBe(0);
  });
});
