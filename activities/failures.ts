import { ApplicationFailure } from '@temporalio/activity';

import { ServerError } from '../common/errors';

/**
 * Activities report failures as ApplicationFailure typed with the error code; the
 * workflow's retry policy lists which codes are permanent.
 */
export function withCodes<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof ServerError)
        throw ApplicationFailure.create({ message: err.message, type: err.code, cause: err });
      throw err;
    }
  };
}
