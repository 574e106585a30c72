import { describe, expect, it } from 'vitest';
import { describeFailure, parseFailure, playbookArgs, playbookEnvironment, type PlaybookRun } from '../../src/ansible.js';

const run: PlaybookRun = {
  playbooks: ['/p/playbooks/site.yml'],
  inventory: '/p/hosts/hosts_staging',
  ssh: { user: 'ubuntu', keyFile: '/p/keys/argos.pem', knownHostsFile: '/p/hosts/known_hosts_staging', sshConfig: '/p/my ssh config' },
  forks: 3,
  signal: new AbortController().signal,
  onLine: () => undefined,
};

describe('playbookArgs and playbookEnvironment', () => {
  it('builds an argument array with the key, user, forks and playbook', () => {
    expect(playbookArgs({ ...run, limit: 'appservers', varsFiles: ['/p/other.yml'] })).toEqual([
      '-i', '/p/hosts/hosts_staging', '--private-key', '/p/keys/argos.pem', '-u', 'ubuntu', '--forks', '3',
      '--limit', 'appservers', '-e', '@/p/other.yml', '/p/playbooks/site.yml',
    ]);
  });

  it('passes extra variables as one JSON -e, after the files, and nothing when there are none', () => {
    const args = playbookArgs({ ...run, varsFiles: ['/p/secrets.json'], extraVars: { converged_enabled: false } });
    expect(args.slice(-5)).toEqual(['-e', '@/p/secrets.json', '-e', '{"converged_enabled":false}', '/p/playbooks/site.yml']);
    expect(playbookArgs({ ...run, extraVars: {} })).not.toContain('-e');
  });

  it('checks host keys against the environment file, keeps master connections and pipelines', () => {
    const env = playbookEnvironment(run);
    expect(env['ANSIBLE_PIPELINING']).toBe('True');
    expect(env['ANSIBLE_PYTHON_INTERPRETER']).toBe('/usr/bin/python3');
    expect(env['ANSIBLE_HOST_KEY_CHECKING']).toBe('True');
    expect(env['ANSIBLE_SSH_ARGS']).toBe(
      "-F '/p/my ssh config' -o UserKnownHostsFile=/p/hosts/known_hosts_staging -o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=15",
    );
  });
});

describe('parseFailure', () => {
  it('names the failed tasks and the failing or unreachable hosts from the recap', () => {
    const output = [
      'PLAY [appservers] ***',
      'TASK [app : Render app_config.py] ***',
      'ok: [ec2-a.compute-1.amazonaws.com]',
      'fatal: [ec2-b.compute-1.amazonaws.com]: FAILED! => {"msg": "boom"}',
      'PLAY RECAP ***',
      'ec2-a.compute-1.amazonaws.com : ok=5    changed=0    unreachable=0    failed=0    skipped=0',
      'ec2-b.compute-1.amazonaws.com : ok=2    changed=0    unreachable=0    failed=1    skipped=0',
      'ec2-c.compute-1.amazonaws.com : ok=0    changed=0    unreachable=1    failed=0    skipped=0',
    ];
    expect(parseFailure(output)).toEqual({
      hosts: ['ec2-b.compute-1.amazonaws.com', 'ec2-c.compute-1.amazonaws.com'],
      tasks: ['app : Render app_config.py'],
      handlers: [],
    });
  });

  it('names a failed handler as a handler, not as the last task before it', () => {
    const output = [
      'TASK [image : Stamp the installed requirements] ***',
      'skipping: [ec2-a.compute-1.amazonaws.com]',
      'RUNNING HANDLER [Restart uWSGI for the new code] ***',
      'fatal: [ec2-a.compute-1.amazonaws.com]: FAILED! => {"msg": "Unable to restart service argos-uwsgi"}',
      'PLAY RECAP ***',
      'ec2-a.compute-1.amazonaws.com : ok=5    changed=1    unreachable=0    failed=1    skipped=3',
    ];
    expect(parseFailure(output)).toEqual({ hosts: ['ec2-a.compute-1.amazonaws.com'], tasks: [], handlers: ['Restart uWSGI for the new code'] });
  });

  it('says what failed: tasks, then handlers that failed after them, then the hosts', () => {
    expect(describeFailure({ tasks: ['app : Check the nginx configuration'], handlers: ['app : Reload nginx'], hosts: ['h1'] })).toBe(
      'failed task [app : Check the nginx configuration] and handler [app : Reload nginx] on h1',
    );
    expect(describeFailure({ tasks: [], handlers: ['Restart uWSGI for the new code'], hosts: ['h1', 'h2'] })).toBe('failed handler [Restart uWSGI for the new code] on h1, h2');
    expect(describeFailure({ tasks: [], handlers: [], hosts: [] })).toBe('');
  });
});
