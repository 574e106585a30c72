/**
 * A group's CPU target-tracking scaling policy (the app servers' and the
 * workers'): AWS adds and removes instances to hold the group's average CPU at
 * the configured percentage.
 */
import { DescribePoliciesCommand, PutScalingPolicyCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EnvNames } from '../names.js';
import { tierGroupName, type AppServersSpec, type EnsureResult, type Tier } from './types.js';

/** The policy's name: policy names are unique per region, so it carries the group's name. */
export function scalingPolicyName(names: EnvNames, tier: Tier = 'app'): string {
  return `${tierGroupName(names, tier)}-cpu-target`;
}

/** What a policy is made for: the group's tier (default: the app servers) and its CPU target. */
type PolicySpec = Pick<AppServersSpec, 'names' | 'scalingTargetCpu'> & { tier?: Tier | undefined };

/**
 * Makes sure the group has its target-tracking policy on average CPU at
 * `scalingTargetCpu` percent (PutScalingPolicy only when missing or different).
 */
export async function ensureScalingPolicy(
  autoScaling: AutoScalingClient,
  spec: PolicySpec,
): Promise<EnsureResult> {
  const name = scalingPolicyName(spec.names, spec.tier);
  const group = tierGroupName(spec.names, spec.tier ?? 'app');
  const plan = await planScalingPolicy(autoScaling, spec);
  if (plan.matches) return { name, created: false, changes: [] };
  await autoScaling.send(
    new PutScalingPolicyCommand({
      AutoScalingGroupName: group,
      PolicyName: name,
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ASGAverageCPUUtilization' },
        TargetValue: spec.scalingTargetCpu,
      },
    }),
  );
  return { name, created: !plan.exists, changes: plan.exists ? plan.changes : [] };
}

/** Whether the policy exists and matches `spec`, and what putting it would change. */
export interface ScalingPolicyPlan {
  exists: boolean;
  matches: boolean;
  /** E.g. `CPU target 60% → 70%`, or `create …` when missing. */
  changes: string[];
}

/** Compares the group's policy with `spec` (one Describe call). */
export async function planScalingPolicy(
  autoScaling: AutoScalingClient,
  spec: PolicySpec,
): Promise<ScalingPolicyPlan> {
  const name = scalingPolicyName(spec.names, spec.tier);
  const found = (await autoScaling.send(new DescribePoliciesCommand({ AutoScalingGroupName: tierGroupName(spec.names, spec.tier ?? 'app'), PolicyNames: [name] })))
    .ScalingPolicies?.[0];
  const config = found?.TargetTrackingConfiguration;
  const matches =
    found?.PolicyType === 'TargetTrackingScaling' &&
    config?.PredefinedMetricSpecification?.PredefinedMetricType === 'ASGAverageCPUUtilization' &&
    config.TargetValue === spec.scalingTargetCpu;
  if (matches) return { exists: true, matches, changes: [] };
  if (!found) return { exists: false, matches, changes: [`create the scaling policy ${name} (CPU target ${spec.scalingTargetCpu}%)`] };
  return { exists: true, matches, changes: [`CPU target ${config?.TargetValue ?? 'none'}% → ${spec.scalingTargetCpu}%`] };
}

