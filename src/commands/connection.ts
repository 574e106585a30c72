/**
 * How a command's Ansible and SSH reach the environment's hosts: the user,
 * key, known_hosts file and ssh_config of the run, and the config file when
 * Ansible would not find it by itself.
 */
import { join } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../config.js';
import type { Context } from '../context.js';
import type { SshSettings } from '../ssh.js';

/** SSH settings for the environment's hosts (or the bake's, with its own known_hosts). */
export function sshSettings(ctx: Context, knownHostsFile = ctx.paths.knownHostsFile): SshSettings {
  return { user: ctx.config.remoteUser, keyFile: ctx.paths.keyFile, knownHostsFile, sshConfig: ctx.sshConfig };
}

/** `-e @file` for a --config other than group_vars/all.yml, which Ansible would not read by itself. */
export function configVarsFiles(ctx: Context): string[] {
  return ctx.paths.config === join(ctx.paths.root, DEFAULT_CONFIG_PATH) ? [] : [ctx.paths.config];
}

