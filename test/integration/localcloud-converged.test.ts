/**
 * A deploy skips what is already as it wants it, and repairs every other kind of
 * drift, on the local cloud (real Debian machines under systemd, the real CLI and
 * ansible-playbook). The app servers' play asks each server once what differs
 * (playbooks/roles/converged): nothing → the server is skipped; only the code →
 * the code tasks and uWSGI's restart; only the app's configuration → it and uWSGI's
 * restart; anything else → every task. A wrong
 * "nothing differs" would leave a server unrepaired, so each kind of drift the
 * check covers is made here by hand and must be repaired by the next deploy.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCloudProject, type CloudProject } from '../support/cloud-project.js';
import { localCloudOrSkip } from '../support/local-cloud.js';

const capability = localCloudOrSkip();
const LB = 'argos-staging-elb';
const DEPLOY = ['staging', 'deploy', '--all-at-once', '--no-release-image'];
const CONFIG = '/srv/argos/conf/app_config.py';
const UWSGI_INI = '/etc/uwsgi/apps-available/argos.ini';
const SITE_LINK = '/etc/nginx/sites-enabled/argos';

describe.skipIf(!capability.ok)(`deploys skip converged servers and repair drift${capability.ok ? '' : ` (skipped: ${capability.reason})`}`, () => {
  let project: CloudProject;
  const harnessLog: string[] = [];
  let logSeen = 0;

  /** What the argos log gained since the last call: the playbook's output of the last run. */
  const newLog = async (): Promise<string> => {
    const text = await readFile(join(project.root, 'logs', 'argos-staging.log'), 'utf8');
    const added = text.slice(logSeen);
    logSeen = text.length;
    return added;
  };

  /** Runs a shell command as root on the (one) app server, over SSH as Ansible reaches it. */
  const onServer = async (command: string): Promise<string> => {
    const hosts = await readFile(join(project.root, 'hosts', 'hosts_staging'), 'utf8');
    const line = /\[appservers\]\n(\S+) .*instance_id=(i-[0-9a-f]+)/.exec(hosts);
    if (!line?.[1] || !line[2]) throw new Error(`no app server in the hosts file:\n${hosts}`);
    const result = await execa('ssh', [
      '-F', project.harness.sshConfigPath,
      '-i', join(project.root, 'keys', 'argos-cloud.pem'),
      '-o', `UserKnownHostsFile=${join(project.root, 'hosts', 'known_hosts_staging')}`,
      '-o', `HostKeyAlias=${line[2]}`,
      '-o', 'BatchMode=yes',
      // ssh joins its arguments into one remote command line: quote the command once.
      `ubuntu@${line[1]}`, `sudo sh -c '${command.replaceAll("'", "'\\''")}'`,
    ]);
    return result.stdout;
  };

  /** Whether the playbook output shows the task run (ok or changed) on a host, not only skipped, at any of its headers. */
  const ran = (log: string, task: string): boolean =>
    log.split(/^.*(?=TASK \[|RUNNING HANDLER \[)/m).some((section) => section.startsWith(`TASK [${task}]`) && /\b(ok|changed): \[/.test(section));

  const ask = async (): Promise<string> => {
    const url = project.harness.balancing.urlOf(LB);
    if (!url) throw new Error(`the load balancer ${LB} has no local port`);
    const response = await fetch(`${url}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    return ((await response.json()) as { version: string }).version;
  };

  /** Deploys; returns the playbook output it logged. */
  const deploy = async (extra: string[] = []): Promise<string> => {
    const result = await project.argos([...DEPLOY, ...extra]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    return newLog();
  };

  beforeAll(async () => {
    project = await makeCloudProject({ name: 'cv', log: (line) => harnessLog.push(line) });
    const commissioned = await project.argos(['staging', 'commission', '--yes']);
    if (commissioned.exitCode !== 0) throw new Error(`commission failed:\n${commissioned.stderr}\n${harnessLog.slice(-40).join('\n')}`);
    await newLog();
  }, 1_200_000);

  afterAll(async () => {
    await project?.stop();
  }, 300_000);

  it('a deploy right after the commission skips the server after one check', async () => {
    const log = await deploy();
    expect(log).toContain('Nothing differs: this server is skipped.');
    expect(ran(log, 'app : Write the uWSGI app')).toBe(false);
    expect(ran(log, 'image : Check out the app')).toBe(false);
    expect(await ask()).toBe('1');
  }, 600_000);

  it('--full runs every task on a server that is as wanted', async () => {
    const log = await deploy(['--full']);
    expect(log).not.toContain('Nothing differs');
    expect(ran(log, 'app : Write the uWSGI app')).toBe(true);
    // The app's local health check: its own task on the full path.
    expect(ran(log, 'Check the app answers its health check on this instance')).toBe(true);
  }, 600_000);

  it('a new commit runs only the code tasks, restarts uWSGI, and the next deploy skips again', async () => {
    const commit = await project.releaseSampleApp('2');
    const log = await deploy();
    expect(log).toContain('Only the code differs: updating the code.');
    expect(log).toContain(`wanted main (${commit.slice(0, 12)})`);
    expect(ran(log, 'image : Check out the app')).toBe(true);
    expect(log).toMatch(/RUNNING HANDLER \[Restart uWSGI for the new code\][^\n]*\n[^\n]*changed: \[/);
    // The restart's command checked the app's health too: the check's own task skipped.
    expect(ran(log, 'Check the app answers its health check on this instance')).toBe(false);
    expect(ran(log, 'app : Write the uWSGI app')).toBe(false);
    // No fact gathering on the code path: the check found systemd, the restart names its unit.
    expect(ran(log, 'Find the service manager')).toBe(false);
    expect(await ask()).toBe('2');
    expect(await deploy()).toContain('Nothing differs: this server is skipped.');
  }, 600_000);

  // Each kind of drift the check covers, made by hand: the next deploy must see it and repair it,
  // on the path the check chose for it (app.yml: code, config or every task).
  const PATHS = { full: 'Running every task.', code: 'Only the code differs: updating the code.', config: 'Only the configuration differs: writing it and restarting uWSGI.' };
  const drifts: { name: string; make: string; reason: RegExp; path: keyof typeof PATHS; check: string; expected: string }[] = [
    { name: 'a configuration file edited', make: `echo '# changed by hand' >> ${CONFIG}`, reason: /conf\/app_config\.py: content differs/, path: 'config', check: `grep -c 'changed by hand' ${CONFIG} || true`, expected: '0' },
    { name: "a file's mode changed", make: `chmod 0644 ${UWSGI_INI}`, reason: /argos\.ini: mode 0644, wanted 0640/, path: 'full', check: `stat -c %a ${UWSGI_INI}`, expected: '640' },
    { name: "a configuration file's owner changed", make: `chown root:root ${CONFIG}`, reason: /app_config\.py: owned by root:root, wanted root:argos/, path: 'config', check: `stat -c %U:%G ${CONFIG}`, expected: 'root:argos' },
    { name: 'a link removed', make: `rm ${SITE_LINK}`, reason: /sites-enabled\/argos: not a link/, path: 'full', check: `readlink ${SITE_LINK}`, expected: '/etc/nginx/sites-available/argos' },
    { name: 'a removed file put back', make: 'ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default', reason: /sites-enabled\/default: present, wanted absent/, path: 'full', check: 'test -e /etc/nginx/sites-enabled/default && echo present || echo absent', expected: 'absent' },
    { name: 'a service stopped', make: 'systemctl stop nginx', reason: /nginx\.service: inactive/, path: 'full', check: 'systemctl is-active nginx', expected: 'active' },
    // With its configuration as wanted, a disabled uWSGI is drift: the config path runs only when a configuration file differs.
    { name: 'a service disabled', make: 'systemctl disable --quiet argos-uwsgi', reason: /argos-uwsgi\.service: active, disabled/, path: 'full', check: 'systemctl is-enabled argos-uwsgi', expected: 'enabled' },
    { name: 'the requirements stamp removed (pip install must run)', make: 'rm -f /srv/argos/venv/.argos-requirements-*', reason: /venv: requirements not installed/, path: 'code', check: 'ls -A /srv/argos/venv/ | grep -c argos-requirements || true', expected: '1' },
    // What playbooks/prepare.yml leaves before the database exists: no configuration, uWSGI never started nor enabled.
    { name: 'the configuration removed and uWSGI stopped and disabled (a prepared server)', make: 'rm -r /srv/argos/conf && systemctl disable --now --quiet argos-uwsgi', reason: /conf: missing.*app_config\.py: missing.*argos-uwsgi\.service: inactive, disabled.*no answer/, path: 'config', check: 'systemctl is-enabled argos-uwsgi; systemctl is-active argos-uwsgi; stat -c %U:%G:%a /srv/argos/conf/app_config.py', expected: 'enabled\nactive\nroot:argos:640' },
  ];
  for (const drift of drifts) {
    it(`${drift.name}: the next deploy sees it and repairs it`, async () => {
      await onServer(drift.make);
      const log = await deploy();
      expect(log).toMatch(drift.reason);
      expect(log).toContain(PATHS[drift.path]);
      if (drift.path === 'config') {
        // The configuration and uWSGI's restart (with the health check) only.
        expect(log).toMatch(/RUNNING HANDLER \[Restart uWSGI for the new configuration\][^\n]*\n[^\n]*changed: \[/);
        expect(ran(log, 'app : Write the uWSGI app')).toBe(false);
        expect(ran(log, 'image : Check out the app')).toBe(false);
        expect(ran(log, 'Check the app answers its health check on this instance')).toBe(false);
      }
      expect((await onServer(drift.check)).trim()).toBe(drift.expected);
      expect(await ask()).toBe('2');
      expect(await deploy()).toContain('Nothing differs: this server is skipped.');
    }, 600_000);
  }

  it('a changed variable (the app environment) runs every task and reaches the server', async () => {
    await project.writeConfig({ app_environment: { ARGOS_CONVERGED_TEST: 'set-by-test' } });
    const log = await deploy();
    expect(log).toMatch(/argos\.ini: content differs/);
    expect(ran(log, 'app : Write the uWSGI app')).toBe(true);
    expect(await onServer(`grep -c ARGOS_CONVERGED_TEST=set-by-test ${UWSGI_INI} || true`)).toBe('1');
    expect(await deploy()).toContain('Nothing differs: this server is skipped.');
  }, 600_000);
});
