/**
 * A modelled AWS account for running the real command code on an
 * {@link EventClock}: real SDK clients whose `send` is intercepted by
 * aws-sdk-client-mock and answered by a small stateful model of exactly the
 * calls commission (and the deploy it ends with) makes. Every call takes a
 * modelled latency and every slow transition (database creating → available,
 * image pending → available, instance pending → running, app servers
 * OutOfService → InService) happens at a modelled time, so a run shows when
 * each step starts and ends and which steps overlap.
 *
 * The figures are modelled, not measured: see {@link DEFAULT_PARAMETERS}.
 * A call the model does not know fails loudly ("not modelled"), as does a
 * Describe filter it does not know, so a new call on the path is noticed.
 */
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribePoliciesCommand,
  PutScalingPolicyCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
  type Instance as GroupInstance,
  type ScalingPolicy,
} from '@aws-sdk/client-auto-scaling';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateCommand,
  DeleteSecurityGroupCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeKeyPairsCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Image,
  type Instance,
  type IpPermission,
  type LaunchTemplate,
  type RequestLaunchTemplateData,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import {
  ConfigureHealthCheckCommand,
  CreateLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancerAttributesCommand,
  DescribeLoadBalancersCommand,
  DescribeTagsCommand,
  ElasticLoadBalancingClient,
  ModifyLoadBalancerAttributesCommand,
  type HealthCheck,
  type InstanceState,
  type Listener,
  type LoadBalancerAttributes,
  type LoadBalancerDescription,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  CreateDBInstanceCommand,
  CreateDBSubnetGroupCommand,
  DescribeDBEngineVersionsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  DescribeDBSubnetGroupsCommand,
  ListTagsForResourceCommand,
  RDSClient,
  type CreateDBInstanceCommandInput,
  type DBInstance,
} from '@aws-sdk/client-rds';
import type { MetadataBearer } from '@aws-sdk/types';
import { mockClient, type AwsClientStub, type AwsCommand, type AwsStub } from 'aws-sdk-client-mock';
import type { AwsClients } from '../../src/aws/clients.js';
import { parseConfig } from '../../src/config.js';
import type { Context, Paths } from '../../src/context.js';
import { ArgosError } from '../../src/errors.js';
import { makeNames, type Tag } from '../../src/names.js';
import type { CommissionOptions } from '../../src/options.js';
import { localProcesses } from '../../src/run.js';
import type { Runtime } from '../../src/runtime.js';
import { TEMPORARY_SSH_DESCRIPTION } from '../../src/security.js';
import { SSH_TIMEOUT_MS } from '../../src/ssh.js';
import { waitFor } from '../../src/wait.js';
import { makeProject, sampleConfig } from './cli.js';
import { EventClock } from './event-clock.js';

const SECOND = 1_000;
/** The PostgreSQL versions the modelled RDS offers for new databases. */
export const MODELLED_POSTGRES_VERSIONS = ['15.10', '15.12', '16.6', '16.8', '16.9', '16.10', '17.4', '17.5', '17.6'];
const MINUTE = 60 * SECOND;

/**
 * The modelled durations, in virtual ms. Modelled, not measured: typical
 * figures from the AWS documentation and common experience, rounded.
 * - databaseAvailableMs: RDS PostgreSQL db.t3.micro, single-AZ, 20 GiB,
 *   encrypted: "creating" then "backing-up", typically 5–10 minutes → 10 min.
 * - instanceRunningMs: EC2 pending → running, typically well under a minute → 30 s.
 * - sshReadyMs: boot (cloud-init, sshd) after "running" before SSH answers → 45 s.
 * - imagePlaybookMs: playbooks/image.yml on a fresh t3.small (apt upgrade,
 *   packages, app dependencies) → 7 min.
 * - imageAvailableMs: CreateImage of a 16 GiB EBS-backed instance (reboot +
 *   snapshot) pending → available, typically ~5 minutes → 5 min.
 * - loadBalancerCreateMs: the classic ELB CreateLoadBalancer call → 5 s.
 * - appInServiceMs: an autoscaling instance launched → InService behind the
 *   ELB (boot, app start, 2 healthy checks 10 s apart) → 3 min, for an
 *   instance that has the app: launched from a release image (an image made
 *   from an instance that had it), or deployed to (site.yml/app.yml ran on
 *   it; then InService 2 checks = 20 s after the playbook at the earliest).
 *   Without the app it is never InService, and its group (health check type
 *   ELB) terminates and replaces it once its grace period has passed, as AWS does.
 * - deployPlaybookMs: playbooks/site.yml on the app servers → 2 min.
 * - preparePlaybookMs, preparedDeployPlaybookMs: the same first deploy in two
 *   parts, playbooks/prepare.yml (what needs no database, run while it is
 *   created) then site.yml on the prepared servers: deployPlaybookMs split in
 *   the proportions measured on the local cloud (see their values).
 * - instanceTerminatedMs: shutting-down → terminated (not in the brief's list;
 *   an assumption, typically tens of seconds) → 30 s.
 * - callMs: any other API call's round trip → 0.2 s.
 */
export interface ModelParameters {
  databaseAvailableMs: number;
  /** The last part of `databaseAvailableMs` spent "backing-up" (the first automated backup). */
  databaseBackingUpMs: number;
  instanceRunningMs: number;
  sshReadyMs: number;
  /** One SSH probe of the (modelled) waitForSsh. */
  sshProbeMs: number;
  imagePlaybookMs: number;
  imageAvailableMs: number;
  loadBalancerCreateMs: number;
  appInServiceMs: number;
  deployPlaybookMs: number;
  preparePlaybookMs: number;
  preparedDeployPlaybookMs: number;
  instanceTerminatedMs: number;
  callMs: number;
  /** Per-operation latency overrides, e.g. `{ CreateDBInstance: 2_000 }`. */
  latencyMs: Partial<Record<string, number>>;
}

/**
 * The shares of a first deploy (site.yml on a server launched from the base
 * image) that playbooks/prepare.yml takes, and that site.yml still takes on a
 * server prepare.yml ran on (its config path: the app's configuration, uWSGI's
 * start, the migrations): measured on the local cloud (the second environment of
 * bench/cloud-second-env.ts, its database kept creating for 90 s), 3 runs at
 * 2026-11-27 (commit e111855), medians: first deploys of 19.1, 19.3 and 19.5 s;
 * prepare.yml 16.0, 15.5 and 13.3 s (0.84, 0.80, 0.68); then the deploy 4.4, 3.7
 * and 3.5 s (0.23, 0.19, 0.18). The deploy shares the 2 cores with the release
 * build, which starts with it; BENCHMARKS.md gives each bench run's own.
 */
export const PREPARE_SHARE = 0.8;
export const PREPARED_DEPLOY_SHARE = 0.19;

/** The default model (see {@link ModelParameters} for the sources). */
export const DEFAULT_PARAMETERS: Readonly<ModelParameters> = Object.freeze({
  databaseAvailableMs: 10 * MINUTE,
  databaseBackingUpMs: 1 * MINUTE,
  instanceRunningMs: 30 * SECOND,
  sshReadyMs: 45 * SECOND,
  sshProbeMs: 200,
  imagePlaybookMs: 7 * MINUTE,
  imageAvailableMs: 5 * MINUTE,
  loadBalancerCreateMs: 5 * SECOND,
  appInServiceMs: 3 * MINUTE,
  deployPlaybookMs: 2 * MINUTE,
  preparePlaybookMs: PREPARE_SHARE * 2 * MINUTE,
  preparedDeployPlaybookMs: PREPARED_DEPLOY_SHARE * 2 * MINUTE,
  instanceTerminatedMs: 30 * SECOND,
  callMs: 200,
  latencyMs: {},
});

export type Service = 'ec2' | 'rds' | 'autoScaling' | 'elb';

/** One API call as the model saw it; times in virtual ms since the clock started. */
export interface CallRecord {
  service: Service;
  /** The operation name without `Command`: `CreateDBInstance`. */
  operation: string;
  input: unknown;
  start: number;
  /** When it answered (after its modelled latency); undefined while in flight. */
  end: number | undefined;
  /** The AWS error code it failed with, if it did. */
  error: string | undefined;
}

/** One modelled ansible-playbook run. */
export interface PlaybookRecord {
  playbooks: string[];
  hosts: string[];
  start: number;
  end: number | undefined;
}

/** One modelled wait for SSH. */
export interface SshWaitRecord {
  host: string;
  start: number;
  end: number | undefined;
}

/** The address the modelled caller-address lookup answers with. */
export const CALLER_CIDR = '203.0.113.7/32';

// ---- the model's state -------------------------------------------------------

interface ModelRule {
  protocol: string;
  fromPort: number | undefined;
  toPort: number | undefined;
  cidr?: string | undefined;
  groupId?: string | undefined;
  description: string | undefined;
}

interface ModelSecurityGroup {
  id: string;
  name: string;
  description: string;
  vpcId: string;
  tags: Tag[];
  rules: ModelRule[];
}

interface ModelImage {
  id: string;
  name: string;
  /** Owned by this account (`Owners: ['self']`). */
  own: boolean;
  rootDeviceName: string;
  snapshotIds: string[];
  tags: Tag[];
  availableAt: number;
  deregistered: boolean;
  createdAt: number;
  /** Made from an instance that had the app: instances launched from it serve from boot. */
  hasApp: boolean;
}

interface ModelInstance {
  id: string;
  imageId: string;
  instanceType: string;
  keyName: string | undefined;
  subnetId: string;
  availabilityZone: string;
  securityGroupIds: string[];
  tags: Tag[];
  launchedAt: number;
  terminatedAt: number | undefined;
  privateIp: string;
  publicIp: string;
  /** The autoscaling group that launched it, if any. */
  groupName: string | undefined;
  /** When the app answered on it (from its release image at boot, or a deploy's end); undefined: no app. */
  appAt: number | undefined;
  /** When playbooks/prepare.yml finished on it; undefined: it did not run. */
  preparedAt: number | undefined;
  /** Terminated by its group for failing the load balancer's health check. */
  unhealthy: boolean;
}

interface ModelDatabase {
  input: Omit<CreateDBInstanceCommandInput, 'MasterUserPassword'>;
  createdAt: number;
  availableAt: number;
}

interface ModelLoadBalancer {
  name: string;
  dnsName: string;
  listeners: Listener[];
  subnets: string[];
  securityGroups: string[];
  healthCheck: HealthCheck | undefined;
  attributes: LoadBalancerAttributes;
  createdAt: number;
  tags: Tag[];
}

interface ModelLaunchTemplate {
  id: string;
  name: string;
  data: RequestLaunchTemplateData;
  tags: Tag[];
  createdAt: number;
}

interface ModelGroup {
  name: string;
  templateName: string;
  version: string;
  minSize: number;
  maxSize: number;
  desired: number;
  subnetIds: string[];
  loadBalancerNames: string[];
  healthCheckType: string | undefined;
  gracePeriod: number | undefined;
  terminationPolicies: string[];
  tags: { Key: string; Value: string; PropagateAtLaunch: boolean }[];
  createdAt: number;
  instanceIds: string[];
  /** SuspendProcesses names in effect. */
  suspended: Set<string>;
}

/** The account as the model holds it; read freely in tests. */
export interface ModelState {
  vpcId: string;
  subnets: { id: string; availabilityZone: string }[];
  /** Instance types a zone does not offer (as t3 in one us-east-1 zone); every other pair is offered. */
  notOffered: { instanceType: string; availabilityZone: string }[];
  keyPairs: Set<string>;
  securityGroups: Map<string, ModelSecurityGroup>;
  images: Map<string, ModelImage>;
  instances: Map<string, ModelInstance>;
  dbSubnetGroups: Map<string, { subnetIds: string[]; tags: Tag[] }>;
  databases: Map<string, ModelDatabase>;
  loadBalancers: Map<string, ModelLoadBalancer>;
  launchTemplates: Map<string, ModelLaunchTemplate>;
  groups: Map<string, ModelGroup>;
  policies: Map<string, ScalingPolicy>;
}

/** An SDK-shaped service error: `errorCode()` reads `Code`, then `name`. */
function awsError(code: string, message: string, name = code): Error {
  return Object.assign(new Error(message), { name, Code: code, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** Whether `subject` passes EC2 `filters`; a filter name the model does not know is an error. */
function matchesFilters<T>(subject: T, filters: Filter[] | undefined, fields: Record<string, (subject: T) => (string | undefined)[]>, tags: (subject: T) => Tag[], operation: string): boolean {
  for (const filter of filters ?? []) {
    const name = filter.Name ?? '';
    const wanted = filter.Values ?? [];
    let have: (string | undefined)[];
    if (name.startsWith('tag:')) {
      const key = name.slice('tag:'.length);
      have = tags(subject).filter((tag) => tag.Key === key).map((tag) => tag.Value);
    } else {
      const field = fields[name];
      if (!field) throw new Error(`modelled AWS: filter '${name}' of ${operation} is not modelled`);
      have = field(subject);
    }
    if (!have.some((value) => value !== undefined && wanted.includes(value))) return false;
  }
  return true;
}

function tagsFromSpecifications(specifications: { ResourceType?: string | undefined; Tags?: { Key?: string | undefined; Value?: string | undefined }[] | undefined }[] | undefined, resourceType: string): Tag[] {
  return (specifications ?? [])
    .filter((specification) => specification.ResourceType === resourceType)
    .flatMap((specification) => specification.Tags ?? [])
    .map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' }));
}

// ---- the model ---------------------------------------------------------------

/** A stateful modelled AWS account on an {@link EventClock}. */
export class ModelledAws {
  readonly clock: EventClock;
  readonly parameters: ModelParameters;
  readonly state: ModelState;
  readonly clients: AwsClients;
  readonly mocks: {
    ec2: AwsClientStub<EC2Client>;
    rds: AwsClientStub<RDSClient>;
    autoScaling: AwsClientStub<AutoScalingClient>;
    elb: AwsClientStub<ElasticLoadBalancingClient>;
  };
  /** Every call, in the order it was made. */
  readonly calls: CallRecord[] = [];
  readonly playbookRuns: PlaybookRecord[] = [];
  readonly sshWaits: SshWaitRecord[] = [];
  /** When each runPlaybook call was made (before its gate), by its playbooks' names. */
  readonly playbookCalls: { playbooks: string[]; at: number }[] = [];
  /** Instance ids whose SSH refuses every connection (a fault the tests set). */
  readonly sshRefused = new Set<string>();
  #ids = 0;

  constructor(clock: EventClock, parameters: Partial<ModelParameters> = {}) {
    this.clock = clock;
    this.parameters = { ...DEFAULT_PARAMETERS, ...parameters, latencyMs: { ...DEFAULT_PARAMETERS.latencyMs, ...parameters.latencyMs } };
    this.state = {
      vpcId: 'vpc-0model',
      subnets: [
        { id: 'subnet-0model1a', availabilityZone: 'us-east-1a' },
        { id: 'subnet-0model1b', availabilityZone: 'us-east-1b' },
        { id: 'subnet-0model1c', availabilityZone: 'us-east-1c' },
      ],
      notOffered: [],
      keyPairs: new Set(),
      securityGroups: new Map(),
      images: new Map(),
      instances: new Map(),
      dbSubnetGroups: new Map(),
      databases: new Map(),
      loadBalancers: new Map(),
      launchTemplates: new Map(),
      groups: new Map(),
      policies: new Map(),
    };
    const settings = { region: 'us-east-1', credentials: { accessKeyId: 'AKIAMODELLED', secretAccessKey: 'modelled' }, maxAttempts: 1 };
    const ec2 = new EC2Client(settings);
    const rds = new RDSClient(settings);
    const autoScaling = new AutoScalingClient(settings);
    const elb = new ElasticLoadBalancingClient(settings);
    this.clients = {
      ec2,
      rds,
      autoScaling,
      elb,
      // The model has no certificates: a run that needs ACM fails loudly.
      acm: () => Promise.reject(new Error('the modelled account has no ACM')),
      destroy: () => [ec2, rds, autoScaling, elb].forEach((client) => client.destroy()),
    };
    this.mocks = { ec2: mockClient(ec2), rds: mockClient(rds), autoScaling: mockClient(autoScaling), elb: mockClient(elb) };
    this.#routeEc2();
    this.#routeRds();
    this.#routeAutoScaling();
    this.#routeElb();
  }

  /** Virtual ms since the clock started. */
  t(): number {
    return this.clock.elapsed();
  }

  // ---- seeding and reading ----

  /** Adds a key pair (the sample config's is added by {@link createModelledRun}). */
  addKeyPair(name: string): void {
    this.state.keyPairs.add(name);
  }

  /** Adds an available image: a public base AMI (`own: false`) or an earlier bake. */
  addImage(image: { id: string; name: string; own: boolean; rootDeviceName?: string; tags?: Tag[] }): void {
    this.state.images.set(image.id, {
      id: image.id,
      name: image.name,
      own: image.own,
      rootDeviceName: image.rootDeviceName ?? '/dev/sda1',
      snapshotIds: image.own ? [this.#id('snap')] : [],
      tags: image.tags ?? [],
      availableAt: -1,
      deregistered: false,
      createdAt: -1,
      hasApp: false,
    });
  }

  /** How many times `operation` (e.g. `CreateDBInstance`) was called. */
  count(operation: string): number {
    return this.calls.filter((call) => call.operation === operation).length;
  }

  /** Calls per operation. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const call of this.calls) counts[call.operation] = (counts[call.operation] ?? 0) + 1;
    return counts;
  }

  /** The first call of `operation`, if any. */
  firstCall(operation: string): CallRecord | undefined {
    return this.calls.find((call) => call.operation === operation);
  }

  /** The EC2 state of an instance now. */
  instanceState(instance: ModelInstance): 'pending' | 'running' | 'shutting-down' | 'terminated' {
    const now = this.t();
    if (instance.terminatedAt !== undefined) {
      return now >= instance.terminatedAt + this.parameters.instanceTerminatedMs ? 'terminated' : 'shutting-down';
    }
    return now >= this.#runningAt(instance) ? 'running' : 'pending';
  }

  /** Instances not terminated (pending, running or shutting down). */
  liveInstances(): ModelInstance[] {
    return [...this.state.instances.values()].filter((instance) => this.instanceState(instance) !== 'terminated');
  }

  /**
   * When the app first answered through the load balancer `loadBalancerName`:
   * the earliest time one of its groups' instances was InService and not yet
   * terminated (the bench's time to serving); undefined if none has been.
   */
  firstInServiceAt(loadBalancerName: string): number | undefined {
    const times = [...this.state.groups.values()]
      .filter((group) => group.loadBalancerNames.includes(loadBalancerName))
      .flatMap((group) => group.instanceIds.map((id) => this.#instance(id)))
      .flatMap((instance) => {
        const servesAt = this.#servesAt(instance);
        const stillThere = instance.terminatedAt === undefined || instance.terminatedAt > (servesAt ?? Infinity);
        return servesAt !== undefined && servesAt <= this.t() && stillThere ? [servesAt] : [];
      });
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** Every SSH rule argos marked temporary that is still open, with its group. */
  temporarySshRules(): { groupId: string; cidr: string | undefined }[] {
    return [...this.state.securityGroups.values()].flatMap((group) =>
      group.rules.filter((rule) => rule.description === TEMPORARY_SSH_DESCRIPTION).map((rule) => ({ groupId: group.id, cidr: rule.cidr })),
    );
  }

  /** Restores the clients' `send` and closes them. */
  restore(): void {
    for (const mock of Object.values(this.mocks)) mock.restore();
    this.clients.destroy();
  }

  // ---- the process side: SSH and Ansible ----

  /**
   * The Runtime of a modelled run: this clock, modelled SSH and Ansible, a fixed caller address,
   * and this process (the vars directories are real files: a made-up PID would let another
   * test's sweep take a live run's for a dead one's).
   */
  runtime(): Runtime {
    return {
      clock: this.clock,
      processes: localProcesses,
      findAnsiblePlaybook: async () => 'ansible-playbook [core 2.17.0] (modelled)',
      resolveSshCidr: async (given) => given ?? CALLER_CIDR,
      // A request to the local master's socket: no time on the modelled clock.
      closeSshMasters: async () => undefined,
      waitForSsh: async (host, _settings, wait) => {
        const record: SshWaitRecord = { host, start: this.t(), end: undefined };
        this.sshWaits.push(record);
        // The real wait's polling (3 s doubling to 10 s), against the modelled host.
        await waitFor(
          async () => {
            await this.clock.delay(this.parameters.sshProbeMs);
            const problem = this.#sshProblem(host);
            return problem === undefined ? { done: true, value: undefined } : { done: false, state: `SSH not ready: ${problem}` };
          },
          {
            what: `SSH on ${host} to answer`,
            timeoutMs: wait.timeoutMs ?? SSH_TIMEOUT_MS,
            intervalMs: 3_000,
            maxIntervalMs: 10_000,
            signal: wait.signal,
            clock: this.clock,
            onPoll: wait.onProgress,
          },
        );
        record.end = this.t();
      },
      runPlaybook: async (run) => {
        const playbooks = run.playbooks.map((path) => basename(path));
        this.playbookCalls.push({ playbooks, at: this.t() });
        // The real run starts at once and its gate play holds every task until the SSH wait has ended
        // (playbooks/gate.yml); its start-up takes no modelled time.
        if (run.gate) {
          try {
            await run.gate.opened;
          } catch {
            throw new ArgosError('INTERRUPTED', `stopped before ${playbooks.join(' ')} reached a host: the SSH wait did not succeed`);
          }
        }
        const hosts = parseInventoryHosts(await readFile(run.inventory, 'utf8'));
        const record: PlaybookRecord = { playbooks, hosts, start: this.t(), end: undefined };
        this.playbookRuns.push(record);
        // Like the real run: every host must answer SSH, else "unreachable".
        const unreachable = hosts.flatMap((host) => {
          const problem = this.#sshProblem(host);
          return problem === undefined ? [] : [`${host} (${problem})`];
        });
        if (unreachable.length > 0) {
          throw new ArgosError('FAILED', `ansible-playbook ${playbooks.join(' ')} failed (modelled): unreachable ${unreachable.join(', ')}`);
        }
        const ms = this.#playbookMs(playbooks, hosts);
        run.onLine(`PLAY [${playbooks.join(' ')}] on ${hosts.join(', ')} (modelled: ${ms / SECOND} s)`);
        const failing = playbooks.find((name) => this.#playbookFaults.get(name) === 0);
        for (const name of playbooks) {
          const passing = this.#playbookFaults.get(name);
          if (passing !== undefined && passing > 0) this.#playbookFaults.set(name, passing - 1);
        }
        try {
          await this.clock.sleep(failing ? ms / 2 : ms, run.signal);
        } catch {
          throw new ArgosError('INTERRUPTED', `interrupted while running ${playbooks.join(' ')}`);
        }
        record.end = this.t();
        if (!failing && playbooks.includes('prepare.yml')) {
          for (const host of hosts) {
            const instance = this.#instanceAt(host);
            if (instance) instance.preparedAt ??= this.t();
          }
        }
        if (!failing && playbooks.some((name) => name === 'site.yml' || name === 'app.yml')) {
          for (const host of hosts) {
            const instance = this.#instanceAt(host);
            if (instance) instance.appAt ??= this.t();
          }
        }
        if (failing) {
          this.#playbookFaults.delete(failing);
          throw new ArgosError('FAILED', `ansible-playbook ${playbooks.join(' ')} failed (injected fault): failed task [app : Render app_config.py] on ${hosts.join(', ')}`);
        }
      },
    };
  }

  /**
   * How long a run of `playbooks` on `hosts` takes: image.yml the bake's time,
   * prepare.yml the first part of a first deploy, and a deploy the rest of it
   * where every app server was prepared and has no app yet, else all of it.
   */
  #playbookMs(playbooks: readonly string[], hosts: readonly string[]): number {
    if (playbooks.includes('image.yml')) return this.parameters.imagePlaybookMs;
    if (playbooks.includes('prepare.yml')) return this.parameters.preparePlaybookMs;
    // The app servers (group instances) decide it; the broker, launched on its own, runs beside them. Only
    // their first deploy after prepare.yml is shorter: once it has put the app on them, a deploy is a deploy.
    const servers = hosts.map((host) => this.#instanceAt(host)).filter((instance) => instance?.groupName !== undefined);
    const prepared = servers.length > 0 && servers.every((instance) => instance?.preparedAt !== undefined && instance.appAt === undefined);
    return prepared ? this.parameters.preparedDeployPlaybookMs : this.parameters.deployPlaybookMs;
  }

  /** The running instance at `host` (its public name or address). */
  #instanceAt(host: string): ModelInstance | undefined {
    return [...this.state.instances.values()].find(
      (candidate) => this.instanceState(candidate) === 'running' && (publicDnsName(candidate) === host || candidate.publicIp === host),
    );
  }

  /** Why SSH on `host` would not answer now (undefined: it answers). */
  #sshProblem(host: string): string | undefined {
    const instance = this.#instanceAt(host);
    if (!instance) return `ssh: Could not resolve hostname ${host}`;
    const open = instance.securityGroupIds.some((groupId) =>
      this.state.securityGroups.get(groupId)?.rules.some((rule) => rule.protocol === 'tcp' && rule.fromPort === 22 && rule.cidr === CALLER_CIDR),
    );
    if (!open) return `ssh: connect to host ${host} port 22: Connection timed out (no SSH rule from ${CALLER_CIDR})`;
    if (this.sshRefused.has(instance.id)) return `ssh: connect to host ${host} port 22: Connection refused`;
    if (this.t() < this.#runningAt(instance) + this.parameters.sshReadyMs) return `ssh: connect to host ${host} port 22: Connection refused`;
    return undefined;
  }

  // ---- plumbing ----

  #id(prefix: string): string {
    this.#ids += 1;
    return `${prefix}-0${this.#ids.toString(16).padStart(16, '0')}`;
  }

  #runningAt(instance: ModelInstance): number {
    return instance.launchedAt + this.parameters.instanceRunningMs;
  }

  #latency(operation: string): number {
    return this.parameters.latencyMs[operation] ?? (operation === 'CreateLoadBalancer' ? this.parameters.loadBalancerCreateMs : this.parameters.callMs);
  }

  /** Records the call, waits its latency, then applies it to the model. */
  /** Operations that fail once, the next time they are called (fault injection). */
  readonly #faults = new Map<string, { error: Error; when: ((input: unknown) => boolean) | undefined }>();
  /** Playbooks (e.g. `image.yml`, `site.yml`) whose run fails half-way, with how many runs of it pass first. */
  readonly #playbookFaults = new Map<string, number>();

  /**
   * Makes the next call of `operation` (e.g. `CreateDBInstance`) fail with an
   * AWS error; with `when`, the next call whose input it accepts (e.g. the
   * workers' `CreateAutoScalingGroup`, not the app servers').
   */
  failOnce(operation: string, code = 'InternalFailure', when?: (input: unknown) => boolean): void {
    this.#faults.set(operation, { error: awsError(code, `${operation} failed (injected fault)`), when });
  }

  /**
   * Makes a run of `playbook` fail half-way, as a failing task would: the
   * next one, or the one after `passing` runs (commission runs site.yml
   * first on the release build, then on the app servers).
   */
  failPlaybookOnce(playbook: string, passing = 0): void {
    this.#playbookFaults.set(playbook, passing);
  }

  async #call<O>(service: Service, operation: string, input: unknown, apply: () => O): Promise<O & MetadataBearer> {
    const record: CallRecord = { service, operation, input, start: this.t(), end: undefined, error: undefined };
    this.calls.push(record);
    await this.clock.delay(this.#latency(operation));
    record.end = this.t();
    const fault = this.#faults.get(operation);
    if (fault && (fault.when?.(input) ?? true)) {
      this.#faults.delete(operation);
      record.error = (fault.error as { Code?: string }).Code;
      throw fault.error;
    }
    try {
      this.#reconcileGroups();
      return { $metadata: { httpStatusCode: 200, requestId: `model-${this.calls.length}` }, ...apply() };
    } catch (error) {
      record.error = (error as { Code?: string }).Code ?? (error as Error).name;
      throw error;
    }
  }

  /** Routes one command of one client to the model; anything not routed fails as "not modelled". */
  #router<TIn extends object, TOut extends MetadataBearer, TConf>(service: Service, stub: AwsStub<TIn, TOut, TConf>) {
    stub.send.callsFake((command: { constructor: { name: string } }) =>
      Promise.reject(new Error(`modelled AWS: ${service} ${command.constructor.name} is not modelled`)),
    );
    return <I extends TIn, O extends TOut>(command: new (input: I) => AwsCommand<I, O>, apply: (input: I) => Omit<O, '$metadata'>): void => {
      const operation = command.name.replace(/Command$/, '');
      stub.on(command).callsFake((input: I) => this.#call(service, operation, input, () => apply(input)));
    };
  }

  // ---- EC2 ----

  #routeEc2(): void {
    const route = this.#router('ec2', this.mocks.ec2);
    const { state } = this;
    route(DescribeAvailabilityZonesCommand, () => ({
      AvailabilityZones: state.subnets.map((subnet) => ({ ZoneName: subnet.availabilityZone, State: 'available', RegionName: 'us-east-1' })),
    }));
    route(DescribeInstanceTypeOfferingsCommand, (input) => {
      const filter = input.Filters?.[0];
      if (input.LocationType !== 'availability-zone' || filter?.Name !== 'instance-type' || input.Filters?.length !== 1) {
        throw new Error('modelled AWS: only DescribeInstanceTypeOfferings by zone with one instance-type filter is modelled');
      }
      const offerings = (filter.Values ?? []).flatMap((type) =>
        state.subnets
          .filter((subnet) => !state.notOffered.some((no) => no.instanceType === type && no.availabilityZone === subnet.availabilityZone))
          .map((subnet) => ({ InstanceType: type as never, LocationType: 'availability-zone' as const, Location: subnet.availabilityZone })),
      );
      return { InstanceTypeOfferings: offerings };
    });
    route(DescribeKeyPairsCommand, (input) => {
      const missing = (input.KeyNames ?? []).filter((name) => !state.keyPairs.has(name));
      if (missing.length > 0) throw awsError('InvalidKeyPair.NotFound', `The key pair '${missing[0]}' does not exist`);
      const names = input.KeyNames ?? [...state.keyPairs];
      return { KeyPairs: names.map((KeyName) => ({ KeyName, KeyPairId: `key-${KeyName}` })) };
    });
    route(DescribeVpcsCommand, (input) => {
      const vpc = { VpcId: state.vpcId, IsDefault: true, CidrBlock: '172.31.0.0/16', State: 'available' as const };
      const fields = { 'is-default': () => ['true'], 'vpc-id': () => [state.vpcId] };
      return { Vpcs: matchesFilters(vpc, input.Filters, fields, () => [], 'DescribeVpcs') ? [vpc] : [] };
    });
    route(DescribeSubnetsCommand, (input) => {
      const fields = { 'vpc-id': () => [state.vpcId], 'default-for-az': () => ['true'] };
      return {
        Subnets: state.subnets
          .filter((subnet) => matchesFilters(subnet, input.Filters, fields, () => [], 'DescribeSubnets'))
          .map((subnet) => ({ SubnetId: subnet.id, AvailabilityZone: subnet.availabilityZone, VpcId: state.vpcId, DefaultForAz: true, MapPublicIpOnLaunch: true })),
      };
    });

    // Security groups
    route(CreateSecurityGroupCommand, (input) => {
      const vpcId = input.VpcId ?? state.vpcId;
      if ([...state.securityGroups.values()].some((group) => group.name === input.GroupName && group.vpcId === vpcId)) {
        throw awsError('InvalidGroup.Duplicate', `The security group '${input.GroupName}' already exists for VPC '${vpcId}'`);
      }
      const id = this.#id('sg');
      state.securityGroups.set(id, {
        id,
        name: input.GroupName ?? '',
        description: input.Description ?? '',
        vpcId,
        tags: tagsFromSpecifications(input.TagSpecifications, 'security-group'),
        rules: [],
      });
      return { GroupId: id };
    });
    route(DescribeSecurityGroupsCommand, (input) => {
      const missing = (input.GroupIds ?? []).find((id) => !state.securityGroups.has(id));
      if (missing) throw awsError('InvalidGroup.NotFound', `The security group '${missing}' does not exist`);
      const fields: Record<string, (group: ModelSecurityGroup) => string[]> = {
        'vpc-id': (group) => [group.vpcId],
        'group-name': (group) => [group.name],
        'group-id': (group) => [group.id],
      };
      return {
        SecurityGroups: [...state.securityGroups.values()]
          .filter((group) => input.GroupIds === undefined || input.GroupIds.includes(group.id))
          .filter((group) => matchesFilters(group, input.Filters, fields, (g) => g.tags, 'DescribeSecurityGroups'))
          .map((group) => toSdkSecurityGroup(group)),
      };
    });
    route(AuthorizeSecurityGroupIngressCommand, (input) => {
      const group = this.#group(input.GroupId);
      const rules = toModelRules(input.IpPermissions);
      if (rules.some((rule) => group.rules.some((have) => sameModelRule(have, rule)))) {
        throw awsError('InvalidPermission.Duplicate', 'the specified rule already exists');
      }
      for (const rule of rules) {
        if (rule.groupId && !state.securityGroups.has(rule.groupId)) throw awsError('InvalidGroup.NotFound', `The security group '${rule.groupId}' does not exist`);
      }
      group.rules.push(...rules);
      return { Return: true };
    });
    route(RevokeSecurityGroupIngressCommand, (input) => {
      const group = this.#group(input.GroupId);
      const rules = toModelRules(input.IpPermissions);
      const kept = group.rules.filter((have) => !rules.some((rule) => sameModelRule(have, rule)));
      if (kept.length === group.rules.length) throw awsError('InvalidPermission.NotFound', 'the specified rule does not exist in this security group');
      group.rules = kept;
      return { Return: true };
    });
    route(DeleteSecurityGroupCommand, (input) => {
      const group = this.#group(input.GroupId);
      const holder =
        this.liveInstances().find((instance) => instance.securityGroupIds.includes(group.id))?.id ??
        [...state.loadBalancers.values()].find((lb) => lb.securityGroups.includes(group.id))?.name ??
        [...state.databases.values()].find((db) => db.input.VpcSecurityGroupIds?.includes(group.id))?.input.DBInstanceIdentifier ??
        [...state.securityGroups.values()].find((other) => other.rules.some((rule) => rule.groupId === group.id))?.id;
      if (holder) throw awsError('DependencyViolation', `resource ${group.id} has a dependent object (${holder})`);
      state.securityGroups.delete(group.id);
      return { Return: true, GroupId: group.id };
    });

    // Images
    route(DescribeImagesCommand, (input) => {
      const missing = (input.ImageIds ?? []).find((id) => !state.images.has(id));
      if (missing) throw awsError('InvalidAMIID.NotFound', `The image id '[${missing}]' does not exist`);
      const fields: Record<string, (image: ModelImage) => string[]> = { name: (image) => [image.name], 'image-id': (image) => [image.id], state: (image) => [this.#imageState(image)] };
      return {
        Images: [...state.images.values()]
          .filter((image) => input.ImageIds === undefined || input.ImageIds.includes(image.id))
          .filter((image) => !(input.Owners ?? []).includes('self') || image.own)
          .filter((image) => !image.deregistered || input.ImageIds !== undefined)
          .filter((image) => matchesFilters(image, input.Filters, fields, (i) => i.tags, 'DescribeImages'))
          .map((image) => this.#toSdkImage(image)),
      };
    });
    route(CreateImageCommand, (input) => {
      const instance = this.#instance(input.InstanceId);
      if (!['running', 'stopped'].includes(this.instanceState(instance))) {
        throw awsError('IncorrectInstanceState', `The instance '${instance.id}' is not in a state from which it can be imaged`);
      }
      if ([...state.images.values()].some((image) => image.own && image.name === input.Name && !image.deregistered)) {
        throw awsError('InvalidAMIName.Duplicate', `AMI name ${input.Name} is already in use by AMI`);
      }
      const id = this.#id('ami');
      const source = state.images.get(instance.imageId);
      state.images.set(id, {
        id,
        name: input.Name ?? '',
        own: true,
        rootDeviceName: source?.rootDeviceName ?? '/dev/sda1',
        snapshotIds: [this.#id('snap')],
        tags: tagsFromSpecifications(input.TagSpecifications, 'image'),
        availableAt: this.t() + this.parameters.imageAvailableMs,
        deregistered: false,
        createdAt: this.t(),
        hasApp: instance.appAt !== undefined && instance.appAt <= this.t(),
      });
      return { ImageId: id };
    });
    route(DeregisterImageCommand, (input) => {
      const image = input.ImageId === undefined ? undefined : state.images.get(input.ImageId);
      if (!image || image.deregistered) throw awsError('InvalidAMIID.NotFound', `The image id '[${input.ImageId}]' does not exist`);
      image.deregistered = true;
      return {};
    });
    route(DeleteSnapshotCommand, (input) => {
      const holder = [...state.images.values()].find((image) => !image.deregistered && image.snapshotIds.includes(input.SnapshotId ?? ''));
      if (holder) throw awsError('InvalidSnapshot.InUse', `The snapshot ${input.SnapshotId} is currently in use by ${holder.id}`);
      for (const image of state.images.values()) image.snapshotIds = image.snapshotIds.filter((id) => id !== input.SnapshotId || !image.deregistered);
      return {};
    });
    route(CreateTagsCommand, (input) => {
      // Images keep their tags (status reads them); other resources' tags are not read back.
      for (const id of input.Resources ?? []) {
        const image = state.images.get(id);
        if (image) image.tags = mergeTags(image.tags, (input.Tags ?? []).map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' })));
      }
      return {};
    });

    // Instances
    route(RunInstancesCommand, (input) => {
      const image = this.#availableImage(input.ImageId);
      const subnet = state.subnets.find((candidate) => candidate.id === input.SubnetId) ?? state.subnets[0];
      if (!subnet) throw awsError('InvalidSubnetID.NotFound', `The subnet '${input.SubnetId}' does not exist`);
      const count = input.MinCount ?? 1;
      const launched = Array.from({ length: count }, () =>
        this.#launch({
          imageId: image.id,
          instanceType: String(input.InstanceType ?? 't3.micro'),
          keyName: input.KeyName,
          subnet,
          securityGroupIds: input.SecurityGroupIds ?? [],
          tags: tagsFromSpecifications(input.TagSpecifications, 'instance'),
          groupName: undefined,
        }),
      );
      return { ReservationId: this.#id('r'), Instances: launched.map((instance) => this.#toSdkInstance(instance)) };
    });
    route(DescribeInstancesCommand, (input) => {
      const missing = (input.InstanceIds ?? []).find((id) => !state.instances.has(id));
      if (missing) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${missing}' does not exist`);
      const fields: Record<string, (instance: ModelInstance) => string[]> = {
        'instance-id': (instance) => [instance.id],
        'instance-state-name': (instance) => [this.instanceState(instance)],
        'vpc-id': () => [state.vpcId],
      };
      const found = [...state.instances.values()]
        .filter((instance) => input.InstanceIds === undefined || input.InstanceIds.includes(instance.id))
        .filter((instance) => matchesFilters(instance, input.Filters, fields, (i) => i.tags, 'DescribeInstances'));
      return { Reservations: found.length > 0 ? [{ ReservationId: 'r-model', Instances: found.map((instance) => this.#toSdkInstance(instance)) }] : [] };
    });
    route(TerminateInstancesCommand, (input) => {
      const instances = (input.InstanceIds ?? []).map((id) => this.#instance(id));
      return {
        TerminatingInstances: instances.map((instance) => {
          const previous = this.instanceState(instance);
          instance.terminatedAt ??= this.t();
          return { InstanceId: instance.id, PreviousState: { Name: previous }, CurrentState: { Name: this.instanceState(instance) } };
        }),
      };
    });

    // Launch templates
    route(CreateLaunchTemplateCommand, (input) => {
      const name = input.LaunchTemplateName ?? '';
      if (state.launchTemplates.has(name)) {
        throw awsError('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use: ${name}`);
      }
      const data = input.LaunchTemplateData ?? {};
      this.#availableImage(data.ImageId);
      const template: ModelLaunchTemplate = { id: this.#id('lt'), name, data, tags: tagsFromSpecifications(input.TagSpecifications, 'launch-template'), createdAt: this.t() };
      state.launchTemplates.set(name, template);
      return { LaunchTemplate: this.#toSdkTemplate(template) };
    });
    route(DescribeLaunchTemplatesCommand, (input) => {
      const missing = (input.LaunchTemplateNames ?? []).find((name) => !state.launchTemplates.has(name));
      if (missing) throw awsError('InvalidLaunchTemplateName.NotFoundException', `At least one of the launch templates specified in the request does not exist: ${missing}`);
      const fields: Record<string, (template: ModelLaunchTemplate) => string[]> = {
        'launch-template-name': (template) => [template.name],
      };
      return {
        LaunchTemplates: [...state.launchTemplates.values()]
          .filter((template) => input.LaunchTemplateNames === undefined || input.LaunchTemplateNames.includes(template.name))
          .filter((template) => matchesFilters(template, input.Filters, fields, (t) => t.tags, 'DescribeLaunchTemplates'))
          .map((template) => this.#toSdkTemplate(template)),
      };
    });
    route(DescribeLaunchTemplateVersionsCommand, (input) => {
      const template = [...state.launchTemplates.values()].find((t) => t.name === input.LaunchTemplateName || t.id === input.LaunchTemplateId);
      if (!template) throw awsError('InvalidLaunchTemplateName.NotFoundException', 'The specified launch template does not exist');
      return {
        LaunchTemplateVersions: [
          {
            LaunchTemplateId: template.id,
            LaunchTemplateName: template.name,
            VersionNumber: 1,
            DefaultVersion: true,
            LaunchTemplateData: template.data as never,
          },
        ],
      };
    });
    route(DeleteLaunchTemplateCommand, (input) => {
      const template = [...state.launchTemplates.values()].find((t) => t.name === input.LaunchTemplateName || t.id === input.LaunchTemplateId);
      if (!template) throw awsError('InvalidLaunchTemplateId.NotFound', 'The specified launch template does not exist');
      state.launchTemplates.delete(template.name);
      return { LaunchTemplate: this.#toSdkTemplate(template) };
    });
  }

  #group(groupId: string | undefined): ModelSecurityGroup {
    const group = groupId === undefined ? undefined : this.state.securityGroups.get(groupId);
    if (!group) throw awsError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    return group;
  }

  #instance(instanceId: string | undefined): ModelInstance {
    const instance = instanceId === undefined ? undefined : this.state.instances.get(instanceId);
    if (!instance) throw awsError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return instance;
  }

  #imageState(image: ModelImage): 'pending' | 'available' | 'deregistered' {
    if (image.deregistered) return 'deregistered';
    return this.t() >= image.availableAt ? 'available' : 'pending';
  }

  /** An image that instances can launch from now. */
  #availableImage(imageId: string | undefined): ModelImage {
    const image = imageId === undefined ? undefined : this.state.images.get(imageId);
    if (!image || image.deregistered) throw awsError('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
    if (this.#imageState(image) !== 'available') throw awsError('InvalidAMIID.Unavailable', `The image '${imageId}' is ${this.#imageState(image)}`);
    return image;
  }

  #launch(spec: { imageId: string; instanceType: string; keyName: string | undefined; subnet: { id: string; availabilityZone: string }; securityGroupIds: string[]; tags: Tag[]; groupName: string | undefined }): ModelInstance {
    const id = this.#id('i');
    const n = this.state.instances.size + 1;
    const instance: ModelInstance = {
      id,
      imageId: spec.imageId,
      instanceType: spec.instanceType,
      keyName: spec.keyName,
      subnetId: spec.subnet.id,
      availabilityZone: spec.subnet.availabilityZone,
      securityGroupIds: spec.securityGroupIds,
      tags: spec.tags,
      launchedAt: this.t(),
      terminatedAt: undefined,
      privateIp: `172.31.${Math.floor(n / 250)}.${(n % 250) + 4}`,
      publicIp: `198.51.100.${n % 250}`,
      groupName: spec.groupName,
      // An instance from an image that holds the app serves once booted (services enabled in the image).
      appAt: this.state.images.get(spec.imageId)?.hasApp ? this.t() + this.parameters.instanceRunningMs + this.parameters.sshReadyMs : undefined,
      preparedAt: undefined,
      unhealthy: false,
    };
    this.state.instances.set(id, instance);
    return instance;
  }

  #toSdkInstance(instance: ModelInstance): Instance {
    const state = this.instanceState(instance);
    const running = state === 'running';
    return {
      InstanceId: instance.id,
      ImageId: instance.imageId,
      InstanceType: instance.instanceType as Instance['InstanceType'],
      KeyName: instance.keyName,
      State: { Name: state, Code: { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 }[state] },
      LaunchTime: new Date(this.clock.start + instance.launchedAt),
      Placement: { AvailabilityZone: instance.availabilityZone },
      SubnetId: instance.subnetId,
      VpcId: this.state.vpcId,
      PrivateIpAddress: state === 'terminated' ? undefined : instance.privateIp,
      PrivateDnsName: state === 'terminated' ? '' : `ip-${instance.privateIp.replaceAll('.', '-')}.ec2.internal`,
      // EC2 shows the public name only once the instance runs.
      PublicIpAddress: running ? instance.publicIp : undefined,
      PublicDnsName: running ? publicDnsName(instance) : '',
      SecurityGroups: instance.securityGroupIds.map((GroupId) => ({ GroupId, GroupName: this.state.securityGroups.get(GroupId)?.name })),
      Tags: instance.tags,
    };
  }

  #toSdkImage(image: ModelImage): Image {
    return {
      ImageId: image.id,
      Name: image.name,
      State: this.#imageState(image),
      OwnerId: image.own ? '123456789012' : '099720109477',
      RootDeviceName: image.rootDeviceName,
      RootDeviceType: 'ebs',
      BlockDeviceMappings: image.snapshotIds.map((SnapshotId) => ({ DeviceName: image.rootDeviceName, Ebs: { SnapshotId, VolumeSize: 16, VolumeType: 'gp3' } })),
      Tags: image.tags,
      CreationDate: image.createdAt >= 0 ? new Date(this.clock.start + image.createdAt).toISOString() : undefined,
    };
  }

  #toSdkTemplate(template: ModelLaunchTemplate): LaunchTemplate {
    return {
      LaunchTemplateId: template.id,
      LaunchTemplateName: template.name,
      DefaultVersionNumber: 1,
      LatestVersionNumber: 1,
      CreateTime: new Date(this.clock.start + template.createdAt),
      Tags: template.tags,
    };
  }

  // ---- RDS ----

  #routeRds(): void {
    const route = this.#router('rds', this.mocks.rds);
    const { state } = this;
    route(DescribeDBSubnetGroupsCommand, (input) => {
      const name = input.DBSubnetGroupName;
      if (name !== undefined && !state.dbSubnetGroups.has(name)) {
        throw awsError('DBSubnetGroupNotFoundFault', `DBSubnetGroup ${name} not found.`);
      }
      const names = name === undefined ? [...state.dbSubnetGroups.keys()] : [name];
      return {
        DBSubnetGroups: names.map((DBSubnetGroupName) => ({
          DBSubnetGroupName,
          DBSubnetGroupArn: `arn:aws:rds:us-east-1:123456789012:subgrp:${DBSubnetGroupName}`,
          VpcId: state.vpcId,
          SubnetGroupStatus: 'Complete',
          Subnets: (state.dbSubnetGroups.get(DBSubnetGroupName)?.subnetIds ?? []).map((SubnetIdentifier) => ({ SubnetIdentifier })),
        })),
      };
    });
    route(ListTagsForResourceCommand, (input) => {
      const name = /:subgrp:(.+)$/.exec(input.ResourceName ?? '')?.[1] ?? '';
      return { TagList: state.dbSubnetGroups.get(name)?.tags ?? [] };
    });
    route(CreateDBSubnetGroupCommand, (input) => {
      const name = input.DBSubnetGroupName ?? '';
      if (state.dbSubnetGroups.has(name)) throw awsError('DBSubnetGroupAlreadyExists', `DB subnet group ${name} already exists`, 'DBSubnetGroupAlreadyExistsFault');
      state.dbSubnetGroups.set(name, { subnetIds: input.SubnetIds ?? [], tags: (input.Tags ?? []).map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' })) });
      return { DBSubnetGroup: { DBSubnetGroupName: name, VpcId: state.vpcId, SubnetGroupStatus: 'Complete' } };
    });
    route(CreateDBInstanceCommand, (input) => {
      const id = input.DBInstanceIdentifier ?? '';
      if (state.databases.has(id)) throw awsError('DBInstanceAlreadyExists', `DB instance already exists`, 'DBInstanceAlreadyExistsFault');
      if (input.DBSubnetGroupName !== undefined && !state.dbSubnetGroups.has(input.DBSubnetGroupName)) {
        throw awsError('DBSubnetGroupNotFoundFault', `DBSubnetGroup ${input.DBSubnetGroupName} not found.`);
      }
      if (!input.MasterUserPassword) throw awsError('InvalidParameterValue', 'The parameter MasterUserPassword must be provided');
      for (const groupId of input.VpcSecurityGroupIds ?? []) this.#group(groupId);
      const { MasterUserPassword: _secret, ...kept } = input;
      const database: ModelDatabase = { input: kept, createdAt: this.t(), availableAt: this.t() + this.parameters.databaseAvailableMs };
      state.databases.set(id, database);
      return { DBInstance: this.#toSdkDatabase(database) };
    });
    // The PostgreSQL versions RDS offers for new databases (a sample: 16.4 is retired).
    route(DescribeDBEngineVersionsCommand, (input) => ({
      DBEngineVersions: MODELLED_POSTGRES_VERSIONS.filter(
        (version) =>
          (input.EngineVersion === undefined || version === input.EngineVersion) &&
          (input.DBParameterGroupFamily === undefined || `postgres${version.split('.')[0]}` === input.DBParameterGroupFamily),
      ).map((EngineVersion) => ({ Engine: 'postgres', EngineVersion, DBParameterGroupFamily: `postgres${EngineVersion.split('.')[0]}` })),
    }));
    // No snapshots are made on the modelled path (status reads the final ones).
    route(DescribeDBSnapshotsCommand, () => ({ DBSnapshots: [] }));
    route(DescribeDBInstancesCommand, (input) => {
      const id = input.DBInstanceIdentifier;
      if (id !== undefined && !state.databases.has(id)) throw awsError('DBInstanceNotFound', `DBInstance ${id} not found.`, 'DBInstanceNotFoundFault');
      const found = [...state.databases.values()].filter((db) => id === undefined || db.input.DBInstanceIdentifier === id);
      return { DBInstances: found.map((db) => this.#toSdkDatabase(db)) };
    });
  }

  #databaseStatus(database: ModelDatabase): string {
    const now = this.t();
    if (now >= database.availableAt) return 'available';
    return now >= database.availableAt - this.parameters.databaseBackingUpMs ? 'backing-up' : 'creating';
  }

  #toSdkDatabase(database: ModelDatabase): DBInstance {
    const status = this.#databaseStatus(database);
    const { input } = database;
    // RDS publishes the endpoint once the instance is first available.
    const reachable = status === 'available' || status === 'backing-up';
    return {
      DBInstanceIdentifier: input.DBInstanceIdentifier,
      DBInstanceClass: input.DBInstanceClass,
      Engine: input.Engine,
      EngineVersion: input.EngineVersion,
      DBInstanceStatus: status,
      DBName: input.DBName,
      MasterUsername: input.MasterUsername,
      AllocatedStorage: input.AllocatedStorage,
      MultiAZ: input.MultiAZ,
      StorageEncrypted: input.StorageEncrypted,
      PubliclyAccessible: input.PubliclyAccessible,
      DeletionProtection: input.DeletionProtection,
      Endpoint: reachable ? { Address: `${input.DBInstanceIdentifier}.cmodel0000.us-east-1.rds.amazonaws.com`, Port: 5432 } : undefined,
      VpcSecurityGroups: (input.VpcSecurityGroupIds ?? []).map((VpcSecurityGroupId) => ({ VpcSecurityGroupId, Status: 'active' })),
      TagList: input.Tags,
    };
  }

  // ---- classic ELB ----

  #routeElb(): void {
    const route = this.#router('elb', this.mocks.elb);
    const { state } = this;
    const loadBalancer = (name: string | undefined): ModelLoadBalancer => {
      const found = name === undefined ? undefined : state.loadBalancers.get(name);
      if (!found) throw awsError('LoadBalancerNotFound', `There is no ACTIVE Load Balancer named '${name}'`, 'AccessPointNotFoundException');
      return found;
    };
    route(DescribeLoadBalancersCommand, (input) => {
      const names = input.LoadBalancerNames ?? [...state.loadBalancers.keys()];
      return { LoadBalancerDescriptions: names.map((name) => this.#toSdkLoadBalancer(loadBalancer(name))) };
    });
    route(CreateLoadBalancerCommand, (input) => {
      const name = input.LoadBalancerName ?? '';
      if (state.loadBalancers.has(name)) throw awsError('DuplicateLoadBalancerName', `Load Balancer named '${name}' already exists`, 'DuplicateAccessPointNameException');
      for (const groupId of input.SecurityGroups ?? []) this.#group(groupId);
      const created: ModelLoadBalancer = {
        name,
        dnsName: `${name}-1234567890.us-east-1.elb.amazonaws.com`,
        listeners: input.Listeners ?? [],
        subnets: input.Subnets ?? [],
        securityGroups: input.SecurityGroups ?? [],
        // AWS's default health check until ConfigureHealthCheck.
        healthCheck: { Target: `TCP:${input.Listeners?.[0]?.InstancePort ?? 80}`, Interval: 30, Timeout: 5, HealthyThreshold: 10, UnhealthyThreshold: 2 },
        attributes: { CrossZoneLoadBalancing: { Enabled: false }, ConnectionDraining: { Enabled: false, Timeout: 300 } },
        createdAt: this.t(),
        tags: (input.Tags ?? []).map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '' })),
      };
      state.loadBalancers.set(name, created);
      return { DNSName: created.dnsName };
    });
    route(DescribeTagsCommand, (input) => ({
      TagDescriptions: (input.LoadBalancerNames ?? []).map((name) => ({ LoadBalancerName: name, Tags: loadBalancer(name).tags })),
    }));
    route(ConfigureHealthCheckCommand, (input) => {
      const found = loadBalancer(input.LoadBalancerName);
      found.healthCheck = input.HealthCheck;
      return { HealthCheck: input.HealthCheck };
    });
    route(DescribeLoadBalancerAttributesCommand, (input) => ({ LoadBalancerAttributes: loadBalancer(input.LoadBalancerName).attributes }));
    route(ModifyLoadBalancerAttributesCommand, (input) => {
      const found = loadBalancer(input.LoadBalancerName);
      found.attributes = { ...found.attributes, ...input.LoadBalancerAttributes };
      return { LoadBalancerName: found.name, LoadBalancerAttributes: found.attributes };
    });
    route(DescribeInstanceHealthCommand, (input) => {
      const found = loadBalancer(input.LoadBalancerName);
      const registered = [...state.groups.values()]
        .filter((group) => group.loadBalancerNames.includes(found.name))
        .flatMap((group) => group.instanceIds)
        .map((id) => this.#instance(id))
        .filter((instance) => this.instanceState(instance) !== 'terminated');
      return { InstanceStates: registered.map((instance) => this.#elbHealth(instance)) };
    });
  }

  /** InService: running, the app on it, and both the modelled boot and two healthy checks after the app passed. */
  #servesAt(instance: ModelInstance): number | undefined {
    if (instance.appAt === undefined) return undefined;
    return Math.max(instance.launchedAt + this.parameters.appInServiceMs, instance.appAt + 2 * 10 * SECOND);
  }

  #elbHealth(instance: ModelInstance): InstanceState {
    const servesAt = this.#servesAt(instance);
    if (this.instanceState(instance) === 'running' && servesAt !== undefined && this.t() >= servesAt) {
      return { InstanceId: instance.id, State: 'InService', ReasonCode: 'N/A', Description: 'N/A' };
    }
    return {
      InstanceId: instance.id,
      State: 'OutOfService',
      ReasonCode: 'Instance',
      Description: this.instanceState(instance) === 'running'
        ? 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.'
        : 'Instance registration is still in progress.',
    };
  }

  #toSdkLoadBalancer(lb: ModelLoadBalancer): LoadBalancerDescription {
    const instances = [...this.state.groups.values()]
      .filter((group) => group.loadBalancerNames.includes(lb.name))
      .flatMap((group) => group.instanceIds);
    return {
      LoadBalancerName: lb.name,
      DNSName: lb.dnsName,
      Scheme: 'internet-facing',
      ListenerDescriptions: lb.listeners.map((Listener) => ({ Listener, PolicyNames: [] })),
      HealthCheck: lb.healthCheck,
      Subnets: lb.subnets,
      SecurityGroups: lb.securityGroups,
      VPCId: this.state.vpcId,
      AvailabilityZones: this.state.subnets.filter((subnet) => lb.subnets.includes(subnet.id)).map((subnet) => subnet.availabilityZone),
      Instances: instances.map((InstanceId) => ({ InstanceId })),
      CreatedTime: new Date(this.clock.start + lb.createdAt),
    };
  }

  // ---- Auto Scaling ----

  #routeAutoScaling(): void {
    const route = this.#router('autoScaling', this.mocks.autoScaling);
    const { state } = this;
    route(DescribeAutoScalingGroupsCommand, (input) => ({
      AutoScalingGroups: [...state.groups.values()]
        .filter((group) => input.AutoScalingGroupNames === undefined || input.AutoScalingGroupNames.includes(group.name))
        .map((group) => this.#toSdkGroup(group)),
    }));
    route(CreateAutoScalingGroupCommand, (input) => {
      const name = input.AutoScalingGroupName ?? '';
      if (state.groups.has(name)) throw awsError('AlreadyExists', `AutoScalingGroup by this name already exists - A group with the name ${name} already exists`, 'AlreadyExistsFault');
      const templateName = input.LaunchTemplate?.LaunchTemplateName ?? '';
      const template = state.launchTemplates.get(templateName);
      if (!template) throw awsError('ValidationError', `You must use a valid fully-formed launch template. The specified launch template, with template name ${templateName}, does not exist.`);
      for (const lbName of input.LoadBalancerNames ?? []) {
        if (!state.loadBalancers.has(lbName)) throw awsError('ValidationError', `Provided Load Balancers may not be valid. Please ensure they exist and try again. (${lbName})`);
      }
      const group: ModelGroup = {
        name,
        templateName,
        version: input.LaunchTemplate?.Version ?? '$Default',
        minSize: input.MinSize ?? 0,
        maxSize: input.MaxSize ?? 0,
        desired: input.DesiredCapacity ?? input.MinSize ?? 0,
        subnetIds: (input.VPCZoneIdentifier ?? '').split(',').filter((id) => id !== ''),
        loadBalancerNames: input.LoadBalancerNames ?? [],
        healthCheckType: input.HealthCheckType,
        gracePeriod: input.HealthCheckGracePeriod,
        terminationPolicies: input.TerminationPolicies ?? ['Default'],
        tags: (input.Tags ?? []).map((tag) => ({ Key: tag.Key ?? '', Value: tag.Value ?? '', PropagateAtLaunch: tag.PropagateAtLaunch ?? false })),
        createdAt: this.t(),
        instanceIds: [],
        suspended: new Set(),
      };
      state.groups.set(name, group);
      // The group launches its desired capacity at once, spread over its subnets.
      for (let index = 0; index < group.desired; index += 1) this.#launchInGroup(group, template, index);
      return {};
    });
    // Suspended HealthCheck or ReplaceUnhealthy: the group neither marks nor replaces unhealthy instances
    // (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html).
    const suspension = (suspend: boolean) => (input: { AutoScalingGroupName?: string | undefined; ScalingProcesses?: string[] | undefined }) => {
      const group = state.groups.get(input.AutoScalingGroupName ?? '');
      if (!group) throw awsError('ValidationError', `AutoScalingGroup name not found - ${input.AutoScalingGroupName}`);
      for (const process of input.ScalingProcesses ?? []) {
        if (suspend) group.suspended.add(process);
        else group.suspended.delete(process);
      }
      return {};
    };
    route(CreateOrUpdateTagsCommand, (input) => {
      for (const tag of input.Tags ?? []) {
        const group = state.groups.get(tag.ResourceId ?? '');
        if (!group) throw awsError('ValidationError', `AutoScalingGroup name not found - ${tag.ResourceId}`);
        group.tags = [...group.tags.filter((kept) => kept.Key !== tag.Key), { Key: tag.Key ?? '', Value: tag.Value ?? '', PropagateAtLaunch: tag.PropagateAtLaunch ?? false }];
      }
      return {};
    });
    route(DeleteTagsCommand, (input) => {
      for (const tag of input.Tags ?? []) {
        const group = state.groups.get(tag.ResourceId ?? '');
        if (group) group.tags = group.tags.filter((kept) => kept.Key !== tag.Key);
      }
      return {};
    });
    route(SuspendProcessesCommand, suspension(true));
    route(ResumeProcessesCommand, suspension(false));
    route(UpdateAutoScalingGroupCommand, (input) => {
      const group = state.groups.get(input.AutoScalingGroupName ?? '');
      if (!group) throw awsError('ValidationError', `AutoScalingGroup name not found - ${input.AutoScalingGroupName}`);
      if (input.LaunchTemplate?.LaunchTemplateName !== undefined) {
        if (!state.launchTemplates.has(input.LaunchTemplate.LaunchTemplateName)) throw awsError('ValidationError', `launch template ${input.LaunchTemplate.LaunchTemplateName} does not exist`);
        group.templateName = input.LaunchTemplate.LaunchTemplateName;
      }
      group.minSize = input.MinSize ?? group.minSize;
      group.maxSize = input.MaxSize ?? group.maxSize;
      group.desired = input.DesiredCapacity ?? Math.min(Math.max(group.desired, group.minSize), group.maxSize);
      this.#fillGroup(group);
      return {};
    });
    route(TerminateInstanceInAutoScalingGroupCommand, (input) => {
      const instance = this.#instance(input.InstanceId);
      const group = instance.groupName === undefined ? undefined : state.groups.get(instance.groupName);
      // One the group already terminates (e.g. as unhealthy) is no longer one it manages.
      if (!group || instance.terminatedAt !== undefined) throw awsError('ValidationError', `Instance Id not found - No managed instance found for instance ID: ${input.InstanceId}`);
      instance.terminatedAt ??= this.t();
      if (input.ShouldDecrementDesiredCapacity) group.desired = Math.max(group.desired - 1, group.minSize);
      this.#fillGroup(group);
      return { Activity: { ActivityId: this.#id('act'), AutoScalingGroupName: group.name, Cause: 'terminated by request', StartTime: new Date(this.clock.start + this.t()), StatusCode: 'InProgress' as const } };
    });
    route(DescribePoliciesCommand, (input) => ({
      ScalingPolicies: [...state.policies.values()].filter(
        (policy) =>
          (input.AutoScalingGroupName === undefined || policy.AutoScalingGroupName === input.AutoScalingGroupName) &&
          (input.PolicyNames === undefined || input.PolicyNames.includes(policy.PolicyName ?? '')),
      ),
    }));
    route(PutScalingPolicyCommand, (input) => {
      if (!state.groups.has(input.AutoScalingGroupName ?? '')) throw awsError('ValidationError', `AutoScalingGroup name not found - ${input.AutoScalingGroupName}`);
      const arn = `arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:model:autoScalingGroupName/${input.AutoScalingGroupName}:policyName/${input.PolicyName}`;
      state.policies.set(input.PolicyName ?? '', {
        AutoScalingGroupName: input.AutoScalingGroupName,
        PolicyName: input.PolicyName,
        PolicyARN: arn,
        PolicyType: input.PolicyType,
        TargetTrackingConfiguration: input.TargetTrackingConfiguration,
        Enabled: true,
      });
      return { PolicyARN: arn, Alarms: [] };
    });
  }

  /**
   * What a group does by itself between calls: with health check type ELB,
   * an instance whose grace period has passed and that the load balancer
   * does not report InService is marked unhealthy and terminated; then the
   * group launches instances until it holds its desired capacity. (Applied at
   * each call, so at the virtual time of the call after it was due.)
   */
  #reconcileGroups(): void {
    for (const group of this.state.groups.values()) {
      for (const instance of group.instanceIds.map((id) => this.#instance(id))) {
        if (instance.terminatedAt !== undefined || this.instanceState(instance) !== 'running') continue;
        const graceEnds = instance.launchedAt + (group.gracePeriod ?? 0) * SECOND;
        const servesAt = this.#servesAt(instance);
        const inService = servesAt !== undefined && this.t() >= servesAt;
        const replacing = !group.suspended.has('HealthCheck') && !group.suspended.has('ReplaceUnhealthy');
        if (replacing && group.healthCheckType === 'ELB' && group.loadBalancerNames.length > 0 && this.t() >= graceEnds && !inService) {
          instance.unhealthy = true;
          instance.terminatedAt = this.t();
        }
      }
      this.#fillGroup(group);
    }
  }

  /**
   * Brings the group to its desired capacity: launches from its template, or
   * terminates the extra ones, those from an older template first, then the
   * oldest (argos's termination policies: OldestLaunchTemplate, OldestInstance).
   */
  #fillGroup(group: ModelGroup): void {
    const template = this.state.launchTemplates.get(group.templateName);
    if (!template) return;
    const live = group.instanceIds.map((id) => this.#instance(id)).filter((instance) => instance.terminatedAt === undefined);
    for (let index = live.length; index < group.desired; index += 1) this.#launchInGroup(group, template, index);
    const current = (instance: ModelInstance) => instance.tags.some((tag) => tag.Key === 'aws:ec2launchtemplate:id' && tag.Value === template.id);
    const extra = [...live].sort((a, b) => Number(current(a)) - Number(current(b)) || a.launchedAt - b.launchedAt).slice(0, Math.max(live.length - group.desired, 0));
    for (const instance of extra) instance.terminatedAt = this.t();
  }

  #launchInGroup(group: ModelGroup, template: ModelLaunchTemplate, index: number): void {
    const subnets = this.state.subnets.filter((subnet) => group.subnetIds.includes(subnet.id));
    const subnet = subnets[index % Math.max(subnets.length, 1)] ?? this.state.subnets[0];
    if (!subnet) throw awsError('ValidationError', `the group ${group.name} has no subnets`);
    const instance = this.#launch({
      imageId: this.#availableImage(template.data.ImageId).id,
      instanceType: String(template.data.InstanceType ?? 't3.micro'),
      keyName: template.data.KeyName,
      subnet,
      securityGroupIds: template.data.SecurityGroupIds ?? [],
      tags: mergeTags(
        tagsFromSpecifications(template.data.TagSpecifications, 'instance'),
        group.tags.filter((tag) => tag.PropagateAtLaunch).map((tag) => ({ Key: tag.Key, Value: tag.Value })),
        [
          { Key: 'aws:autoscaling:groupName', Value: group.name },
          { Key: 'aws:ec2launchtemplate:id', Value: template.id },
          { Key: 'aws:ec2launchtemplate:version', Value: '1' },
        ],
      ),
      groupName: group.name,
    });
    group.instanceIds.push(instance.id);
  }

  #toSdkGroup(group: ModelGroup): AutoScalingGroup {
    const template = this.state.launchTemplates.get(group.templateName);
    const instances: GroupInstance[] = group.instanceIds
      .map((id) => this.#instance(id))
      .filter((instance) => this.instanceState(instance) !== 'terminated')
      .map((instance) => ({
        InstanceId: instance.id,
        InstanceType: instance.instanceType,
        AvailabilityZone: instance.availabilityZone,
        LifecycleState: this.instanceState(instance) === 'running' && instance.terminatedAt === undefined ? 'InService' : this.instanceState(instance) === 'pending' ? 'Pending' : 'Terminating',
        HealthStatus: instance.unhealthy ? 'Unhealthy' : 'Healthy',
        LaunchTemplate: { LaunchTemplateId: template?.id, LaunchTemplateName: group.templateName, Version: '1' },
        ProtectedFromScaleIn: false,
      }));
    return {
      AutoScalingGroupName: group.name,
      AutoScalingGroupARN: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:model:autoScalingGroupName/${group.name}`,
      LaunchTemplate: { LaunchTemplateId: template?.id, LaunchTemplateName: group.templateName, Version: group.version },
      MinSize: group.minSize,
      MaxSize: group.maxSize,
      DesiredCapacity: group.desired,
      DefaultCooldown: 300,
      AvailabilityZones: this.state.subnets.filter((subnet) => group.subnetIds.includes(subnet.id)).map((subnet) => subnet.availabilityZone),
      LoadBalancerNames: group.loadBalancerNames,
      TargetGroupARNs: [],
      HealthCheckType: group.healthCheckType,
      HealthCheckGracePeriod: group.gracePeriod,
      Instances: instances,
      SuspendedProcesses: [...group.suspended].map((ProcessName) => ({ ProcessName, SuspensionReason: 'User suspended' })),
      CreatedTime: new Date(this.clock.start + group.createdAt),
      VPCZoneIdentifier: group.subnetIds.join(','),
      TerminationPolicies: group.terminationPolicies,
      Tags: group.tags.map((tag) => ({ ResourceId: group.name, ResourceType: 'auto-scaling-group', ...tag })),
    };
  }
}

function publicDnsName(instance: ModelInstance): string {
  return `ec2-${instance.publicIp.replaceAll('.', '-')}.compute-1.amazonaws.com`;
}

/** Later lists win on equal keys. */
function mergeTags(...lists: Tag[][]): Tag[] {
  const byKey = new Map<string, string>();
  for (const tag of lists.flat()) byKey.set(tag.Key, tag.Value);
  return [...byKey].map(([Key, Value]) => ({ Key, Value }));
}

function toModelRules(permissions: IpPermission[] | undefined): ModelRule[] {
  return (permissions ?? []).flatMap((permission) => {
    const base = { protocol: permission.IpProtocol ?? '-1', fromPort: permission.FromPort, toPort: permission.ToPort };
    return [
      ...(permission.IpRanges ?? []).map((range) => ({ ...base, cidr: range.CidrIp, description: range.Description })),
      ...(permission.UserIdGroupPairs ?? []).map((pair) => ({ ...base, groupId: pair.GroupId, description: pair.Description })),
    ];
  });
}

/** AWS matches rules by protocol, ports and source (not description). */
function sameModelRule(a: ModelRule, b: ModelRule): boolean {
  return a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort && a.cidr === b.cidr && a.groupId === b.groupId;
}

function toSdkSecurityGroup(group: ModelSecurityGroup): SecurityGroup {
  return {
    GroupId: group.id,
    GroupName: group.name,
    Description: group.description,
    VpcId: group.vpcId,
    OwnerId: '123456789012',
    Tags: group.tags,
    IpPermissions: group.rules.map((rule) => ({
      IpProtocol: rule.protocol,
      FromPort: rule.fromPort,
      ToPort: rule.toPort,
      IpRanges: rule.cidr ? [{ CidrIp: rule.cidr, Description: rule.description }] : [],
      UserIdGroupPairs: rule.groupId ? [{ GroupId: rule.groupId, Description: rule.description }] : [],
    })),
    IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
  };
}

/** The hosts of an INI inventory (every group, not the `:vars` sections), each once (a host may be in two groups). */
export function parseInventoryHosts(text: string): string[] {
  const hosts: string[] = [];
  let inVars = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      inVars = section[1]?.includes(':') ?? false;
      continue;
    }
    const host = line.split(/\s+/)[0];
    if (!inVars && host && !hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

// ---- the reporter ----

import { RecordingReporter } from './recording-reporter.js';

export { RecordingReporter, type RecordedStep } from './recording-reporter.js';

// ---- a whole run ----

/** What {@link createModelledRun} takes. */
export interface ModelledRunOptions {
  parameters?: Partial<ModelParameters>;
  options?: Partial<CommissionOptions>;
  /** Overrides of the sample config (test/support/cli.ts). */
  config?: Record<string, unknown>;
}

/** A Context wired to a modelled AWS on an event clock, in a scratch project folder. */
export interface ModelledRun {
  ctx: Context<CommissionOptions>;
  aws: ModelledAws;
  clock: EventClock;
  reporter: RecordingReporter;
  controller: AbortController;
  root: string;
  /** Restores the mocked clients and removes the project folder. */
  dispose(): Promise<void>;
}

/** The commission options of `argos staging commission` with no option given. */
export function commissionOptions(overrides: Partial<CommissionOptions> = {}): CommissionOptions {
  return {
    yes: true,
    config: 'playbooks/group_vars/all.yml',
    sshCidr: undefined,
    sshConfig: undefined,
    verbose: false,
    // Not given: the environment's current values, or the defaults when creating.
    minSize: undefined,
    maxSize: undefined,
    instanceType: undefined,
    dbInstanceType: undefined,
    applyNow: false,
    withBroker: false,
    withWorkers: false,
    workersMinSize: undefined,
    workersMaxSize: undefined,
    workerInstanceType: undefined,
    deploy: true,
    dryRun: false,
    forceUnlock: false,
    ...overrides,
  };
}

/**
 * Builds the Context of `argos staging commission` by hand: the sample config,
 * `keys/<key>.pem` (mode 600) in a scratch project, a recording reporter, a
 * non-interactive terminal, and a modelled AWS account holding the default
 * VPC, the key pair and the base AMI.
 */
export async function createModelledRun(options: ModelledRunOptions = {}): Promise<ModelledRun> {
  const clock = new EventClock();
  const aws = new ModelledAws(clock, options.parameters);
  const configValues = sampleConfig(options.config);
  const root = await makeProject(configValues);
  const commission = commissionOptions(options.options);
  const configPath = join(root, commission.config);
  const config = parseConfig(await readFile(configPath, 'utf8'), commission.config);
  aws.addKeyPair(config.keyName);
  aws.addImage({ id: config.baseAmi, name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260101', own: false });
  const env = 'staging';
  const paths: Paths = {
    root,
    config: configPath,
    playbooks: join(root, 'playbooks'),
    keyFile: join(root, 'keys', `${config.keyName}.pem`),
    hostsFile: join(root, 'hosts', `hosts_${env}`),
    knownHostsFile: join(root, 'hosts', `known_hosts_${env}`),
    logFile: join(root, 'logs', `argos-${env}.log`),
  };
  const reporter = new RecordingReporter({ now: () => clock.elapsed() });
  const controller = new AbortController();
  const ctx: Context<CommissionOptions> = {
    env,
    options: commission,
    config,
    names: makeNames(config.appName, env),
    region: config.region,
    paths,
    sshCidr: commission.sshCidr,
    sshConfig: undefined,
    sshControlDir: undefined,
    reporter,
    clients: aws.clients,
    signal: controller.signal,
    runtime: aws.runtime(),
  };
  return {
    ctx,
    aws,
    clock,
    reporter,
    controller,
    root,
    dispose: async () => {
      aws.restore();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** When the run's steps ran, and what running them one after another would have taken. */
export interface RunTiming {
  /** Virtual ms from the start of the run to its end. */
  totalMs: number;
  /**
   * The same run with its steps one after another (the original's order: bake,
   * database, load balancer, app servers, deploy): the total with the union of
   * the steps' intervals replaced by the sum of their durations.
   */
  sequentialMs: number;
  steps: { title: string; ms: number; start: number; end: number }[];
}

/** Reads the timing of a finished run from its reporter. */
export function runTiming(reporter: RecordingReporter, totalMs: number): RunTiming {
  const steps = reporter.steps.map((step) => ({ title: step.title, start: step.start, end: step.end ?? totalMs, ms: (step.end ?? totalMs) - step.start }));
  const sum = steps.reduce((total, step) => total + step.ms, 0);
  // Length of the union of the step intervals.
  let union = 0;
  let reach = -Infinity;
  for (const step of [...steps].sort((a, b) => a.start - b.start)) {
    if (step.end <= reach) continue;
    union += step.end - Math.max(step.start, reach);
    reach = step.end;
  }
  return { totalMs, sequentialMs: totalMs - union + sum, steps };
}
