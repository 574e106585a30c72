import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../test/support/cli.js';
import { makeCloudProject } from '../test/support/cloud-project.js';
const project = await makeCloudProject({ name: 'sq', log: () => undefined });
try {
  await mkdir(join(project.root, 'hosts'), { recursive: true });
  const times = { ANSIBLE_CALLBACK_PLUGINS: join(import.meta.dirname, 'callback_plugins'), ANSIBLE_CALLBACKS_ENABLED: 'task_times' };
  let r = await runCli(['staging', 'commission', '--yes'], { cwd: project.root, env: { ...project.env, ...times, ARGOS_TASK_TIMES: '/tmp/tt-staging.jsonl' }, timeout: 1_800_000 });
  console.log('staging', r.exitCode, /step times:\s*(.*)/.exec(r.stdout)?.[1]);
  project.harness.databases.setCreateMs(90_000);
  r = await runCli(['production', 'commission', '--yes'], { cwd: project.root, env: { ...project.env, ...times, ARGOS_TASK_TIMES: '/tmp/tt-production.jsonl' }, timeout: 1_800_000 });
  console.log('production', r.exitCode, /step times:\s*(.*)/.exec(r.stdout)?.[1]);
} finally {
  await project.stop();
}
