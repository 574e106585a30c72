import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../test/support/cli.js';
import { makeCloudProject } from '../test/support/cloud-project.js';
import { measureSecondEnvironment } from './cloud-second-env.js';
const project = await makeCloudProject({ name: 'sp', log: () => undefined });
try {
  await mkdir(join(project.root, 'hosts'), { recursive: true });
  const t0 = performance.now();
  const result = await runCli(['staging', 'commission', '--yes'], { cwd: project.root, env: project.env, timeout: 1_800_000 });
  console.log('staging', result.exitCode, ((performance.now() - t0) / 1000).toFixed(1));
  const steps = /step times:\s*(.*)/.exec(result.stdout)?.[1] ?? '';
  console.log(steps);
  const second = await measureSecondEnvironment(project, steps, (line) => console.log(line));
  console.log(JSON.stringify(second, null, 1));
} finally {
  await project.stop();
}
