/**
 * `npm run sandbox`: try argos without an AWS account. Starts the moto AWS
 * emulator on 127.0.0.1 and, where root and debootstrap allow, a local Linux
 * target that stands in for every EC2 instance; then runs the whole lifecycle
 * of a demo environment with the real CLI, and tears everything down.
 * Nothing here reaches real AWS: every AWS call goes to the emulator.
 */
import { execa } from 'execa';
import { createClients } from '../src/aws/clients.js';
import { createCredentialProvider } from '../src/aws/credentials.js';
import { createKeyPair, registerImage } from '../test/support/aws-fixtures.js';
import { CLI } from '../test/support/cli.js';
import { canRunLocalTarget } from '../test/support/local-target.js';
import { startMotoServer, useEmulator } from '../test/support/moto.js';
import { makeTargetProject, TARGET_PORTS } from '../test/support/target-project.js';

const ENV = 'demo';
const DB_ENDPOINT = `argos-${ENV}-database.aaaaaaaaaa.us-east-1.rds.amazonaws.com`;

function banner(text: string): void {
  console.log(`\n\x1b[1m=== ${text}\x1b[0m`);
}

async function main(): Promise<void> {
  banner('starting the moto AWS emulator on 127.0.0.1');
  const moto = await startMotoServer();
  const aws = useEmulator(moto.url);
  const clients = createClients({ region: 'us-east-1', credentials: createCredentialProvider(undefined) });
  const capability = canRunLocalTarget();
  const withTarget = capability.ok;
  let project: Awaited<ReturnType<typeof makeTargetProject>> | undefined;
  try {
    if (withTarget) {
      banner('starting a local Linux target (a Debian root with sshd on 127.0.0.1) for every "EC2 instance"');
    } else {
      banner(`no local target here (${capability.reason}): running with --no-deploy, and with a stand-in image instead of a bake`);
    }
    project = await makeTargetProject({ withTarget });
    await createKeyPair(clients.ec2, 'argos-test');
    if (withTarget) {
      await project.prepareDatabaseStandIn(DB_ENDPOINT);
    } else {
      await registerImage(clients.ec2, 'argos-image');
    }
    const argos = async (...args: string[]) => {
      console.log(`\n$ npx argos ${ENV} ${args.join(' ')}`);
      const result = await execa('node', [CLI, ENV, ...args], { cwd: project?.root, env: { ...aws, CI: '1' }, stdio: 'inherit', reject: false });
      if (result.exitCode !== 0) throw new Error(`argos ${ENV} ${args.join(' ')} exited ${result.exitCode}`);
    };
    const deploy = withTarget ? [] : ['--no-deploy'];
    banner('commission: image, database, broker, load balancer, app servers, then deploy');
    await argos('commission', '--yes', '--with-broker', ...deploy);
    banner('status');
    await argos('status');
    if (withTarget) {
      banner('the app, served by nginx on the target');
      const page = await fetch(`http://127.0.0.1:${TARGET_PORTS.nginx}/`);
      console.log(`GET http://127.0.0.1:${TARGET_PORTS.nginx}/ -> ${page.status}: ${(await page.text()).slice(0, 120)}`);
      banner('deploy again (what you do every day)');
      await argos('deploy');
    }
    banner('decommission (keeps the image and a final database snapshot)');
    await argos('decommission', '--yes');
    banner('clean (deletes the image)');
    await argos('clean', '--yes');
    banner('done: everything was torn down');
  } finally {
    await project?.stop();
    clients.destroy();
    await moto.stop();
  }
}

await main();
