import { ApplicationFailure } from '@temporalio/activity';

import { isPermanent, ServerError } from '../common/errors';

/**
 * Activities report a coded failure as an ApplicationFailure typed with its code, and
 * non-retryable when its code is permanent (common/errors.ts `PERMANENT_CODES`): a bad
 * artifact fails the release at once instead of being retried. Anything else (storage or
 * the API down, an uncoded error) is retried within the workflow's bounded retry policy.
 */
export function withCodes<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof ServerError) {
        throw ApplicationFailure.create({
          message: err.message,
          type: err.code,
          cause: err,
          nonRetryable: isPermanent(err.code),
        });
      }
      throw err;
    }
  };
}
