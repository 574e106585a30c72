/**
 * Renders BENCHMARKS.md from one run's results: the machine, a summary of the
 * goals, a table per section (median and spread), the method, and how to
 * reproduce. Pure: everything it shows comes from its argument.
 */
import type { ModelVariant } from './commission-model.js';
import { renderGantt, type ServingRun } from './commission-serving.js';
import type { ModelledReleaseCost } from './release-model.js';
import type { CallCount } from './api-calls.js';
import type { DeploySpeedReport } from './deploy-speed.js';
import type { CloudDeployReport } from './cloud-deploy.js';
import { cloudSummaryRows, renderCloudSection, table } from './report-cloud.js';
import type { Machine } from './machine.js';
import type { StartupResult } from './startup.js';
import { formatSummary, round } from './stats.js';

/** Goals of issue 10. */
export const GOALS = { helpRatio: 2, commissionRatio: 0.65, deployRatio: 0.5 } as const;

/** A section that did not run, and why. */
export interface Skipped {
  skipped: string;
}

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  machine: Machine;
  options: { quick: boolean; sections: string[] };
  startup: StartupResult | Skipped;
  commission: { variants: ModelVariant[]; serving: ServingRun[]; releaseCost: ModelledReleaseCost; parameters: Record<string, number> } | Skipped;
  deploy: CloudDeployReport | Skipped;
  loopback: DeploySpeedReport | Skipped;
  apiCalls: CallCount[] | Skipped;
  /** Wall-clock duration of the whole run. */
  totalMs: number;
}

function isSkipped(value: object): value is Skipped {
  return 'skipped' in value;
}

const yesNo = (met: boolean) => (met ? '**yes**' : '**no**');


function machineSection(machine: Machine, totalMs: number): string {
  return [
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${machine.cpu}, ${machine.cores} cores`],
        ['memory', `${machine.memoryGiB} GiB`],
        ['OS', machine.os],
        ['Node', machine.node],
        ['ansible-core', machine.ansibleCore],
        ['moto', machine.moto],
        ['load average (1 min) at the start', `${machine.loadAtStart} (the machine may be shared: figures are only compared within this run)`],
        ['date', machine.date],
        ['duration of the run', `${(totalMs / 60_000).toFixed(1)} min`],
      ],
    ),
  ].join('\n');
}

/** One row per goal: figure, result, goal, met. */
function summarySection(results: BenchResults): string {
  const rows: string[][] = [];
  const { startup, commission, deploy, loopback, apiCalls } = results;
  if (isSkipped(startup)) rows.push(['`argos --help` / `node -e ""`', `skipped: ${startup.skipped}`, `≤ ${GOALS.helpRatio}`, '–']);
  else rows.push(['`argos --help` / `node -e ""` (medians)', `${startup.helpRatio}×`, `≤ ${GOALS.helpRatio}×`, yesNo(startup.helpRatio <= GOALS.helpRatio)]);
  if (isSkipped(commission)) rows.push(['modelled commission / sequential sum', `skipped: ${commission.skipped}`, `≤ ${GOALS.commissionRatio}`, '–']);
  else {
    for (const run of commission.serving) {
      rows.push([`modelled commission time to serving / lower bound, ${run.label}`, `${run.ratio}× (${run.servingSeconds} s / ${run.boundSeconds} s)`, `≤ ${run.goal}×`, yesNo(run.ratio <= run.goal)]);
    }
    for (const variant of commission.variants) {
      rows.push([
        `modelled commission / sequential sum, ${variant.deploy ? 'with the deploy' : 'without the deploy (`--no-deploy`)'}`,
        String(variant.ratio),
        `≤ ${GOALS.commissionRatio}`,
        yesNo(variant.ratio <= GOALS.commissionRatio),
      ]);
    }
  }
  if (isSkipped(deploy)) rows.push(['deploys on the local cloud (items 2–4)', `skipped: ${deploy.skipped}`, 'see section 3', '–']);
  else rows.push(...cloudSummaryRows(deploy));
  if (!isSkipped(loopback)) {
    for (const result of loopback.results) {
      rows.push([`deploy: argos / original, ${result.targets} target${result.targets === 1 ? '' : 's'} (medians)`, String(result.ratio), `≤ ${GOALS.deployRatio}`, yesNo(result.ratio <= GOALS.deployRatio)]);
    }
  }
  if (isSkipped(apiCalls)) rows.push(['API calls unchanged by 2,000 unrelated instances + 200 security groups', `skipped: ${apiCalls.skipped}`, 'equal', '–']);
  else {
    const equal = apiCalls.filter((count) => count.empty === count.busy).length;
    rows.push(['API calls unchanged by 2,000 unrelated instances + 200 security groups', `${equal} of ${apiCalls.length} commands`, 'all equal', yesNo(equal === apiCalls.length)]);
  }
  return ['## Summary', '', table(['figure', 'result', 'goal', 'met'], rows)].join('\n');
}

function startupSection(startup: StartupResult | Skipped): string {
  const heading = '## 1. Startup';
  if (isSkipped(startup)) return `${heading}\n\nSkipped: ${startup.skipped}.`;
  return [
    heading,
    '',
    `Each command spawned as a user runs it (\`node dist/cli.js …\`, a fresh process each time), ${startup.runs} runs each, interleaved round by round with the order rotating, after one untimed round. \`status\` reads a commissioned environment (\`commission --no-deploy\`) on moto, so its time is mostly moto (a Python server on the same 2 cores) answering its Describe calls; it is shown for scale, with no goal.`,
    '',
    table(
      ['command', 'median (min–max)', 'ratio to bare Node (medians)'],
      [
        ['`node -e ""`', formatSummary(startup.bareNode), '1'],
        ['`argos --help`', formatSummary(startup.help), `${startup.helpRatio}× (goal ≤ ${GOALS.helpRatio}×: ${yesNo(startup.helpRatio <= GOALS.helpRatio)})`],
        ['`argos bench status` (moto)', formatSummary(startup.status), `${startup.statusRatio}×`],
      ],
    ),
  ].join('\n');
}

/** Where the model's figures come from (bench/commission-model.ts, test/support/modelled-aws.ts). */
const PARAMETER_SOURCES: Record<string, string> = {
  databaseAvailableSeconds: 'RDS PostgreSQL db.t3.micro, 20 GiB, single-AZ: "creating" then "backing-up" then "available" (RDS User Guide, "Viewing instance status", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html; the duration is not documented: the CLI\'s `aws rds wait db-instance-available` polls every 30 s up to 60 times, https://docs.aws.amazon.com/cli/latest/reference/rds/wait/db-instance-available.html; common experience 5–10 min)',
  databaseBackingUpSeconds: 'the last part of the above, "backing-up" (the first automated backup)',
  instanceRunningSeconds: 'EC2 pending → running (EC2 User Guide, "Instance state changes", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html; the duration is not documented: typically under a minute)',
  sshReadySeconds: 'boot, cloud-init and sshd after "running" until SSH answers (an assumption, not documented)',
  sshProbeSeconds: 'one SSH probe',
  imagePlaybookSeconds: 'playbooks/image.yml on a fresh t3.small (apt upgrade, packages, app dependencies; an assumption)',
  imageAvailableSeconds: 'CreateImage of a 16 GiB EBS-backed instance pending → available: it reboots the instance and snapshots its volumes (EC2 API Reference, CreateImage, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html; the duration is not documented: a first snapshot of a fresh volume takes minutes in common experience)',
  loadBalancerCreateSeconds: 'classic ELB CreateLoadBalancer',
  appInServiceSeconds: 'an autoscaling instance launched from an image with the app → InService behind the ELB: boot, app start, then HealthyThreshold consecutive passing checks (argos: 2, Interval 10 s; Classic ELB "Health checks", https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-healthchecks.html) — an assumption for the boot part',
  deployPlaybookSeconds: 'playbooks/site.yml on the app servers, first run (an assumption; the local cloud measures a converged one in section 3)',
  preparePlaybookSeconds: 'playbooks/prepare.yml on a new app server while the database is created (what a first deploy does that names no database): deployPlaybookSeconds × the share the local cloud measured (PREPARE_SHARE in test/support/modelled-aws.ts; section 3 gives this run\'s)',
  preparedDeployPlaybookSeconds: 'site.yml on an app server prepare.yml ran on, once the database exists: deployPlaybookSeconds × the share the local cloud measured (PREPARED_DEPLOY_SHARE; section 3 gives this run\'s)',
  instanceTerminatedSeconds: 'shutting-down → terminated (an assumption: tens of seconds)',
  callSeconds: 'any other API call round trip',
};

/** Why a modelled ratio cannot go lower: the command returns once the release image, made from the base image, is live. */
function commissionFloor(variant: ModelVariant): string {
  const steps = variant.stepSeconds ?? {};
  const find = (prefix: string) => Object.entries(steps).find(([title]) => title.startsWith(prefix))?.[1] ?? 0;
  const chain = find('image') + find('release image') + find('point the app servers');
  const floor = round(chain / variant.sequentialSumSeconds.median, 3);
  return (
    `the command returns once the release image, made from the base image, is live: image (${find('image')} s) → release image (${find('release image')} s) → ` +
    `point the app servers at it (${find('point the app servers')} s) = ${round(chain, 1)} s is a floor no overlap can lower (${floor} of the sequential sum), ` +
    `although the app already serves before the release image is made (section 2's time to serving); the database (${find('database')} s), the load balancer, the app servers and the deploy all run behind it`
  );
}

/**
 * Why argos's time to serving exceeds the bound: the path the Gantt chart
 * shows, from the recorded steps (the group's launch, the deploy, the wait
 * for InService), against the bound's terms.
 */
function servingWhy(run: ServingRun): string {
  const find = (prefix: string) => run.steps.find((step) => step.title.startsWith(prefix));
  const servers = find('app servers');
  const database = find('database');
  const playbooks = find('run the playbooks');
  const prepare = find('configure the app servers while the database is created');
  if (!servers || !playbooks || !database) return '';
  const waitedForDatabase = database.end > servers.end;
  const prepared = prepare !== undefined && ranPrepare(run);
  return (
    `Where the time goes (${run.label}): the group launches at ${round(servers.start, 1)} s and its instance runs at ${round(servers.end, 1)} s; ` +
    (prepared ? `playbooks/prepare.yml runs on it from ${round(prepare.start, 1)} s to ${round(prepare.end, 1)} s, while the database is created; ` : '') +
    (waitedForDatabase
      ? `the deploy waits for the database (available at ${round(database.end, 1)} s: site.yml writes the app's settings against it and runs the migrations), `
      : '') +
    `the playbooks run from ${round(playbooks.start, 1)} s to ${round(playbooks.end, 1)} s and the app answers through the load balancer at ${round(run.servingSeconds, 1)} s, ` +
    `${round(run.servingSeconds - run.boundSeconds, 1)} s over the bound. ` +
    (waitedForDatabase
      ? prepared
        ? 'The bound lets the whole configuration run while the database is being created; argos runs there only what names no database (prepare.yml), and the rest (the configuration of the app, which names the database endpoint RDS publishes once it is available, the start of uWSGI, the migrations: the config path of the converged check) after it, so its path is database + the rest + checks.'
        : 'The bound lets the configuration run while the database is being created; argos configures only once the database exists, so its path is database + configuration + checks.'
      : 'The rest is polling slack (the waits poll every few seconds) and the SSH wait.')
  );
}

/** Whether the run configured its app servers while the database was created (a prepare step that took time). */
function ranPrepare(run: ServingRun): boolean {
  const prepare = run.steps.find((step) => step.title === 'configure the app servers while the database is created');
  return prepare !== undefined && prepare.end - prepare.start > 0;
}

/** Time to serving against the lower bound, with each step's start and end as a text Gantt chart. */
function servingSection(serving: readonly ServingRun[]): string[] {
  const rows = serving.map((run) => [run.label, `${run.servingSeconds} s`, `${run.commandSeconds} s`, `${run.boundSeconds} s = ${run.boundFormula}`, `${run.ratio}×`, yesNo(run.ratio <= run.goal)]);
  return [
    'Time to serving: from the start of `commission` to the first instance InService behind the load balancer (the model makes an instance InService only once the app is on it, and its group terminates and replaces one that is not InService when the grace period ends, as AWS does with health check type ELB). The second environment is commissioned in the same account after the first, so the image is reused.',
    '',
    table(['environment', 'time to serving', 'command returns', 'lower bound (same model parameters)', 'ratio', '≤ 1.1×'], rows),
    ...serving.flatMap((run) => ['', `${run.label} (each step's start and end, seconds from the start; \`#\` where it ran, \`|\` where the app first answered):`, '', '```', renderGantt(run.steps, run.commandSeconds, run.servingSeconds), '```', ...(run.ratio > run.goal || ranPrepare(run) ? ['', servingWhy(run)] : [])]),
    '',
    'The order that gets there: a new environment\'s group launches from the base image as soon as the image and the load balancer exist, with its health replacement suspended (Amazon EC2 Auto Scaling, "Suspend and resume processes": https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html) so it cannot replace an instance the deploy has not reached yet; the deploy configures its instances in place and the wait for InService follows; meanwhile the release image is made on a temporary instance, and once the app servers serve the launch template points at it, so every instance launched later serves from boot (issue 16). The load balancer routes only to InService instances, so none without the app ever gets a request.',
    '',
  ];
}

function commissionSection(commission: BenchResults['commission']): string {
  const heading = '## 2. Commission: time to serving and critical path (modelled, not measured)';
  if (isSkipped(commission)) return `${heading}\n\nSkipped: ${commission.skipped}.`;
  const s = (spread: { median: number; min: number; max: number }) => `${spread.median} s (${spread.min}–${spread.max})`;
  const rows = commission.variants.map((variant) => [
    variant.deploy ? 'commission (with deploy)' : 'commission --no-deploy',
    String(variant.runs),
    s(variant.commissionSeconds),
    s(variant.sequentialSumSeconds),
    String(variant.ratio),
    yesNo(variant.ratio <= GOALS.commissionRatio),
  ]);
  const withDeploy = commission.variants.find((variant) => variant.deploy) ?? commission.variants[0];
  const steps = Object.entries(withDeploy?.stepSeconds ?? {}).map(([title, seconds]) => [title, `${seconds} s`]);
  const unmet = commission.variants.filter((variant) => variant.ratio > GOALS.commissionRatio);
  return [
    heading,
    '',
    ...servingSection(commission.serving),
    `What the release image adds to a deploy (item 3, modelled): after the first environment's commission, the real \`deploy --all-at-once\` of its app server took ${commission.releaseCost.withoutSeconds} s in place only (\`--no-release-image\`) and ${commission.releaseCost.withSeconds} s with the release image (a temporary instance boots from the base image, site.yml runs on it while the in-place playbooks run, CreateImage, then the image goes live): **+${commission.releaseCost.addedSeconds} s**, the image's boot, snapshot and availability; the local cloud's figure is in section 3.`,
    '',
    'The real `commission` code (src/commands/commission.ts) with real SDK clients whose calls aws-sdk-client-mock answers from a stateful model of the account (test/support/modelled-aws.ts), each operation taking a modelled time on a virtual event clock (test/support/event-clock.ts): a 20-minute commission takes well under a second. The waits poll with the real code\'s intervals, so polling slack is included. The sequential sum is the same run with its steps one after another, as the original did them (bake, database, load balancer, app servers, deploy).',
    '',
    table(['variant', 'runs', 'modelled commission, median (min–max)', 'sequential sum', 'ratio', `≤ ${GOALS.commissionRatio}`], rows),
    '',
    'Model parameters (bench/commission-model.ts, `DEFAULT_PARAMETERS` in test/support/modelled-aws.ts):',
    '',
    table(['parameter', 'seconds', 'source'], Object.entries(commission.parameters).map(([name, seconds]) => [name, String(seconds), PARAMETER_SOURCES[name] ?? ''])),
    '',
    `Steps of one modelled run${withDeploy?.deploy ? ' with the deploy' : ''} (they overlap; ${withDeploy?.apiCalls ?? '?'} modelled API calls):`,
    '',
    table(['step', 'duration'], steps),
    ...(unmet.length > 0 ? ['', `Why ${unmet.map((variant) => (variant.deploy ? 'the variant with the deploy' : 'the variant without the deploy')).join(' and ')} misses the goal: ${unmet.map(commissionFloor).join('; ')}.`] : []),
  ].join('\n');
}

/** Why a deploy ratio above the goal is what it is (shown only when the goal is missed). */
const DEPLOY_WHY =
  'Why the goal is missed: what argos removes is per-task and per-run overhead. With pipelining a task is one SSH exchange instead of several (make a temporary folder, copy the module, run it, remove it); one `ansible-playbook` starts (parses the inventory and playbooks, connects) instead of one per role; and nothing is logged at `-vvvv`. What remains, and dominates a converged re-deploy here, is the same on both sides: running each module on the target (a Python start-up per task, then the module\'s own checks: apt, git, templates, services), on 2 cores shared by the targets and Ansible. Over a kept SSH connection to a local target an exchange costs milliseconds, so removing three of them per task saves little; to EC2 over the internet each exchange is a network round trip (tens of milliseconds), so the gap should widen there, but that is not measured here.';

function cloudSection(deploy: CloudDeployReport | Skipped): string {
  const heading = '## 3. Deploys on the local cloud (measured: real machines, real load balancer, real CLI)';
  if (isSkipped(deploy)) return `${heading}\n\nSkipped: ${deploy.skipped}.`;
  return renderCloudSection(deploy, heading);
}

function loopbackSection(deploy: DeploySpeedReport | Skipped): string {
  const heading = '## 3b. Deploy speed over loopback (issue 10; measured: real ansible-playbook, real local targets)';
  if (isSkipped(deploy)) return `${heading}\n\nSkipped: ${deploy.skipped}.`;
  const rows = deploy.results.map((result) => [
    String(result.targets),
    String(result.argosMs.runs),
    formatSummary(result.argosMs, 's'),
    formatSummary(result.originalMs, 's'),
    String(result.ratio),
    yesNo(result.ratio <= GOALS.deployRatio),
  ]);
  const playbooks = deploy.results[0]?.playbooks.join(' + ') ?? '';
  return [
    heading,
    '',
    `A converged re-deploy (the everyday case) of ${playbooks} (the roles argos deploys to an environment without a broker: the image role's code update, the app's config, uWSGI and nginx on every app server; the database role on the first one, against a PostgreSQL stand-in for RDS) to local targets (scripts/local-target.sh: a debootstrapped Debian root with sshd on 127.0.0.1, one per app server; smaller counts use the first targets of the ${Math.max(...deploy.results.map((result) => result.targets))}). Same playbooks, inventory (rendered by argos's renderInventory), ssh_config and targets on both sides; runs alternate in ABBA order after a warm-up that converges the hosts (${(deploy.warmUpMs / 1000).toFixed(0)} s).`,
    '',
    '- **argos**: `runPlaybook` of src/ansible.ts as `argos <env> deploy` calls it: one `ansible-playbook` of both playbooks, pipelining, SSH ControlMaster/ControlPersist, forks = max(5, hosts), no `-v`.',
    "- **original** (argos.cloud's manage.py): one `ansible-playbook` per role, `-vvvv`, no pipelining, default forks (5), Ansible's default SSH arguments (`-C -o ControlMaster=auto -o ControlPersist=60s`). Its output goes to a file. Without pipelining, becoming the app user needs world-readable temporary files (`ANSIBLE_SHELL_ALLOW_WORLD_READABLE_TEMP`; the targets have no setfacl), as Ansible 1.x always did.",
    '- Every run starts without SSH master connections (its own control-path folder, masters closed after it).',
    '',
    table(['targets', 'runs each', 'argos, median (min–max)', 'original, median (min–max)', 'ratio (medians)', `≤ ${GOALS.deployRatio}`], rows),
    ...(deploy.results.some((result) => result.ratio > GOALS.deployRatio) ? ['', DEPLOY_WHY] : []),
  ].join('\n');
}

function apiCallsSection(apiCalls: CallCount[] | Skipped): string {
  const heading = '## 4. API calls';
  if (isSkipped(apiCalls)) return `${heading}\n\nSkipped: ${apiCalls.skipped}.`;
  return [
    heading,
    '',
    "AWS calls of each command against moto, counted by an SDK middleware (one per `send`, retries not counted) on the real clients the CLI builds (src/context.ts `createContext`), in an account holding only argos's key pair and a stand-in `argos-image` (no bake), then in one that also holds 2,000 unrelated instances (more than the largest page DescribeInstances returns, MaxResults 1,000) and 200 unrelated security groups. `deploy` and `rollback` run with Ansible and the SSH wait stubbed (their AWS calls are real, the release image included); `deploy` runs twice (the second with its clock a minute ahead: release images are named by the UTC second) so that `rollback` has a release to go back to.",
    '',
    table(
      ['command', 'calls (empty account)', 'calls (+2,000 instances, +200 security groups)', 'equal?'],
      apiCalls.map((count) => [`\`${count.command}\``, String(count.empty), String(count.busy), count.empty === count.busy ? 'yes' : `**no**: ${count.differences.join(', ')}`]),
    ),
    '',
    'Calls by operation (empty account):',
    '',
    table(['command', 'operations'], apiCalls.map((count) => [`\`${count.command}\``, count.operations.join(', ')])),
  ].join('\n');
}

const REPRODUCE = [
  '## How to reproduce',
  '',
  '```',
  './scripts/setup.sh        # Debian packages (debootstrap, ansible-core), moto, npm packages',
  'npm run bench             # builds dist/, then tsx bench/run.ts; writes BENCHMARKS.md',
  '```',
  '',
  'The deploy section (3) needs the local cloud: root, systemd-nspawn, ansible-playbook and the cached base root (localcloud/README.md); elsewhere it is skipped and the report says why. It takes most of the run: a commission on the local cloud (about 6 min), 16 timed deploys per ABBA block, a scale-out, the release image and the rolling deploy. The machine is shared (2 cores; other engineers\' machines and tests may run at the same time): compare figures only within one run. Options (environment): `BENCH_QUICK=1` (fewer runs: a smoke test), `BENCH_SECTIONS=startup,commission,deploy,api` (a subset; add `loopback` for issue 10\'s deploy on local targets over loopback), `BENCH_STARTUP_RUNS` (default 20), `BENCH_MODEL_RUNS` (5), `BENCH_CLOUD_RUNS` (runs per side per row of section 3; default 1, the order alternating row by row), `BENCH_CLOUD_NAME` (the local cloud\'s name, default `bn`), `BENCH_MAX_MINUTES` (default 75: the time bound; no row of local-cloud deploys starts after it, and the report names the rows left out), `BENCH_DEPLOY_RUNS` and `BENCH_DEPLOY_TARGETS` (loopback only), `BENCH_OUT` (default `BENCHMARKS.md`). Ctrl-C (or SIGTERM) stops the local cloud and the bench\'s moto and removes the run\'s temporary projects before the bench exits (130, or 143); no report is written then. The modelled commission alone: `npx tsx bench/commission-model.ts`.',
].join('\n');

/** The whole BENCHMARKS.md. */
export function renderReport(results: BenchResults): string {
  return [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (bench/run.ts)${results.options.quick ? ' in quick mode (`BENCH_QUICK=1`: fewer runs; not for quoting)' : ''}. Each figure is the median of several runs with its spread (min–max); ratios are of medians. Regenerate rather than edit.`,
    '',
    machineSection(results.machine, results.totalMs),
    '',
    summarySection(results),
    '',
    startupSection(results.startup),
    '',
    commissionSection(results.commission),
    '',
    cloudSection(results.deploy),
    '',
    ...(isSkipped(results.loopback) ? [] : [loopbackSection(results.loopback), '']),
    apiCallsSection(results.apiCalls),
    '',
    REPRODUCE,
    '',
  ].join('\n');
}
