/**
 * What a run does outside AWS: time, SSH, Ansible, the caller's address, the
 * local processes. Commands reach these through `ctx.runtime`, so tests and
 * benchmarks can run the real command code on a virtual clock with modelled
 * SSH and Ansible.
 */
import { findAnsiblePlaybook, runPlaybook } from './ansible.js';
import { resolveSshCidr } from './caller.js';
import { closeSshMasters, waitForSsh } from './ssh.js';
import { systemClock, type Clock } from './wait.js';

/**
 * This run's process and the other processes of its host, as run.ts sees them:
 * only run.ts touches the process (test/unit/architecture.test.ts), so it hands
 * them in.
 */
export interface LocalProcesses {
  /** This run's process id. */
  pid: number;
  /** The user id this run runs as; `undefined` where there is none (Windows). */
  uid: number | undefined;
  /** Whether a process of this host runs with `pid` (a file left by a killed run is not its run's any more). */
  isAlive: (pid: number) => boolean;
}

/** The process-level dependencies of a run. */
export interface Runtime {
  clock: Clock;
  runPlaybook: typeof runPlaybook;
  findAnsiblePlaybook: typeof findAnsiblePlaybook;
  waitForSsh: typeof waitForSsh;
  closeSshMasters: typeof closeSshMasters;
  resolveSshCidr: typeof resolveSshCidr;
  processes: LocalProcesses;
}

/** The real ones, with the process run.ts gives. */
export function createRuntime(processes: LocalProcesses): Runtime {
  return { clock: systemClock, runPlaybook, findAnsiblePlaybook, waitForSsh, closeSshMasters, resolveSshCidr, processes };
}
