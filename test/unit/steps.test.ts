/**
 * The step runner: one declared list drives the plan, the run (with
 * concurrency from `needs`), cleanup steps that always run, and the dry run.
 */
import { describe, expect, it } from 'vitest';
import { ArgosError } from '../../src/errors.js';
import { combineFailures, planTitles, previewSteps, renderPreview, runSteps, selectSteps, type Step } from '../../src/commands/steps.js';
import { RecordingReporter } from '../support/recording-reporter.js';

interface Log {
  events: string[];
}

/** A step that logs its start and end and takes `ms` (real, short) milliseconds. */
function step(id: string, options: Partial<Step<Log>> & { ms?: number; fail?: boolean } = {}): Step<Log> {
  return {
    id,
    title: `step ${id}`,
    ...options,
    run:
      options.run ??
      (async (state) => {
        state.events.push(`start ${id}`);
        await new Promise((resolve) => setTimeout(resolve, options.ms ?? 1));
        state.events.push(`end ${id}`);
        if (options.fail) throw new ArgosError('FAILED', `${id} failed`);
        return { resource: `resource ${id}` };
      }),
  };
}

function host(reporter: RecordingReporter, controller = new AbortController()) {
  return { reporter, now: () => Date.now(), signal: controller.signal };
}

describe('runSteps', () => {
  it('runs steps one after another by default and announces them as the plan', async () => {
    const reporter = new RecordingReporter();
    const state: Log = { events: [] };
    const run = await runSteps([step('a'), step('b'), step('c')], state, host(reporter));
    expect(state.events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(reporter.planned).toEqual(['step a', 'step b', 'step c']);
    expect(run.records.map((record) => record.outcome)).toEqual(['done', 'done', 'done']);
    expect(run.resources()).toEqual(['resource a', 'resource b', 'resource c']);
  });

  it('runs steps that need the same earlier step at the same time, and waits for all they need', async () => {
    const state: Log = { events: [] };
    await runSteps(
      [step('first'), step('slow', { needs: ['first'], ms: 30 }), step('fast', { needs: ['first'], ms: 1 }), step('last', { needs: ['slow', 'fast'] })],
      state,
      host(new RecordingReporter()),
    );
    expect(state.events).toEqual(['start first', 'end first', 'start slow', 'start fast', 'end fast', 'end slow', 'start last', 'end last']);
  });

  it('leaves out steps that do not apply, and their needs with them', async () => {
    const reporter = new RecordingReporter();
    const state: Log = { events: [] };
    await runSteps([step('a'), step('broker', { enabled: () => false }), step('c', { needs: ['a', 'broker'] })], state, host(reporter));
    expect(reporter.planned).toEqual(['step a', 'step c']);
    expect(state.events).toEqual(['start a', 'end a', 'start c', 'end c']);
  });

  it('after a failure starts nothing new, lets running steps finish, runs cleanup, and throws the failure', async () => {
    const reporter = new RecordingReporter();
    const state: Log = { events: [] };
    const steps = [
      step('open'),
      step('bake', { needs: ['open'], ms: 30 }),
      step('database', { needs: ['open'], fail: true }),
      step('servers', { needs: ['bake', 'database'] }),
      step('close', { needs: ['bake', 'database', 'servers'], always: true }),
    ];
    await expect(runSteps(steps, state, host(reporter))).rejects.toThrow('database failed');
    expect(state.events).toEqual(['start open', 'end open', 'start bake', 'start database', 'end database', 'end bake', 'start close', 'end close']);
    expect(reporter.steps.map((s) => `${s.title}: ${s.outcome}`)).toEqual(['step open: done', 'step bake: done', 'step database: failed', 'step close: done']);
  });

  it('loses no failure of steps that ran side by side: both in one error, led by the earlier step of the list', async () => {
    const state: Log = { events: [] };
    const steps = [step('hosts'), step('playbooks', { needs: ['hosts'], ms: 30, fail: true }), step('release', { needs: ['hosts'], fail: true })];
    const error = await runSteps(steps, state, host(new RecordingReporter())).catch((e: unknown) => e);
    // The release failed first; the playbooks come first in the list, so they lead.
    expect(state.events.indexOf('end release')).toBeLessThan(state.events.indexOf('end playbooks'));
    expect(error).toBeInstanceOf(ArgosError);
    expect((error as ArgosError).message).toBe('playbooks failed\n(also: step release failed: release failed)');
    expect((error as ArgosError).code).toBe('FAILED');
  });

  it('exits 130 only when the user interrupted; a step stopped because another failed is named as stopped', () => {
    const failures = [
      { index: 1, title: 'step b', error: new ArgosError('INTERRUPTED', 'stopped: the deploy failed') },
      { index: 0, title: 'step a', error: new ArgosError('FAILED', 'a failed') },
    ];
    expect(combineFailures(failures, false)).toMatchObject({ code: 'FAILED', message: 'a failed\n(also: step b was stopped)' });
    expect(combineFailures(failures, true)).toMatchObject({ code: 'INTERRUPTED', message: 'a failed\n(also: step b failed: stopped: the deploy failed)' });
    // The stopped step earlier in the list (commission's release image before its deploy): the failure still leads.
    const stoppedFirst = [
      { index: 0, title: 'release image', error: new ArgosError('INTERRUPTED', 'stopped: the deploy failed') },
      { index: 5, title: 'run the playbooks', error: new ArgosError('FAILED', 'site.yml failed') },
    ];
    expect(combineFailures(stoppedFirst, false)).toMatchObject({ code: 'FAILED', message: 'site.yml failed\n(also: release image was stopped)' });
    expect(combineFailures(stoppedFirst, true)).toMatchObject({ code: 'INTERRUPTED', message: 'stopped: the deploy failed\n(also: run the playbooks failed: site.yml failed)' });
    const single = new Error('alone');
    expect(combineFailures([{ index: 3, title: 'step c', error: single }], false)).toBe(single);
  });

  it('does not run a cleanup step when none of the steps it follows ran', async () => {
    const state: Log = { events: [] };
    await expect(runSteps([step('hosts', { fail: true }), step('open'), step('close', { needs: ['open'], always: true })], state, host(new RecordingReporter()))).rejects.toThrow('hosts failed');
    expect(state.events).toEqual(['start hosts', 'end hosts']);
  });

  it('stops at Ctrl-C between steps, still runs cleanup, and says interrupted', async () => {
    const controller = new AbortController();
    const state: Log = { events: [] };
    const steps = [
      step('open', { run: async (s) => void (s.events.push('open'), controller.abort(new ArgosError('INTERRUPTED', 'interrupted'))) }),
      step('deploy'),
      step('close', { needs: ['open', 'deploy'], always: true }),
    ];
    await expect(runSteps(steps, state, host(new RecordingReporter(), controller))).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(state.events).toEqual(['open', 'start close', 'end close']);
  });

  it('reports a step with changes as done and a step with nothing to do as skipped, with the reason', async () => {
    const reporter = new RecordingReporter();
    const run = await runSteps(
      [step('group', { run: async () => ({ skip: 'exists', changes: ['max size 4 → 6'] }) }), step('image', { run: async () => ({ skip: 'exists' }) })],
      { events: [] },
      host(reporter),
    );
    expect(reporter.steps.map((s) => s.outcome)).toEqual(['done', 'skipped']);
    expect(reporter.find('step group')?.notes).toEqual(['changed: max size 4 → 6']);
    expect(run.summary(() => '1s')).toBe('step group 1s, step image 1s (exists)');
  });
});

describe('selectSteps', () => {
  it('rejects a list whose step needs a later or unknown step (a bug in the list)', () => {
    expect(() => selectSteps([step('a', { needs: ['b'] }), step('b')], { events: [] })).toThrow('step a needs b, which comes after it');
    expect(() => selectSteps([step('a', { needs: ['nope'] })], { events: [] })).toThrow('step a needs unknown step nope');
  });

  it('gives the titles of the plan', () => {
    expect(planTitles([step('a'), step('b', { enabled: () => false })], { events: [] })).toEqual(['step a']);
  });
});

describe('previewSteps and renderPreview', () => {
  it('previews every step that applies without running any, and renders what would change', async () => {
    const state: Log = { events: [] };
    const previews = await previewSteps(
      [
        step('security groups', { preview: async () => ({ actions: [], none: 'exist, unchanged' }) }),
        step('app servers', { preview: async () => ({ actions: ['max size 4 → 6', 'instance type t3.small → t3.large: 2 instances replaced'] }) }),
        step('database', { preview: async () => ({ actions: ['create it (db.t3.micro)'] }) }),
        step('broker', { enabled: () => false, preview: async () => ({ actions: ['launch it'] }) }),
        step('playbooks'),
      ],
      state,
    );
    expect(state.events).toEqual([]);
    expect(renderPreview(previews)).toBe(
      [
        '  step security groups: exist, unchanged',
        '  step app servers:',
        '    - max size 4 → 6',
        '    - instance type t3.small → t3.large: 2 instances replaced',
        '  step database: create it (db.t3.micro)',
        '  step playbooks: run',
      ].join('\n'),
    );
  });
});
