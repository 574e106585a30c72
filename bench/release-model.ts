/**
 * What making the release image adds to a deploy, modelled (issue 20, item 3):
 * after a commission on the modelled AWS (test/support/modelled-aws.ts), the
 * real `deploy` of 1 app server in place only (`--no-release-image`), then
 * with the release image (built on a temporary instance while the in-place
 * playbooks run, then made live), on the virtual clock. Modelled, not measured.
 */
import { commission } from '../src/commands/commission.js';
import { deploy } from '../src/commands/deploy.js';
import type { Context } from '../src/context.js';
import type { DeployOptions } from '../src/options.js';
import { createModelledRun, type ModelledRun } from '../test/support/modelled-aws.js';

/** Modelled deploy durations in seconds, with and without the release image. */
export interface ModelledReleaseCost {
  withoutSeconds: number;
  withSeconds: number;
  addedSeconds: number;
}

/** The deploy of the modelled run's environment, as `argos staging deploy [--no-release-image] --all-at-once` builds it. */
function deployContext(run: ModelledRun, releaseImage: boolean): Context<DeployOptions> {
  return {
    ...run.ctx,
    options: { config: run.ctx.options.config, verbose: false, yes: true, forceUnlock: false, sshCidr: undefined, sshConfig: undefined, roles: undefined, releaseImage, batch: undefined, allAtOnce: true, full: false },
  };
}

/** Commissions, then times a deploy without and one with the release image. */
export async function measureModelledReleaseCost(): Promise<ModelledReleaseCost> {
  const run = await createModelledRun({ options: { deploy: true, minSize: 1, maxSize: 4 } });
  try {
    await commission(run.ctx);
    const timed = async (releaseImage: boolean) => {
      const start = run.clock.elapsed();
      await deploy(deployContext(run, releaseImage));
      return Math.round((run.clock.elapsed() - start) / 100) / 10;
    };
    const withoutSeconds = await timed(false);
    const withSeconds = await timed(true);
    return { withoutSeconds, withSeconds, addedSeconds: Math.round((withSeconds - withoutSeconds) * 10) / 10 };
  } finally {
    await run.dispose();
  }
}
