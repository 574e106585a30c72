/**
 * The command and role names, kept apart from the commands themselves so the
 * CLI can list and check them without loading any command (or the AWS SDK).
 * It sits above `commands/` so that the modules the commands build on never
 * import from `commands/`.
 */
export const COMMANDS = ['commission', 'deploy', 'rollback', 'decommission', 'clean', 'status'] as const;

export type CommandName = (typeof COMMANDS)[number];

/** Whether `word` names an argos command. */
export function isCommandName(word: string): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word);
}

/**
 * The commands that need the database password: commission creates the
 * database with it, deploy hands it to Ansible. The others never read it.
 */
export const NEEDS_DATABASE_PASSWORD: ReadonlySet<CommandName> = new Set(['commission', 'deploy']);

/** The roles `deploy --roles` takes: one playbook each. */
export const ROLES = ['app', 'database', 'broker', 'worker'] as const;

export type RoleName = (typeof ROLES)[number];

/** Whether `word` names a role `deploy --roles` takes. */
export function isRoleName(word: string): word is RoleName {
  return (ROLES as readonly string[]).includes(word);
}
