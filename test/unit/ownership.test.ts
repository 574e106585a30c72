import { describe, expect, it } from 'vitest';
import { findNewEnvNameProblem, makeNames, makeTags } from '../../src/names.js';
import { classify, findOwnershipProblem, ownedOrThrow } from '../../src/ownership.js';

const scope = { app: 'argos', env: 'x-y', group: 'app' } as const;

describe('findOwnershipProblem', () => {
  it('accepts exactly the tags argos puts on what it creates', () => {
    expect(findOwnershipProblem(makeTags(scope, 'argos-x-y-app'), scope)).toBeUndefined();
  });

  it('names each tag that differs or is missing', () => {
    expect(findOwnershipProblem(makeTags({ app: 'argos-x', env: 'y', group: 'app' }, 'argos-x-y-app'), scope)).toBe('App is argos-x, not argos; Env is y, not x-y');
    expect(findOwnershipProblem([{ Key: 'Name', Value: 'argos-x-y-app' }], scope)).toBe('no ManagedBy tag (expected argos); no App tag (expected argos); no Env tag (expected x-y); no Group tag (expected app)');
    expect(findOwnershipProblem(undefined, scope)).toMatch(/^no ManagedBy tag/);
  });
});

describe('classify and ownedOrThrow', () => {
  it('returns the resource when ours, undefined when missing, and throws a CONFLICT (exit 1) naming tags and what to do otherwise', () => {
    const names = makeNames('argos', 'x-y');
    expect(ownedOrThrow(classify('g', { what: 'autoscaling group', name: 'argos-x-y-app', tags: makeTags(scope, 'n') }, scope), names)).toBe('g');
    expect(ownedOrThrow(classify(undefined, { what: 'autoscaling group', name: 'argos-x-y-app', tags: undefined }, scope), names)).toBeUndefined();
    const foreign = classify('g', { what: 'autoscaling group', name: 'argos-x-y-app', tags: makeTags({ app: 'argos-x', env: 'y', group: 'app' }, 'n') }, scope);
    expect(foreign.kind).toBe('conflict');
    expect(() => ownedOrThrow(foreign, names)).toThrow(
      expect.objectContaining({
        code: 'CONFLICT',
        exitCode: 1,
        message: expect.stringMatching(/^the autoscaling group argos-x-y-app \(tagged ManagedBy=argos, App=argos-x, Env=y, Group=app\) is not argos x-y's: App is argos-x, not argos; Env is y, not x-y\. argos leaves it alone.*Use another environment name/),
      }),
    );
  });
});

describe('findNewEnvNameProblem', () => {
  it('accepts env names without hyphens, which make <app>-<env>-<group> unambiguous', () => {
    expect(findNewEnvNameProblem('argos-x', 'y')).toBeUndefined();
    expect(findNewEnvNameProblem('my-app', 'prod2')).toBeUndefined();
  });

  it('refuses a hyphenated env name for a new environment, naming the pair it would collide with', () => {
    expect(findNewEnvNameProblem('argos', 'prod-eu')).toMatch(/has a hyphen.*for example prodeu.*app 'argos' env 'prod-eu' would share every name with app 'argos-prod' env 'eu'$/);
  });
});
