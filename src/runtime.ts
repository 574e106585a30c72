/**
 * What a run does outside AWS: time, SSH, Ansible, the caller's address.
 * Commands reach these through `ctx.runtime`, so tests and benchmarks can run
 * the real command code on a virtual clock with modelled SSH and Ansible.
 */
import { findAnsiblePlaybook, runPlaybook } from './ansible.js';
import { resolveSshCidr } from './caller.js';
import { waitForSsh } from './ssh.js';
import { systemClock, type Clock } from './wait.js';

/** The process-level dependencies of a run. */
export interface Runtime {
  clock: Clock;
  runPlaybook: typeof runPlaybook;
  findAnsiblePlaybook: typeof findAnsiblePlaybook;
  waitForSsh: typeof waitForSsh;
  resolveSshCidr: typeof resolveSshCidr;
}

/** The real ones. */
export const defaultRuntime: Runtime = {
  clock: systemClock,
  runPlaybook,
  findAnsiblePlaybook,
  waitForSsh,
  resolveSshCidr,
};
