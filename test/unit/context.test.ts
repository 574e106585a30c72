/**
 * Where SSH may come from is resolved only for the commands that open SSH, and
 * from every source a user may set it in, whether or not the flag was given.
 */
import { describe, expect, it } from 'vitest';
import { createContext } from '../../src/context.js';
import { localProcesses } from '../../src/run.js';
import { makeProject } from '../support/cli.js';
import { RecordingReporter } from '../support/recording-reporter.js';

async function contextFor(opensSsh: boolean, ARGOS_SSH_CIDR: string) {
  const root = await makeProject();
  const ctx = await createContext({
    env: 'staging',
    opensSsh,
    // As parsed when the user gave no --ssh-cidr: the key is absent.
    options: { config: 'playbooks/group_vars/all.yml', verbose: false },
    environment: { ARGOS_SSH_CIDR },
    root,
    signal: new AbortController().signal,
    processes: localProcesses,
    createReporter: () => new RecordingReporter(),
  });
  ctx.clients.destroy();
  return ctx;
}

describe('createContext', () => {
  it('takes ARGOS_SSH_CIDR for a command that opens SSH, though no --ssh-cidr was given', async () => {
    expect((await contextFor(true, '203.0.113.7')).sshCidr).toBe('203.0.113.7/32');
  });

  it('does not read or check it for a command that opens no SSH', async () => {
    expect((await contextFor(false, 'not-an-address')).sshCidr).toBeUndefined();
  });
});
