import { inspect } from 'node:util';

import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { expect } from 'chai';

import { httpStatusOf } from '../../../api/errorResponses';
import {
  EVIDENCE_ERROR_CODES,
  failureCodeOf,
  failureMessageOf,
  InputError,
  isServerErrorCode,
  SERVER_ERROR_CODES,
  ServerError,
  type ServerErrorCode,
} from '../../../common/errors';

describe('isServerErrorCode', () => {
  it('accepts every code in SERVER_ERROR_CODES', () => {
    for (const code of SERVER_ERROR_CODES) expect(isServerErrorCode(code), code).to.equal(true);
  });

  it('refuses other strings and values that are not strings', () => {
    for (const value of [
      'not_found',
      'Internal',
      '',
      'ENOENT',
      'toString',
      undefined,
      null,
      42,
      { code: 'INTERNAL' },
    ]) {
      expect(isServerErrorCode(value), inspect(value)).to.equal(false);
    }
  });
});

describe('failureMessageOf', () => {
  it("gives the coded failure's own message, not the activity wrapper's", () => {
    const wrapped = new ActivityFailure(
      'Activity task failed',
      'validateRelease',
      '7',
      RetryState.NON_RETRYABLE_FAILURE,
      'worker-1',
      ApplicationFailure.nonRetryable('version 1.0.5 is not above 1.1.0', 'VALIDATION_FAILED'),
    );
    expect(failureMessageOf(wrapped)).to.equal('version 1.0.5 is not above 1.1.0');
  });

  it('falls back to the outer message when nothing in the chain has a code', () => {
    expect(failureMessageOf(new Error('plain', { cause: new Error('inner') }))).to.equal('plain');
    expect(failureMessageOf('text')).to.equal('text');
  });
});

describe('failureCodeOf', () => {
  const activityFailure = (cause: Error) =>
    new ActivityFailure('activity failed', 'validateRelease', '7', RetryState.NON_RETRYABLE_FAILURE, 'worker-1', cause);

  it("gives a ServerError's code", () => {
    expect(failureCodeOf(new ServerError('NOT_FOUND', 'gone'))).to.equal('NOT_FOUND');
    expect(failureCodeOf(new InputError('bad'))).to.equal('INVALID_INPUT');
  });

  it('finds a ServerError further down a cause chain', () => {
    expect(failureCodeOf(new Error('wrapped', { cause: new ServerError('NOT_FOUND', 'no such release') }))).to.equal(
      'NOT_FOUND',
    );
  });

  it('gives the type of a typed ApplicationFailure', () => {
    expect(failureCodeOf(ApplicationFailure.nonRetryable('corrupt', 'ARTIFACT_CORRUPT'))).to.equal('ARTIFACT_CORRUPT');
  });

  it('finds the code along the cause chain of an activity failure', () => {
    const typed = ApplicationFailure.nonRetryable('corrupt', 'ARTIFACT_CORRUPT');
    expect(failureCodeOf(activityFailure(typed))).to.equal('ARTIFACT_CORRUPT');
    expect(failureCodeOf({ cause: { cause: { type: 'WRONG_STAGE' } } })).to.equal('WRONG_STAGE');
  });

  it('passes over failure types that are not project codes', () => {
    const untyped = ApplicationFailure.create({
      message: 'boom',
      type: 'TypeError',
      cause: ApplicationFailure.nonRetryable('missing', 'NOT_FOUND'),
    });
    expect(failureCodeOf(activityFailure(untyped))).to.equal('NOT_FOUND');
    expect(failureCodeOf(ApplicationFailure.create({ message: 'boom', type: 'TypeError' }))).to.equal(undefined);
  });

  it('gives the first code when the chain holds several', () => {
    const outer = ApplicationFailure.create({
      message: 'x',
      type: 'UPDATE_FAILED',
      cause: ApplicationFailure.nonRetryable('y', 'NOT_FOUND'),
    });
    expect(failureCodeOf(outer)).to.equal('UPDATE_FAILED');
  });

  it('gives nothing for values without a code, and stops on a cyclic chain', () => {
    for (const value of [undefined, null, 'INTERNAL', new Error('plain'), { code: 'INTERNAL' }]) {
      expect(failureCodeOf(value), inspect(value)).to.equal(undefined);
    }
    const cyclic: { type: string; cause?: unknown } = { type: 'Unknown' };
    cyclic.cause = cyclic;
    expect(failureCodeOf(cyclic)).to.equal(undefined);
  });
});

describe('httpStatusOf', () => {
  const REFUSALS: ServerErrorCode[] = [
    'INVALID_INPUT',
    'UNAUTHENTICATED',
    'FORBIDDEN',
    'APPROVAL_REFUSED',
    'WRONG_STAGE',
    'NOT_FOUND',
    'ROLLBACK_NOT_ALLOWED',
    'RELEASE_EXISTS',
    'ALREADY_EXISTS',
    'PAYLOAD_TOO_LARGE',
    ...EVIDENCE_ERROR_CODES,
  ];

  it('gives every server code an HTTP error status', () => {
    for (const code of SERVER_ERROR_CODES) expect(httpStatusOf(code), code).to.be.within(400, 599);
  });

  it("answers refusals with a 4xx: the caller's request, not the server, is at fault", () => {
    for (const code of REFUSALS) expect(httpStatusOf(code), code).to.be.within(400, 499);
  });

  it('answers internal faults and unavailability with a 5xx', () => {
    expect(httpStatusOf('INTERNAL')).to.be.within(500, 599);
    expect(httpStatusOf('UNAVAILABLE')).to.be.within(500, 599);
  });
});
