import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { failureCodeOf, ServerError } from '../common/errors';
import type { Config } from '../infra/config';

export async function connectClient(config: Config): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: '5s' });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (err) {
    throw new ServerError('UNAVAILABLE', `cannot reach Temporal at ${config.temporal.address} (is the stack running? npm start)`, { cause: err });
  }
}

/** Temporal's errors turned into the project's codes, so the CLI and tests branch on one thing. */
export function fromTemporal(err: unknown, what: string): unknown {
  if (err instanceof WorkflowNotFoundError) return new ServerError('NOT_FOUND', `unknown release ${what}`);
  if (err instanceof WorkflowUpdateFailedError) {
    // The code is on the innermost typed failure (an activity's failure wraps it).
    let cause = err.cause as { type?: string; message?: string; cause?: unknown } | undefined;
    while (cause && !cause.type && cause.cause) cause = cause.cause as typeof cause;
    return new ServerError(failureCodeOf(err.cause) ?? 'UPDATE_FAILED', cause?.message ?? err.message);
  }
  return err;
}
