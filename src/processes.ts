/**
 * Local processes: whether the run that holds a lock, or left a vars
 * directory, still runs on this host.
 */

/** Whether a process of this host runs with `pid` (signal 0 only checks; EPERM: it runs as someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
