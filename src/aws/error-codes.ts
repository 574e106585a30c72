/**
 * The AWS error codes argos acts on, per service, by meaning. Each list holds
 * what `errorCode()` (wait.ts) can read from that error: the SDK sets `Code` to the
 * code on the wire and `name` to its exception class, and for the query
 * protocols (RDS, Auto Scaling, classic ELB) the two often differ
 * (`LoadBalancerNotFound` is thrown as `AccessPointNotFoundException`).
 * Real SDK errors carry both; a mock that throws the SDK's exception class
 * carries only the class name, so both belong in the list.
 */

/** EC2: the wire code is the exception's name. */
export const EC2_ERRORS = {
  instanceNotFound: ['InvalidInstanceID.NotFound'],
  imageNotFound: ['InvalidAMIID.NotFound'],
  /** An image id that cannot be launched from: missing, deregistered, or not an AMI id at all. */
  imageUnusable: ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed'],
  snapshotNotFound: ['InvalidSnapshot.NotFound'],
  keyPairNotFound: ['InvalidKeyPair.NotFound'],
  securityGroupNotFound: ['InvalidGroup.NotFound'],
  securityGroupDuplicate: ['InvalidGroup.Duplicate'],
  ruleDuplicate: ['InvalidPermission.Duplicate'],
  ruleNotFound: ['InvalidPermission.NotFound'],
  /** By name and by id the codes differ (and only the name's ends in `Exception`). */
  launchTemplateNotFound: ['InvalidLaunchTemplateName.NotFoundException', 'InvalidLaunchTemplateId.NotFound'],
  launchTemplateAlreadyExists: ['InvalidLaunchTemplateName.AlreadyExistsException'],
  /** Something still holds the resource (an ENI of a deleted ELB, RDS, an instance): retry. */
  dependencyViolation: ['DependencyViolation'],
} as const;

/** RDS: wire code first, then the SDK's exception name. */
export const RDS_ERRORS = {
  dbInstanceNotFound: ['DBInstanceNotFound', 'DBInstanceNotFoundFault'],
  dbInstanceAlreadyExists: ['DBInstanceAlreadyExists', 'DBInstanceAlreadyExistsFault'],
  /** E.g. a delete while the instance is creating, backing up, modifying, or already deleting. */
  dbInstanceInvalidState: ['InvalidDBInstanceState', 'InvalidDBInstanceStateFault'],
  dbSubnetGroupNotFound: ['DBSubnetGroupNotFoundFault'],
  dbSubnetGroupAlreadyExists: ['DBSubnetGroupAlreadyExists', 'DBSubnetGroupAlreadyExistsFault'],
  dbSnapshotNotFound: ['DBSnapshotNotFound', 'DBSnapshotNotFoundFault'],
} as const;

/** Auto Scaling: wire code first, then the SDK's exception name. */
export const AUTO_SCALING_ERRORS = {
  alreadyExists: ['AlreadyExists', 'AlreadyExistsFault'],
  /** A scaling activity or another call holds the group: retry. */
  busy: ['ScalingActivityInProgress', 'ScalingActivityInProgressFault', 'ResourceInUse', 'ResourceInUseFault'],
  /**
   * Auto Scaling has no not-found code: a group or instance that is not there
   * is a `ValidationError` ("AutoScalingGroup name not found").
   */
  notFound: ['ValidationError'],
} as const;

/** Classic Elastic Load Balancing: wire code first, then the SDK's exception name. */
export const ELB_ERRORS = {
  loadBalancerNotFound: ['LoadBalancerNotFound', 'AccessPointNotFoundException'],
} as const;

/** Node's codes for a connection that could not be made or was cut: AWS was never reached. */
const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE'];

/**
 * Why a call never reached AWS (`ECONNREFUSED 127.0.0.1:4566`, `no answer within 30s`),
 * or `undefined` when AWS answered (an access error, a throttle: AWS's own codes).
 */
export function describeUnreachable(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  // The SDK's request timeout: the endpoint took the connection and never answered.
  if (name === 'TimeoutError' || name === 'RequestTimeout') return 'no answer in time';
  if (typeof code === 'string' && NETWORK_CODES.includes(code)) return typeof message === 'string' ? message : code;
  return undefined;
}
