/**
 * The converged check (playbooks/roles/converged) skips a server when what the
 * image, app_common and app (or worker) roles would make of it is already there. It knows
 * that from each role's tasks/desired.yml, written by hand beside the tasks: a
 * task added to a role without its state described there would go unchecked,
 * and drift in it unrepaired. This test lists every task of the four roles and
 * how the check covers it; a task it does not know fails it, as does a listed
 * state that desired.yml (or the probe) no longer names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROLES = fileURLToPath(new URL('../../playbooks/roles', import.meta.url));

/** How the check covers a task: text its role's desired.yml (or the probe) must hold, or why the task has no state to check. */
type Coverage = { desired: string[] } | { probe: string[] } | { noState: string };

const COVERAGE: Record<string, Coverage> = {
  // image
  'image/Look for cloud-init': { noState: 'a lookup' },
  'image/Wait for cloud-init to finish': { probe: ['cloud-init', 'status: done'] },
  'image/Install system packages': { desired: ['packages: "{{ image_packages + image_extra_packages }}"'] },
  'image/Create the app group': { desired: ['group: "{{ image_app_user }}"'] },
  'image/Create the app user': { desired: ['name: "{{ image_app_user }}"', 'home: "{{ image_app_path }}"', 'shell: /usr/sbin/nologin'] },
  'image/Create the app directory': { desired: ['{path: "{{ image_app_path }}", owner: "{{ image_app_user }}", group: "{{ image_app_user }}", mode: "0755"}'] },
  'image/Check out the app': { desired: ['repo: "{{ image_git_repo }}"', 'ref: "{{ image_git_ref }}"'] },
  'image/Create the virtualenv': { probe: ['no virtualenv'] },
  'image/Describe the virtualenv and the requirements': { noState: 'a lookup' },
  "image/Install the app's requirements": { probe: ['.argos-requirements-', 'requirements not installed'] },
  'image/Stamp the installed requirements': { probe: ['.argos-requirements-'] },
  // app_common
  'app_common/Create the configuration directory': { desired: ['{path: "{{ app_common_config_dir }}", owner: root, group: "{{ app_common_user }}", mode: "0750"}'] },
  // app.yml's config path: writes the very text desired.yml rendered for the check.
  "app_common/Write the app's configuration in one command": { desired: ["'content': app_common_rendered", "'sha256': app_common_rendered | hash('sha256')"] },
  'app_common/Stop when the configuration could not be written': { noState: 'shows the one-command write\'s failure, which no_log hides' },
  "app_common/Write the app's configuration": { desired: ["'path': app_common_config_dir ~ '/' ~ item", "'files': [item, item + '-sample'], 'paths': app_common_template_dirs", "'mode': '0640'"] },
  // app
  'app/Look for cloud-init': { noState: 'a lookup' },
  'app/Wait for cloud-init to finish': { probe: ['cloud-init', 'status: done'] },
  'app/Install uWSGI and nginx': { desired: ['packages: [uwsgi, uwsgi-plugin-python3, nginx]'] },
  'app/Write the uWSGI app': { desired: ['/etc/uwsgi/apps-available/{{ app_name }}.ini', "'/uwsgi.ini.j2'"] },
  "app/Link the uWSGI app for Debian's init script": { noState: 'only without systemd, where the check always runs every task' },
  "app/Keep the uWSGI app away from Debian's init script (the unit runs it)": { desired: ['"/etc/uwsgi/apps-enabled/{{ app_name }}.ini"'] },
  "app/Stop and mask Debian's uwsgi service (its SysV script has no restarts)": { desired: ['{name: uwsgi.service, state: masked}'] },
  'app/Write the uWSGI unit': { desired: ['/etc/systemd/system/{{ app_uwsgi_service }}.service', "'/uwsgi.service.j2'"] },
  'app/Start uWSGI and enable it at boot': { noState: 'only without systemd, where the check always runs every task' },
  'app/Start the uWSGI unit and enable it at boot': { desired: ['{name: "{{ app_uwsgi_service }}.service", state: running}'] },
  'app/Write the nginx site': { desired: ['/etc/nginx/sites-available/{{ app_name }}', "'/nginx-site.conf.j2'"] },
  'app/Enable the nginx site': { desired: ['{path: "/etc/nginx/sites-enabled/{{ app_name }}", target: "/etc/nginx/sites-available/{{ app_name }}"}'] },
  'app/Disable the default nginx site': { desired: ['- /etc/nginx/sites-enabled/default'] },
  'app/Check the nginx configuration': { desired: ['- [nginx, -t, -q]'] },
  "app/Create nginx's unit drop-in directory": { desired: ['{path: /etc/systemd/system/nginx.service.d, owner: root, group: root, mode: "0755"}'] },
  "app/Write nginx's restart drop-in": { desired: ['/etc/systemd/system/nginx.service.d/argos-restart.conf', "'/nginx-restart.conf.j2'"] },
  'app/Start nginx and enable it at boot': { noState: 'only without systemd, where the check always runs every task' },
  'app/Start nginx under systemd and enable it at boot': { desired: ['{name: nginx.service, state: running}'] },
  // worker (worker.yml: image, app_common, worker)
  'worker/Create the log directory': { noState: 'only without systemd, where the check always runs every task' },
  "worker/Write the worker's systemd unit": { desired: ['/etc/systemd/system/{{ worker_service_name }}.service', "'/worker.service.j2'"] },
  'worker/Make systemd read the changed worker unit': { probe: ['NeedDaemonReload'] },
  "worker/Write the worker's init script": { noState: 'only without systemd, where the check always runs every task' },
  'worker/Start the worker and enable it at boot': { desired: [`state: "{{ 'running' if worker_start | bool else 'stopped' }}"`] },
  'worker/Leave the worker stopped and disabled': { desired: [`state: "{{ 'running' if worker_start | bool else 'stopped' }}"`] },
};

interface Task {
  name?: string;
  block?: Task[];
  [key: string]: unknown;
}

/** Every task of a role's task files that runs a module (blocks walked, imports and desired.yml left out). */
function listModuleTasks(role: string): string[] {
  const dir = join(ROLES, role, 'tasks');
  const names: string[] = [];
  const walk = (tasks: Task[]): void => {
    for (const task of tasks) {
      if (task.block) {
        walk(task.block);
        continue;
      }
      const module = Object.keys(task).find((key) => key.startsWith('ansible.builtin.'));
      if (!module || /import_tasks|include_tasks|set_fact|debug/.test(module)) continue;
      names.push(`${role}/${task.name ?? `(unnamed ${module})`}`);
    }
  };
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.yml') && name !== 'desired.yml').sort()) {
    walk(parse(readFileSync(join(dir, file), 'utf8')) as Task[]);
  }
  return names;
}

describe('the converged check renders app_common as the app and worker roles run it', () => {
  it.each(['app', 'worker'])("passes app_common the same variables as the %s role's dependency does", (role) => {
    const meta = parse(readFileSync(join(ROLES, role, 'meta', 'main.yml'), 'utf8')) as { dependencies: { role: string; vars: Record<string, string> }[] };
    const tasks = parse(readFileSync(join(ROLES, 'converged', 'tasks', 'main.yml'), 'utf8')) as Task[];
    const block = tasks.find((task) => task.block)?.block ?? [];
    const include = block.find((task) =>
      (task['ansible.builtin.include_role'] as { name?: string } | undefined)?.name === 'app_common' && task['when'] === `converged_role == '${role}'`);
    expect(include?.['vars']).toBeDefined();
    expect(include?.['vars']).toEqual(meta.dependencies.find((dependency) => dependency.role === 'app_common')?.vars);
  });
});

describe('the converged check covers every task of the roles it stands in for', () => {
  const tasks = ['image', 'app_common', 'app', 'worker'].flatMap(listModuleTasks);

  it('knows every task that runs a module, and no task that is gone', () => {
    expect(tasks.length).toBeGreaterThan(20);
    expect([...new Set(tasks)].sort()).toEqual(Object.keys(COVERAGE).sort());
  });

  it.each(Object.entries(COVERAGE).filter(([, coverage]) => !('noState' in coverage)))('%s: its state is described', (task, coverage) => {
    const role = task.split('/')[0] ?? '';
    const text = 'desired' in coverage
      ? readFileSync(join(ROLES, role, 'tasks', 'desired.yml'), 'utf8')
      : readFileSync(join(ROLES, 'converged', 'files', 'probe.py'), 'utf8');
    const wanted = 'desired' in coverage ? coverage.desired : 'probe' in coverage ? coverage.probe : [];
    for (const snippet of wanted) expect(text, `${task} in ${role}'s desired state`).toContain(snippet);
  });
});
