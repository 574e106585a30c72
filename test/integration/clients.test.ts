import { DescribeAvailabilityZonesCommand } from '@aws-sdk/client-ec2';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing';
import { afterEach, describe, expect, it } from 'vitest';
import { createClients, type AwsClients } from '../../src/aws/clients.js';
import { createCredentialProvider } from '../../src/aws/credentials.js';

describe('createClients against moto', () => {
  let clients: AwsClients | undefined;
  afterEach(() => clients?.destroy());

  it('reaches the emulator through AWS_ENDPOINT_URL alone, in the configured region', async () => {
    // GIVEN only the environment the SDK reads itself (no endpoint passed in code)
    clients = createClients({ region: 'eu-west-1', credentials: createCredentialProvider(undefined) });
    const hosts: string[] = [];
    clients.ec2.middlewareStack.add(
      (next) => async (args) => {
        hosts.push((args.request as { hostname: string }).hostname);
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    // WHEN asking for the zones
    const zones = await clients.ec2.send(new DescribeAvailabilityZonesCommand({}));
    // THEN moto answers with the zones of that region
    const names = (zones.AvailabilityZones ?? []).map((zone) => zone.ZoneName);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => name?.startsWith('eu-west-1'))).toBe(true);
    expect(hosts).toEqual(['127.0.0.1']);
  });

  it('builds every client with the standard retry mode and the shared attempts', async () => {
    clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
    await Promise.all([
      clients.rds.send(new DescribeDBInstancesCommand({})),
      clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({})),
      clients.elb.send(new DescribeLoadBalancersCommand({})),
    ]);
    for (const client of [clients.ec2, clients.rds, clients.autoScaling, clients.elb]) {
      const strategy = await client.config.retryStrategy();
      expect((strategy as { mode?: string }).mode).toBe('standard');
      expect(await client.config.maxAttempts()).toBe(6);
    }
  });

  it('falls back to the original AWS_ACCESS_KEY / AWS_SECRET_KEY when the default chain finds nothing', async () => {
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    delete process.env['AWS_ACCESS_KEY_ID'];
    delete process.env['AWS_SECRET_ACCESS_KEY'];
    process.env['AWS_SHARED_CREDENTIALS_FILE'] = '/nonexistent/credentials';
    process.env['AWS_CONFIG_FILE'] = '/nonexistent/config';
    try {
      const provider = createCredentialProvider({ accessKeyId: 'legacy-id', secretAccessKey: 'legacy-secret' });
      expect(await provider()).toMatchObject({ accessKeyId: 'legacy-id' });
      await expect(createCredentialProvider(undefined)()).rejects.toMatchObject({ code: 'CREDENTIALS', exitCode: 2 });
    } finally {
      process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
      delete process.env['AWS_SHARED_CREDENTIALS_FILE'];
      delete process.env['AWS_CONFIG_FILE'];
    }
  });
});
