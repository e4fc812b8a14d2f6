import { expect } from 'chai';

import { type ApiCommand, type Invocation, subcommands } from '../../../cli/args';
import { createOutput } from '../../../cli/output';
import { failureCodeOf } from '../../../common/errors';
import type { AdminApiClient } from '../../../infra/adminApiClient';
import { rejectionOf } from '../../rejection';

// The table never reaches the admin API here: each subcommand answers with its own exit code.
const api = {} as AdminApiClient;
const call = (command: string | undefined): Invocation<object> => ({
  command,
  args: [],
  flags: {},
  out: createOutput(true),
});

describe('subcommands', () => {
  const table: Record<string, ApiCommand<object>> = { list: () => Promise.resolve(7) };
  const device = subcommands('device', table);

  it('runs the subcommand the table names', async () => {
    expect(await device(api, call('list'))).to.equal(7);
  });

  it('refuses a name the table does not hold, including those every object inherits', async () => {
    for (const name of [undefined, '', 'show', 'toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      const err = await rejectionOf(device(api, call(name)));
      expect(failureCodeOf(err), String(name)).to.equal('INVALID_INPUT');
      expect(err.message).to.match(/^unknown device command/);
    }
  });
});
