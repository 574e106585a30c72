/**
 * `npm run sandbox`: try argos without an AWS account. Where root and
 * systemd-nspawn allow, it runs on the local cloud (localcloud/): the moto AWS
 * emulator on 127.0.0.1 with a real data plane — every EC2 instance a Debian
 * machine with systemd, a load balancer that really checks health and serves
 * on a local port, a real PostgreSQL for the database. It commissions a demo
 * environment with the broker, shows the app answering through the load
 * balancer, deploys, scales out to two app servers, decommissions and cleans,
 * then tears the cloud down. Without root it runs what it can against moto
 * alone (no instances to configure: --no-deploy) and says why.
 * Nothing here reaches real AWS: every AWS call goes to the emulator.
 */
import { UpdateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstanceHealthCommand, DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing';
import { execa } from 'execa';
import { waitFor } from '../localcloud/proc.js';
import { createClients } from '../src/aws/clients.js';
import { createCredentialProvider } from '../src/aws/credentials.js';
import { createKeyPair, registerImage } from '../test/support/aws-fixtures.js';
import { CLI } from '../test/support/cli.js';
import { makeCloudProject, type CloudProject } from '../test/support/cloud-project.js';
import { localCloudOrSkip } from '../test/support/local-cloud.js';
import { startMotoServer, useEmulator } from '../test/support/moto.js';
import { makeTargetProject } from '../test/support/target-project.js';

const ENV = 'demo';
const LB = `argos-${ENV}-elb`;

function banner(text: string): void {
  console.log(`\n\x1b[1m=== ${text}\x1b[0m`);
}

/** Runs `argos demo …` in `root` with its output on this terminal; throws on a non-zero exit. */
async function argosIn(root: string, env: Record<string, string>, ...args: string[]): Promise<void> {
  console.log(`\n$ npx argos ${ENV} ${args.join(' ')}`);
  const result = await execa('node', [CLI, ENV, ...args], { cwd: root, env: { ...env, CI: '1' }, stdio: 'inherit', reject: false });
  if (result.exitCode !== 0) throw new Error(`argos ${ENV} ${args.join(' ')} exited ${result.exitCode}`);
}

/** GET / through the load balancer's local port, printed. */
async function showApp(project: CloudProject): Promise<void> {
  const url = project.harness.balancing.urlOf(LB);
  if (!url) throw new Error(`the load balancer ${LB} has no local port`);
  const page = await fetch(`${url}/`, { headers: { connection: 'close' } });
  console.log(`GET ${url}/ (the load balancer ${LB}) -> ${page.status}: ${(await page.text()).slice(0, 160)}`);
  const dnsName = (await project.clients.elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [LB] }))).LoadBalancerDescriptions?.[0]?.DNSName;
  if (dnsName) console.log(`by its DNS name, as status prints it: curl --proxy ${project.harness.balancing.nameProxyUrl} http://${dnsName}/`);
}

async function onLocalCloud(): Promise<void> {
  banner('starting the local cloud: moto on 127.0.0.1, machines in a sealed network namespace');
  const project = await makeCloudProject({ name: 'sb', log: (line) => console.log(`  localcloud: ${line}`) });
  const argos = (...args: string[]) => argosIn(project.root, project.env, ...args);
  try {
    console.log(`  AWS endpoint: ${project.harness.endpoint}\n  ssh_config:   ${project.harness.sshConfigPath}`);
    banner('commission: base image, database, broker, load balancer, release image, app servers, deploy');
    await argos('commission', '--yes', '--with-broker');
    banner('the app, answering through the load balancer (it routes only to instances that pass its health check)');
    await showApp(project);
    banner('status');
    await argos('status');
    banner('deploy again (what you do every day): in place, and the next release image beside it');
    await argos('deploy');
    banner('scale out to two app servers, with no argos command: the group launches one from the release image');
    await project.clients.autoScaling.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: `argos-${ENV}-app`, MinSize: 2, DesiredCapacity: 2 }));
    await waitFor('two app servers in service', async () => {
      const states = (await project.clients.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }))).InstanceStates ?? [];
      return states.filter((s) => s.State === 'InService').length >= 2 ? true : undefined;
    }, 300_000, 2_000);
    const hosts = new Set<string>();
    const url = project.harness.balancing.urlOf(LB) as string;
    for (let i = 0; i < 20 && hosts.size < 2; i++) hosts.add(((await (await fetch(`${url}/`, { headers: { connection: 'close' } })).json()) as { host: string }).host);
    console.log(`two app servers answer through the load balancer: ${[...hosts].join(', ')}`);
    banner('decommission (keeps the base image and a final database snapshot)');
    await argos('decommission', '--yes');
    banner('clean (deletes the base image)');
    await argos('clean', '--yes');
    banner('done: look above for the plan each command printed, the times of its steps, and the app\'s answers');
  } finally {
    banner('tearing the local cloud down (machines, namespace, mounts)');
    await project.stop();
  }
}

/** Without root or nspawn: moto alone, so no instance to configure (--no-deploy) and a stand-in image. */
async function onMotoAlone(reason: string): Promise<void> {
  banner(`no local cloud here (${reason}): moto alone, with --no-deploy and a stand-in image`);
  const moto = await startMotoServer();
  const aws = useEmulator(moto.url);
  const clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  const project = await makeTargetProject({ withTarget: false });
  try {
    await createKeyPair(clients.ec2, 'argos-test');
    await registerImage(clients.ec2, 'argos-image');
    const argos = (...args: string[]) => argosIn(project.root, aws, ...args);
    banner('commission --no-deploy: database, broker, load balancer, app servers');
    await argos('commission', '--yes', '--with-broker', '--no-deploy');
    banner('status');
    await argos('status');
    banner('decommission');
    await argos('decommission', '--yes');
    banner('clean');
    await argos('clean', '--yes');
    banner('done: everything was torn down');
  } finally {
    await project.stop();
    clients.destroy();
    await moto.stop();
  }
}

const capability = localCloudOrSkip({});
await (capability.ok ? onLocalCloud() : onMotoAlone(capability.reason ?? 'unknown'));
