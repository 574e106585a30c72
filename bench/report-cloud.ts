/**
 * The local cloud's part of BENCHMARKS.md (bench/cloud-deploy.ts): deploys at
 * 0 and 50 ms against the original's invocation, where the time goes per
 * task, scale-out time to serve, the release image's cost, and rolling
 * against all at once. Pure: everything it shows comes from its argument.
 */
import { buildHealthCheck } from '../src/autoscaling/load-balancer.js';
import type { CloudDeployReport } from './cloud-deploy.js';
import { formatSummary, round } from './stats.js';

/** The shortest Classic Load Balancer health check: HealthCheck's valid ranges (Interval 5–300 s, HealthyThreshold 2–10). */
const MIN_INTERVAL_SECONDS = 5;
const MIN_HEALTHY_THRESHOLD = 2;

/** Goals of issue 20 (items 2–4). */
export const CLOUD_GOALS = { deployRatioAt50: 0.25, latencyCost: 1.2, rollingRatio: 2, scaleOutRatio: 1 } as const;

const yesNo = (met: boolean) => (met ? '**yes**' : '**no**');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A Markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The summary's rows (figure, result, goal, met) for the local cloud. */
export function cloudSummaryRows(cloud: CloudDeployReport): string[][] {
  const rows: string[][] = [];
  for (const cell of cloud.cells.filter((c) => c.rttMs === 50)) {
    rows.push([`deploy at 50 ms RTT: argos / original, ${cell.hosts} app server${cell.hosts === 1 ? '' : 's'}, ${cell.kind} (medians)`, `${cell.ratio}×`, `≤ ${CLOUD_GOALS.deployRatioAt50}×`, yesNo(cell.ratio <= CLOUD_GOALS.deployRatioAt50)]);
  }
  for (const cost of cloud.latencyCost) {
    rows.push([`argos deploy at 50 ms / at 0 ms, ${cost.hosts} app server${cost.hosts === 1 ? '' : 's'}, ${cost.kind}`, `${cost.ratio}×`, `≤ ${CLOUD_GOALS.latencyCost}×`, yesNo(cost.ratio <= CLOUD_GOALS.latencyCost)]);
  }
  const { scaleOut, rolling } = cloud;
  rows.push(['scale-out instance InService / (boot + 3 health-check intervals)', `${scaleOut.ratio}× (${seconds(scaleOut.inServiceMs)} / ${seconds(scaleOut.boundMs)})`, `≤ ${CLOUD_GOALS.scaleOutRatio}×`, yesNo(scaleOut.ratio <= CLOUD_GOALS.scaleOutRatio)]);
  rows.push(['rolling deploy / all at once, 3 app servers', `${rolling.ratio}× (${seconds(rolling.rollingMs)} / ${seconds(rolling.allAtOnceMs)})`, `≤ ${CLOUD_GOALS.rollingRatio}×`, yesNo(rolling.ratio <= CLOUD_GOALS.rollingRatio)]);
  rows.push(['failed requests through the load balancer during the rolling deploy', `${rolling.rolling.failed} of ${rolling.rolling.requests}`, '0', yesNo(rolling.rolling.failed === 0)]);
  return rows;
}

/**
 * Why the deploy goals are what they are, from the per-task timings: what a
 * task costs at 0 ms (the module's run on the machine, paid by both sides),
 * and how many round trips latency adds per task.
 */
function whereTimeGoes(cloud: CloudDeployReport): string {
  const measured = cloud.tasks.filter((task) => Number.isFinite(task.seconds0) && Number.isFinite(task.seconds50));
  if (measured.length === 0) return 'No per-task timings were recorded (the rows they come from were not measured).';
  const sum0 = measured.reduce((sum, task) => sum + task.seconds0, 0);
  const sum50 = measured.reduce((sum, task) => sum + task.seconds50, 0);
  const perTask = round(sum0 / measured.length, 2);
  const trips = round((sum50 - sum0) / 0.05 / measured.length, 1);
  return [
    `Reading it: ${measured.length} tasks (handlers and skipped tasks included) took ${round(sum0, 1)} s at 0 ms, ${perTask} s each on average: that is the module's run on the machines (a Python start-up under sudo, then the module's own checks: apt's cache, git's fetch, a template's stat and checksum, systemd's queries), on 2 cores shared by 3 machines, Ansible, the bench's relays and other engineers' work, and the original pays it too, on every task. `,
    `At 50 ms the tasks took ${round(sum50, 1)} s: about ${trips} round trips per task one after another, even with pipelining and a kept master connection (a pipelined module is still one SSH session on the master: open a channel, start the command under sudo, send the module, read its result and exit status; a template or copy is two modules, stat then copy or file). `,
    'So a converged deploy is bounded below by tasks × (module time + a few round trips); argos already runs one ansible-playbook with pipelining, ControlPersist and forks ≥ hosts, and the original\'s extra costs are its per-task temporary files (three or four more SSH commands per module without pipelining: make a folder, copy the module, make it readable, remove it) and its second ansible-playbook. What is left to cut is the number of remote tasks. Cut so far: the app\'s `pip install -r` when neither the requirements file nor the virtualenv changed (a stamp named by the file\'s checksum; playbooks/roles/image/tasks/code.yml); one cloud-init wait per host (the app and database roles skip theirs where the image role waited in the same run); one apt task for uWSGI and nginx; `daemon_reload` only when the uWSGI unit or nginx\'s drop-in changed; only the service_mgr fact gathered on app servers and workers; the Python interpreter named instead of discovered; and the largest, **the converged check** (playbooks/roles/converged): one remote command compares each app server with what the image, app_common and app roles would make of it (the templates rendered on the controller against the files\' checksums, modes and owners, links, units, packages, the user, the commit git_ref resolves to), and the play ends for a server where nothing differs, or runs only the code tasks and uWSGI\'s restart where only the code does; anything else runs every task. The original\'s side runs every task (`-e converged_enabled=false`): the original had no such check. The database play asks the database in one remote command (the readiness wait, the lookups of the database and its extensions, and, when both are there, the migration hook as the app\'s user: playbooks/roles/database/files/inspect.py) where four tasks did, and leaves the client package to the image role\'s packages, which the check covers; the code path gathers no facts (the check found systemd); and argos\'s SSH wait leaves its login up as the master connection Ansible\'s first task reuses (one ControlPath in Ansible\'s control_path_dir), one handshake per host instead of two; ansible-playbook starts while that login is made, held on the controller until it is up (playbooks/gate.yml), so that its start-up and the logins overlap. On the code path, the app\'s local health check after the restart polls on the server (playbooks/files/check_health.py) where the `uri` module with Ansible\'s retries cost about 10 round trips an attempt, in the same remote command as the restart (`systemctl restart`, then the check), and the code tasks ask for the virtualenv, the requirements\' checksum and its stamp in one (playbooks/roles/image/files/code_state.py) where two stats and the virtualenv task\'s own check did. What is left on a converged deploy is the SSH login, the check, then the database play\'s one command on the first app server: three remote commands per run, each under sudo (Ansible waits for sudo\'s success marker before it sends the module: one more round trip per task), and the migration hook must run on every deploy, as the original\'s did.',
  ].join('');
}

/**
 * The code-change deploy of 1 app server, task by task: the row where latency
 * costs most. Its tasks' added time against the deploy's says how much of the
 * latency is in Ansible's tasks and how much around them (argos's SSH login,
 * ansible-playbook's start and end). Nothing when the row was not timed.
 */
function codeChangeTasks(cloud: CloudDeployReport): string[] {
  const measured = cloud.codeTasks.filter((task) => Number.isFinite(task.seconds0) && Number.isFinite(task.seconds50));
  if (measured.length === 0) return [];
  const sum0 = round(measured.reduce((sum, task) => sum + task.seconds0, 0), 1);
  const sum50 = round(measured.reduce((sum, task) => sum + task.seconds50, 0), 1);
  const at = (rttMs: number) => cloud.cells.find((cell) => cell.hosts === 1 && cell.rttMs === rttMs && cell.kind === 'code change')?.argosMs.median;
  const [deploy0, deploy50] = [at(0), at(50)];
  // The gate play's wait is the part of argos's SSH logins ansible-playbook's start-up did not cover (playbooks/gate.yml).
  const gate = measured.find((task) => task.task.startsWith("Wait for argos's go"));
  const whole =
    deploy0 !== undefined && deploy50 !== undefined
      ? ` The deploy's medians were ${seconds(deploy0)} and ${seconds(deploy50)} (${seconds(deploy50 - deploy0)} added); the task times are of one run at each latency (${round(sum50 - sum0, 1)} s apart), so they need not add up to the medians' difference.` +
        (gate ? ` "${gate.task}" is the part of argos's SSH logins that ansible-playbook's start-up did not cover: ${gate.seconds0} s and ${gate.seconds50} s.` : '')
      : '';
  const slowest = [...measured].sort((a, b) => b.seconds50 - a.seconds50).slice(0, 12);
  return [
    `**The code-change deploy of 1 app server**, task by task (the row where latency costs most; one run at 0 ms and one at 50 ms, as above): ${measured.length} tasks took ${sum0} s at 0 ms and ${sum50} s at 50 ms.${whole} The 12 slowest at 50 ms:`,
    '',
    table(['task', '0 ms', '50 ms', 'round trips'], slowest.map((task) => [task.task, `${task.seconds0} s`, `${task.seconds50} s`, String(task.roundTrips)])),
    '',
  ];
}

/**
 * The second environment's commission on the local cloud (bench/cloud-second-env.ts):
 * time to serving against its bound, and how its first deploy split around the
 * database's creation, against the first environment's whole first deploy.
 */
function secondEnvironment(cloud: CloudDeployReport): string {
  const env = cloud.secondEnv;
  const split =
    env.prepareSeconds === undefined
      ? 'playbooks/prepare.yml did not run (the database was available before the app servers ran); '
      : `playbooks/prepare.yml took ${env.prepareSeconds} s while the database was being created, the deploy's playbooks ${env.restSeconds} s once it was available, where the first environment's first deploy took ${env.firstDeploySeconds} s all at once: ${round(env.prepareSeconds / env.firstDeploySeconds, 2)} and ${round(env.restSeconds / env.firstDeploySeconds, 2)} of it (section 2's model splits its first deploy in these shares, measured in an earlier run); `;
  const over = round(env.servingSeconds - env.databaseStepSeconds, 1);
  return (
    `**Second environment** (item 1 on real machines, for scale: the goal is the model's, section 2): \`argos production commission\` in the same account, the image reused, its database kept \`creating\` for ${env.databaseSeconds} s (localcloud/database.ts \`createMs\`: RDS takes minutes, the local PostgreSQL seconds; argos saw it available after ${env.databaseStepSeconds} s, its wait polling). ` +
    split +
    `the app first answered through its load balancer ${env.servingSeconds} s after the start, ${over} s after the database step (the rest of the deploy, then the load balancer's healthy checks), and the command returned at ${env.commandSeconds} s, after its release image. Against max(the database step ${env.databaseStepSeconds} s, the app servers' launch ${round(env.steps['app servers argos-production-app'] ?? Number.NaN, 1)} s + the whole first deploy ${env.firstDeploySeconds} s + 2 checks 20 s) = ${env.boundSeconds} s: ${env.ratio}×. The environment is decommissioned before the timed deploys.`
  );
}

/** Section 3 of BENCHMARKS.md. */
export function renderCloudSection(cloud: CloudDeployReport, heading: string): string {
  const deployRows = cloud.cells.map((cell) => [
    String(cell.hosts),
    `${cell.rttMs} ms`,
    cell.kind,
    formatSummary(cell.argosMs, 's'),
    formatSummary(cell.originalMs, 's'),
    `${cell.ratio}×`,
    cell.rttMs === 50 ? yesNo(cell.ratio <= CLOUD_GOALS.deployRatioAt50) : '–',
  ]);
  const slowest = [...cloud.tasks].sort((a, b) => b.seconds50 - a.seconds50);
  const total = (key: 'seconds0' | 'seconds50') => round(cloud.tasks.reduce((sum, task) => sum + (Number.isFinite(task[key]) ? task[key] : 0), 0), 1);
  const { rolling, scaleOut, releaseImage } = cloud;
  return [
    heading,
    '',
    `Measured on the local cloud (localcloud/: every instance a Debian 12 systemd machine under systemd-nspawn, a load balancer that checks health and routes only to InService instances, a real PostgreSQL for RDS), with the real CLI. The environment is commissioned once (${seconds(cloud.commissionMs)}; step times: ${cloud.commissionSteps || 'not reported'}), deployed once untimed, then measured with 1 app server, scaled out to 3 with no argos command, and measured with 3.`,
    '',
    secondEnvironment(cloud),
    '',
    '**Latency.** This kernel has no `tc netem`; the delay is added in the SSH relay the ssh_config\'s ProxyCommand runs (`localcloud/lcnet.py --delay-ms 25`: 25 ms each way, a 50 ms round trip, a typical laptop-to-region figure), for both sides. Traffic between machines stays fast, as inside a VPC.',
    '',
    '- **argos**: `argos staging deploy --all-at-once --no-release-image` (the same work as the original: every app server at once, in place; the release image and the rolling order are measured below), as a user runs it: its AWS calls, temporary SSH, one `ansible-playbook` of site.yml with pipelining, a kept master connection, forks ≥ hosts.',
    "- **original** (argos.cloud's manage.py): one `ansible-playbook -vvvv` per role (app.yml, then database.yml) on argos's hosts file, no pipelining, default forks, Ansible's default SSH arguments, output to a file; AWS calls not counted (it made none here).",
    `- **converged**: nothing changed since the last deploy; **code change**: a new commit of the sample app before each run. ${cloud.runs} run${cloud.runs === 1 ? '' : 's'} per side per row, alternating in ABBA order; every run starts with no SSH master connection.`,
    '',
    table(['app servers', 'RTT', 'deploy', 'argos, median (min–max)', 'original, median (min–max)', 'ratio', `≤ ${CLOUD_GOALS.deployRatioAt50}× at 50 ms`], deployRows),
    ...(cloud.skippedCells.length > 0 ? ['', `Not measured (the time bound, BENCH_MAX_MINUTES, had passed): ${cloud.skippedCells.join('; ')}.`] : []),
    '',
    'argos at 50 ms against argos at 0 ms (what the round trips cost a remote user):',
    '',
    table(['app servers', 'deploy', '50 ms / 0 ms', `≤ ${CLOUD_GOALS.latencyCost}×`], cloud.latencyCost.map((cost) => [String(cost.hosts), cost.kind, `${cost.ratio}×`, yesNo(cost.ratio <= CLOUD_GOALS.latencyCost)])),
    '',
    `**Where the time goes.** Per-task wall-clock times of argos's converged deploy of 3 app servers, from a callback plugin (bench/callback_plugins/task_times.py, like ansible.posix's profile_tasks, which ansible-core does not ship), one run at 0 ms and one at 50 ms; "round trips" is the added time over 50 ms, the exchanges the task waits for one after another (noisy for short tasks: one run each). Tasks total ${total('seconds0')} s at 0 ms and ${total('seconds50')} s at 50 ms; the 12 slowest at 50 ms:`,
    '',
    table(['task', '0 ms', '50 ms', 'round trips'], slowest.slice(0, 12).map((task) => [task.task, `${task.seconds0} s`, `${task.seconds50} s`, String(task.roundTrips)])),
    '',
    whereTimeGoes(cloud),
    '',
    ...codeChangeTasks(cloud),
    `**Scale-out time to serve** (item 3): desired capacity 1 → 3 with no argos command, until both new instances are InService behind the load balancer: ${seconds(scaleOut.inServiceMs)}, against boot + 3 health-check intervals = ${seconds(scaleOut.bootMs)} + 3 × 10 s = ${seconds(scaleOut.boundMs)} (boot: from the change until the last new machine answered SSH, which includes the group's reaction to the change) → ${scaleOut.ratio}×.`,
    '',
    `**Release image** (item 3): a converged deploy of 3 app servers that makes the next release image took ${seconds(releaseImage.withMs)}, without it ${seconds(releaseImage.withoutMs)}: the image adds ${seconds(releaseImage.addedMs)} on the local cloud (a temporary machine boots from the base image, site.yml runs on it, the harness records its root as the image).`,
    '',
    `**Rolling deploy** (item 4, issue 17): a code-change deploy of 3 app servers one at a time (default: deregister, deploy, check, register, wait for InService) took ${seconds(rolling.rollingMs)}; all at once ${seconds(rolling.allAtOnceMs)} → ${rolling.ratio}× (goal ≤ ${CLOUD_GOALS.rollingRatio}×: ${yesNo(rolling.ratio <= CLOUD_GOALS.rollingRatio)}). A request loop through the load balancer (127.0.0.1, one request every 20 ms, 5 s timeout each) during each: rolling ${rolling.rolling.failed} failed of ${rolling.rolling.requests} (versions ${rolling.rolling.versions.join(' → ')}); all at once ${rolling.allAtOnce.failed} failed of ${rolling.allAtOnce.requests} (versions ${rolling.allAtOnce.versions.join(' → ')}).${rolling.ratio > CLOUD_GOALS.rollingRatio ? ` ${explainRollingMiss(cloud)}` : ''}`,
  ].join('\n');
}

/**
 * Why rolling misses its goal, with this run's figures: one at a time cannot beat the servers'
 * deploys one after another plus, per batch, the checks a registered instance must pass.
 */
function explainRollingMiss(cloud: CloudDeployReport): string {
  const { rolling } = cloud;
  const servers = 3;
  const check = buildHealthCheck({ appPort: 8000, healthCheckPath: '/' });
  const interval = check.Interval ?? 30;
  const threshold = check.HealthyThreshold ?? 10;
  const cause =
    'Why the time goal is missed: one at a time runs the app playbook on the 3 servers one after another instead of at the same time (on 2 shared cores the parallel run is not 3× slower than one host), and each batch adds its deregistration with connection draining, the local check, the registration and the healthy checks before the next batch.';
  const oneServer = cloud.cells.find((cell) => cell.hosts === 1 && cell.rttMs === 0 && cell.kind === 'code change')?.argosMs.median;
  let estimate = '';
  if (oneServer !== undefined) {
    const floorMs = servers * oneServer + servers * (threshold - 1) * interval * 1000;
    const floorRatio = round(floorMs / rolling.allAtOnceMs, 2);
    estimate =
      ` An estimate of its floor with these settings: ${servers} × one server's code-change deploy at 0 ms (${seconds(oneServer)}, the table above; it also counts the run's AWS and SSH steps, which rolling pays once) + ${servers} × (HealthyThreshold ${threshold} − 1) × Interval ${interval} s (a newly registered instance is checked at once, then every interval) = ${seconds(floorMs)}, ${floorRatio}× all at once; the measured rolling deploy took ${round(rolling.rollingMs / floorMs, 2)}× that estimate.` +
      (floorRatio > CLOUD_GOALS.rollingRatio ? ' No faster polling or overlap of argos\'s own steps can bring it under the goal.' : '');
  }
  const checksMs = servers * (threshold - 1) * interval * 1000;
  const checksRatio = round(checksMs / rolling.allAtOnceMs, 2);
  if (checksRatio > CLOUD_GOALS.rollingRatio) {
    // The shortest health check ElasticLoadBalancing's API accepts: Interval ≥ 5 s, HealthyThreshold ≥ 2.
    const shortestMs = servers * (MIN_HEALTHY_THRESHOLD - 1) * MIN_INTERVAL_SECONDS * 1000;
    // With the servers' own deploys (the floor above) when this run measured one.
    const shortestFloorMs = shortestMs + (oneServer === undefined ? 0 : servers * oneServer);
    const shortestRatio = round(shortestFloorMs / rolling.allAtOnceMs, 2);
    const shortest =
      ` At the shortest health check the API accepts (Interval ${MIN_INTERVAL_SECONDS} s, HealthyThreshold ${MIN_HEALTHY_THRESHOLD}: https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_HealthCheck.html) they would take ${servers} × (${MIN_HEALTHY_THRESHOLD} − 1) × ${MIN_INTERVAL_SECONDS} s = ${seconds(shortestMs)}` +
      (oneServer === undefined ? ', ' : `, and the floor estimated as above ${seconds(shortestFloorMs)}, `) +
      `${shortestRatio}× the all-at-once deploy` +
      (shortestRatio > CLOUD_GOALS.rollingRatio
        ? ': no health check setting of a Classic Load Balancer lets a one-at-a-time deploy that waits for InService meet the goal. Only fewer batches would (`--batch 2` or 50%, while one server keeps serving).'
        : '. Only fewer batches (`--batch 2` or 50%, while one server keeps serving) or a shorter Interval would; argos keeps an existing load balancer\'s health check as its default makes it, so a new default would rewrite every environment\'s on its next commission.');
    return (
      `${cause}${estimate} The healthy checks alone, ${servers} × (${threshold} − 1) × ${interval} s = ${seconds(checksMs)}, are ${checksRatio}× the all-at-once deploy: ` +
      `with these health check settings no one-at-a-time deploy can meet the goal, however short its playbook (the faster the deploy, the larger this share).${shortest}`
    );
  }
  return `${cause}${estimate} Meeting it needs the playbook's work off the per-batch path: every server prepared while it serves (the next release in its own directory and virtualenv, nginx's and uWSGI's files staged), then per batch only the switch, a restart and the checks; \`--batch 2\` (or 50%) already halves the batches while one server keeps serving.`;
}
