import { Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseSshCidr } from '../../src/cidr.js';
import { COMMANDS } from '../../src/command-names.js';
import { COMMAND_OPTIONS, COMMON_OPTIONS } from '../../src/command-options.js';
import { parseOptions } from '../../src/options.js';

const base = { config: 'playbooks/group_vars/all.yml' };

describe('parseOptions', () => {
  it('turns commission sizes into numbers and keeps the defaults', () => {
    const options = parseOptions('commission', { ...base, minSize: '2', maxSize: '6', deploy: false });
    expect(options).toMatchObject({ minSize: 2, maxSize: 6, deploy: false, withBroker: false, yes: false });
  });

  it('leaves sizes and types not given undefined: commission keeps the environment\'s current values', () => {
    const options = parseOptions('commission', { ...base, deploy: true });
    expect([options.minSize, options.maxSize, options.instanceType, options.dbInstanceType, options.applyNow]).toEqual([undefined, undefined, undefined, undefined, false]);
  });

  it.each([
    [{ minSize: 'two', maxSize: '4' }, "--min-size must be a whole number, not 'two'"],
    [{ minSize: '1', maxSize: '-3' }, "--max-size must be a whole number, not '-3'"],
    [{ minSize: '1.5', maxSize: '4' }, "--min-size must be a whole number, not '1.5'"],
    [{ minSize: '5', maxSize: '4' }, '--min-size (5) must not be greater than --max-size (4)'],
    [{ minSize: '0', maxSize: '0' }, '--max-size must be at least 1'],
    [{ applyNow: true }, '--apply-now applies a change of --db-instance-type: give the class too (e.g. --db-instance-type db.t3.small --apply-now)'],
  ])('rejects %o', (sizes, message) => {
    expect(() => parseOptions('commission', { ...base, ...sizes })).toThrowError(
      expect.objectContaining({ message, exitCode: 2 }),
    );
  });

  it('splits, trims and de-duplicates roles', () => {
    expect(parseOptions('deploy', { ...base, roles: 'app, worker,app' }).roles).toEqual(['app', 'worker']);
  });

  it('lists the valid roles when one is unknown', () => {
    expect(() => parseOptions('deploy', { ...base, roles: 'app,web' })).toThrowError(
      "--roles: unknown role 'web'; valid roles: app, database, broker, worker",
    );
  });

  it('normalises --ssh-cidr and refuses the world', () => {
    expect(parseOptions('deploy', { ...base, sshCidr: '203.0.113.7' }).sshCidr).toBe('203.0.113.7/32');
    expect(() => parseOptions('deploy', { ...base, sshCidr: '0.0.0.0/0' })).toThrowError(/too wide for SSH ingress/);
  });
});

describe('the option declarations', () => {
  it.each(COMMANDS)("key each of %s's options by the attribute commander gives its flags", (command) => {
    // A key that differed would be validated under one name and filled in by commander under another.
    for (const [key, declaration] of Object.entries({ ...COMMON_OPTIONS, ...COMMAND_OPTIONS[command] })) {
      expect(new Option(declaration.flags).attributeName(), declaration.flags).toBe(key);
    }
  });

  it.each(COMMANDS)('accept for %s what commander fills in when no flag is given', (command) => {
    // GIVEN the declared defaults only
    const defaults = Object.fromEntries(
      Object.entries({ ...COMMON_OPTIONS, ...COMMAND_OPTIONS[command] }).flatMap(([key, declaration]) =>
        'default' in declaration ? [[key, declaration.default]] : [],
      ),
    );
    // WHEN validated THEN they pass, so a default can never be a usage error
    expect(() => parseOptions(command, defaults)).not.toThrow();
  });
});

describe('parseSshCidr', () => {
  it.each([
    ['198.51.100.4', '198.51.100.4/32'],
    ['198.51.100.4/24', '198.51.100.0/24'],
    ['10.1.2.3/8', '10.0.0.0/8'],
  ])('%s -> %s', (input, cidr) => {
    expect(parseSshCidr(input)).toEqual({ cidr });
  });

  it.each(['300.1.1.1', '1.2.3', '1.2.3.4/33', 'example.com', '1.2.3.4/7'])('rejects %s', (input) => {
    expect(parseSshCidr(input)).toHaveProperty('error');
  });
});
