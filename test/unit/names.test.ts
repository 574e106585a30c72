import { describe, expect, it } from 'vitest';
import {
  checkDerivedNames,
  checkEnvName,
  databaseName,
  makeNames,
  makeTags,
  toAutoScalingTags,
  toTagFilters,
  toTagSpecifications,
} from '../../src/names.js';

describe('checkEnvName', () => {
  it.each(['staging', 'prod-eu', 'e2', 'a1-b2-c3'])('accepts %s', (env) => {
    expect(() => checkEnvName(env)).not.toThrow();
  });

  it.each(['Staging', '1st', 'prod--eu', 'prod-', '-prod', 'prod_eu', 'pröd', ''])('rejects %s with a usage error', (env) => {
    expect(() => checkEnvName(env)).toThrowError(expect.objectContaining({ code: 'USAGE', exitCode: 2 }));
  });

  it.each(['status', 'clean', 'commission', 'help'])('rejects %s, a word the command line takes, saying why', (env) => {
    expect(() => checkEnvName(env)).toThrowError(`'${env}' cannot name an environment`);
  });
});

describe('checkDerivedNames', () => {
  it('accepts the longest environment whose load balancer name fits 32 characters', () => {
    // 'argos-' + env + '-elb' = 32  =>  env has 22 characters
    expect(() => checkDerivedNames('argos', 'a'.repeat(22))).not.toThrow();
  });

  it('names the load balancer limit and the allowed length when one character too long', () => {
    expect(() => checkDerivedNames('argos', 'a'.repeat(23))).toThrowError(
      /load balancer name 'argos-a{23}-elb' would have 33 characters and AWS allows 32; with app 'argos' use an environment name of at most 22 characters/,
    );
  });

  it('names the RDS limit when the app name leaves the load balancer no room to fail first', () => {
    // A long app name: ELB name breaks first; check the order is the tightest limit first.
    expect(() => checkDerivedNames('a'.repeat(30), 'staging')).toThrowError(/load balancer name/);
  });
});

describe('names', () => {
  it('derives every resource name from app and env', () => {
    const names = makeNames('argos', 'prod-eu');
    expect(names).toMatchObject({
      image: 'argos-image',
      appServers: 'argos-prod-eu-app',
      database: 'argos-prod-eu-database',
      databaseName: 'argos_prod_eu',
      broker: 'argos-prod-eu-broker',
      loadBalancer: 'argos-prod-eu-elb',
    });
    expect(names.securityGroup('database')).toBe('argos-prod-eu-database');
  });

  it('turns hyphens into underscores for the PostgreSQL database name', () => {
    expect(databaseName('my-app', 'qa-1')).toBe('my_app_qa_1');
  });
});

describe('tags', () => {
  it('builds the five standard tags in a fixed order', () => {
    expect(makeTags({ app: 'argos', env: 'staging', group: 'app' }, 'argos-staging-app')).toEqual([
      { Key: 'Name', Value: 'argos-staging-app' },
      { Key: 'App', Value: 'argos' },
      { Key: 'Env', Value: 'staging' },
      { Key: 'Group', Value: 'app' },
      { Key: 'ManagedBy', Value: 'argos' },
    ]);
  });

  it('leaves Env off the environment-agnostic image', () => {
    const keys = makeTags({ app: 'argos', group: 'image' }, 'argos-image').map((tag) => tag.Key);
    expect(keys).toEqual(['Name', 'App', 'Group', 'ManagedBy']);
  });

  it('converts tags to TagSpecifications, autoscaling tags and filters', () => {
    const tags = makeTags({ app: 'argos', env: 'staging', group: 'broker' }, 'argos-staging-broker');
    expect(toTagSpecifications(['instance', 'volume'], tags)).toEqual([
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ]);
    expect(toAutoScalingTags('asg', tags)[0]).toEqual({
      ResourceId: 'asg',
      ResourceType: 'auto-scaling-group',
      Key: 'Name',
      Value: 'argos-staging-broker',
      PropagateAtLaunch: true,
    });
    expect(toTagFilters({ app: 'argos', env: 'staging', group: 'broker' })).toEqual([
      { Name: 'tag:ManagedBy', Values: ['argos'] },
      { Name: 'tag:App', Values: ['argos'] },
      { Name: 'tag:Env', Values: ['staging'] },
      { Name: 'tag:Group', Values: ['broker'] },
    ]);
    expect(toTagFilters({ app: 'argos' })).toHaveLength(2);
  });
});
