/**
 * EC2 instance states, and the sets of them argos asks for: one list per
 * meaning, so a lookup of "our instances" and a wait for termination cannot
 * drift apart.
 */
import type { InstanceStateName } from '@aws-sdk/client-ec2';

/** States of an instance that exists or is about to: what a lookup of "our instances" means. */
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'] as const satisfies readonly InstanceStateName[];

/** States from which an instance never runs again. */
export const ENDING_STATES = ['shutting-down', 'terminated'] as const satisfies readonly InstanceStateName[];

/**
 * Every state but `terminated`: what a wait for termination waits out
 * (`shutting-down` still holds its network interface and security groups).
 */
export const NOT_TERMINATED_STATES = [...LIVE_STATES, 'shutting-down'] as const satisfies readonly InstanceStateName[];

/** Every state: a wait for "running" asks for these, to fail at once on an instance that ended. */
export const ALL_STATES = [...LIVE_STATES, ...ENDING_STATES] as const satisfies readonly InstanceStateName[];

/** Halted instances: argos does not start them itself, the user does. */
export const STOPPED_STATES = ['stopping', 'stopped'] as const satisfies readonly InstanceStateName[];

/** Only running instances: the hosts Ansible can reach. */
export const RUNNING_STATES = ['running'] as const satisfies readonly InstanceStateName[];

/** Whether `state` (as `InstanceInfo` carries it, `unknown` included) is one of `states`. */
export function isInState(state: string, states: readonly InstanceStateName[]): boolean {
  return (states as readonly string[]).includes(state);
}
