/**
 * Whether the local ansible-core can manage the base image's Python: each
 * ansible-core release supports target Pythons up to a newest version
 * (ansible-core support matrix, docs.ansible.com "Releases and maintenance":
 * 2.14/2.15 up to 3.11, 2.16/2.17 up to 3.12, 2.18/2.19 up to 3.13, 2.20/2.21
 * up to 3.14). Ubuntu 24.04 ships Python 3.12, so ansible-core 2.14 (Debian
 * 12's) is too old for it.
 */

/** The newest target Python of each ansible-core minor release (2.x). */
const NEWEST_TARGET_PYTHON: ReadonlyArray<readonly [core: number, python: number]> = [
  [12, 10], [13, 10], [14, 11], [15, 11], [16, 12], [17, 12], [18, 13], [19, 13], [20, 14], [21, 14],
];

/** The system Python (3.minor) of the base images argos is used with, by what their AMI names say. */
const IMAGE_PYTHON: ReadonlyArray<readonly [pattern: RegExp, release: string, python: number]> = [
  [/ubuntu.*(focal|20\.04)/, 'Ubuntu 20.04', 8],
  [/ubuntu.*(jammy|22\.04)/, 'Ubuntu 22.04', 10],
  [/ubuntu.*(noble|24\.04)/, 'Ubuntu 24.04', 12],
  [/debian.*(-11-|bullseye)/, 'Debian 11', 9],
  [/debian.*(-12-|bookworm)/, 'Debian 12', 11],
  [/debian.*(-13-|trixie)/, 'Debian 13', 13],
];

/** ansible-core's 2.minor from `ansible-playbook --version`'s first line (`ansible-playbook [core 2.14.18]`). */
export function parseAnsibleCoreMinor(versionLine: string): number | undefined {
  const match = /\[core (\d+)\.(\d+)/.exec(versionLine);
  return match && match[1] === '2' ? Number(match[2]) : undefined;
}

/** The release and system Python (3.minor) an AMI's name or description names, if it names one argos knows. */
export function pythonOfImage(text: string): { release: string; python: number } | undefined {
  const found = IMAGE_PYTHON.find(([pattern]) => pattern.test(text.toLowerCase()));
  return found ? { release: found[1], python: found[2] } : undefined;
}

/** The oldest ansible-core (2.minor) that supports target Python 3.`python`. */
export function oldestCoreFor(python: number): number | undefined {
  return NEWEST_TARGET_PYTHON.find(([, newest]) => newest >= python)?.[0];
}

/**
 * Why the local ansible-core cannot manage the base image (naming both
 * versions and what to do), or `undefined` when it can or either version is
 * unknown (then Ansible itself has the last word).
 */
export function findAnsibleTargetProblem(versionLine: string, image: { id: string; text: string }): string | undefined {
  const core = parseAnsibleCoreMinor(versionLine);
  const target = pythonOfImage(image.text);
  if (core === undefined || target === undefined) return undefined;
  const newest = NEWEST_TARGET_PYTHON.find(([minor]) => minor === core)?.[1];
  if (newest === undefined || target.python <= newest) return undefined;
  const needed = oldestCoreFor(target.python);
  return (
    `base_ami ${image.id} is ${target.release} with Python 3.${String(target.python)}, which ansible-core 2.${String(core)} ` +
    `(the local ansible-playbook) does not support (it manages Python up to 3.${String(newest)}): ` +
    `install ansible-core 2.${String(needed ?? core + 1)} or newer (pipx install 'ansible-core>=2.${String(needed ?? core + 1)}'), ` +
    `or use a base_ami of an older release`
  );
}
