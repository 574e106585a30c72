import { describe, expect, it } from 'vitest';
import { confirmOrExit, isYes } from '../../src/confirm.js';
import { RecordingReporter } from '../support/recording-reporter.js';

describe('isYes', () => {
  it.each(['y', 'yes', 'Yeah', ' ya ', 'AYE'])('takes %j as yes', (answer) => expect(isYes(answer)).toBe(true));
  it.each(['n', 'no', '', 'yep', 'sure', 'y es'])('takes %j as no', (answer) => expect(isYes(answer)).toBe(false));
});

describe('confirmOrExit', () => {
  const question = 'This will dismantle the application infrastructure for [staging]. Are you sure?';
  const signal = new AbortController().signal;

  it('does not ask with --yes', async () => {
    const reporter = new RecordingReporter({ answers: ['n'] });
    await confirmOrExit(reporter, question, { yes: true, action: 'decommission staging', signal });
    expect(reporter.questions).toEqual([]);
  });

  it('refuses with exit 2 when no one can be asked and there is no --yes', async () => {
    const reporter = new RecordingReporter();
    await expect(confirmOrExit(reporter, question, { yes: false, action: 'decommission staging', signal })).rejects.toMatchObject({
      exitCode: 2,
      message: 'refusing to decommission staging without confirmation: there is no terminal to ask on; re-run with --yes to confirm',
    });
  });

  it('asks the question and goes on after "aye"', async () => {
    const reporter = new RecordingReporter({ answers: ['aye'] });
    await confirmOrExit(reporter, question, { yes: false, action: 'decommission staging', signal });
    expect(reporter.questions).toEqual([`${question} (y/n)`]);
  });

  it('exits with "Exiting." on anything else', async () => {
    const reporter = new RecordingReporter({ answers: ['nope'] });
    await expect(confirmOrExit(reporter, question, { yes: false, action: 'x', signal })).rejects.toMatchObject({
      code: 'DECLINED',
      message: 'Exiting.',
      exitCode: 1,
    });
  });
});
