import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';

import { causeChain, failureCodeOf, ServerError } from '../common/errors';
import type { Config } from '../infra/config';

export async function connectClient(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (err) {
    throw new ServerError(
      'UNAVAILABLE',
      `cannot reach Temporal at ${config.temporal.address} (is the stack running? npm start)`,
      { cause: err },
    );
  }
}

/** Temporal's errors turned into the project's codes, so the CLI and tests branch on one thing. */
export function fromTemporal(err: unknown, what: string): unknown {
  if (err instanceof WorkflowNotFoundError) return new ServerError('NOT_FOUND', `unknown release ${what}`);
  if (err instanceof WorkflowUpdateFailedError) {
    // The message of the first typed failure (an activity's failure wraps it), else the innermost.
    const links = [...causeChain(err.cause)];
    const typed = links.find((l) => l.type) ?? links.at(-1);
    return new ServerError(failureCodeOf(err.cause) ?? 'UPDATE_FAILED', typed?.message ?? err.message);
  }
  return err;
}
