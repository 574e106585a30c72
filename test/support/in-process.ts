/**
 * Runs a command in this process with the Context the CLI builds (real SDK
 * clients against moto), Ansible and the SSH wait stubbed at the runtime seam
 * (moto's instances are not machines; the playbooks on real machines are the
 * local cloud's tests). Each playbook run is recorded.
 */
import { readFile } from 'node:fs/promises';
import { createContext, type Context } from '../../src/context.js';
import type { PlaybookRun } from '../../src/ansible.js';
import { parseOptions } from '../../src/options.js';
import { localProcesses } from '../../src/run.js';
import { RecordingReporter } from './recording-reporter.js';
import { fakeAwsEnvironment } from './aws-env.js';

/** One stubbed `ansible-playbook` run: the playbooks' paths, the inventory's path and its text then (a temporary one is removed after). */
export interface RecordedPlaybookRun {
  playbooks: string[];
  inventory: string;
  inventoryText?: string;
}

/** `argos staging <command>` in `project`, in this process; playbook runs are pushed to `playbookRuns`. */
export async function runInProcess<C extends 'commission' | 'deploy'>(
  project: string,
  command: C,
  flags: Record<string, unknown>,
  body: (ctx: Context<ReturnType<typeof parseOptions<C>>>) => Promise<void>,
  playbookRuns: RecordedPlaybookRun[],
): Promise<RecordingReporter> {
  const reporter = new RecordingReporter();
  const ctx = await createContext({
    env: 'staging',
    options: parseOptions(command, { yes: true, config: 'playbooks/group_vars/all.yml', sshCidr: '203.0.113.7/32', ...flags }),
    environment: { AWS_ENDPOINT_URL: fakeAwsEnvironment['AWS_ENDPOINT_URL'] },
    root: project,
    signal: new AbortController().signal,
    processes: localProcesses,
    createReporter: () => reporter,
  });
  const stubbed = {
    ...ctx,
    runtime: {
      ...ctx.runtime,
      findAnsiblePlaybook: async () => 'ansible-playbook (stubbed)',
      waitForSsh: async () => undefined,
      closeSshMasters: async () => undefined,
      runPlaybook: async (run: RecordedPlaybookRun & Pick<PlaybookRun, 'gate'>) => {
        // As the real run's gate play: no task before the SSH wait has ended.
        await run.gate?.opened;
        playbookRuns.push({ playbooks: run.playbooks, inventory: run.inventory, inventoryText: await readFile(run.inventory, 'utf8') });
      },
    },
  };
  try {
    await body(stubbed);
  } finally {
    stubbed.clients.destroy();
  }
  return reporter;
}
