import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'chai';

import { withCodes } from '../../../activities/failures';
import { PERMANENT_CODES, ServerError, type ServerErrorCode } from '../../../common/errors';
import { rejectionOf } from '../../rejection';

const failingWith = (err: Error) => withCodes(() => Promise.reject(err));

describe('activity failures (activities/failures.ts)', () => {
  it('reports every permanent code as a non-retryable failure typed with the code', async () => {
    for (const code of PERMANENT_CODES) {
      const failure = await rejectionOf(failingWith(new ServerError(code, `${code} happened`))());
      expect(failure, code).to.be.instanceOf(ApplicationFailure);
      expect(failure).to.include({ type: code, nonRetryable: true, message: `${code} happened` });
    }
  });

  it('reports any other code as retryable (storage down, a conflict of the moment), typed with the code', async () => {
    for (const code of ['UNAVAILABLE', 'STORAGE_ROLLBACK', 'SIGNING_KEYS_MISSING'] as ServerErrorCode[]) {
      const failure = await rejectionOf(failingWith(new ServerError(code, 'try later'))());
      expect(failure, code).to.be.instanceOf(ApplicationFailure);
      expect(failure).to.include({ type: code, nonRetryable: false });
    }
  });

  it('passes an uncoded error on unchanged (retried within the bound) and a result through', async () => {
    const plain = new Error('socket hang up');
    expect(await rejectionOf(failingWith(plain)())).to.equal(plain);
    expect(await withCodes((n: number) => Promise.resolve(n * 2))(21)).to.equal(42);
  });
});
