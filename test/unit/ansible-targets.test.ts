import { describe, expect, it } from 'vitest';
import { findAnsibleTargetProblem, oldestCoreFor, parseAnsibleCoreMinor, pythonOfImage } from '../../src/ansible-targets.js';

const NOBLE = { id: 'ami-0a1b2c3d4e5f60718', text: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240423' };
const JAMMY = { id: 'ami-0a1b2c3d4e5f60719', text: 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240301' };

describe('the base image against the local ansible-core', () => {
  it('reads the core version from ansible-playbook --version', () => {
    expect(parseAnsibleCoreMinor('ansible-playbook [core 2.14.18]')).toBe(14);
    expect(parseAnsibleCoreMinor('ansible-playbook 2.9.6')).toBeUndefined();
  });

  it('knows the Python of Ubuntu and Debian AMIs by their names', () => {
    expect(pythonOfImage(NOBLE.text)).toEqual({ release: 'Ubuntu 24.04', python: 12 });
    expect(pythonOfImage(JAMMY.text)).toEqual({ release: 'Ubuntu 22.04', python: 10 });
    expect(pythonOfImage('debian-12-amd64-20240717-1811')).toEqual({ release: 'Debian 12', python: 11 });
    expect(pythonOfImage('my-golden-image')).toBeUndefined();
    // Amazon Linux's dates are not Ubuntu releases.
    expect(pythonOfImage('amzn2-ami-hvm-2022.04.11-x86_64-gp2 Amazon Linux 2 AMI 2.0.20220411')).toBeUndefined();
  });

  it('names the oldest core for a Python', () => {
    expect(oldestCoreFor(11)).toBe(14);
    expect(oldestCoreFor(12)).toBe(16);
    expect(oldestCoreFor(13)).toBe(18);
  });

  it('refuses Ubuntu 24.04 with ansible-core 2.14, naming both versions and the fix', () => {
    expect(findAnsibleTargetProblem('ansible-playbook [core 2.14.18]', NOBLE)).toBe(
      `base_ami ${NOBLE.id} is Ubuntu 24.04 with Python 3.12, which ansible-core 2.14 (the local ansible-playbook) ` +
        `does not support (it manages Python up to 3.11): install ansible-core 2.16 or newer ` +
        `(pipx install 'ansible-core>=2.16'), or use a base_ami of an older release`,
    );
  });

  it('accepts Ubuntu 24.04 with ansible-core 2.16, Ubuntu 22.04 with 2.14, and what it cannot tell', () => {
    expect(findAnsibleTargetProblem('ansible-playbook [core 2.16.3]', NOBLE)).toBeUndefined();
    expect(findAnsibleTargetProblem('ansible-playbook [core 2.14.18]', JAMMY)).toBeUndefined();
    expect(findAnsibleTargetProblem('ansible-playbook [core 2.14.18]', { id: 'ami-1', text: 'golden' })).toBeUndefined();
    expect(findAnsibleTargetProblem('something else', NOBLE)).toBeUndefined();
  });
});
