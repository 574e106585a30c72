import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { confirmOrExit, isYes } from '../../src/confirm.js';

function terminal(answer?: string) {
  const input = new PassThrough();
  const output = new PassThrough();
  let printed = '';
  output.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  if (answer !== undefined) setTimeout(() => input.write(`${answer}\n`), 5);
  return { input, output, printed: () => printed };
}

describe('isYes', () => {
  it.each(['y', 'yes', 'Yeah', ' ya ', 'AYE'])('takes %j as yes', (answer) => expect(isYes(answer)).toBe(true));
  it.each(['n', 'no', '', 'yep', 'sure', 'y es'])('takes %j as no', (answer) => expect(isYes(answer)).toBe(false));
});

describe('confirmOrExit', () => {
  const question = 'This will dismantle the application infrastructure for [staging]. Are you sure?';

  it('does not ask with --yes', async () => {
    const io = terminal();
    await confirmOrExit(question, { yes: true, interactive: false, ...io, action: 'decommission staging' });
    expect(io.printed()).toBe('');
  });

  it('refuses with exit 2 when there is no terminal and no --yes', async () => {
    const io = terminal();
    await expect(confirmOrExit(question, { yes: false, interactive: false, ...io, action: 'decommission staging' })).rejects.toMatchObject({
      exitCode: 2,
      message: 'refusing to decommission staging without confirmation: there is no terminal to ask on; re-run with --yes to confirm',
    });
  });

  it('asks the question and goes on after "aye"', async () => {
    const io = terminal('aye');
    await confirmOrExit(question, { yes: false, interactive: true, ...io, action: 'decommission staging' });
    expect(io.printed()).toContain(`${question} (y/n) `);
  });

  it('exits with "Exiting." on anything else', async () => {
    const io = terminal('nope');
    await expect(confirmOrExit(question, { yes: false, interactive: true, ...io, action: 'x' })).rejects.toMatchObject({
      code: 'DECLINED',
      message: 'Exiting.',
      exitCode: 1,
    });
  });
});
